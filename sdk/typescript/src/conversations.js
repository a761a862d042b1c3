// @ts-check
// Every conversation this device holds (the match it is in, past matches, contacts) and where they are kept: the
// index of their ids, and each one's three records (conversation/record.js), under the client's storage prefix.
// Each conversation is handed a Port (conversation.js) made here of what the client shares with every one of them
// (the socket, the clock, the events), its own records, and the outbox's lock when other clients share the
// storage: nothing else of the client reaches a conversation. Which match the device is in is matching.js's to
// say; this module only keeps it.

import { Conversation } from './conversation.js';
import { TanisError } from './errors.js';
import { decode, encode } from './storage.js';

/**
 * @typedef {import('./conversation.js').Port} Port
 * @typedef {import('./conversation.js').StoredPart} StoredPart
 * @typedef {import('./storage.js').Storage} Storage
 */

export class Conversations {
  /**
   * @param {object} deps
   * @param {Storage} deps.storage the records and the index
   * @param {Storage} deps.secrets the private keys
   * @param {string} deps.prefix of every storage key
   * @param {Pick<Port, 'send' | 'link' | 'now' | 'emit'>} deps.shared what every conversation's port shares
   * @param {((name: string, task: () => Promise<void>) => Promise<unknown>) | null} deps.lock the `lock` option:
   *   other clients write the same storage
   */
  constructor({ storage, secrets, prefix, shared, lock }) {
    this.storage = storage;
    this.secrets = secrets;
    this.prefix = prefix;
    this.shared = shared;
    this.lock = lock;
    /** @type {Map<number, Conversation>} every conversation this device holds, by match id */
    this.map = new Map();
    /** @type {Conversation | null} the match we are in */
    this.current = null;
  }

  /** Reads every conversation the index names, with its keys and outbox (an app restart). */
  async restore() {
    const ids = decode(await this.storage.get(this.indexKey())) ?? [];
    for (const id of ids) {
      const c = Conversation.restore(await this.storage.get(this.conversationKey(id)), this.port(id));
      if (!c) continue;
      await c.load();
      this.map.set(c.id, c);
    }
  }

  /** A new conversation from its record, stored and in the index. @param {any} record @returns {Promise<Conversation>} */
  async track(record) {
    const c = new Conversation(record, this.port(record.match_id));
    this.map.set(c.id, c);
    await c.save();
    await this.saveIndex();
    return c;
  }

  /** The conversation `matchId`, by default the current match; TanisError(`not_in_match`) when there is none. @param {number} [matchId] */
  conversation(matchId) {
    const c = matchId == null ? this.current : this.map.get(matchId);
    if (!c) throw new TanisError('not_in_match', 'no such conversation');
    return c;
  }

  /** Deletes a conversation: out of the index, then its records once its last save is done. @param {Conversation} c */
  async forget(c) {
    c.stop();
    this.map.delete(c.id);
    await this.saveIndex();
    await c.saving.catch(() => {});
    await this.deleteStored(c.id);
  }

  /** Sign-out: every conversation's records and the index deleted. */
  async clear() {
    for (const id of this.map.keys()) await this.deleteStored(id);
    await this.storage.delete(this.indexKey());
    this.map.clear();
    this.current = null;
  }

  /** Stops every conversation's timers. */
  stop() {
    for (const c of this.map.values()) c.stop();
  }

  saveIndex() {
    return this.storage.set(this.indexKey(), encode([...this.map.keys()]));
  }

  indexKey() {
    return `${this.prefix}conversations`;
  }

  /** @param {number} matchId */
  conversationKey(matchId) {
    return `${this.prefix}conversation.${matchId}`;
  }

  /**
   * Where a conversation's three records are kept: the record in `storage` (`conversationKey`), the outbox and send
   * counter in `storage` too (`<prefix>outbox.<id>`), the private keys in `secrets` (`<prefix>keys.<id>`).
   * @param {number} matchId
   * @param {StoredPart} part
   * @returns {[Storage, string]}
   */
  stored(matchId, part) {
    if (part === 'record') return [this.storage, this.conversationKey(matchId)];
    return [part === 'keys' ? this.secrets : this.storage, `${this.prefix}${part}.${matchId}`];
  }

  /** @param {number} matchId */
  async deleteStored(matchId) {
    for (const part of /** @type {const} */ (['record', 'outbox', 'keys'])) {
      const [store, key] = this.stored(matchId, part);
      await store.delete(key);
    }
  }

  /**
   * The port of conversation `matchId`: what every conversation shares, its records, and the outbox's lock
   * (`<prefix>outbox.<id>.lock`, the name every client on the storage takes it by).
   * @param {number} matchId
   * @returns {Port}
   */
  port(matchId) {
    const lock = this.lock;
    const [, outboxKey] = this.stored(matchId, 'outbox');
    return {
      ...this.shared,
      storage: {
        get: (part) => {
          const [store, key] = this.stored(matchId, part);
          return store.get(key);
        },
        set: (part, text) => {
          const [store, key] = this.stored(matchId, part);
          return store.set(key, text);
        },
      },
      lock: lock && ((task) => lock(`${outboxKey}.lock`, task)),
    };
  }
}
