// @ts-check
// A conversation's RECORD: everything it persists (what the server said of the match, the E2E counters and keys,
// the highest seq processed, the outbox, the transcript and what a report can reveal), and where it is kept. Three
// places, through the port's storage (conversation.js, Port): the record itself; the outbox and the send counter, a
// record of their own because tabs sharing one storage read and write it under a lock (outbox.js); the private
// keys, which are secrets. The other parts change the record in memory; this module only writes and reads it, one
// write after the other, so that the last write is the newest state.

import { TanisError } from '../errors.js';
import { decode, encode } from '../storage.js';

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
 * @typedef {import('../frames.js').MatchInfo} MatchInfo
 */

/**
 * A new conversation's record from `match.found` (or `hello.active_match`, or a contact listed), keyed with the
 * `match.find` key pair.
 * @param {MatchInfo & {rtc?: any}} info
 * @param {StoredIdentity | null} identity null on a device that did not ask for this match
 * @param {boolean} [filtered] the match answers this device's own find with `seeking`
 */
export function freshRecord(info, identity, filtered = false) {
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
    /** @type {import('../frames.js').VideoSafety | null} a video match's safety policy (Call's `videoSafety`) */
    video_safety: info.video_safety ?? null,
    // Only the device that asked knows: the server never says whether a match answered a wish (the wish is not
    // stored, docs/privacy.md). A "not as declared" report refunds only such a match (docs/admin.md "Declarations").
    /** @type {boolean} the match answers this device's own find with `seeking` (a premium gender filter) */
    filtered,
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

/** Writes and reads one conversation's record in its three places, one write after the other. */
export class RecordStore {
  /**
   * @param {any} record
   * @param {import('../conversation.js').Port} port its `storage` and, for a failed background save, `emit`
   */
  constructor(record, port) {
    this.record = record;
    this.port = port;
    /** The private keys as last written to the secrets: written again only when they change. */
    this.keysWritten = '';
    /** The writes queued so far; resolves once the last is done. */
    this.saving = Promise.resolve();
  }

  /**
   * Queues a save of the record (the outbox and the send counter are their own record: saveOutbox); resolves once
   * it (and every save before it) is written.
   */
  save() {
    const { pending: _pending, sent: _sent, identity, previous, ...rest } = this.record;
    // The private keys are secrets, written when they changed; the record keeps the public halves only.
    const keys = encode({ identity, previous_identity: previous?.identity ?? null });
    const text = encode({ ...rest, identity: publicHalf(identity), previous: previous && { ...previous, identity: publicHalf(previous.identity) } });
    const keysChanged = keys !== this.keysWritten;
    this.keysWritten = keys;
    return this.queue(async () => {
      if (keysChanged) await this.port.storage.set('keys', keys);
      await this.port.storage.set('record', text);
    });
  }

  /** Queues a save of the outbox and the send counter; outbox.js calls it under the outbox's lock. */
  saveOutbox() {
    const text = encode({ sent: this.record.sent, pending: this.record.pending });
    return this.queue(() => this.port.storage.set('outbox', text));
  }

  /** The outbox record as stored now (another client on the same storage may have written it), or null. */
  async storedOutbox() {
    return decode(await this.port.storage.get('outbox'));
  }

  /** Saves in the background; a failed save is reported, the conversation goes on in memory. */
  persist() {
    this.save().catch((e) => this.port.emit('error', new TanisError('storage', 'could not save the conversation', { cause: e })));
  }

  /**
   * After a restart: the private keys from the secrets, the outbox from its record. An older version kept both
   * inside the conversation's record: they are moved out (keys to the secrets, the outbox to its own record).
   * Resolves whether the record must be saved again (it held private keys).
   */
  async load() {
    const r = this.record;
    const inline = Boolean(r.identity?.privateKey || r.previous?.identity?.privateKey);
    const keys = decode(await this.port.storage.get('keys'));
    if (keys) {
      r.identity = keys.identity ?? null;
      if (r.previous) r.previous.identity = keys.previous_identity ?? null;
      this.keysWritten = encode(keys);
    } else if (!inline) {
      // Its keys are gone (signed out elsewhere, the keystore cleared): nothing to seal or open with.
      r.identity = null;
    }
    const stored = await this.storedOutbox();
    if (stored) Object.assign(r, { sent: stored.sent ?? 0n, pending: stored.pending ?? [] });
    r.sent ??= 0n;
    r.pending ??= [];
    // Written by an older version: moved to its own record now, before the next save of this one leaves it out.
    if (!stored && (r.pending.length || r.sent > 0n)) await this.saveOutbox();
    return inline;
  }

  /** @param {() => Promise<void>} write */
  queue(write) {
    this.saving = this.saving.then(write);
    return this.saving;
  }
}

/** The public half of a stored key pair, as the record keeps it. @param {StoredIdentity | null | undefined} identity */
function publicHalf(identity) {
  return identity ? { publicKey: identity.publicKey } : null;
}
