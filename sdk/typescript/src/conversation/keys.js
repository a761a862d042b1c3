// @ts-check
// A conversation's E2E keys (docs/protocol.md section 9): the session keyed from the record's key pair and the
// peer's public key, and, for a contact whose key changed ("Contacts"), the session before the change, tried second
// until the new one opens a message. Counters and key pairs live in the record (record.js writes it); this module
// keeps the sessions in step with it. It sends nothing and tells nothing: conversation.js does.

import * as e2e from '../crypto/e2e.js';
import * as franking from '../crypto/franking.js';

/**
 * @typedef {import('./record.js').StoredIdentity} StoredIdentity
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

export class Keys {
  /** @param {any} record the conversation's record: its key pairs, the peer's key and the counters */
  constructor(record) {
    this.record = record;
    /** @type {e2e.Session | null} */
    this.session = null;
    /** @type {e2e.Session | null} a contact's session before its last key change, tried second */
    this.previous = null;
    /** Why no session could be keyed (a refused key, or a device that never held this conversation's key). */
    this.error = /** @type {Error | null} */ (null);
    this.key();
  }

  /** Keys the sessions from the record (a new conversation, or one restored from storage). */
  key() {
    const r = this.record;
    const identity = loadIdentity(r.identity);
    if (!identity) {
      this.error = new e2e.E2eError('unsupported');
      return;
    }
    try {
      this.session = e2e.establish(identity, r.peer_public_key, r.match_id, r.initiator, { sent: r.sent, received: r.received, window: r.window ?? 0n });
      this.error = null;
    } catch (e) {
      this.session = null;
      this.error = /** @type {Error} */ (e);
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

  /** The public half of this device's key pair; undefined on a device that holds none. @returns {string | undefined} */
  get publicKey() {
    return this.record.identity?.publicKey;
  }

  /**
   * Another client on the same storage sealed up to `counter`: never seal with it here.
   * @param {bigint} counter
   */
  catchUp(counter) {
    if (this.session && counter > this.session.sent) this.session.sent = counter;
  }

  /**
   * A peer's message's bytes and the key epoch that opened them: the session's, else the one before the last key
   * change (`epoch - 1`). The record's counters follow the session's.
   * @param {any} entry
   * @returns {{plain: Uint8Array, epoch: number}}
   */
  open(entry) {
    const r = this.record;
    if (!this.session) throw this.error ?? new e2e.E2eError('unsupported');
    const epoch = r.epoch ?? 0;
    try {
      const plain = this.session.openBytes(entry.ciphertext, entry.nonce);
      Object.assign(r, { received: this.session.received, window: this.session.window });
      // The contact has the new key now: nothing sealed before the change can follow.
      this.previous = null;
      r.previous = null;
      return { plain, epoch };
    } catch (e) {
      if (!this.previous) throw e;
      const plain = this.previous.openBytes(entry.ciphertext, entry.nonce);
      Object.assign(r.previous, { received: this.previous.received, window: this.previous.window });
      return { plain, epoch: epoch - 1 };
    }
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

  /**
   * A fresh key pair for a takeover, checked first: a key that cannot pair with the contact's is never published.
   * @returns {StoredIdentity}
   */
  fresh() {
    const r = this.record;
    const identity = e2e.generateIdentity();
    e2e.establish(identity, r.peer_public_key, r.match_id, r.initiator);
    return storeIdentity(identity);
  }

  /**
   * A new key, this device's (a takeover) or the contact's: derives the new session and keeps the old one to try
   * second. Counters start again at 1. Throws E2eError for a refused key and changes nothing then.
   * @param {{identity?: StoredIdentity, peerPublicKey?: string}} change
   * @returns {e2e.Session}
   */
  rekey({ identity = this.record.identity, peerPublicKey = this.record.peer_public_key }) {
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
    this.error = null;
    return session;
  }

  /** Another session of ours took the conversation over: this device reads nothing new in it. */
  lost() {
    Object.assign(this.record, { identity: null, previous: null });
    Object.assign(this, { session: null, previous: null, error: new e2e.E2eError('unsupported') });
  }
}
