// @ts-check
// A conversation's OUTBOX: our messages from written to delivered (docs/protocol.md section 8, and section 9 step 5
// for the order). A sent message's frame (its `client_msg_id`, ciphertext and counter) is PERSISTED before it
// leaves and stays in the record's `pending` until `msg.accepted` (or its own copy in a `resume`); it is re-sent
// unchanged on every new socket, and the server deduplicates by `client_msg_id`, so nothing is lost or duplicated.
// It leaves IN ORDER: a frame refused for now (`rate_limited`, `internal`) holds every frame behind it until it is
// sent again (after the server's `retry_after_ms`), and no frame goes on the wire more than SEND_AHEAD counters past
// the oldest one not yet accepted (ordering.js): what was already on the wire when a refusal came back may still
// overtake it, and the peer's E2E window opens it anyway. With the port's `lock` (tabs sharing one storage) the
// outbox and the send counter are re-read and written under it: two clients never seal with one counter nor drop
// each other's frames. The matrix-sdk model: one send queue per room, a module of its own behind a storage lock.

import * as e2e from '../crypto/e2e.js';
import * as franking from '../crypto/franking.js';
import { utf8Encode } from '../crypto/encoding.js';
import { TanisError } from '../errors.js';
import * as ordering from '../ordering.js';

/** A message refused for now (`rate_limited`, `internal`) without the server's `retry_after_ms` is sent again after this. */
export const RETRY_MS = 1_000;
/** What sealing adds to the text: the franking key in front, the AEAD tag behind (protocol sections 7 and 9). */
const SEALED_OVERHEAD = franking.KEY_LEN + 16;

/**
 * @typedef {import('./record.js').Message} Message
 */

export class Outbox {
  /**
   * @param {object} parts
   * @param {any} parts.record the conversation's record: `pending`, `sent`, `messages`, `ended`, `match_id`
   * @param {import('../conversation.js').Port} parts.port
   * @param {import('./record.js').RecordStore} parts.store
   * @param {import('./keys.js').Keys} parts.keys seals, and opens a copy another tab sealed
   * @param {import('./acks.js').Acks} parts.acks what rides on a `msg.send`
   * @param {() => boolean} parts.resuming whether the inbox waits for `resume.done` (nothing leaves meanwhile)
   */
  constructor({ record, port, store, keys, acks, resuming }) {
    this.record = record;
    this.port = port;
    this.store = store;
    this.keys = keys;
    this.acks = acks;
    this.resuming = resuming;
    /** client_msg_id → the socket it was last sent on: the outbox re-sends once per socket. */
    this.sentOn = new Map();
    /** A refused frame's retry: while it is set nothing of the outbox is sent (the refused frame goes first). */
    this.retryTimer = /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined);
    /**
     * What this client saw stored or failed, by client_msg_id and by counter (a copy of ours from another tab
     * names no client_msg_id): never taken back in from a stale stored outbox.
     */
    this.settled = new Set();
  }

  /** The `client_msg_id`s written and not yet accepted. @returns {string[]} */
  get ids() {
    return this.record.pending.map((/** @type {any} */ p) => p.client_msg_id);
  }

  /** The outbox frame `id`, if it holds one. @param {unknown} id */
  frame(id) {
    return this.record.pending.find((/** @type {any} */ p) => p.client_msg_id === id);
  }

  /** The transcript's message of ours `key`. @param {string} key @returns {Message | undefined} */
  message(key) {
    return this.record.messages.find((/** @type {Message} */ m) => m.key === key);
  }

  /**
   * Franks, seals and sends `text`; resolves once the message is in the persisted outbox (it leaves now if
   * connected, or after the next (re)connect). Throws TanisError(`e2e`) and sends nothing when there is no session,
   * and TanisError(`too_long`) when the sealed text would exceed `hello.limits.max_message_bytes`.
   * @param {string} text
   * @returns {Promise<Message>}
   */
  async send(text) {
    const r = this.record;
    if (r.ended) throw new TanisError('not_in_match', 'the conversation is over');
    if (!this.keys.session) throw new TanisError('e2e', `cannot encrypt: ${this.keys.error?.message ?? 'no session'}`);
    const limit = this.port.link().maxMessageBytes;
    if (limit && utf8Encode(text).length > limit - SEALED_OVERHEAD) throw new TanisError('too_long', 'the message is too long');
    const { payload, commitment } = franking.frank(text);
    const clientMsgId = e2e.newId();
    /** @type {Message} */
    const message = { key: clientMsgId, seq: null, mine: true, text, status: 'sending', at: this.port.now() };
    // The counter is taken and the frame stored under the outbox's lock: another client on the same storage (a tab)
    // seals with the counter after ours, never the same one, and keeps our frame in the outbox it writes.
    await this.locked(async () => {
      const session = /** @type {e2e.Session} */ (this.keys.session);
      const sealed = session.seal(payload);
      const frame = { type: 'msg.send', id: clientMsgId, match_id: r.match_id, client_msg_id: clientMsgId, ...sealed, commitment };
      r.sent = session.sent;
      r.pending.push(frame);
      r.messages.push(message);
      // On disk before it leaves: after a crash the same frame (same id, same counter) is re-sent, never a new one.
      await this.store.saveOutbox();
    });
    await this.store.save();
    this.pump();
    return message;
  }

  /**
   * Puts the outbox on the wire, oldest first: each frame once per socket, none while a refused one waits for its
   * retry or a `resume` is in flight, and none more than SEND_AHEAD counters past the oldest (the peer's window must
   * still open the oldest when it comes).
   */
  pump() {
    if (this.retryTimer !== undefined || this.resuming()) return;
    const socket = this.port.link().socket;
    // Another tab's frames too (taken in from the shared outbox): that tab may be gone, and a copy the server
    // already stored is answered with its seq, never stored twice.
    const due = ordering.due(this.record.pending, (/** @type {any} */ frame) => this.sentOn.get(frame.client_msg_id) === socket);
    for (const frame of due) if (!this.transmit(frame)) return;
  }

  /**
   * Sends an outbox frame. In version 2 what is owed rides on it (`ack`), added to the frame that leaves, not to
   * the stored one: the outbox keeps the frame as written, and a re-sent copy carries whatever is owed then.
   * @param {any} frame
   */
  transmit(frame) {
    const owed = this.acks.riding();
    if (!this.port.send(owed ? { ...frame, ack: owed } : frame)) return false;
    this.sentOn.set(frame.client_msg_id, this.port.link().socket);
    if (owed) this.acks.settle(owed);
    return true;
  }

  /**
   * A frame refused for now: it and everything behind it go again, in order, once `delayMs` passed; until then
   * nothing of the outbox leaves. Frames still on the wire may be accepted meanwhile (the peer's window opens the
   * refused one after them); a later refusal's hint replaces an earlier one, being the fresher.
   * @param {number} delayMs
   */
  hold(delayMs) {
    this.sentOn.clear();
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, delayMs);
  }

  /**
   * `msg.accepted`: out of the outbox; its message has its seq and is `sent`. (The inbox steps over the seq, and
   * the caller pumps: the oldest may have moved, and what waited behind SEND_AHEAD can leave.)
   * @param {any} frame
   */
  accepted(frame) {
    const pending = this.frame(frame.client_msg_id);
    this.forget(frame.client_msg_id);
    const message = pending ? this.transcribed(pending, frame.seq, this.port.now()) : this.message(frame.client_msg_id);
    // Told once: a second `msg.accepted` for one message (a frame answered before and after it was sent again) is
    // not news.
    const news = pending !== undefined || message?.status === 'sending';
    if (message) {
      message.seq = frame.seq;
      if (message.status === 'sending') message.status = 'sent';
    }
    if (news) this.port.emit('sent', { matchId: this.record.match_id, clientMsgId: frame.client_msg_id, seq: frame.seq });
  }

  /**
   * An `error` frame answering an outbox frame: refused for now (held, then sent again in order), or for good
   * (`failed`, out of the outbox).
   * @param {any} frame
   */
  refused(frame) {
    const pending = this.frame(frame.id);
    if (!pending) return;
    if (frame.code === 'rate_limited' || frame.code === 'internal') {
      return this.hold(typeof frame.retry_after_ms === 'number' ? Math.max(1, frame.retry_after_ms) : RETRY_MS);
    }
    this.forget(pending.client_msg_id);
    const message = this.message(frame.id);
    if (message) Object.assign(message, { status: 'failed', error: frame.code });
    this.port.emit('failed', { matchId: this.record.match_id, clientMsgId: frame.id, error: TanisError.fromFrame(frame) });
    this.store.persist();
    this.pump();
  }

  /**
   * A receipt: the message `seq` of ours, or with `upTo` (version 2's cumulative receipt) every one up to it. A
   * `delivered` event for each message newly delivered, as a receipt per message would have given.
   * @param {number} seq
   * @param {boolean} [upTo]
   */
  delivered(seq, upTo = false) {
    const mine = this.record.messages.filter((/** @type {Message} */ m) => m.mine && m.seq !== null && (upTo ? m.seq <= seq : m.seq === seq));
    const fresh = mine.filter((/** @type {Message} */ m) => m.status !== 'delivered');
    for (const message of fresh) message.status = 'delivered';
    // Version 1's receipt is told even for a message this device does not hold (sent from another device).
    const told = upTo ? fresh.map((/** @type {Message} */ m) => /** @type {number} */ (m.seq)) : [seq];
    for (const s of told) this.port.emit('delivered', { matchId: this.record.match_id, seq: s });
    this.store.persist();
  }

  /**
   * Our own message, replayed by `resume` or sent from another socket of ours, in `seq` order. If its
   * `msg.accepted` never came, the ciphertext says which outbox frame it was.
   * @param {any} entry
   */
  echoed(entry) {
    const r = this.record;
    const at = Date.parse(entry.sent_at);
    const pending = r.pending.find((/** @type {any} */ p) => p.ciphertext === entry.ciphertext);
    if (pending) {
      this.forget(pending.client_msg_id);
      const message = this.transcribed(pending, entry.seq, at);
      if (message) Object.assign(message, { seq: entry.seq, status: message.status === 'sending' ? 'sent' : message.status });
      this.port.emit('sent', { matchId: r.match_id, clientMsgId: pending.client_msg_id, seq: entry.seq });
    } else if (!r.messages.some((/** @type {Message} */ m) => m.mine && m.seq === entry.seq)) {
      // Sealed by another client on this storage (a tab: same key pair, so this one opens it too), or by another
      // device of this user (only that device has the key pair: `foreign`).
      /** @type {Message} */
      const message = { key: `s${entry.seq}`, seq: entry.seq, mine: true, text: null, status: 'foreign', at };
      const text = this.keys.openOwn(entry);
      if (text !== null) Object.assign(message, { text, status: 'sent' });
      // Its counter is taken: never seal with it here, whatever the lock did or did not see; and its frame, if a
      // stale stored outbox still holds it, is not taken in again.
      const counter = e2e.counterOf(entry.nonce);
      if (text !== null) this.settled.add(String(counter));
      if (text !== null && this.keys.session && counter !== null && counter > this.keys.session.sent) this.keys.session.sent = r.sent = counter;
      r.messages.push(message);
      this.port.emit('message', { matchId: r.match_id, message, before: null });
    }
  }

  /**
   * The transcript's message for an outbox frame of ours: the one written here, or, for a frame another client on
   * this storage wrote (taken in from the shared outbox), one made now from its ciphertext and told as a `message`.
   * @param {any} frame
   * @param {number} seq
   * @param {number} at
   * @returns {Message}
   */
  transcribed(frame, seq, at) {
    // By its id, or by its seq: its copy may have come first as another socket's message (`s<seq>`).
    const found = this.record.messages.find((/** @type {Message} */ m) => m.key === frame.client_msg_id || (m.mine && m.seq === seq));
    if (found) return found;
    const text = this.keys.openOwn(frame);
    /** @type {Message} */
    const message = { key: frame.client_msg_id, seq, mine: true, text, status: text === null ? 'foreign' : 'sending', at };
    this.record.messages.push(message);
    this.port.emit('message', { matchId: this.record.match_id, message, before: null });
    return message;
  }

  /** `client_msg_id` was accepted or failed: out of the outbox, here and in storage. @param {string} id */
  forget(id) {
    const frame = this.frame(id);
    this.settled.add(id);
    if (frame) this.settled.add(String(e2e.counterOf(frame.nonce)));
    this.record.pending = this.record.pending.filter((/** @type {any} */ p) => p.client_msg_id !== id);
    this.locked(() => this.store.saveOutbox()).catch((e) =>
      this.port.emit('error', new TanisError('storage', 'could not save the outbox', { cause: e })),
    );
  }

  /**
   * Runs `task` holding the outbox's lock (the port's `lock`, shared by every client on the same storage), after
   * taking in what another client stored meanwhile: its higher send counter and its frames. Without a lock the
   * storage is this client's alone, and `task` just runs.
   * @param {() => Promise<void>} task
   */
  async locked(task) {
    const lock = this.port.lock;
    if (!lock) return task();
    await lock(async () => {
      await this.merge();
      await task();
    });
  }

  async merge() {
    const stored = await this.store.storedOutbox();
    if (!stored) return;
    const r = this.record;
    if (stored.sent > r.sent) r.sent = stored.sent;
    this.keys.catchUp(r.sent);
    r.pending = ordering.merged(r.pending, stored.pending ?? [], this.settled);
  }

  stop() {
    clearTimeout(this.retryTimer);
  }
}
