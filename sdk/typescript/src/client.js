// @ts-check
// The SDK's front door: one Client per signed-in person and device. It wires the REST side (api.js), the socket
// (connection.js), the conversations this device holds (conversations.js, each a conversation.js on its Port), the
// match it asks for and is in (matching.js) and its contacts (contacts.js), routes the server's frames to them, and
// owns what happens between them: after every `hello` (and `resync`) the active match is adopted, every
// conversation caught up with `resume` and its outbox re-sent, the contacts synced (new keys, takeovers, ends) and
// the find sent again if it was waiting. Everything is injected (WebSocket, storage, fetch, clock, randomness), so
// it runs in React Native, browsers and Node >= 20 alike, and nothing here imports a platform module or WebRTC.

import { Api } from './api.js';
import { Connection } from './connection.js';
import { Contacts } from './contacts.js';
import { Conversations } from './conversations.js';
import * as franking from './crypto/franking.js';
import { Emitter } from './emitter.js';
import { TanisError } from './errors.js';
import { Matching } from './matching.js';
import { pushShown } from './push.js';
import { FrameRouter } from './routing.js';
import { MemoryStorage } from './storage.js';

/**
 * @typedef {import('./events.js').ClientEvents} ClientEvents
 * @typedef {import('./matching.js').FindOptions} FindOptions
 * @typedef {import('./conversation.js').Conversation} Conversation
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
    /** Every event of the SDK (src/events.d.ts names them); `client.on(name, fn)` subscribes. @type {Emitter<ClientEvents>} */
    this.events = new Emitter();
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
      { url: wsUrl, WebSocket, api: this.api, random, now, events: this.events, onFrame: (f) => this.router.onFrame(f) },
      options.connection,
    );
    /** @type {any} the last `hello` */
    this.hello = null;
    this.restored = false;
    // Each conversation's Port: what it shares of this client. The lock (the `lock` option: other clients write
    // the same storage, as tabs do) is held around each outbox too, so that two tabs never take one counter.
    const shared = {
      send: (/** @type {any} */ frame) => this.connection.send(frame),
      link: () => ({ socket: this.connection.generation, protocol: this.hello?.protocol ?? 1, maxMessageBytes: this.hello?.limits?.max_message_bytes }),
      now: () => this.now(),
      // Bound, not wrapped: the event test reads every `.emit('name', …)` call in the sources.
      emit: this.events.emit.bind(this.events),
    };
    /** Every conversation this device holds, where they are stored, and the current match. */
    this.held = new Conversations({ storage, secrets: this.secrets, prefix: this.prefix, shared, lock: options.lock ?? null });
    /** @type {Map<number, Conversation>} every conversation this device holds: the match, past ones, contacts */
    this.conversations = this.held.map;
    this.matching = new Matching({
      conversations: this.held,
      request: (frame) => this.connection.request(frame),
      send: shared.send,
      emit: shared.emit,
      leave: (matchId) => this.leave(matchId),
      secrets: this.secrets,
      storage,
      key: this.findKey(),
      now: shared.now,
    });
    this.contacts = new Contacts({ conversations: this.held, list: () => this.listContacts(), emit: shared.emit });
    this.router = new FrameRouter({
      conversations: this.held,
      matching: this.matching,
      contacts: this.contacts,
      emit: shared.emit,
      greeted: (hello) => (this.hello = hello),
      restore: () => this.restore(),
    });
  }

  /** @returns {Conversation | null} the match we are in */
  get current() {
    return this.held.current;
  }

  /**
   * The `match.find` waiting for its `match.found` (with its key pair), or null. Asked in this process, the frame
   * carries its `seeking`; read back after a restart, it never does (`seeks` says it had one).
   */
  get finding() {
    return this.matching.finding;
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

  /** Reads the conversations and a find waiting for its `match.found` (once; `start` and a sign-in call it). */
  async restore() {
    if (this.restored) return;
    this.restored = true;
    await this.held.restore();
    await this.matching.load();
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
    await this.held.clear();
    await this.matching.forget();
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
    this.held.stop();
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

  // --- matching ------------------------------------------------------------------------------------------

  /**
   * Joins the queue with a fresh key pair; resolves with `match.queued` (the match comes as a `matched` event,
   * maybe at once). Rejects with TanisError (`quota_exhausted`, `already_in_match`, `consent_required`, ...).
   * The find waits across reconnects and restarts (its key pair is kept in `secrets`) and is sent again after each
   * reconnect; one with `seeking` only within FIND_RESEND_BOUND_MS (60 s) of this call and in this process: later,
   * or after a restart, it is dropped and `findLapsed` says so (the wish is never stored on the device).
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
    return this.matching.find({ kind, interests, region, nearby, seeking });
  }

  /** Leaves the queue (offline: the queue entry went with the socket, and the find is not sent again). */
  cancelFind() {
    return this.matching.cancel();
  }

  /** Forgets the find waiting for its `match.found`. */
  clearFind() {
    return this.matching.clear();
  }

  /** @param {number} [matchId] default: the current match */
  conversation(matchId) {
    return this.held.conversation(matchId);
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
   * words and no evidence, and counts toward suspending the peer's declaration from anyone in the match. It refunds
   * the match's unit (to the balance it came from; a notification says so) only for a premium user's match that
   * answered their own find with `seeking` (`Conversation.filtered`), reported within an hour of its start; it is
   * answered alike whatever it did. Offer it where `filtered` holds.
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

  /**
   * Takes a contact conversation over on this device (a new phone, a reinstall): a fresh key pair published
   * with `contact.key`; the contact is told and its safety number changes.
   * @param {number} matchId
   */
  async takeOver(matchId) {
    const c = this.conversation(matchId);
    // Checked before publishing: a key that cannot pair with the contact's is never sent.
    const identity = c.freshKey();
    await this.connection.request({ type: 'contact.key', match_id: c.id, public_key: identity.publicKey });
    // Right after the `ok`, before any other frame: the contact's next message finds the new session.
    c.rekey({ identity }, 'mine');
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
    await this.held.forget(c);
  }

  // --- calls ---------------------------------------------------------------------------------------------

  /** Sends a signalling frame (`rtc.*`) of a video match; false when offline. @param {any} frame */
  signal(frame) {
    return this.connection.send(frame);
  }

  // --- storage keys --------------------------------------------------------------------------------------

  /** The key, in `secrets`, of the find waiting for its `match.found` (with its key pair). */
  findKey() {
    return `${this.prefix}find`;
  }

  /** Where the record of conversation `matchId` is kept in `storage`. @param {number} matchId */
  conversationKey(matchId) {
    return this.held.conversationKey(matchId);
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
   * @returns {Promise<import('./push.js').PushShown | null>}
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
    return pushShown(payload);
  }
}
