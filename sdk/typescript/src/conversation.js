// @ts-check
// One conversation (a match, or a contact it became): its E2E session, its transcript, its OUTBOX, and the
// delivery algorithm of docs/protocol.md section 8 — every stored message exactly once, in `seq` order:
//   - `msg` frames go into an inbox keyed by `seq` (a duplicate lands on the same key) and are processed only
//     contiguously from `highest_seq + 1`; during a `resume` everything waits for `resume.done`;
//   - a sent message's frame (its `client_msg_id`, ciphertext and counter) is PERSISTED before it leaves and
//     stays in `pending` until `msg.accepted` (or its own copy in a `resume`), and is re-sent unchanged on every
//     new connection: the server deduplicates by `client_msg_id`, so nothing is lost or duplicated;
//   - the outbox leaves IN ORDER: a frame refused for now (`rate_limited`, `internal`) holds every frame behind it
//     until it is sent again (after the server's `retry_after_ms`), and no frame goes on the wire more than
//     SEND_AHEAD counters past the oldest one not yet accepted. What was already on the wire when a refusal came
//     back can still overtake it; the receiver's E2E window (crypto/e2e.js, RECEIVE_WINDOW >= SEND_AHEAD) opens
//     it anyway, once, and a late message takes its place in the transcript by the sender's counter, so the peer
//     reads every message in the order it was written;
//   - with the client's `lock` (tabs sharing one storage) the outbox and the send counter are their own storage
//     record, read and written under a lock per conversation: two clients never seal with one counter nor drop
//     each other's frames;
//   - every message is franked; a received one whose commitment does not open is never surfaced as text
//     (`undecryptable` event, status `unverified`), and what a report can reveal of the others is kept.
// A contact's key may change (section 9, "Contacts"): the session before the change is tried second until the
// new one opens a message, and a key the contact had before is refused.

import * as e2e from './crypto/e2e.js';
import * as franking from './crypto/franking.js';
import { utf8Encode } from './crypto/encoding.js';
import { TanisError } from './errors.js';
import * as ordering from './ordering.js';
import { decode, encode } from './storage.js';

/** A gap in `seq` that live frames have not closed after this long is filled with `resume`. */
const GAP_WAIT_MS = 1_500;
/** At most one `typing` frame this often. */
const TYPING_EVERY_MS = 2_500;
/** A message refused for now (`rate_limited`, `internal`) without the server's `retry_after_ms` is sent again after this. */
const RETRY_MS = 1_000;
/** What sealing adds to the text: the franking key in front, the AEAD tag behind (protocol sections 7 and 9). */
const SEALED_OVERHEAD = franking.KEY_LEN + 16;
/**
 * Version 2: how long a received message waits for a `msg.send` of ours to carry its acknowledgement before a
 * `msg.ack` goes on its own (docs/protocol.md, "Version 2"). Short against what a person notices (the peer's
 * "delivered" mark), long against a reply typed in a chat burst, and longer than a round trip, so a burst of
 * messages is acknowledged once.
 */
export const ACK_DELAY_MS = 150;

/**
 * @typedef {object} Message
 * @property {string} key `client_msg_id` for ours, `s<seq>` for theirs
 * @property {number | null} seq null until accepted
 * @property {boolean} mine
 * @property {string | null} text null when it cannot be shown (undecryptable, unverified, another device's)
 * @property {'sending'|'sent'|'delivered'|'failed'|'received'|'undecryptable'|'unverified'|'foreign'} status
 * @property {number} at ms since the epoch (ours: when written; theirs: the server's `sent_at`)
 * @property {string} [text_utf8] what a report reveals: the bytes committed to, base64
 * @property {string} [franking_key]
 * @property {string} [error] why a message of ours failed (the server's code)
 * @property {number} [counter] theirs: the sender's E2E counter, the order they wrote in
 * @property {number} [epoch] theirs: which of the contact's keys sealed it (counters start again with each)
 */

/**
 * @typedef {{privateKey: string, publicKey: string}} StoredIdentity base64 halves of an X25519 key pair
 * @typedef {import('./frames.js').MatchInfo} MatchInfo
 */

/** @param {{privateKey: Uint8Array, publicKey: Uint8Array}} identity @returns {StoredIdentity} */
export const storeIdentity = (identity) => ({ privateKey: e2e.toBase64(identity.privateKey), publicKey: e2e.toBase64(identity.publicKey) });
/** @param {StoredIdentity | null | undefined} stored */
export const loadIdentity = (stored) => {
  if (!stored) return null;
  const privateKey = e2e.fromBase64(stored.privateKey);
  const publicKey = e2e.fromBase64(stored.publicKey);
  return privateKey && publicKey ? { privateKey, publicKey } : null;
};

export class Conversation {
  /**
   * @param {any} record the persisted state (see `Conversation.record`)
   * @param {import('./client.js').Client} client
   */
  constructor(record, client) {
    /** Everything persisted: E2E state, highest seq, outbox, transcript. */
    this.record = record;
    this.client = client;
    /** @type {e2e.Session | null} */
    this.session = null;
    /** @type {e2e.Session | null} a contact's session before its last key change, tried second */
    this.previous = null;
    /** Why no session could be keyed (a refused key, or a device that never held this conversation's key). */
    this.keyError = /** @type {Error | null} */ (null);
    /** @type {Map<number, any>} */
    this.inbox = new Map();
    /** @type {string | null} the id of the `resume` in flight */
    this.resumeId = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.gapTimer = undefined;
    this.lastTypingSent = 0;
    /** client_msg_id → connection generation it was last sent on: the outbox re-sends once per connection. */
    this.sentOn = new Map();
    /** Version 2: the highest seq received and not yet acknowledged (0: nothing owed), and its delayed ack. */
    this.owedAck = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.ackTimer = undefined;
    /** The private keys as last written to the secrets: written again only when they change. */
    this.savedKeys = '';
    /** Saves, one after the other, so that the last write is the newest state. */
    this.saving = Promise.resolve();
    /** A refused frame's retry: while it is set nothing of the outbox is sent (the refused frame goes first). */
    this.retryTimer = /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined);
    /**
     * What this client saw stored or failed, by client_msg_id and by counter (a copy of ours from another tab
     * names no client_msg_id): never taken back in from a stale stored outbox.
     */
    this.settled = new Set();
    // The connection generation whose socket was told `match.ended` (null: none was).
    this.endedOn = /** @type {number | null} */ (null);
    this.key();
  }

  /**
   * A new conversation from `match.found` (or `hello.active_match`), keyed with the `match.find` key pair.
   * @param {MatchInfo & {rtc?: any}} info
   * @param {StoredIdentity | null} identity null on a device that did not ask for this match
   */
  static fresh(info, identity) {
    return {
      match_id: info.match_id,
      kind: info.kind,
      peer: info.peer,
      peer_public_key: info.peer_public_key,
      initiator: info.initiator,
      expires_at: info.expires_at,
      shared_interests: info.shared_interests ?? [],
      shared_languages: info.shared_languages ?? [],
      rtc: info.rtc ?? null,
      /** @type {import('./frames.js').VideoSafety | null} a video match's safety policy (Call's `videoSafety`) */
      video_safety: info.video_safety ?? null,
      identity,
      sent: 0n,
      received: 0n,
      /** @type {bigint} the receive window's bitmap (e2e.Session.window) */
      window: 0n,
      /** the contact's key changes so far: a received message's `epoch` */
      epoch: 0,
      highest_seq: 0,
      /** @type {any[]} the OUTBOX: `msg.send` frames without `msg.accepted` */
      pending: [],
      /** @type {number[]} seqs whose `msg.ack` could not leave yet */
      unacked: [],
      /** @type {Message[]} */
      messages: [],
      /** @type {string | null} why it ended; null while open */
      ended: null,
      /** @type {{since: string} | null} set once both kept in touch */
      contact: null,
      /** @type {string[]} the contact's keys before a change of theirs: never taken again */
      retired_peer_keys: [],
      /** @type {any} the session before the last key change: identity, peer key, counters */
      previous: null,
    };
  }

  get id() {
    return /** @type {number} */ (this.record.match_id);
  }

  get ended() {
    return this.record.ended;
  }

  get isContact() {
    return Boolean(this.record.contact);
  }

  // Whether this socket was told the match ended: from then on nothing live of the match reaches it (docs/protocol.md
  // section 5), and a frame that does is dropped. A socket that connected after the end was told nothing.
  get endedHere() {
    return !this.isContact && this.endedOn === this.client.connection.generation;
  }

  /** @returns {Message[]} the transcript, in the order the messages were written or received */
  get messages() {
    return this.record.messages;
  }

  /**
   * The transcript in the order to show it: by `seq` (the order the server accepted), except that a message of the
   * peer that arrived behind later ones of theirs (refused for now and sent again, or sent from another tab) goes
   * before them, where its writer put it; messages of ours not yet accepted last, in the order written.
   * @returns {Message[]}
   */
  ordered() {
    return ordering.ordered(this.record.messages);
  }


  /** The outbox: messages written but not yet accepted by the server. */
  get outbox() {
    return this.record.pending.map((/** @type {any} */ p) => p.client_msg_id);
  }

  /** Six groups of five digits to compare out of band; null without a session. */
  get safetyNumber() {
    return this.session ? this.session.safetyNumber() : null;
  }

  /** Keys the session from the record (a new conversation, or one restored from storage). */
  key() {
    const r = this.record;
    const identity = loadIdentity(r.identity);
    if (!identity) {
      this.keyError = new e2e.E2eError('unsupported');
      return;
    }
    try {
      this.session = e2e.establish(identity, r.peer_public_key, r.match_id, r.initiator, { sent: r.sent, received: r.received, window: r.window ?? 0n });
      this.keyError = null;
    } catch (e) {
      this.session = null;
      this.keyError = /** @type {Error} */ (e);
    }
    const p = r.previous;
    const previousIdentity = p && loadIdentity(p.identity);
    if (p && previousIdentity) {
      try {
        this.previous = e2e.establish(previousIdentity, p.peer_public_key, r.match_id, r.initiator, p);
      } catch {
        this.previous = null;
      }
    }
  }

  // --- sending -------------------------------------------------------------------------------------------

  /**
   * Franks, seals and sends `text`; resolves once the message is in the persisted outbox (it leaves now if
   * connected, or after the next (re)connect). Throws TanisError(`e2e`) and sends nothing when there is no session,
   * and TanisError(`too_long`) when the sealed text would exceed `hello.limits.max_message_bytes`.
   * @param {string} text
   * @returns {Promise<Message>}
   */
  async send(text) {
    if (this.record.ended) throw new TanisError('not_in_match', 'the conversation is over');
    if (!this.session) throw new TanisError('e2e', `cannot encrypt: ${this.keyError?.message ?? 'no session'}`);
    const limit = this.client.hello?.limits?.max_message_bytes;
    if (limit && utf8Encode(text).length > limit - SEALED_OVERHEAD) throw new TanisError('too_long', 'the message is too long');
    const { payload, commitment } = franking.frank(text);
    const clientMsgId = newId();
    /** @type {Message} */
    const message = { key: clientMsgId, seq: null, mine: true, text, status: 'sending', at: this.client.now() };
    // The counter is taken and the frame stored under the conversation's lock: another client on the same storage
    // (a tab) seals with the counter after ours, never the same one, and keeps our frame in the outbox it writes.
    await this.outboxLocked(async () => {
      const session = /** @type {e2e.Session} */ (this.session);
      const sealed = session.seal(payload);
      const frame = { type: 'msg.send', id: clientMsgId, match_id: this.id, client_msg_id: clientMsgId, ...sealed, commitment };
      this.record.sent = session.sent;
      this.record.pending.push(frame);
      this.record.messages.push(message);
      // On disk before it leaves: after a crash the same frame (same id, same counter) is re-sent, never a new one.
      await this.saveOutbox();
    });
    await this.save();
    this.pump();
    return message;
  }

  /** Whether the connection speaks version 2 (cumulative acknowledgements), as `hello.protocol` says. */
  get cumulative() {
    return (this.client.hello?.protocol ?? 1) >= 2;
  }

  /**
   * Sends an outbox frame. In version 2 what is owed rides on it (`ack`), added to the frame that leaves, not to
   * the stored one: the outbox keeps the frame as written, and a re-sent copy carries whatever is owed then.
   * @param {any} frame
   */
  transmit(frame) {
    const connection = this.client.connection;
    const owed = this.cumulative && this.owedAck ? this.owedAck : 0;
    if (!connection.send(owed ? { ...frame, ack: owed } : frame)) return false;
    this.sentOn.set(frame.client_msg_id, connection.generation);
    if (owed) this.settleAck(owed);
    return true;
  }

  /**
   * Puts the outbox on the wire, oldest first: each frame once per connection, none while a refused one waits for
   * its retry, and none more than SEND_AHEAD counters past the oldest (the peer's window must still open the
   * oldest when it comes).
   */
  pump() {
    if (this.retryTimer !== undefined || this.resumeId) return;
    const generation = this.client.connection.generation;
    // Another tab's frames too (taken in from the shared outbox): that tab may be gone, and a copy the server
    // already stored is answered with its seq, never stored twice.
    const due = ordering.due(this.record.pending, (/** @type {any} */ frame) => this.sentOn.get(frame.client_msg_id) === generation);
    for (const frame of due) if (!this.transmit(frame)) return;
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

  /** After `resume.done`: the outbox, in order; the acks that could not leave. */
  flush() {
    this.pump();
    if (this.cumulative) {
      // One acknowledgement up to the highest covers whatever version 1 left owed too.
      const owed = Math.max(this.owedAck, ...this.record.unacked);
      this.record.unacked = [];
      if (owed > 0) this.owe(owed);
      return;
    }
    this.record.unacked = this.record.unacked.filter((/** @type {number} */ seq) => !this.ack(seq));
  }

  /** @param {number} seq */
  ack(seq) {
    return this.client.connection.send({ type: 'msg.ack', match_id: this.id, seq });
  }

  /**
   * Version 2: `seq` is received and owed; it rides on our next send, or leaves as one `msg.ack` up to the
   * highest owed once ACK_DELAY_MS pass without one.
   * @param {number} seq
   */
  owe(seq) {
    this.owedAck = Math.max(this.owedAck, seq);
    if (this.ackTimer !== undefined) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = undefined;
      // Offline: kept owed; the next connection's `flush` owes it again.
      if (this.owedAck && this.ack(this.owedAck)) this.settleAck(this.owedAck);
    }, ACK_DELAY_MS);
  }

  /** @param {number} seq acknowledged: nothing up to it is owed any more */
  settleAck(seq) {
    if (this.owedAck > seq) return;
    this.owedAck = 0;
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
  }

  /** Tells the peer the user is typing (at most every 2.5 s). */
  typing() {
    const now = this.client.now();
    if (this.record.ended || now - this.lastTypingSent < TYPING_EVERY_MS) return;
    if (this.client.connection.send({ type: 'typing', match_id: this.id })) this.lastTypingSent = now;
  }

  // --- receiving -----------------------------------------------------------------------------------------

  /** Asks for everything stored after `highest_seq`; live frames wait in the inbox until `resume.done`. */
  resume() {
    clearTimeout(this.gapTimer);
    this.resumeId = `r${newId().slice(0, 12)}`;
    if (!this.client.connection.send({ type: 'resume', id: this.resumeId, match_id: this.id, after_seq: this.record.highest_seq })) {
      this.resumeId = null;
    }
  }

  /** Every frame about this conversation. @param {any} frame */
  handle(frame) {
    switch (frame.type) {
      case 'msg':
        // Every message stored before the end came before `match.ended`: one after it is not live traffic we
        // expect, and is dropped. A `resume` of ours still brings the match's messages (a gap, a reconnect).
        if (this.endedHere && !this.resumeId) return;
        // Version 2: a receipt of ours rides on the peer's message; told at once, whatever waits in the inbox.
        if (typeof frame.delivered === 'number') this.delivered(frame.delivered, true);
        if (frame.seq > this.record.highest_seq && !this.inbox.has(frame.seq)) this.inbox.set(frame.seq, frame);
        if (!this.resumeId) this.walk();
        return;
      case 'msg.accepted':
        return this.accepted(frame);
      case 'msg.delivered':
        // Never replayed, so always live: none follows `match.ended`.
        if (this.endedHere) return;
        return this.delivered(frame.seq, frame.up_to === true);
      case 'resume.done':
        if (frame.id === this.resumeId) this.settle(frame.last_seq);
        return;
      case 'typing':
        // Nobody can answer in a conversation that is over.
        if (this.record.ended) return;
        return this.client.events.emit('typing', { matchId: this.id });
      case 'error':
        return this.refused(frame);
    }
  }

  /** @param {any} frame */
  accepted(frame) {
    const r = this.record;
    const pending = r.pending.find((/** @type {any} */ p) => p.client_msg_id === frame.client_msg_id);
    this.forgetPending(frame.client_msg_id);
    const message = pending
      ? this.transcribed(pending, frame.seq, this.client.now())
      : r.messages.find((/** @type {Message} */ m) => m.key === frame.client_msg_id);
    if (message) {
      message.seq = frame.seq;
      if (message.status === 'sending') message.status = 'sent';
    }
    // Our own message holds its `seq` too: the contiguous walk steps over it.
    if (frame.seq > r.highest_seq && !this.inbox.has(frame.seq)) this.inbox.set(frame.seq, { type: 'accepted', seq: frame.seq });
    this.client.events.emit('sent', { matchId: this.id, clientMsgId: frame.client_msg_id, seq: frame.seq });
    if (this.resumeId) this.persist();
    else this.walk();
    // The oldest may have moved: what waited behind SEND_AHEAD can leave.
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
    for (const s of told) this.client.events.emit('delivered', { matchId: this.id, seq: s });
    this.persist();
  }

  /** @param {any} frame */
  refused(frame) {
    if (frame.id === this.resumeId) {
      this.resumeId = null;
      this.walk();
      return this.pump();
    }
    const pending = this.record.pending.find((/** @type {any} */ p) => p.client_msg_id === frame.id);
    if (!pending) return;
    if (frame.code === 'rate_limited' || frame.code === 'internal') {
      return this.hold(typeof frame.retry_after_ms === 'number' ? Math.max(1, frame.retry_after_ms) : RETRY_MS);
    }
    this.forgetPending(pending.client_msg_id);
    const message = this.record.messages.find((/** @type {Message} */ m) => m.key === frame.id);
    if (message) Object.assign(message, { status: 'failed', error: frame.code });
    this.client.events.emit('failed', { matchId: this.id, clientMsgId: frame.id, error: TanisError.fromFrame(frame) });
    this.persist();
    this.pump();
  }

  /** Processes the inbox contiguously from `highest_seq + 1`; a gap left behind is filled by `resume` later. */
  walk() {
    const r = this.record;
    while (this.inbox.has(r.highest_seq + 1)) {
      const seq = r.highest_seq + 1;
      this.process(this.inbox.get(seq));
      this.inbox.delete(seq);
      r.highest_seq = seq;
    }
    clearTimeout(this.gapTimer);
    if (this.inbox.size) this.gapTimer = setTimeout(() => this.inbox.size && !this.resumeId && this.resume(), GAP_WAIT_MS);
    this.persist();
  }

  /** `resume.done`: everything stored up to `lastSeq` has arrived. @param {number} lastSeq */
  settle(lastSeq) {
    this.resumeId = null;
    const r = this.record;
    for (const seq of [...this.inbox.keys()].sort((a, b) => a - b)) {
      if (seq > lastSeq) break;
      if (seq > r.highest_seq) {
        this.process(this.inbox.get(seq));
        r.highest_seq = seq;
      }
      this.inbox.delete(seq);
    }
    r.highest_seq = Math.max(r.highest_seq, lastSeq);
    this.walk();
    this.flush();
  }

  /**
   * A peer's message's bytes and the key epoch that opened them: the session's, else the one before the last key
   * change (`epoch - 1`).
   * @param {any} entry
   * @returns {{plain: Uint8Array, epoch: number}}
   */
  open(entry) {
    if (!this.session) throw this.keyError ?? new e2e.E2eError('unsupported');
    const epoch = this.record.epoch ?? 0;
    try {
      const plain = this.session.openBytes(entry.ciphertext, entry.nonce);
      // The contact has the new key now: nothing sealed before the change can follow.
      this.previous = null;
      this.record.previous = null;
      return { plain, epoch };
    } catch (e) {
      if (!this.previous) throw e;
      const plain = this.previous.openBytes(entry.ciphertext, entry.nonce);
      Object.assign(this.record.previous, { received: this.previous.received, window: this.previous.window });
      return { plain, epoch: epoch - 1 };
    }
  }



  /** @param {any} entry */
  process(entry) {
    if (entry.type !== 'msg') return;
    const r = this.record;
    const events = this.client.events;
    if (!entry.mine) {
      /** @type {Message} */
      const message = { key: `s${entry.seq}`, seq: entry.seq, mine: false, text: null, status: 'received', at: Date.parse(entry.sent_at) };
      let plain = null;
      try {
        const opened = this.open(entry);
        plain = opened.plain;
        Object.assign(message, { counter: Number(e2e.counterOf(entry.nonce)), epoch: opened.epoch });
      } catch {
        message.status = 'undecryptable';
      }
      if (this.session) Object.assign(r, { received: this.session.received, window: this.session.window });
      if (plain) {
        try {
          Object.assign(message, franking.unfrank(plain, entry.commitment));
        } catch {
          // Authentic, but its commitment does not open: never shown as text.
          message.status = 'unverified';
        }
      }
      const before = message.counter === undefined ? (r.messages.push(message), null) : ordering.place(r.messages, message);
      if (this.cumulative) this.owe(entry.seq);
      else if (!this.ack(entry.seq)) r.unacked.push(entry.seq);
      if (message.status === 'received') events.emit('message', { matchId: this.id, message, before });
      else events.emit('undecryptable', { matchId: this.id, seq: entry.seq, reason: message.status });
      return;
    }
    // Our own message, replayed by `resume` or sent from another socket of ours. If its `msg.accepted` never
    // came, the ciphertext says which outbox frame it was.
    const pending = r.pending.find((/** @type {any} */ p) => p.ciphertext === entry.ciphertext);
    if (pending) {
      this.forgetPending(pending.client_msg_id);
      const message = this.transcribed(pending, entry.seq, Date.parse(entry.sent_at));
      if (message) Object.assign(message, { seq: entry.seq, status: message.status === 'sending' ? 'sent' : message.status });
      events.emit('sent', { matchId: this.id, clientMsgId: pending.client_msg_id, seq: entry.seq });
    } else if (!r.messages.some((/** @type {Message} */ m) => m.mine && m.seq === entry.seq)) {
      // Sealed by another client on this storage (a tab: same key pair, so this one opens it too), or by another
      // device of this user (only that device has the key pair: `foreign`).
      /** @type {Message} */
      const message = { key: `s${entry.seq}`, seq: entry.seq, mine: true, text: null, status: 'foreign', at: Date.parse(entry.sent_at) };
      const text = this.openOwn(entry);
      if (text !== null) Object.assign(message, { text, status: 'sent' });
      // Its counter is taken: never seal with it here, whatever the lock did or did not see; and its frame, if a
      // stale stored outbox still holds it, is not taken in again.
      const counter = e2e.counterOf(entry.nonce);
      if (text !== null) this.settled.add(String(counter));
      if (text !== null && this.session && counter !== null && counter > this.session.sent) this.session.sent = r.sent = counter;
      r.messages.push(message);
      events.emit('message', { matchId: this.id, message, before: null });
    }
  }

  // --- keys of a contact ---------------------------------------------------------------------------------

  /**
   * A new key, this device's (a takeover) or the contact's: derives the new session and keeps the old one to try
   * second. Counters start again at 1. Throws E2eError for a refused key and changes nothing then.
   * @param {{identity?: StoredIdentity, peerPublicKey?: string}} change
   * @param {'mine' | 'theirs'} by
   */
  rekey({ identity = this.record.identity, peerPublicKey = this.record.peer_public_key }, by) {
    const r = this.record;
    const loaded = loadIdentity(identity);
    if (!loaded) throw new e2e.E2eError('unsupported');
    const session = e2e.establish(loaded, peerPublicKey, r.match_id, r.initiator);
    if (this.session) {
      this.previous = this.session;
      r.previous = { identity: r.identity, peer_public_key: r.peer_public_key, sent: r.sent, received: r.received, window: r.window ?? 0n };
    }
    if (peerPublicKey !== r.peer_public_key) r.retired_peer_keys = [...(r.retired_peer_keys ?? []), r.peer_public_key];
    Object.assign(r, { identity, peer_public_key: peerPublicKey, sent: 0n, received: 0n, window: 0n, epoch: (r.epoch ?? 0) + 1 });
    this.session = session;
    this.keyError = null;
    this.persist();
    this.client.events.emit('safetyNumberChanged', { matchId: this.id, safetyNumber: session.safetyNumber(), by });
  }

  /** Another session of ours took the conversation over: this device reads nothing new in it. */
  lostKey() {
    Object.assign(this.record, { identity: null, previous: null });
    Object.assign(this, { session: null, previous: null, keyError: new e2e.E2eError('unsupported') });
    this.persist();
  }

  /** @param {string} reason */
  end(reason) {
    if (this.record.ended) return;
    this.record.ended = reason;
    this.persist();
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
    const text = this.openOwn(frame);
    /** @type {Message} */
    const message = { key: frame.client_msg_id, seq, mine: true, text, status: text === null ? 'foreign' : 'sending', at };
    this.record.messages.push(message);
    this.client.events.emit('message', { matchId: this.id, message, before: null });
    return message;
  }

  /**
   * A message of ours sealed by another client holding this conversation's key pair (a tab on the same storage):
   * its text, or null when this client cannot open it (another device's key).
   * @param {any} entry
   * @returns {string | null}
   */
  openOwn(entry) {
    if (!this.session) return null;
    try {
      return franking.unfrank(this.session.openSent(entry.ciphertext, entry.nonce), entry.commitment).text;
    } catch {
      return null;
    }
  }

  // --- persistence ---------------------------------------------------------------------------------------

  /**
   * Queues a save of the record (the outbox and the send counter are their own record: saveOutbox); resolves once
   * it (and every save before it) is written.
   */
  save() {
    const { pending: _pending, sent: _sent, identity, previous, ...rest } = this.record;
    // The private keys are secrets (the client's `secrets` store), written when they changed; the record keeps
    // the public halves only.
    const keys = encode({ identity, previous_identity: previous?.identity ?? null });
    const text = encode({ ...rest, identity: publicHalf(identity), previous: previous && { ...previous, identity: publicHalf(previous.identity) } });
    const client = this.client;
    const keysChanged = keys !== this.savedKeys;
    this.savedKeys = keys;
    this.saving = this.saving.then(async () => {
      if (keysChanged) await client.secrets.set(client.keysKey(this.id), keys);
      await client.storage.set(client.conversationKey(this.id), text);
    });
    return this.saving;
  }

  /** Queues a save of the outbox and the send counter; call it inside `outboxLocked`. */
  saveOutbox() {
    const text = encode({ sent: this.record.sent, pending: this.record.pending });
    this.saving = this.saving.then(() => this.client.storage.set(this.client.outboxKey(this.id), text));
    return this.saving;
  }

  /**
   * Runs `task` holding the conversation's outbox lock (the client's `lock`, shared by every client on the same
   * storage), after taking in what another client stored meanwhile: its higher send counter and its frames.
   * @param {() => Promise<void>} task
   */
  outboxLocked(task) {
    return this.client.lock(`${this.client.outboxKey(this.id)}.lock`, async () => {
      if (this.client.sharedStorage) await this.mergeStoredOutbox();
      await task();
    });
  }

  async mergeStoredOutbox() {
    const stored = decode(await this.client.storage.get(this.client.outboxKey(this.id)));
    if (!stored) return;
    const r = this.record;
    if (stored.sent > r.sent) r.sent = stored.sent;
    if (this.session && r.sent > this.session.sent) this.session.sent = r.sent;
    r.pending = ordering.merged(r.pending, stored.pending ?? [], this.settled);
  }

  /** `client_msg_id` was accepted or failed: out of the outbox, here and in storage. @param {string} id */
  forgetPending(id) {
    const frame = this.record.pending.find((/** @type {any} */ p) => p.client_msg_id === id);
    this.settled.add(id);
    if (frame) this.settled.add(String(e2e.counterOf(frame.nonce)));
    this.record.pending = this.record.pending.filter((/** @type {any} */ p) => p.client_msg_id !== id);
    this.outboxLocked(() => this.saveOutbox()).catch((e) =>
      this.client.events.emit('error', new TanisError('storage', 'could not save the outbox', { cause: e })),
    );
  }

  /**
   * After `restore`: the private keys from the client's secrets, and the outbox record. An older version kept both
   * inside the conversation's record: they are moved out (keys to the secrets, the outbox to its own record).
   */
  async load() {
    const r = this.record;
    const inline = Boolean(r.identity?.privateKey || r.previous?.identity?.privateKey);
    const keys = decode(await this.client.secrets.get(this.client.keysKey(this.id)));
    if (keys) {
      r.identity = keys.identity ?? null;
      if (r.previous) r.previous.identity = keys.previous_identity ?? null;
      this.savedKeys = encode(keys);
      this.key();
    } else if (!inline) {
      // Its keys are gone (signed out elsewhere, the keystore cleared): nothing to seal or open with.
      r.identity = null;
      this.key();
    }
    await this.loadOutbox();
    if (inline) await this.save();
  }

  /** Reads the outbox record; an older version kept it inside the conversation's record. */
  async loadOutbox() {
    const stored = decode(await this.client.storage.get(this.client.outboxKey(this.id)));
    const r = this.record;
    if (stored) Object.assign(r, { sent: stored.sent ?? 0n, pending: stored.pending ?? [] });
    r.sent ??= 0n;
    r.pending ??= [];
    if (this.session && r.sent > this.session.sent) this.session.sent = r.sent;
    // Written by an older version: moved to its own record now, before the next save of this one leaves it out.
    if (!stored && (r.pending.length || r.sent > 0n)) await this.saveOutbox();
  }

  /** Saves in the background; a failed save is reported, the conversation goes on in memory. */
  persist() {
    this.save().catch((e) => this.client.events.emit('error', new TanisError('storage', 'could not save the conversation', { cause: e })));
  }

  /**
   * @param {string | null | undefined} text a stored record
   * @param {import('./client.js').Client} client
   */
  static restore(text, client) {
    const record = decode(text);
    return record ? new Conversation(record, client) : null;
  }
}

/** The public half of a stored key pair, as the conversation's record keeps it. @param {StoredIdentity | null | undefined} identity */
function publicHalf(identity) {
  return identity ? { publicKey: identity.publicKey } : null;
}

/** 32 hex digits from the platform's CSPRNG: a `client_msg_id` or a request id. */
export function newId() {
  return Array.from(e2e.randomBytes(16), (b) => b.toString(16).padStart(2, '0')).join('');
}
