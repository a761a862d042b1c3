// @ts-check
// The SDK's front door: one Client per signed-in person and device. It wires the REST side (api.js), the socket
// (connection.js) and the conversations (conversation.js), and owns what happens between them: after every
// `hello` (and `resync`) it adopts the active match, catches every conversation up with `resume` and re-sends
// their outboxes, syncs the contacts (new keys, takeovers, ends) and asks for a match again if it was waiting.
// Everything is injected (WebSocket, storage, fetch, clock, randomness), so it runs in React Native, browsers and
// Node >= 20 alike, and nothing here imports a platform module or WebRTC.

import { Api } from './api.js';
import { Connection } from './connection.js';
import { Conversation, newId, storeIdentity } from './conversation.js';
import * as e2e from './crypto/e2e.js';
import * as franking from './crypto/franking.js';
import { Emitter } from './emitter.js';
import { TanisError } from './errors.js';
import { MemoryStorage, decode, encode, readSecret } from './storage.js';

/**
 * @typedef {import('./events.js').ClientEvents} ClientEvents
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} baseUrl the server, `https://api.example`; the socket is its `/v1/ws` over ws(s)
 * @property {any} WebSocket a WebSocket constructor: `globalThis.WebSocket` in browsers and React Native, the
 *   `ws` package's in Node
 * @property {import('./storage.js').Storage} [storage] everything but the secrets: conversations (transcripts,
 *   counters, outboxes), the index of them. Persistent in an app (AsyncStorage); default in memory
 * @property {import('./storage.js').Storage} [secrets] the secrets only: the token pair, the key pair of a find
 *   still waiting, and each conversation's private key. In React Native the platform keystore (expo-secure-store or
 *   react-native-keychain, entries that stay on the device and out of backups); in a browser the origin's
 *   IndexedDB (docs/sdk.md says why no more). Default: `storage`, the less safe choice (a secret is then as private
 *   as the rest). A secret an older version kept in `storage` is moved here when first read
 * @property {typeof fetch} [fetch] default `globalThis.fetch`
 * @property {() => number} [random] [0, 1) for the backoff's jitter (never for keys); default Math.random
 * @property {() => number} [now] the clock, ms since the epoch; default Date.now
 * @property {(name: string, detail: any) => void} [onEvent] called with every event (also `client.on`)
 * @property {string} [storagePrefix] prefix of every storage key; default `tanis.`
 * @property {number} [reportWindowDays] how far back a report can reveal messages, for a server that does not
 *   announce it: the server's `jobs.report_window_days` (default 30). A server that announces it in
 *   `hello.limits.report_window_days` is followed instead. Older messages are not offered (the server no longer
 *   verifies them)
 * @property {import('./connection.js').ConnectionOptions} [connection] heartbeat and backoff tuning
 * @property {boolean} [refreshAhead] refresh the access token on a timer before it expires (default true)
 * @property {(name: string, task: () => Promise<void>) => Promise<unknown>} [lock] a lock shared by every client on
 *   the same storage, held around a token refresh: in a browser, `(name, task) => navigator.locks.request(name, task)`,
 *   so that two tabs never rotate the same refresh token (a reused one signs every session out). The storage must
 *   then be one whose writes every client sees once `set` resolves (IndexedDB, not localStorage: api.js)
 */

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
 *   `matching.gender_fallback_secs`). The server keeps it only while the find waits; it is never stored.
 */

/**
 * One signed-in person on one device: REST, the socket, the conversations. Create it with injected
 * dependencies, `start()` it (or `register`/`login`), subscribe with `on(name, fn)`.
 */
export class Client {
  /** @param {ClientOptions} options */
  constructor(options) {
    const { baseUrl, WebSocket, storage = new MemoryStorage(), fetch = globalThis.fetch?.bind(globalThis), random = Math.random, now = Date.now } = options;
    if (!baseUrl || !WebSocket) throw new TypeError('tanis: baseUrl and WebSocket are required');
    this.storage = storage;
    /** Where the secrets are kept (the `secrets` option, else `storage`): tokens and private keys. */
    this.secrets = options.secrets ?? storage;
    this.now = now;
    this.prefix = options.storagePrefix ?? 'tanis.';
    this.reportWindowDays = options.reportWindowDays ?? 30;
    /**
     * The lock shared with every client on the same storage (the `lock` option), or none: held around a token
     * refresh and around each conversation's outbox (conversation.js), so that two tabs never take one counter.
     * @type {(name: string, task: () => Promise<void>) => Promise<unknown>}
     */
    this.lock = options.lock ?? ((_name, task) => task());
    /** Whether other clients may write the same storage (a `lock` was given): outboxes are then re-read under it. */
    this.sharedStorage = Boolean(options.lock);
    /** Every event of the SDK (src/events.d.ts names them); `client.on(name, fn)` subscribes. @type {Emitter<ClientEvents>} */
    this.events = new Emitter();
    /** Conversations being made for `match.found`, which frames for them wait for (see onFrame). @type {Promise<unknown> | null} */
    this.opening = null;
    if (options.onEvent) this.events.on('*', ({ name, detail }) => options.onEvent?.(name, detail));
    this.api = new Api({
      baseUrl, fetch, storage, secrets: this.secrets, now, random, backoff: { base: options.connection?.backoffBaseMs, cap: options.connection?.backoffCapMs }, events: this.events, prefix: this.prefix, refreshAhead: options.refreshAhead, lock: options.lock,
      // The session is over: the socket closes for good first, so that a listener sees the state `closed`.
      onRefused: (code) => {
        this.connection.stop();
        this.events.emit('reauthenticate', { code });
      },
    });
    const wsUrl = `${baseUrl.replace(/\/+$/, '').replace(/^http/, 'ws')}/v1/ws`;
    this.connection = new Connection(
      { url: wsUrl, WebSocket, api: this.api, random, now, events: this.events, onFrame: (f) => this.onFrame(f) },
      options.connection,
    );
    /** @type {Map<number, Conversation>} every conversation this device holds: the match, past ones, contacts */
    this.conversations = new Map();
    /** @type {Conversation | null} the match we are in */
    this.current = null;
    /** @type {any} the last `hello` */
    this.hello = null;
    /** @type {{id: string, frame: any, identity: any} | null} the `match.find` waiting for its `match.found` */
    this.finding = null;
    /** @type {Map<number, any>} a `match.ended` that came before its `match.found`, kept until the match is made */
    this.endsBefore = new Map();
    /** @type {Set<number>} matches of another device of ours (`matchedElsewhere`) whose `match.ended` is still to come */
    this.elsewhere = new Set();
    this.restored = false;
  }

  /**
   * Subscribes to an event; returns the function that unsubscribes. The events and their details are the map
   * `ClientEvents` (src/events.d.ts); `*` takes every event as `{name, detail}`.
   * @template {keyof ClientEvents} K
   * @param {K} name
   * @param {(detail: ClientEvents[K]) => void} listener
   * @returns {() => void}
   */
  on(name, listener) {
    return this.events.on(name, listener);
  }

  /** The connection's state: `disconnected`, `connecting`, `connected` or `closed`. */
  get state() {
    return this.connection.state;
  }

  // --- lifecycle -----------------------------------------------------------------------------------------

  /** Reads what storage holds (tokens, conversations, a pending find) and connects if signed in. */
  async start() {
    await this.restore();
    if (await this.api.load()) this.connection.connect();
    return this.api.signedIn;
  }

  async restore() {
    if (this.restored) return;
    this.restored = true;
    const ids = decode(await this.storage.get(this.indexKey())) ?? [];
    for (const id of ids) {
      const c = Conversation.restore(await this.storage.get(this.conversationKey(id)), this);
      if (!c) continue;
      await c.load();
      this.conversations.set(c.id, c);
    }
    // A secret (its private key): in `secrets`, moved there from where an older version kept it.
    const find = decode(await readSecret(this.secrets, this.storage, this.findKey()));
    if (find) this.finding = find;
  }

  /** @param {Parameters<Api['register']>[0]} account */
  async register(account) {
    await this.restore();
    const user = await this.api.register(account);
    this.connection.connect();
    return user;
  }

  /** @param {string} phone @param {string} password */
  async login(phone, password) {
    await this.restore();
    const user = await this.api.login(phone, password);
    this.connection.connect();
    return user;
  }

  /** Signs out on the server and forgets everything this device kept (tokens, keys, conversations). */
  async logout() {
    this.connection.stop();
    await this.api.logout();
    for (const id of this.conversations.keys()) {
      await this.storage.delete(this.conversationKey(id));
      await this.storage.delete(this.outboxKey(id));
      await this.secrets.delete(this.keysKey(id));
    }
    await this.storage.delete(this.indexKey());
    await this.secrets.delete(this.findKey());
    if (this.secrets !== this.storage) await this.storage.delete(this.findKey());
    this.conversations.clear();
    this.current = null;
    this.finding = null;
  }

  /** Connects (again) after `pause()`, a ban lifted, a new sign-in. */
  connect() {
    this.connection.connect();
  }

  /** The app went to the background: close cleanly and stop reconnecting. Nothing is lost: see `resume()`. */
  pause() {
    this.connection.pause();
  }

  /** The app came back: reconnect; every conversation then resumes and its outbox is re-sent. */
  resume() {
    this.connection.connect();
  }

  /** Stops everything (timers included); the client cannot be used afterwards. */
  close() {
    this.connection.stop();
    this.api.stop();
    for (const c of this.conversations.values()) {
      clearTimeout(c.gapTimer);
      clearTimeout(c.retryTimer);
    }
  }

  // --- REST passthroughs ---------------------------------------------------------------------------------

  /** `GET /v1/me`. */
  me() {
    return this.api.call('GET', '/v1/me');
  }

  /** `PATCH /v1/me` (alias, location, locale, interests, languages). @param {Record<string, unknown>} change */
  updateProfile(change) {
    return this.api.call('PATCH', '/v1/me', change);
  }

  /**
   * `PUT /v1/me/gender`: declare a gender for matching. `consent` must be true (the user agreed, on a screen of its
   * own, to its use in matching); it is never shown to anyone else.
   * @param {'woman' | 'man' | 'non_binary'} gender
   * @param {{consent: boolean}} options
   */
  declareGender(gender, { consent }) {
    return this.api.call('PUT', '/v1/me/gender', { gender, consent });
  }

  /** `DELETE /v1/me/gender`: withdraw the consent; the declaration is deleted. */
  withdrawGender() {
    return this.api.call('DELETE', '/v1/me/gender');
  }

  /**
   * `POST /v1/me/age-assurance`: start proving the user's age at the server's provider, on a server that offers it
   * (`me().age_assurance.offered`). Resolves `{url, reference, status, expires_at}`: open `url` (the provider's own
   * page, in a browser tab or an in-app browser); when the user is back, `checkAgeAssurance()`. A find the server
   * asks an assured age for is refused with `age_assurance_required` until then.
   */
  startAgeAssurance() {
    return this.api.call('POST', '/v1/me/age-assurance');
  }

  /**
   * `POST /v1/me/age-assurance/check`: read what the provider decided and keep it. Resolves the account's
   * `age_assurance` view, `{required_for, offered, assured, latest}`; `latest.status` is still `pending` while the
   * user has not finished at the provider.
   */
  checkAgeAssurance() {
    return this.api.call('POST', '/v1/me/age-assurance/check');
  }

  /** `GET /v1/contacts`: `{contacts: [{match_id, peer, peer_public_key, initiator, since, last_seq}]}`. */
  listContacts() {
    return this.api.call('GET', '/v1/contacts');
  }

  // --- frames --------------------------------------------------------------------------------------------

  /** @param {import('./frames.js').ServerFrame} frame */
  onFrame(frame) {
    // Every frame as it came, before the SDK acts on it: for logging, and for what the SDK does not interpret.
    this.events.emit('frame', frame);
    // A new match's conversation is made asynchronously (storage, keys) after `match.found`, and the peer's first
    // `msg` may be the very next frame. A frame for a conversation not made yet waits for that work, in the order
    // frames came, instead of finding no conversation and being dropped: no `resume` follows a `match.found` to
    // bring it back. (After `hello` and `resync` the conversation's `resume` does.) So does a `match.ended` right
    // behind it (the stranger left before we were told), after the messages that came before it.
    const unknown = 'match_id' in frame && !this.conversations.has(frame.match_id);
    if (unknown && this.opening && frame.type !== 'match.found' && !frame.type.startsWith('contact.')) {
      return this.afterOpening(() => this.handleFrame(frame));
    }
    this.handleFrame(frame);
  }

  /** @param {import('./frames.js').ServerFrame} frame */
  handleFrame(frame) {
    const c = 'match_id' in frame ? this.conversations.get(frame.match_id) : undefined;
    switch (frame.type) {
      case 'hello':
        this.hello = frame;
        this.events.emit('hello', frame);
        return void this.caughtUp(frame.active_match).catch((e) => this.events.emit('error', e));
      case 'resync':
        return void this.adopt(frame.active_match, true).catch((e) => this.events.emit('error', e));
      case 'match.queued':
        return this.events.emit('queued', { kind: frame.kind });
      case 'match.cancelled':
        return void this.clearFind().then(() => this.events.emit('cancelled', {}));
      case 'match.found': {
        const matched = this.matched(frame).catch((e) => this.events.emit('error', e)).then(() => {
          // Its `match.ended` came first: told now, after `matched`.
          const ended = this.endsBefore.get(frame.match_id);
          this.endsBefore.delete(frame.match_id);
          if (ended) this.matchEnded(ended);
        });
        return this.afterOpening(() => matched);
      }
      case 'match.ended':
        return this.matchEnded(frame);
      case 'contact.proposed':
        // A proposal is live traffic of the match: none follows its `match.ended`.
        if (c?.endedHere) return;
        return this.events.emit('contactProposed', { matchId: frame.match_id });
      case 'contact.added':
        return void this.contactAdded(frame.contact);
      case 'contact.ended': {
        if (c) c.end('contact_ended');
        return this.events.emit('contactEnded', { matchId: frame.match_id });
      }
      case 'contact.key':
        if (frame.mine) return this.takenOver(frame.match_id, frame.public_key, frame.session_id);
        return this.peerKey(frame.match_id, frame.peer_public_key);
      case 'notification':
        return this.events.emit('notification', frame.notification);
      case 'ad':
        return this.events.emit('ad', frame.ad);
      case 'error':
        return this.refused(frame);
      case 'ok':
      case 'pong':
        return;
      default:
        // (`startsWith` does not narrow the union: the frame is one of the `rtc.*` ones.) None follows `match.ended`.
        if (frame.type.startsWith('rtc.')) {
          if (c?.endedHere) return;
          return this.events.emit('rtc', { matchId: frame.match_id, frame: /** @type {any} */ (frame) });
        }
        c?.handle(frame);
    }
  }

  // `match.ended`: one per match and socket, the first end deciding (docs/protocol.md section 5). One for a match
  // not known yet came before its `match.found` (the stranger left before we were told): it waits for it, so that
  // `matched` comes first and the match is not taken for an open one.
  /** @param {any} frame */
  matchEnded(frame) {
    const c = this.conversations.get(frame.match_id);
    if (!c && !this.elsewhere.delete(frame.match_id)) return void this.endsBefore.set(frame.match_id, frame);
    if (c) {
      if (c.endedOn === this.connection.generation) return;
      c.endedOn = this.connection.generation;
      c.end(frame.reason);
    }
    if (this.current?.id === frame.match_id) this.current = null;
    this.events.emit('ended', { matchId: frame.match_id, reason: frame.reason });
  }

  /**
   * Chains `step` after the conversations being made (see onFrame), in order; the chain is dropped once it is done.
   * @param {() => unknown} step
   */
  afterOpening(step) {
    const opening = (this.opening ?? Promise.resolve()).then(step);
    this.opening = opening;
    void opening.then(() => {
      if (this.opening === opening) this.opening = null;
    });
  }

  /** @param {any} frame */
  refused(frame) {
    if (frame.id != null && frame.id === this.finding?.id) {
      // The find sent again after a reconnect or a `resync` found its entry still there: the place is kept, and
      // so is the key pair for its `match.found`. (The first send's refusal rejects findMatch's promise.)
      if (frame.code === 'already_queued') return;
      void this.clearFind();
      return this.events.emit('findRefused', TanisError.fromFrame(frame));
    }
    const owner = [...this.conversations.values()].find(
      (c) => c.resumeId === frame.id || c.record.pending.some((/** @type {any} */ p) => p.client_msg_id === frame.id),
    );
    if (owner) return owner.handle(frame);
    // A request's error went to its promise; anything else is reported.
    if (frame.id == null || !String(frame.id).startsWith('q')) this.events.emit('error', TanisError.fromFrame(frame));
  }

  /** After every `hello`: the active match, contacts, every other conversation's catching up, the queue. @param {any} active */
  async caughtUp(active) {
    await this.restore();
    await this.adopt(active, false);
    await this.syncContacts();
    for (const c of this.conversations.values()) {
      if (c === this.current || c.isContact) continue;
      // A match that ended while we were away: say so, and collect what was still stored, once.
      if (!c.ended) {
        c.end('gone');
        this.events.emit('ended', { matchId: c.id, reason: 'gone' });
      }
      this.collect(c);
    }
  }

  // An ended match's messages, asked for once with `resume` (and its outbox, refused): what the socket missed.
  /** @param {Conversation} c */
  collect(c) {
    if (c.record.pending.length || !c.record.collected) {
      c.record.collected = true;
      c.resume();
    }
  }

  /**
   * `hello.active_match` / `resync`: continue the match, adopt one we did not know (a restart between `match.find`
   * and `match.found`), and ask for a match again if the queue entry went with the old socket.
   * @param {any} active
   * @param {boolean} resync
   */
  async adopt(active, resync) {
    if (active) {
      let c = this.conversations.get(active.match_id);
      if (!c) {
        const identity = this.finding?.identity;
        // Asked for by another device of ours: only that one holds the key pair (as in `matched`).
        if (!identity) {
          this.current = null;
          this.elsewhere.add(active.match_id);
          return void this.events.emit('matchedElsewhere', { matchId: active.match_id, peer: active.peer });
        }
        c = await this.track(Conversation.fresh(active, identity));
        await this.clearFind();
      }
      // The server works these out again from the profiles as they are now.
      for (const field of ['shared_interests', 'shared_languages', 'video_safety']) {
        if (active[field]) c.record[field] = active[field];
      }
      const known = this.current === c;
      this.current = c;
      if (!c.session && !c.isContact) {
        // Kept without a usable key (a record an older client wrote): no chat without one (protocol section 9.2).
        this.events.emit('error', new TanisError('e2e', `the match cannot be keyed: ${c.keyError?.message}`));
        this.leave(c.id).catch(() => {});
      }
      // A new match, or the one we were in before a restart: the app puts it on screen (`rtc` is not repeated).
      if (!known) this.events.emit('matched', { conversation: c, restored: true, rtc: null });
      c.resume();
    } else {
      const gone = this.current;
      this.current = null;
      if (gone && !gone.isContact && !gone.ended) {
        gone.end('gone');
        this.events.emit('ended', { matchId: gone.id, reason: 'gone' });
      }
      if (resync) for (const c of this.conversations.values()) if (c.isContact && !c.ended) c.resume();
      if (this.finding) this.connection.send(this.finding.frame);
    }
    // After a `hello` the catching up collects the ended matches. A `resync` has no such step, and may follow a
    // `match.ended` told without the messages stored before it (docs/protocol.md section 5): collected here.
    if (resync) for (const c of this.conversations.values()) if (c !== this.current && !c.isContact && c.ended) this.collect(c);
  }

  /** @param {any} record @returns {Promise<Conversation>} */
  async track(record) {
    const c = new Conversation(record, this);
    this.conversations.set(c.id, c);
    await c.save();
    await this.storage.set(this.indexKey(), encode([...this.conversations.keys()]));
    return c;
  }

  // --- matching ------------------------------------------------------------------------------------------

  /**
   * Joins the queue with a fresh key pair; resolves with `match.queued` (the match comes as a `matched` event,
   * maybe at once). Rejects with TanisError (`quota_exhausted`, `already_in_match`, `consent_required`, ...).
   * @param {FindOptions} [options]
   */
  async findMatch({ kind = 'text', interests = 'off', topics, languages, region, nearby = false, seeking } = {}) {
    if (topics || languages) {
      /** @type {Record<string, unknown>} */
      const change = {};
      if (topics) change.interests = topics;
      if (languages) change.languages = languages;
      await this.updateProfile(change);
    }
    const identity = e2e.generateIdentity();
    const id = `f${newId().slice(0, 12)}`;
    /** @type {any} */
    const frame = { type: 'match.find', id, kind, public_key: e2e.toBase64(identity.publicKey) };
    if (nearby) frame.nearby = true;
    if (interests !== 'off') frame.interests = interests;
    if (region && region !== 'anywhere') frame.region = region;
    if (seeking) frame.seeking = seeking;
    // On disk before the frame leaves: a restart before `match.found` must still find the key. The whole record
    // is a secret (its private key; the rest is the frame's public half).
    this.finding = { id, frame, identity: storeIdentity(identity) };
    await this.secrets.set(this.findKey(), encode(this.finding));
    try {
      return await this.connection.request(frame);
    } catch (e) {
      await this.clearFind();
      throw e;
    }
  }

  /** Leaves the queue (offline: the queue entry went with the socket, and the find is not sent again). */
  async cancelFind() {
    await this.connection.request({ type: 'match.cancel' }).catch((e) => {
      if (e.code !== 'not_queued' && e.code !== 'offline') throw e;
    });
    await this.clearFind();
  }

  async clearFind() {
    this.finding = null;
    await this.secrets.delete(this.findKey());
  }

  /** @param {any} frame */
  async matched(frame) {
    const identity = this.finding?.identity ?? null;
    await this.clearFind();
    // Only the socket that asked holds the key pair (protocol section 2); another device of ours just hears of it.
    if (!identity) {
      this.elsewhere.add(frame.match_id);
      return this.events.emit('matchedElsewhere', { matchId: frame.match_id, peer: frame.peer });
    }
    const existing = this.conversations.get(frame.match_id);
    const c = existing ?? (await this.track(Conversation.fresh(frame, identity)));
    this.current = c;
    if (!c.session) {
      // A refused peer key: no conversation, never plaintext (protocol section 9, step 2).
      this.events.emit('error', new TanisError('e2e', `the peer's key was refused: ${c.keyError?.message}`));
      return void this.leave(c.id).catch(() => {});
    }
    this.events.emit('matched', { conversation: c, rtc: frame.rtc ?? null, balances: frame.balances });
  }

  /** @param {number} [matchId] default: the current match */
  conversation(matchId) {
    const c = matchId == null ? this.current : this.conversations.get(matchId);
    if (!c) throw new TanisError('not_in_match', 'no such conversation');
    return c;
  }

  /**
   * Sends an end-to-end encrypted, franked message; resolves once it is in the persisted outbox.
   * @param {string} text
   * @param {number} [matchId] default: the current match
   */
  send(text, matchId) {
    return this.conversation(matchId).send(text);
  }

  /** @param {number} [matchId] */
  typing(matchId) {
    this.conversation(matchId).typing();
  }

  /** Ends the match (`match.leave`). @param {number} [matchId] */
  async leave(matchId) {
    const c = this.conversation(matchId);
    await this.connection.request({ type: 'match.leave', match_id: c.id });
  }

  /** Leaves the current match and asks for another. @param {FindOptions} [options] */
  async next(options) {
    if (this.current && !this.current.ended) await this.leave();
    return this.findMatch(options);
  }

  /** Blocks the peer (ends the match or contact, never paired again). @param {number} [matchId] */
  async block(matchId) {
    const c = this.conversation(matchId);
    await this.connection.request({ type: 'block', match_id: c.id });
  }

  /**
   * The peer's messages a report can reveal (verified, still held), newest first.
   * @param {number} [matchId]
   */
  revealable(matchId) {
    return franking.revealable(/** @type {any[]} */ (this.conversation(matchId).messages), this.reportWindow());
  }

  /**
   * The report window as `revealable` takes it: the server's `jobs.report_window_days` as its last `hello`
   * announced it (`limits.report_window_days`); before a `hello`, or from an older server that does not announce
   * it, the `reportWindowDays` option, by default 30.
   */
  reportWindow() {
    const announced = this.hello?.limits?.report_window_days;
    const days = typeof announced === 'number' && announced > 0 ? announced : this.reportWindowDays;
    return { now: this.now(), ms: days * 24 * 3600 * 1000 };
  }

  /**
   * Reports the peer, revealing the chosen messages (default: the newest revealable ones, up to MAX_EVIDENCE) so
   * the server can verify them against their franking commitments.
   * @param {number} matchId
   * @param {import('./frames.js').ReportReason} reason
   * @param {{details?: string, seqs?: number[]}} [options]
   */
  async report(matchId, reason, { details, seqs } = {}) {
    if (reason === 'not_as_declared') return this.reportNotAsDeclared(matchId).then(() => 0);
    const c = this.conversation(matchId);
    const held = /** @type {any[]} */ (c.messages);
    const picked = seqs ?? franking.revealable(held, this.reportWindow()).slice(0, franking.MAX_EVIDENCE).map((m) => /** @type {number} */ (m.seq));
    /** @type {any} */
    const frame = { type: 'report', match_id: c.id, reason_code: reason, evidence: franking.evidence(held, picked) };
    if (details) frame.details = details;
    await this.connection.request(frame);
    return frame.evidence.length;
  }

  /**
   * One tap: the peer of `matchId` was not the gender they declared (docs/admin.md "Declarations"). It carries no
   * words and no evidence, refunds this match's unit (a notification says so) and is answered alike whatever it did.
   * @param {number} matchId
   */
  async reportNotAsDeclared(matchId) {
    const c = this.conversation(matchId);
    await this.connection.request({ type: 'report', match_id: c.id, reason_code: 'not_as_declared', evidence: [] });
  }

  /**
   * Reports the other side of a video match from its call (`POST /v1/reports/call`), with the classifier's verdict
   * and, only when the person chose to attach one, a snapshot: Api.reportCall.
   * @param {import('./api.js').CallReport} report
   */
  reportCall(report) {
    return this.api.reportCall(report);
  }

  /** Asks for a unit back for a match that got no reply or whose call never connected. @param {number} matchId */
  async claim(matchId) {
    await this.connection.request({ type: 'claim', match_id: matchId });
  }

  // --- contacts ------------------------------------------------------------------------------------------

  /** Proposes to keep in touch with the peer of the current match. @param {number} [matchId] */
  async proposeContact(matchId) {
    await this.connection.request({ type: 'contact.propose', match_id: this.conversation(matchId).id });
  }

  /** @param {any} contact */
  async contactAdded(contact) {
    let c = this.conversations.get(contact.match_id);
    if (!c) c = await this.track({ ...Conversation.fresh({ ...contact, kind: 'text', expires_at: null }, null), contact: null });
    Object.assign(c.record, { peer: contact.peer, contact: { since: contact.since }, expires_at: null, ended: null });
    if (this.current === c) this.current = null;
    c.persist();
    this.events.emit('contactAdded', { matchId: c.id, conversation: c });
  }

  /**
   * `GET /v1/contacts` after every connect: contacts kept on another device, keys changed, contacts ended, and
   * conversations another session of ours took over while this device was away (`my_public_key` is not the key
   * this device holds: `takenOver`, naming `my_key_session_id`, as the `contact.key` it missed would have).
   */
  async syncContacts() {
    let listed;
    try {
      ({ contacts: listed } = await this.listContacts());
    } catch (e) {
      return this.events.emit('error', e);
    }
    const open = new Set();
    for (const info of listed) {
      open.add(info.match_id);
      let c = this.conversations.get(info.match_id);
      if (!c) {
        // Kept on another device: this one never held its key and reads nothing until it takes it over.
        const record = Conversation.fresh({ ...info, kind: 'text', expires_at: null }, null);
        c = await this.track({ ...record, contact: { since: info.since } });
        // `lastSeq`: what was written before this device held it, which it cannot read (not "unread").
        this.events.emit('contactAdded', { matchId: c.id, conversation: c, lastSeq: info.last_seq });
      } else if (!c.isContact) {
        // Both kept the match while this device was away (its `contact.added` missed): as if it came now.
        Object.assign(c.record, { contact: { since: info.since }, expires_at: null, ended: null });
        if (this.current === c) this.current = null;
        this.events.emit('contactAdded', { matchId: c.id, conversation: c });
      }
      c.record.peer = info.peer;
      // Only a device that holds a key can have lost it; a server without the field says nothing of ours.
      const held = c.record.identity?.publicKey;
      if (held && info.my_public_key && info.my_public_key !== held) {
        this.takenOver(info.match_id, info.my_public_key, info.my_key_session_id);
      }
      this.peerKey(info.match_id, info.peer_public_key);
      if (!c.ended) c.resume();
    }
    for (const c of this.conversations.values()) {
      if (c.isContact && !c.ended && !open.has(c.id)) {
        c.end('contact_ended');
        this.events.emit('contactEnded', { matchId: c.id });
        // Once more: what was stored before the end is collected, and a message written meanwhile is sent and
        // refused (`failed`), rather than left sending for ever.
        c.resume();
      }
    }
  }

  /**
   * The contact's new key (`contact.key` or the list): derive again and emit `safetyNumberChanged`. The key in
   * use changes nothing; a key the contact had before is refused (`keyRefused`).
   * @param {number} matchId
   * @param {string | null | undefined} key
   */
  peerKey(matchId, key) {
    const c = this.conversations.get(matchId);
    if (!c || !key || key === c.record.peer_public_key) return;
    if (c.record.retired_peer_keys?.includes(key)) return this.events.emit('keyRefused', { matchId, reason: 'replayed' });
    if (!c.record.identity) {
      // Nothing to derive on a device without the key; a takeover will use this one.
      c.record.peer_public_key = key;
      return c.persist();
    }
    try {
      c.rekey({ peerPublicKey: key }, 'theirs');
    } catch (e) {
      this.events.emit('keyRefused', { matchId, reason: /** @type {any} */ (e).kind ?? 'invalid' });
    }
  }

  /**
   * Another session of ours published a key for this contact: this device reads nothing new there. Never silent.
   * @param {number} matchId
   * @param {string | null | undefined} key
   * @param {string | null | undefined} sessionId
   */
  takenOver(matchId, key, sessionId) {
    const c = this.conversations.get(matchId);
    if (!c || c.record.identity?.publicKey === key) return;
    c.lostKey();
    this.events.emit('takenOver', { matchId, sessionId: sessionId ?? null });
  }

  /**
   * Takes a contact conversation over on this device (a new phone, a reinstall): a fresh key pair published
   * with `contact.key`; the contact is told and its safety number changes.
   * @param {number} matchId
   */
  async takeOver(matchId) {
    const c = this.conversation(matchId);
    const identity = e2e.generateIdentity();
    // Checked before publishing: a key that cannot pair with the contact's is never sent.
    e2e.establish(identity, c.record.peer_public_key, c.id, c.record.initiator);
    await this.connection.request({ type: 'contact.key', match_id: c.id, public_key: e2e.toBase64(identity.publicKey) });
    // Right after the `ok`, before any other frame: the contact's next message finds the new session.
    c.rekey({ identity: storeIdentity(identity) }, 'mine');
  }

  /** Ends a contact for both (`DELETE /v1/contacts/{id}`). @param {number} matchId */
  async endContact(matchId) {
    await this.api.call('DELETE', `/v1/contacts/${encodeURIComponent(matchId)}`);
    this.conversations.get(matchId)?.end('contact_ended');
  }

  /**
   * Deletes a conversation this device holds (an ended match or contact): its keys, transcript and what a report
   * could have revealed. Nothing is kept otherwise: an app calls this when the person clears a conversation.
   * @param {number} matchId
   */
  async forget(matchId) {
    const c = this.conversations.get(matchId);
    if (!c) return;
    if (!c.ended) throw new TanisError('not_ended', 'leave or end the conversation first');
    clearTimeout(c.gapTimer);
    this.conversations.delete(matchId);
    await this.storage.set(this.indexKey(), encode([...this.conversations.keys()]));
    await c.saving.catch(() => {});
    await this.storage.delete(this.conversationKey(matchId));
    await this.storage.delete(this.outboxKey(matchId));
    await this.secrets.delete(this.keysKey(matchId));
  }

  // --- calls ---------------------------------------------------------------------------------------------

  /** Sends a signalling frame (`rtc.*`) of a video match; false when offline. @param {any} frame */
  signal(frame) {
    return this.connection.send(frame);
  }

  // --- storage keys --------------------------------------------------------------------------------------

  indexKey() {
    return `${this.prefix}conversations`;
  }

  /** The key, in `secrets`, of the find waiting for its `match.found` (with its key pair). */
  findKey() {
    return `${this.prefix}find`;
  }

  /** @param {number} matchId */
  conversationKey(matchId) {
    return `${this.prefix}conversation.${matchId}`;
  }

  /** The conversation's outbox and send counter, a record of their own (conversation.js). @param {number} matchId */
  outboxKey(matchId) {
    return `${this.prefix}outbox.${matchId}`;
  }

  /** The conversation's private keys, in the secrets (conversation.js). @param {number} matchId */
  keysKey(matchId) {
    return `${this.prefix}keys.${matchId}`;
  }

  // --- push ----------------------------------------------------------------------------------------------

  /**
   * A push notification woke the app: reconnects (`start()` if this client has not read its storage yet, else
   * `resume()`), so every conversation catches up and its outbox is sent, and says what the app may show. A
   * tanis push never carries message content (docs/operations.md, "Push notifications"): its data is
   * `{type: 'message', match_id}` for a new message, `{type: 'system' | 'claim' | 'match' | 'ad', notification_id}`
   * for a notification, with the server's title and body ("New message from kediadam#9021") beside it. Takes an
   * FCM RemoteMessage (`@react-native-firebase/messaging`), its `data` alone, or an Expo notification's `content`.
   * Resolves once connected (or `closed`), at most `waitMs` later (default 10 000; 0: at once), so a background
   * handler that awaits it keeps the app awake while the SDK catches up; resolves null for a payload it does not
   * know (after reconnecting all the same) and when this device is signed out.
   * @param {any} payload
   * @param {{waitMs?: number}} [options]
   * @returns {Promise<{kind: 'message', matchId: number, title: string | null, body: string | null} | {kind: 'notification', type: string, notificationId: number, title: string | null, body: string | null} | null>}
   */
  async handlePush(payload, { waitMs = 10_000 } = {}) {
    // Listening before connecting: `connected` may come before `start()` returns.
    let done = () => {};
    const settled = new Promise((resolve) => {
      if (this.state === 'connected' || waitMs <= 0) return resolve(undefined);
      const timer = setTimeout(() => done(), waitMs);
      const off = this.events.on('state', ({ state }) => (state === 'connected' || state === 'closed') && done());
      done = () => {
        clearTimeout(timer);
        off();
        resolve(undefined);
      };
    });
    if (this.api.signedIn) this.resume();
    else await this.start();
    if (!this.api.signedIn) {
      done();
      return null;
    }
    await settled;
    const data = payload?.data && typeof payload.data === 'object' ? payload.data : payload ?? {};
    const alert = payload?.notification ?? payload?.aps?.alert ?? payload ?? {};
    const text = (/** @type {unknown} */ v) => (typeof v === 'string' ? v : null);
    const id = (/** @type {unknown} */ v) => (typeof v === 'string' || typeof v === 'number') && Number.isSafeInteger(Number(v)) && Number(v) > 0 ? Number(v) : null;
    const [title, body] = [text(alert.title), text(alert.body)];
    const matchId = id(data.match_id);
    if (data.type === 'message' && matchId !== null) return { kind: 'message', matchId, title, body };
    const notificationId = id(data.notification_id);
    if (['system', 'claim', 'match', 'ad'].includes(data.type) && notificationId !== null) {
      return { kind: 'notification', type: data.type, notificationId, title, body };
    }
    return null;
  }
}
