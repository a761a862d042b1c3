// @ts-check
// One conversation (a match, or a contact it became), as the app and the client see it: its frames are handed to
// the part they concern, and what the app reads (the transcript, the safety number, whether it ended) is read here.
// The parts are modules of their own (conversation/), and each is handed only what it needs of the client: the
// Port below, never the client itself.
//   - record.js: what is persisted, in its three places (the record, the outbox's own record, the private keys);
//   - keys.js: the E2E sessions, and a contact's key changes (docs/protocol.md section 9, "Contacts");
//   - inbox.js: every stored message exactly once, in `seq` order, gaps filled with `resume` (section 8);
//   - outbox.js: our messages from written to delivered: persisted before they leave, sent in order, re-sent after
//     every reconnect until accepted, under a lock shared by the tabs on one storage (sections 8 and 9 step 5);
//   - acks.js: what we received, acknowledged (at once in version 1, cumulative and delayed in version 2).
// Here: a peer's message opened, verified (franking: one whose commitment does not open is never surfaced as text)
// and placed in the transcript by its writer's counter, and a contact's key changes told.

import { Acks } from './conversation/acks.js';
import { Inbox } from './conversation/inbox.js';
import { Keys } from './conversation/keys.js';
import { Outbox } from './conversation/outbox.js';
import { RecordStore, freshRecord } from './conversation/record.js';
import { counterOf } from './crypto/e2e.js';
import * as franking from './crypto/franking.js';
import * as ordering from './ordering.js';
import { decode } from './storage.js';

export { ACK_DELAY_MS } from './conversation/acks.js';

/** At most one `typing` frame this often. */
const TYPING_EVERY_MS = 2_500;

/**
 * @typedef {import('./conversation/record.js').Message} Message
 * @typedef {import('./conversation/record.js').StoredIdentity} StoredIdentity
 * @typedef {import('./conversation/record.js').MatchInfo} MatchInfo
 */

/**
 * All a conversation and its parts are handed by their client (client.js builds one per conversation): the socket,
 * the clock, the events, the conversation's storage and the outbox's lock. Unit tests hand plain functions.
 * @typedef {object} Port
 * @property {(frame: any) => boolean} send puts a frame on the socket now; false when not connected
 * @property {() => {socket: number, protocol: number, maxMessageBytes?: number}} link the socket of the moment: a
 *   number of its own (a frame is sent once per socket), the protocol version its `hello` said (1 before one),
 *   and the longest sealed message it takes (`hello.limits.max_message_bytes`)
 * @property {() => number} now ms since the epoch
 * @property {import('./emitter.js').Emitter<import('./events.js').ClientEvents>['emit']} emit tells the app
 * @property {{get: (part: StoredPart) => Promise<string | null | undefined>, set: (part: StoredPart, text: string) => Promise<void>}} storage
 *   this conversation's records: `record`, `outbox`, and `keys`, which are secrets
 * @property {((task: () => Promise<void>) => Promise<unknown>) | null} lock the outbox's lock, shared by every client
 *   on the same storage (tabs); null when the storage is this client's alone
 */

/** @typedef {'record' | 'outbox' | 'keys'} StoredPart */

export class Conversation {
  /**
   * @param {any} record the persisted state (see `Conversation.record`)
   * @param {Port} port
   */
  constructor(record, port) {
    /** Everything persisted: E2E state, highest seq, outbox, transcript (record.js). */
    this.record = record;
    this.port = port;
    this.store = new RecordStore(record, port);
    this.keys = new Keys(record);
    this.acks = new Acks(record, port);
    this.inbox = new Inbox({
      record,
      port,
      process: (entry) => (entry.mine ? this.outgoing.echoed(entry) : this.received(entry)),
      caughtUp: () => {
        this.outgoing.pump();
        this.acks.flush();
      },
      persist: () => this.persist(),
    });
    /** The outbox (outbox.js); `outbox` is what an app reads of it. */
    this.outgoing = new Outbox({ record, port, store: this.store, keys: this.keys, acks: this.acks, resuming: () => this.inbox.resuming });
    this.lastTypingSent = 0;
    // The socket that was told `match.ended` (null: none was).
    this.endedOn = /** @type {number | null} */ (null);
  }

  /**
   * A new conversation's record (record.js).
   * @param {MatchInfo & {rtc?: any}} info
   * @param {StoredIdentity | null} identity null on a device that did not ask for this match
   * @param {boolean} [filtered] the match answers this device's own find with `seeking`
   */
  static fresh(info, identity, filtered = false) {
    return freshRecord(info, identity, filtered);
  }

  /**
   * @param {string | null | undefined} text a stored record
   * @param {Port} port
   */
  static restore(text, port) {
    const record = decode(text);
    return record ? new Conversation(record, port) : null;
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

  /**
   * Whether the match answers this device's own find with `seeking` (a premium user's gender filter): the one-tap
   * "not as declared" report refunds only such a match, reported within an hour of its start (docs/admin.md
   * "Declarations"). False on another device of ours, and for a record an older version wrote.
   */
  get filtered() {
    return this.record.filtered === true;
  }

  // Whether this socket was told the match ended: from then on nothing live of the match reaches it (docs/protocol.md
  // section 5), and a frame that does is dropped. A socket that connected after the end was told nothing.
  get endedHere() {
    return !this.isContact && this.endedOn === this.port.link().socket;
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
    return this.outgoing.ids;
  }

  /** Six groups of five digits to compare out of band; null without a session. */
  get safetyNumber() {
    return this.session ? this.session.safetyNumber() : null;
  }

  /** The E2E session, null when none could be keyed (`keyError` says why). */
  get session() {
    return this.keys.session;
  }

  /** Why no session could be keyed (a refused key, or a device that never held this conversation's key). */
  get keyError() {
    return this.keys.error;
  }

  /** Resolves once every save queued so far is written. */
  get saving() {
    return this.store.saving;
  }

  // --- sending -------------------------------------------------------------------------------------------

  /**
   * Franks, seals and sends `text`; resolves once the message is in the persisted outbox (it leaves now if
   * connected, or after the next (re)connect: outbox.js). Throws TanisError(`e2e`) and sends nothing when there is
   * no session, and TanisError(`too_long`) when the sealed text would exceed `hello.limits.max_message_bytes`.
   * @param {string} text
   * @returns {Promise<Message>}
   */
  send(text) {
    return this.outgoing.send(text);
  }

  /** Tells the peer the user is typing (at most every 2.5 s). */
  typing() {
    const now = this.port.now();
    if (this.record.ended || now - this.lastTypingSent < TYPING_EVERY_MS) return;
    if (this.port.send({ type: 'typing', match_id: this.id })) this.lastTypingSent = now;
  }

  // --- receiving -----------------------------------------------------------------------------------------

  /** Asks for everything stored after the last seq processed; live frames wait until `resume.done`. */
  resume() {
    this.inbox.resume();
  }

  /** An ended match's messages, asked for once with `resume` (and its outbox, refused): what the socket missed. */
  collect() {
    if (this.record.pending.length || !this.record.collected) {
      this.record.collected = true;
      this.resume();
    }
  }

  /** Whether an answer with this id is this conversation's: to its `resume`, or to a frame of its outbox. @param {unknown} id */
  awaits(id) {
    return this.inbox.resumeId === id || this.outgoing.frame(id) !== undefined;
  }

  /** Every frame about this conversation. @param {any} frame */
  handle(frame) {
    switch (frame.type) {
      case 'msg':
        // Every message stored before the end came before `match.ended`: one after it is not live traffic we
        // expect, and is dropped. A `resume` of ours still brings the match's messages (a gap, a reconnect).
        if (this.endedHere && !this.inbox.resuming) return;
        // Version 2: a receipt of ours rides on the peer's message; told at once, whatever waits in the inbox.
        if (typeof frame.delivered === 'number') this.outgoing.delivered(frame.delivered, true);
        return this.inbox.add(frame);
      case 'msg.accepted':
        this.outgoing.accepted(frame);
        this.inbox.accepted(frame.seq);
        // The oldest may have moved: what waited behind SEND_AHEAD can leave.
        return this.outgoing.pump();
      case 'msg.delivered':
        // Never replayed, so always live: none follows `match.ended`.
        if (this.endedHere) return;
        return this.outgoing.delivered(frame.seq, frame.up_to === true);
      case 'resume.done':
        return this.inbox.done(frame);
      case 'typing':
        // Nobody can answer in a conversation that is over.
        if (this.record.ended) return;
        return this.port.emit('typing', { matchId: this.id });
      case 'error':
        if (this.inbox.refused(frame.id)) return this.outgoing.pump();
        return this.outgoing.refused(frame);
    }
  }

  /**
   * A peer's message, in `seq` order: opened, verified against its commitment, put in the transcript where its
   * writer put it, acknowledged, and told (`message`, or `undecryptable`).
   * @param {any} entry
   */
  received(entry) {
    /** @type {Message} */
    const message = { key: `s${entry.seq}`, seq: entry.seq, mine: false, text: null, status: 'received', at: Date.parse(entry.sent_at) };
    let plain = null;
    try {
      const opened = this.keys.open(entry);
      plain = opened.plain;
      Object.assign(message, { counter: Number(counterOf(entry.nonce)), epoch: opened.epoch });
    } catch {
      message.status = 'undecryptable';
    }
    if (plain) {
      try {
        Object.assign(message, franking.unfrank(plain, entry.commitment));
      } catch {
        // Authentic, but its commitment does not open: never shown as text.
        message.status = 'unverified';
      }
    }
    const messages = this.record.messages;
    const before = message.counter === undefined ? (messages.push(message), null) : ordering.place(messages, message);
    this.acks.received(entry.seq);
    if (message.status === 'received') this.port.emit('message', { matchId: this.id, message, before });
    else this.port.emit('undecryptable', { matchId: this.id, seq: entry.seq, reason: message.status });
  }

  // --- the match's end, and a contact's keys -------------------------------------------------------------

  /** @param {string} reason */
  end(reason) {
    if (this.record.ended) return;
    this.record.ended = reason;
    this.persist();
  }

  /**
   * `match.ended` on this socket: false when this socket was told already (one per match and socket, the first
   * end deciding: docs/protocol.md section 5).
   * @param {string} reason
   */
  endedOnSocket(reason) {
    const socket = this.port.link().socket;
    if (this.endedOn === socket) return false;
    this.endedOn = socket;
    this.end(reason);
    return true;
  }

  /**
   * What the server says of the match again (`hello.active_match`, `resync`): the shared interests and languages
   * and the video safety policy, worked out again from the profiles as they are now.
   * @param {any} info
   */
  restate(info) {
    for (const field of ['shared_interests', 'shared_languages', 'video_safety']) {
      if (info[field]) this.record[field] = info[field];
    }
  }

  /**
   * Both kept in touch (`contact.added`, or the contacts list): a contact since `since`, open, with no expiry.
   * @param {string} since
   */
  becameContact(since) {
    Object.assign(this.record, { contact: { since }, expires_at: null, ended: null });
  }

  /** The peer's handle as the server gives it now. @param {string} peer */
  renamed(peer) {
    this.record.peer = peer;
  }

  /** The public half of this device's key pair; undefined on a device that holds none. */
  get publicKey() {
    return this.keys.publicKey;
  }

  /** A fresh key pair for a takeover, checked against the contact's key before it is published (keys.js). */
  freshKey() {
    return this.keys.fresh();
  }

  /**
   * A new key, this device's (a takeover) or the contact's: the new session, the old one tried second, and
   * `safetyNumberChanged`. Throws E2eError for a refused key and changes nothing then.
   * @param {{identity?: StoredIdentity, peerPublicKey?: string}} change
   * @param {'mine' | 'theirs'} by
   */
  rekey(change, by) {
    const session = this.keys.rekey(change);
    this.persist();
    this.port.emit('safetyNumberChanged', { matchId: this.id, safetyNumber: session.safetyNumber(), by });
  }

  /**
   * The contact's key as the server has it now (`contact.key`, the contacts list): the key in use changes nothing;
   * a key the contact had before is refused (`keyRefused`); a new one re-keys.
   * @param {string} key
   */
  peerKey(key) {
    const r = this.record;
    if (key === r.peer_public_key) return;
    if (r.retired_peer_keys?.includes(key)) return this.port.emit('keyRefused', { matchId: this.id, reason: 'replayed' });
    if (!r.identity) {
      // Nothing to derive on a device without the key; a takeover will use this one.
      r.peer_public_key = key;
      return this.persist();
    }
    try {
      this.rekey({ peerPublicKey: key }, 'theirs');
    } catch (e) {
      this.port.emit('keyRefused', { matchId: this.id, reason: /** @type {any} */ (e).kind ?? 'invalid' });
    }
  }

  /**
   * Another session of ours published `key` for this contact: unless it is the key this device holds, this device
   * reads nothing new here. Returns whether it lost its key.
   * @param {string | null | undefined} key
   */
  takenOver(key) {
    if (this.keys.publicKey === key) return false;
    this.keys.lost();
    this.persist();
    return true;
  }

  // --- persistence ---------------------------------------------------------------------------------------

  /** Queues a save of the record; resolves once it (and every save before it) is written. */
  save() {
    return this.store.save();
  }

  /** Saves in the background; a failed save is reported, the conversation goes on in memory. */
  persist() {
    this.store.persist();
  }

  /**
   * After `restore`: the private keys from the secrets, and the outbox record (record.js); an older version's
   * record is rewritten without them.
   */
  async load() {
    const inline = await this.store.load();
    this.keys.key();
    this.keys.catchUp(this.record.sent);
    if (inline) await this.save();
  }

  /** Stops the timers of its parts (the client is closed, or the conversation forgotten). */
  stop() {
    this.inbox.stop();
    this.outgoing.stop();
    this.acks.stop();
  }
}
