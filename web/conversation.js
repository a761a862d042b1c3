// One match as the chat screen sees it: the E2E session, the transcript, and the delivery algorithm of
// docs/protocol.md section 8 — every stored message exactly once, in `seq` order, none missing:
//   - frames go into an inbox keyed by `seq` (a duplicate lands on the same key), and are processed only
//     contiguously from `highest_seq + 1`; a gap that does not close by itself is filled with `resume`;
//   - during a `resume` everything is buffered until `resume.done`, then processed in `seq` order;
//   - `msg.send` frames stay in `pending` (persisted, counter included) until `msg.accepted`, and are re-sent
//     unchanged after a reconnect: the server deduplicates by `client_msg_id`.
// Every message is franked (docs/protocol.md section 9, "Franking"; the SDK's crypto/franking.js): a received one is shown only
// when its commitment opens, and its (seq, text, franking key) stay in the record so a report can reveal it.
// Opening is synchronous (the SDK's crypto), but saving is not, so the inbox is walked by one chain of tasks, in
// `seq` order.
// The whole record is saved to IndexedDB after every change, so a reload continues where it stopped.
// A match that both kept (a contact, web/contacts.js) goes on as the same conversation; its key may change
// (section 9, "Contacts"), and the session before the change is tried second until the new one opens a message.

import * as e2e from './sdk/crypto/e2e.js';
import * as franking from './sdk/crypto/franking.js';
import * as storage from './storage.js';

/** A gap in `seq` that live frames have not closed after this long is filled with `resume`. */
const GAP_WAIT_MS = 1_500;
/** At most one `typing` frame this often. */
const TYPING_EVERY_MS = 2_500;
/** A message the server refused for now (`rate_limited`, `internal`) is sent again after this. */
const RETRY_MS = 1_000;

export class Conversation extends EventTarget {
  /** A new match from `match.found` (or `hello.active_match`) keyed with our `match.find` key pair. */
  static async create(info, identity, socket) {
    const record = {
      match_id: info.match_id,
      kind: info.kind,
      peer: info.peer,
      peer_public_key: info.peer_public_key,
      initiator: info.initiator,
      expires_at: info.expires_at,
      // What the two have in common (`match.found`): all the chat shows of the other's profile.
      shared_interests: info.shared_interests ?? [],
      shared_languages: info.shared_languages ?? [],
      identity,
      sent: 0n,
      received: 0n,
      highest_seq: 0,
      pending: [],
      unacked: [],
      messages: [],
      ended: null,
    };
    const conversation = new Conversation(record, socket);
    await conversation.key();
    await conversation.save();
    return conversation;
  }

  /** A match persisted before a reload. */
  static async restore(record, socket) {
    const conversation = new Conversation(record, socket);
    await conversation.key();
    return conversation;
  }

  constructor(record, socket) {
    super();
    this.record = record;
    this.socket = socket;
    this.session = null;
    /** Why no session could be keyed (a refused peer key): the chat must not go on. */
    this.keyError = null;
    this.safetyNumber = null;
    /** A contact's session before its last key change, tried second (protocol section 9, "Contacts"). */
    this.previous = null;
    this.inbox = new Map();
    this.resumeId = null;
    this.gapTimer = null;
    this.lastTypingSent = 0;
    /** client_msg_id → socket generation it was last sent on, so a re-send happens once per connection. */
    this.sentOn = new Map();
    /** The inbox walks, one after the other: messages must open in `seq` order, and each waits for its HMAC. */
    this.work = Promise.resolve();
  }

  get id() {
    return this.record.match_id;
  }

  get ended() {
    return this.record.ended;
  }

  get messages() {
    return this.record.messages;
  }

  async key() {
    const r = this.record;
    // A key pair kept before the page used the SDK: a WebCrypto CryptoKey, whose bytes no script can read, so it
    // can never key a session again. This device is then as one that never held the key (a contact can be taken
    // over with a fresh key pair); the transcript kept so far stays readable.
    if (r.identity && !(r.identity.privateKey instanceof Uint8Array)) Object.assign(r, { identity: null, previous: null });
    // A contact on a device that never held its key: nothing opens until this device takes it over.
    if (!r.identity) return void (this.keyError = new e2e.E2eError('unsupported'));
    try {
      this.session = e2e.establish(r.identity, r.peer_public_key, r.match_id, r.initiator, r);
      this.safetyNumber = this.session.safetyNumber();
    } catch (e) {
      this.keyError = e;
    }
    if (r.previous) {
      const p = r.previous;
      try {
        this.previous = e2e.establish(p.identity, p.peer_public_key, r.match_id, r.initiator, p);
      } catch {
        this.previous = null;
      }
    }
  }

  // --- a contact's new key ----------------------------------------------------------------------------------

  /**
   * Keys the session a contact conversation will have after a key change: this device's new key pair
   * (`identity`, published with `contact.key`) or the contact's new public key. Throws for a refused key.
   * Nothing changes until `applyKey`, so the caller can wait for the server's `ok` in between.
   */
  async prepareKey({ identity = this.record.identity, peerPublicKey = this.record.peer_public_key }) {
    const session = e2e.establish(identity, peerPublicKey, this.id, this.record.initiator);
    return { identity, peerPublicKey, session, safetyNumber: session.safetyNumber() };
  }

  /** The key change itself: the counters start again at 1, and the session before it is kept to try second. */
  applyKey({ identity, peerPublicKey, session, safetyNumber }, changedBy) {
    const r = this.record;
    if (this.session) {
      this.previous = this.session;
      r.previous = { identity: r.identity, peer_public_key: r.peer_public_key, sent: r.sent, received: r.received };
    }
    // The contact's key before a change of theirs is never taken again (protocol section 9, "Contacts", step 3).
    if (peerPublicKey !== r.peer_public_key) r.retired_peer_keys = [...(r.retired_peer_keys ?? []), r.peer_public_key];
    Object.assign(r, { identity, peer_public_key: peerPublicKey, sent: 0n, received: 0n, key_changed: changedBy });
    Object.assign(this, { session, safetyNumber, keyError: null });
    this.dispatchEvent(new Event('rekeyed'));
    this.persist();
  }

  /** A peer's message, its bytes: with the session, else with the one before the last key change. Throws if neither opens. */
  open(entry) {
    if (!this.session) throw this.keyError;
    try {
      const plain = this.session.openBytes(entry.ciphertext, entry.nonce);
      // The contact has the new key now: nothing sealed before the change can follow this message.
      this.previous = null;
      this.record.previous = null;
      return plain;
    } catch (e) {
      if (!this.previous) throw e;
      const plain = this.previous.openBytes(entry.ciphertext, entry.nonce);
      this.record.previous.received = this.previous.received;
      return plain;
    }
  }

  // --- sending ----------------------------------------------------------------------------------------------

  /** Encrypts and sends `text`. Throws (and sends nothing) when the session cannot encrypt. */
  async send(text) {
    if (this.record.ended) throw new Error('the match is over');
    if (!this.session) throw this.keyError ?? new e2e.E2eError('unsupported');
    const { payload, commitment } = franking.frank(text);
    // Seal and push stay together, with no await between them, so frames are pending in counter order.
    const sealed = this.session.seal(payload);
    const clientMsgId = crypto.randomUUID();
    const frame = { type: 'msg.send', id: clientMsgId, match_id: this.id, client_msg_id: clientMsgId, ...sealed, commitment };
    this.record.sent = this.session.sent;
    this.record.pending.push(frame);
    this.record.messages.push({ key: clientMsgId, seq: null, mine: true, text, status: 'sending', at: Date.now() });
    // The counter is on disk before the frame leaves: a reload can never seal a second message with it.
    await this.save();
    this.transmit(frame);
    this.changed();
  }

  transmit(frame) {
    if (this.socket.send(frame)) this.sentOn.set(frame.client_msg_id, this.socket.generation);
  }

  /** After `resume.done`: the frames still unacknowledged, unchanged; the acks that could not leave. */
  flush() {
    for (const frame of this.record.pending) {
      if (this.sentOn.get(frame.client_msg_id) !== this.socket.generation) this.transmit(frame);
    }
    this.record.unacked = this.record.unacked.filter((seq) => !this.ack(seq));
  }

  ack(seq) {
    return this.socket.send({ type: 'msg.ack', match_id: this.id, seq });
  }

  typing() {
    if (this.record.ended || Date.now() - this.lastTypingSent < TYPING_EVERY_MS) return;
    if (this.socket.send({ type: 'typing', match_id: this.id })) this.lastTypingSent = Date.now();
  }

  // --- receiving --------------------------------------------------------------------------------------------

  /** Sends `resume` from the highest `seq` processed; live frames wait in the inbox until `resume.done`. */
  resume() {
    clearTimeout(this.gapTimer);
    if (!this.socket.open) return;
    this.resumeId = `r${crypto.randomUUID().slice(0, 8)}`;
    this.socket.send({ type: 'resume', id: this.resumeId, match_id: this.id, after_seq: this.record.highest_seq });
  }

  /** Every frame about this match goes through here. */
  handle(frame) {
    switch (frame.type) {
      case 'msg':
        if (frame.seq > this.record.highest_seq && !this.inbox.has(frame.seq)) this.inbox.set(frame.seq, frame);
        return this.resumeId ? undefined : this.drain();
      case 'msg.accepted':
        return this.accepted(frame);
      case 'msg.delivered':
        return this.delivered(frame.seq);
      case 'resume.done':
        if (frame.id === this.resumeId) this.settle(frame.last_seq);
        return;
      case 'typing':
        return this.dispatchEvent(new Event('typing'));
      case 'match.ended':
        return this.end(frame.reason);
      case 'error':
        return this.refused(frame);
    }
  }

  accepted(frame) {
    const pending = this.record.pending.findIndex((p) => p.client_msg_id === frame.client_msg_id);
    if (pending >= 0) this.record.pending.splice(pending, 1);
    const message = this.record.messages.find((m) => m.key === frame.client_msg_id);
    if (message) {
      message.seq = frame.seq;
      if (message.status === 'sending') message.status = 'sent';
    }
    // Our own message holds its `seq` too: the contiguous walk must step over it.
    if (frame.seq > this.record.highest_seq && !this.inbox.has(frame.seq)) {
      this.inbox.set(frame.seq, { type: 'accepted', seq: frame.seq });
    }
    this.resumeId ? this.persist() : this.drain();
  }

  delivered(seq) {
    const message = this.record.messages.find((m) => m.mine && m.seq === seq);
    if (message) message.status = 'delivered';
    this.persist();
  }

  refused(frame) {
    if (frame.id === this.resumeId) {
      this.resumeId = null;
      return this.drain();
    }
    const pending = this.record.pending.find((p) => p.client_msg_id === frame.id);
    if (!pending) return;
    if (frame.code === 'rate_limited' || frame.code === 'internal') {
      setTimeout(() => this.transmit(pending), RETRY_MS);
      return;
    }
    this.record.pending = this.record.pending.filter((p) => p !== pending);
    const message = this.record.messages.find((m) => m.key === frame.id);
    if (message) message.status = 'failed';
    this.persist();
  }

  /** Runs `task` after every walk of the inbox queued before it; a failure is logged, the chain goes on. */
  schedule(task) {
    this.work = this.work.then(task).catch((e) => console.error(e));
    return this.work;
  }

  /** Processes the inbox contiguously from `highest_seq + 1`; a gap left behind is filled by `resume` later. */
  drain() {
    return this.schedule(() => this.walk());
  }

  async walk() {
    const r = this.record;
    while (this.inbox.has(r.highest_seq + 1)) {
      const seq = r.highest_seq + 1;
      await this.process(this.inbox.get(seq));
      this.inbox.delete(seq);
      r.highest_seq = seq;
    }
    clearTimeout(this.gapTimer);
    if (this.inbox.size) this.gapTimer = setTimeout(() => this.inbox.size && !this.resumeId && this.resume(), GAP_WAIT_MS);
    this.persist();
  }

  /** `resume.done`: everything stored up to `lastSeq` has arrived; a seq still missing below it is not stored. */
  settle(lastSeq) {
    this.resumeId = null;
    return this.schedule(async () => {
      const r = this.record;
      for (const seq of [...this.inbox.keys()].sort((a, b) => a - b)) {
        if (seq > lastSeq) break;
        if (seq > r.highest_seq) {
          await this.process(this.inbox.get(seq));
          r.highest_seq = seq;
        }
        this.inbox.delete(seq);
      }
      r.highest_seq = Math.max(r.highest_seq, lastSeq);
      await this.walk();
      this.flush();
    });
  }

  async process(entry) {
    if (entry.type !== 'msg') return;
    const r = this.record;
    if (!entry.mine) {
      const message = { key: `s${entry.seq}`, seq: entry.seq, mine: false, text: null, status: 'received', at: Date.parse(entry.sent_at) };
      let plain = null;
      try {
        plain = this.open(entry);
      } catch {
        // Shown as "could not be decrypted", never as text.
        message.status = 'undecryptable';
      }
      if (this.session) r.received = this.session.received;
      if (plain) {
        try {
          // Kept in the record (never in the page): what a report can reveal of this message.
          Object.assign(message, franking.unfrank(plain, entry.commitment));
        } catch {
          // Authentic, but its commitment does not open: shown as "could not be verified", never as text.
          message.status = 'unverified';
        }
      }
      r.messages.push(message);
      if (!this.ack(entry.seq)) r.unacked.push(entry.seq);
      return;
    }
    // Our own message, replayed by `resume` (or sent from another socket of ours). If its `msg.accepted` never
    // came, the ciphertext identifies which pending frame it was.
    const pending = r.pending.find((p) => p.ciphertext === entry.ciphertext);
    if (pending) {
      r.pending = r.pending.filter((p) => p !== pending);
      const message = r.messages.find((m) => m.key === pending.client_msg_id);
      if (message) Object.assign(message, { seq: entry.seq, status: message.status === 'sending' ? 'sent' : message.status });
    } else if (!r.messages.some((m) => m.mine && m.seq === entry.seq)) {
      // Sealed by another device of this user: only that device has the key pair (protocol section 2).
      r.messages.push({ key: `s${entry.seq}`, seq: entry.seq, mine: true, text: null, status: 'foreign', at: Date.parse(entry.sent_at) });
    }
  }

  end(reason) {
    if (this.record.ended) return;
    this.record.ended = reason;
    this.persist();
  }

  // --- persistence ------------------------------------------------------------------------------------------

  save() {
    return storage.saveMatch(this.record);
  }

  /** Saves and tells the screen; a failed save is reported, the conversation goes on in memory. */
  persist() {
    this.save().catch((e) => this.dispatchEvent(new CustomEvent('storage-error', { detail: e })));
    this.changed();
  }

  changed() {
    this.dispatchEvent(new Event('change'));
  }
}
