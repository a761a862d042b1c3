// @ts-check
// The match this device asks for and is in (docs/protocol.md sections 2 to 5): the `match.find` with its fresh key
// pair, kept in the secrets until its `match.found` (a restart in between still finds the key; the find is sent
// again after a reconnect, one with `seeking` only within FIND_RESEND_BOUND_MS of its asking and never after a
// restart, else `findLapsed`; its `seeking` is never written to disk); the match found, or adopted from
// `hello.active_match` and `resync`; its end, told once per match and socket, also one that came before its
// `match.found`; and a match another device of ours asked for, whose key pair only that device holds
// (`matchedElsewhere`). The conversations are conversations.js's; this module says which of them is the current
// match.

import { Conversation } from './conversation.js';
import { storeIdentity } from './conversation/keys.js';
import * as e2e from './crypto/e2e.js';
import { TanisError } from './errors.js';
import { decode, encode, readSecret } from './storage.js';

/**
 * How long after `findMatch` a find with `seeking` is still sent again by itself after a reconnect, in ms: a network
 * blip. Later, or after a restart (the wish was never stored), it is dropped and the app hears `findLapsed`, so that
 * it asks the user again: a wish made once is not repeated to the server long after. A find without `seeking` is
 * always sent again.
 */
export const FIND_RESEND_BOUND_MS = 60_000;

/**
 * What the secrets keep of a find: the frame without its `seeking` (the server keeps the wish only while the find
 * waits; the device does not keep it at all), and `seeks` when it had one.
 * @param {{id: string, frame: any, identity: any, seeks?: boolean}} finding
 */
function persisted({ id, frame, identity, seeks }) {
  const { seeking: _wish, ...rest } = frame;
  return seeks ? { id, frame: rest, identity, seeks: true } : { id, frame: rest, identity };
}

/**
 * @typedef {object} FindOptions
 * @property {'text' | 'video'} [kind] default `text`
 * @property {'off' | 'prefer' | 'only'} [interests] match on the profile's interests; default `off`
 * @property {string[]} [topics] first set the profile's interests (ids of `GET /v1/interests`)
 * @property {string[]} [languages] first set the profile's languages (ISO 639-1): the server matches on the
 *   profile, not on the request
 * @property {'anywhere' | 'country' | {radius_km: number}} [region] premium accounts only
 * @property {boolean} [nearby] prefer people close to the profile's location
 * @property {{genders: ('woman' | 'man' | 'non_binary')[], mode?: 'only' | 'prefer'}} [seeking] premium accounts
 *   only: whom to meet by declared gender, binding both sides (`only` by default; `prefer` takes anyone after
 *   `matching.gender_fallback_secs`). The server keeps it only while the find waits; it is never stored, here
 *   either (the waiting find is kept without it). Sent again by itself only after a reconnect within
 *   FIND_RESEND_BOUND_MS of the find, never after a restart: else `findLapsed`.
 */

export class Matching {
  /**
   * @param {object} port
   * @param {import('./conversations.js').Conversations} port.conversations where the matches are kept
   * @param {(frame: any) => Promise<any>} port.request a request on the socket, resolving with its answer
   * @param {(frame: any) => boolean} port.send a frame on the socket now, false when offline
   * @param {import('./emitter.js').Emitter<import('./events.js').ClientEvents>['emit']} port.emit
   * @param {(matchId: number) => Promise<void>} port.leave `match.leave`
   * @param {import('./storage.js').Storage} port.secrets where the waiting find is kept (its private key)
   * @param {import('./storage.js').Storage} port.storage where an older version kept it
   * @param {string} port.key the waiting find's key
   * @param {() => number} [port.now] the clock, ms since the epoch (the client's); default Date.now
   */
  constructor({ conversations, request, send, emit, leave, secrets, storage, key, now = Date.now }) {
    this.conversations = conversations;
    this.request = request;
    this.send = send;
    this.emit = emit;
    this.leave = leave;
    this.secrets = secrets;
    this.storage = storage;
    this.key = key;
    this.now = now;
    /**
     * The `match.find` waiting for its `match.found`: asked in this process (`at`, the full frame), or read back after
     * a restart (no `at`; `seeks`: it had a `seeking`, which was not stored).
     * @type {{id: string, frame: any, identity: any, at?: number, seeks?: boolean} | null}
     */
    this.finding = null;
    /** @type {Map<number, any>} a `match.ended` that came before its `match.found`, kept until the match is made */
    this.endsBefore = new Map();
    /** @type {Set<number>} matches of another device of ours (`matchedElsewhere`) whose `match.ended` is still to come */
    this.elsewhere = new Set();
  }

  /**
   * Reads the find a restart left waiting: a secret, moved from where an older version kept it. One with `seeking` is
   * kept until the first `hello` (`adopt`), never to be sent again: its key pair still keys a match made before the
   * restart. A wish an older version wrote leaves the disk now.
   */
  async load() {
    const find = decode(await readSecret(this.secrets, this.storage, this.key));
    if (!find) return;
    this.finding = find.frame?.seeking ? persisted({ ...find, seeks: true }) : find;
    if (find.frame?.seeking) await this.secrets.set(this.key, encode(this.finding));
  }

  /**
   * Joins the queue with a fresh key pair (Client.findMatch, once the profile is updated).
   * @param {{kind: string, interests: string, region?: FindOptions['region'], nearby: boolean, seeking?: FindOptions['seeking']}} options
   */
  async find({ kind, interests, region, nearby, seeking }) {
    const identity = e2e.generateIdentity();
    const id = `f${e2e.newId().slice(0, 12)}`;
    /** @type {any} */
    const frame = { type: 'match.find', id, kind, public_key: e2e.toBase64(identity.publicKey) };
    if (nearby) frame.nearby = true;
    if (interests !== 'off') frame.interests = interests;
    if (region && region !== 'anywhere') frame.region = region;
    if (seeking) frame.seeking = seeking;
    // On disk before the frame leaves: a restart before `match.found` must still find the key. The whole record
    // is a secret (its private key; the rest is the frame's public half), without the wish (`persisted`).
    this.finding = { id, frame, identity: storeIdentity(identity), at: this.now(), ...(seeking && { seeks: true }) };
    await this.secrets.set(this.key, encode(persisted(this.finding)));
    try {
      return await this.request(frame);
    } catch (e) {
      await this.clear();
      throw e;
    }
  }

  /** Leaves the queue (offline: the queue entry went with the socket, and the find is not sent again). */
  async cancel() {
    await this.request({ type: 'match.cancel' }).catch((e) => {
      if (e.code !== 'not_queued' && e.code !== 'offline') throw e;
    });
    await this.clear();
  }

  async clear() {
    this.finding = null;
    await this.secrets.delete(this.key);
  }

  /** Sign-out: the waiting find forgotten, a copy an older version left in the storage too. */
  async forget() {
    await this.secrets.delete(this.key);
    if (this.secrets !== this.storage) await this.storage.delete(this.key);
    this.finding = null;
  }

  /**
   * `match.found`: the match's conversation, `matched`; then a `match.ended` that came before it, told now.
   * @param {any} frame
   */
  async found(frame) {
    await this.matched(frame).catch((e) => this.emit('error', e));
    const ended = this.endsBefore.get(frame.match_id);
    this.endsBefore.delete(frame.match_id);
    if (ended) this.ended(ended);
  }

  /** @param {any} frame */
  async matched(frame) {
    const identity = this.finding?.identity ?? null;
    const filtered = Boolean(this.finding?.seeks);
    await this.clear();
    // Only the socket that asked holds the key pair (protocol section 2); another device of ours just hears of it.
    if (!identity) {
      this.elsewhere.add(frame.match_id);
      return this.emit('matchedElsewhere', { matchId: frame.match_id, peer: frame.peer });
    }
    const existing = this.conversations.map.get(frame.match_id);
    const c = existing ?? (await this.conversations.track(Conversation.fresh(frame, identity, filtered)));
    this.conversations.current = c;
    if (!c.session) {
      // A refused peer key: no conversation, never plaintext (protocol section 9, step 2).
      this.emit('error', new TanisError('e2e', `the peer's key was refused: ${c.keyError?.message}`));
      return void this.leave(c.id).catch(() => {});
    }
    this.emit('matched', { conversation: c, rtc: frame.rtc ?? null, balances: frame.balances });
  }

  // `match.ended`: one per match and socket, the first end deciding (docs/protocol.md section 5). One for a match
  // not known yet came before its `match.found` (the stranger left before we were told): it waits for it, so that
  // `matched` comes first and the match is not taken for an open one.
  /** @param {any} frame */
  ended(frame) {
    const c = this.conversations.map.get(frame.match_id);
    if (!c && !this.elsewhere.delete(frame.match_id)) return void this.endsBefore.set(frame.match_id, frame);
    if (c && !c.endedOnSocket(frame.reason)) return;
    if (this.conversations.current?.id === frame.match_id) this.conversations.current = null;
    this.emit('ended', { matchId: frame.match_id, reason: frame.reason });
  }

  /**
   * An `error` frame: whether it answers the find (then `findRefused`, unless the find sent again after a
   * reconnect or a `resync` found its entry still there: the place is kept, and so is the key pair for its
   * `match.found`). The first send's refusal rejects findMatch's promise.
   * @param {any} frame
   */
  refused(frame) {
    if (frame.id == null || frame.id !== this.finding?.id) return false;
    if (frame.code !== 'already_queued') {
      void this.clear();
      this.emit('findRefused', TanisError.fromFrame(frame));
    }
    return true;
  }

  /**
   * `hello.active_match` / `resync`: continue the match, adopt one we did not know (a restart between `match.find`
   * and `match.found`), and ask for a match again if the queue entry went with the old socket.
   * @param {any} active
   * @param {boolean} resync
   */
  async adopt(active, resync) {
    const all = this.conversations;
    if (active) {
      let c = all.map.get(active.match_id);
      if (!c) {
        const identity = this.finding?.identity;
        // Asked for by another device of ours: only that one holds the key pair (as in `matched`).
        if (!identity) {
          all.current = null;
          this.elsewhere.add(active.match_id);
          return void this.emit('matchedElsewhere', { matchId: active.match_id, peer: active.peer });
        }
        c = await all.track(Conversation.fresh(active, identity, Boolean(this.finding?.seeks)));
        await this.clear();
      }
      c.restate(active);
      const known = all.current === c;
      all.current = c;
      if (!c.session && !c.isContact) {
        // Kept without a usable key (a record an older client wrote): no chat without one (protocol section 9.2).
        this.emit('error', new TanisError('e2e', `the match cannot be keyed: ${c.keyError?.message}`));
        this.leave(c.id).catch(() => {});
      }
      // A new match, or the one we were in before a restart: the app puts it on screen (`rtc` is not repeated).
      if (!known) this.emit('matched', { conversation: c, restored: true, rtc: null });
      c.resume();
    } else {
      const gone = all.current;
      all.current = null;
      if (gone && !gone.isContact && !gone.ended) {
        gone.end('gone');
        this.emit('ended', { matchId: gone.id, reason: 'gone' });
      }
      if (resync) for (const c of all.map.values()) if (c.isContact && !c.ended) c.resume();
      const lapsed = this.lapsed(resync);
      // Not awaited: the catching up does not wait for the cancel's answer (`lapse` forgets the find at once).
      if (lapsed) void this.lapse(lapsed).catch((e) => this.emit('error', e));
      else if (this.finding) this.send(this.finding.frame);
    }
    // After a `hello` the catching up collects the ended matches. A `resync` has no such step, and may follow a
    // `match.ended` told without the messages stored before it (docs/protocol.md section 5): collected here.
    if (resync) for (const c of all.map.values()) if (c !== all.current && !c.isContact && c.ended) c.collect();
  }

  /**
   * Why the waiting find is not to be sent again now, no match being active (null: it is). Only a find with `seeking`
   * lapses: read back after a restart (`restart`: the wish was not stored, and one made days ago is not the user's
   * now), or, after a reconnect, asked more than FIND_RESEND_BOUND_MS ago (`stale`). A `resync` comes on the socket
   * that asked, still open: the place it asks again for is the one the user still waits in.
   * @param {boolean} resync
   * @returns {'restart' | 'stale' | null}
   */
  lapsed(resync) {
    const f = this.finding;
    if (!f?.seeks) return null;
    if (f.at === undefined) return 'restart';
    return !resync && this.now() - f.at > FIND_RESEND_BOUND_MS ? 'stale' : null;
  }

  /**
   * Drops the find (its record and key pair), then says so once (`findLapsed`): the app asks the user again. A place
   * the server still holds (its node died while we waited, and the cluster kept it) is cancelled first, so that no
   * match is made that this device could no longer read; the event waits for that answer, so that a find the app
   * makes on it is not taken for the cancelled one.
   * @param {'restart' | 'stale'} reason
   */
  async lapse(reason) {
    const { kind } = /** @type {{frame: any}} */ (this.finding).frame;
    await this.clear();
    await this.request({ type: 'match.cancel' }).catch(() => {});
    this.emit('findLapsed', { kind, reason });
  }
}
