// @ts-check
// A conversation's INBOX: every stored message exactly once, in `seq` order (docs/protocol.md section 8). `msg`
// frames are kept by `seq` (a duplicate lands on the same key) and handed on only contiguously from the record's
// `highest_seq + 1`; the seq of a message of ours the server accepted is stepped over. During a `resume` everything
// waits for its `resume.done`; a gap that live frames leave open for GAP_WAIT_MS is filled with a `resume`. What a
// message means (opening it, the transcript, the acknowledgement) is the `process` callback's, not this module's.

import { newId } from '../crypto/e2e.js';

/** A gap in `seq` that live frames have not closed after this long is filled with `resume`. */
export const GAP_WAIT_MS = 1_500;

export class Inbox {
  /**
   * @param {object} parts
   * @param {any} parts.record the conversation's record: its `match_id` and `highest_seq`
   * @param {import('../conversation.js').Port} parts.port `send`, for the `resume`
   * @param {(entry: any) => void} parts.process each `msg`, once, in `seq` order
   * @param {() => void} parts.caughtUp after `resume.done` was processed (the outbox may leave, acks be flushed)
   * @param {() => void} parts.persist after a walk moved `highest_seq`
   */
  constructor({ record, port, process, caughtUp, persist }) {
    this.record = record;
    this.port = port;
    this.process = process;
    this.caughtUp = caughtUp;
    this.persist = persist;
    /** @type {Map<number, any>} seq → a `msg` frame, or `{type: 'accepted'}` for a seq of ours */
    this.waiting = new Map();
    /** @type {string | null} the id of the `resume` in flight */
    this.resumeId = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.gapTimer = undefined;
  }

  /** Whether a `resume` is in flight (live frames wait, and nothing of the outbox leaves). */
  get resuming() {
    return this.resumeId !== null;
  }

  /** Asks for everything stored after `highest_seq`; live frames wait until `resume.done`. */
  resume() {
    clearTimeout(this.gapTimer);
    this.resumeId = `r${newId().slice(0, 12)}`;
    if (!this.port.send({ type: 'resume', id: this.resumeId, match_id: this.record.match_id, after_seq: this.record.highest_seq })) {
      this.resumeId = null;
    }
  }

  /** A `msg` frame, live or replayed by `resume`. @param {any} frame */
  add(frame) {
    if (frame.seq > this.record.highest_seq && !this.waiting.has(frame.seq)) this.waiting.set(frame.seq, frame);
    if (!this.resumeId) this.walk();
  }

  /** The server accepted a message of ours as `seq`: the contiguous walk steps over it. @param {number} seq */
  accepted(seq) {
    if (seq > this.record.highest_seq && !this.waiting.has(seq)) this.waiting.set(seq, { type: 'accepted', seq });
    if (this.resumeId) this.persist();
    else this.walk();
  }

  /** `resume.done`: everything stored up to its `last_seq` has arrived, if it answers our `resume`. @param {any} frame */
  done(frame) {
    if (frame.id !== this.resumeId) return;
    this.resumeId = null;
    const r = this.record;
    for (const seq of [...this.waiting.keys()].sort((a, b) => a - b)) {
      if (seq > frame.last_seq) break;
      if (seq > r.highest_seq) {
        this.hand(this.waiting.get(seq));
        r.highest_seq = seq;
      }
      this.waiting.delete(seq);
    }
    r.highest_seq = Math.max(r.highest_seq, frame.last_seq);
    this.walk();
    this.caughtUp();
  }

  /**
   * An `error` frame: whether it refused our `resume` (then what waits is walked as far as it goes; the next
   * gap or connection asks again).
   * @param {string | null | undefined} id
   */
  refused(id) {
    if (id !== this.resumeId) return false;
    this.resumeId = null;
    this.walk();
    return true;
  }

  /** Hands on what waits contiguously from `highest_seq + 1`; a gap left behind is filled by `resume` later. */
  walk() {
    const r = this.record;
    while (this.waiting.has(r.highest_seq + 1)) {
      const seq = r.highest_seq + 1;
      this.hand(this.waiting.get(seq));
      this.waiting.delete(seq);
      r.highest_seq = seq;
    }
    clearTimeout(this.gapTimer);
    if (this.waiting.size) this.gapTimer = setTimeout(() => this.waiting.size && !this.resumeId && this.resume(), GAP_WAIT_MS);
    this.persist();
  }

  /** @param {any} entry */
  hand(entry) {
    if (entry.type === 'msg') this.process(entry);
  }

  stop() {
    clearTimeout(this.gapTimer);
  }
}
