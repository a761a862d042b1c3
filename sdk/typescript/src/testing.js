// @ts-check
// @tanis/client/testing: a scripted tanis server and a mocked clock, so that an app tests its wiring of the SDK
// (sign-in, match, messages, close codes, a token refresh, a push) without a server, in any test framework (nothing
// here imports one, nor anything of Node's). The SDK's own unit tests use it (sdk/typescript/test/unit/).
//
//   const clock = new FakeClock().install();          // setTimeout/setInterval/Date.now of the SDK, moved by tick()
//   const server = new ScriptedServer();               // a WebSocket and a fetch the test drives
//   const client = new Client({ ...server.clientOptions(), now: clock.now });
//   await client.login('+905321234567', 'pw');         // POST /v1/auth/login answered, the socket greeted
//   const peer = server.peer();                        // a stranger with a real X25519 key pair
//   const finding = client.findMatch();
//   await peer.match();                                // the client's match.find answered with match.found
//   await finding;
//   peer.send('selam');                                // a sealed, franked `msg`: the app gets a `message` event
//
// With `autoReply` (the default) the server answers as tanis does: it greets a socket whose access token is valid
// (and closes one whose token expired with 4002, an unknown one with 4001, a banned account's with 4003), answers
// `ping`, `resume` (replaying what it stored), `msg.send`, `match.find`, `match.leave`, ..., and the REST calls the
// SDK makes (login, register, refresh with rotation, contacts, logout, me, devices, call reports). Every frame the
// client sent and every request it made is recorded; `server.handle(type, fn)` and `server.route('POST /v1/...',
// fn)` script other answers. With `autoReply: false` nothing is answered on the socket: the test delivers every
// frame itself.
//
// Not part of the main bundle: import it from '@tanis/client/testing' in tests only.

import { establish, generateIdentity, toBase64 } from './crypto/e2e.js';
import { utf8Encode } from './crypto/encoding.js';
import { frank, unfrank } from './crypto/franking.js';

/** The real timers, as they were when this module loaded (before any FakeClock was installed). */
const real = {
  setTimeout: globalThis.setTimeout,
  setImmediate: /** @type {any} */ (globalThis).setImmediate,
};

/**
 * Resolves once every promise callback already queued has run (one real macrotask): what the SDK does
 * asynchronously after a frame or a REST answer (storage writes, decryption, sends) is then done.
 * @returns {Promise<void>}
 */
export function settle() {
  return new Promise((resolve) => (real.setImmediate ? real.setImmediate(resolve) : real.setTimeout(resolve, 0)));
}

/**
 * Settles until `condition()` returns something truthy and resolves with it; rejects after `rounds` macrotasks.
 * Needs no timer, so it works under a FakeClock and any framework's fake timers.
 * @template T
 * @param {() => T} condition
 * @param {{rounds?: number, what?: string}} [options]
 * @returns {Promise<NonNullable<T>>}
 */
export async function until(condition, { rounds = 1000, what = 'the condition' } = {}) {
  for (let i = 0; i < rounds; i++) {
    const value = condition();
    if (value) return /** @type {NonNullable<T>} */ (value);
    await settle();
  }
  throw new Error(`tanis/testing: ${what} never held`);
}

/**
 * An unsigned JWT with `claims` (the SDK reads `exp` and `iat`; it never checks a signature).
 * @param {Record<string, unknown>} claims
 */
export function jwt(claims) {
  const part = (/** @type {unknown} */ o) => toBase64(utf8Encode(JSON.stringify(o))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part(claims)}.sig`;
}

// --- the clock -----------------------------------------------------------------------------------------------

/**
 * A mocked clock: `install()` replaces `setTimeout`, `clearTimeout`, `setInterval`, `clearInterval` and `Date.now`
 * on globalThis (what the SDK uses), `tick(ms)` moves time and runs what falls due, in order, `uninstall()` puts the
 * real ones back. Pass `now: clock.now` to the Client (it reads the clock through that option). Promise callbacks
 * are not timers: `tickAsync(ms)` lets them run between timers, as a real event loop would. `setImmediate` and
 * `queueMicrotask` stay real. A framework's fake timers (Jest's and Vitest's modern ones, node:test's
 * `mock.timers`) work as well: the SDK only needs the globals and `now` moved together.
 */
export class FakeClock {
  /** @param {number} [start] ms since the epoch; default 2026-01-01T00:00:00Z */
  constructor(start = Date.UTC(2026, 0, 1)) {
    this.time = start;
    /** @type {Map<number, {at: number, every: number | null, fn: (...args: any[]) => void, args: any[]}>} */
    this.timers = new Map();
    this.nextId = 1;
    /** @type {Record<string, any> | null} */
    this.saved = null;
    /** The clock as the Client's `now` option takes it (bound). */
    this.now = () => this.time;
    this.setTimeout = (/** @type {(...args: any[]) => void} */ fn, ms = 0, /** @type {any[]} */ ...args) => this.add(fn, ms, null, args);
    this.setInterval = (/** @type {(...args: any[]) => void} */ fn, ms = 0, /** @type {any[]} */ ...args) => this.add(fn, ms, Math.max(1, Number(ms) || 0), args);
    this.clearTimeout = (/** @type {unknown} */ id) => void this.timers.delete(Number(id));
    this.clearInterval = this.clearTimeout;
  }

  /** @param {(...args: any[]) => void} fn @param {number} ms @param {number | null} every @param {any[]} args */
  add(fn, ms, every, args) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + Math.max(0, Number(ms) || 0), every, fn, args });
    return id;
  }

  /** Replaces the global timers and `Date.now` with this clock's; returns the clock. */
  install() {
    if (this.saved) return this;
    const g = /** @type {any} */ (globalThis);
    this.saved = { setTimeout: g.setTimeout, clearTimeout: g.clearTimeout, setInterval: g.setInterval, clearInterval: g.clearInterval, now: Date.now };
    Object.assign(g, { setTimeout: this.setTimeout, clearTimeout: this.clearTimeout, setInterval: this.setInterval, clearInterval: this.clearInterval });
    Date.now = this.now;
    return this;
  }

  /** Puts back what `install()` replaced; the timers still pending are dropped. */
  uninstall() {
    if (!this.saved) return;
    const { now, ...timers } = this.saved;
    Object.assign(globalThis, timers);
    Date.now = now;
    this.saved = null;
    this.timers.clear();
  }

  /** How many timers are waiting. */
  get pending() {
    return this.timers.size;
  }

  /** The next timer due at or before `limit`, earliest first (then in the order set). @param {number} limit */
  due(limit) {
    /** @type {[number, {at: number, every: number | null, fn: Function, args: any[]}] | null} */
    let best = null;
    for (const [id, t] of this.timers) if (t.at <= limit && (!best || t.at < best[1].at)) best = [id, t];
    return best;
  }

  /** @param {[number, {at: number, every: number | null, fn: Function, args: any[]}]} entry */
  fire([id, t]) {
    this.time = Math.max(this.time, t.at);
    if (t.every === null) this.timers.delete(id);
    else t.at += t.every;
    t.fn(...t.args);
  }

  /** Moves time by `ms`, running every timer that falls due, each at its time. Synchronous. @param {number} ms */
  tick(ms) {
    const target = this.time + ms;
    for (let next = this.due(target); next; next = this.due(target)) this.fire(next);
    this.time = target;
  }

  /** `tick`, letting promise callbacks run before each timer and at the end (the SDK's async work). @param {number} ms */
  async tickAsync(ms) {
    const target = this.time + ms;
    await settle();
    for (let next = this.due(target); next; next = this.due(target)) {
      this.fire(next);
      await settle();
    }
    this.time = target;
    await settle();
  }
}

// --- the server ----------------------------------------------------------------------------------------------

/**
 * @typedef {object} ScriptedRequest a REST request the client made
 * @property {string} method
 * @property {string} path without the base URL, with the query
 * @property {any} body the JSON body, parsed (null without one)
 * @property {Record<string, string>} headers
 */

/**
 * @typedef {{status?: number, body?: unknown}} ScriptedReply what a route answers (status default 200)
 * @typedef {(request: ScriptedRequest) => ScriptedReply | undefined | Promise<ScriptedReply | undefined>} ScriptedRoute
 *   undefined: the default answer; throwing: a network failure
 * @typedef {(frame: any, socket: ScriptedSocket) => void} FrameHandler
 */

/**
 * A REST error in the server's shape (`{error: {code, message}}`).
 * @param {number} status
 * @param {string} code
 * @param {string} [message]
 * @returns {ScriptedReply}
 */
export function httpError(status, code, message = code) {
  return { status, body: { error: { code, message } } };
}

/**
 * The `error` frame answering `frame` (a refusal: `rate_limited`, `quota_exhausted`, ...).
 * @param {{id?: string | null}} frame
 * @param {string} code
 * @param {Record<string, unknown>} [extra] e.g. `{resets_at}`
 */
export function errorFrame(frame, code, extra = {}) {
  return { type: 'error', id: frame.id ?? null, code, message: code, ...extra };
}

/** One socket the client opened: its WebSocket side for the SDK, its server side for the test. */
export class ScriptedSocket {
  /**
   * @param {ScriptedServer} server
   * @param {string} url
   * @param {string | string[]} [protocols]
   */
  constructor(server, url, protocols = []) {
    this.server = server;
    this.url = url;
    /** @type {string[]} the subprotocols offered: `tanis.v2`, `tanis.v1`, `tanis.auth.<token>` */
    this.protocols = Array.isArray(protocols) ? protocols : [protocols];
    /** The access token the socket offered (null: none). */
    this.token = this.protocols.find((p) => p.startsWith('tanis.auth.'))?.slice('tanis.auth.'.length) ?? null;
    /** The subprotocol a tanis server selects. */
    this.protocol = this.protocols.includes('tanis.v2') && server.protocol >= 2 ? 'tanis.v2' : 'tanis.v1';
    this.readyState = 1;
    /** @type {any[]} every frame the client sent, parsed, in order */
    this.sent = [];
    /** The code the client closed with (null while open or when the server closed it). */
    this.closedWith = /** @type {number | null} */ (null);
    /** The code the server closed with (`serverClose`). */
    this.closedByServer = /** @type {number | null} */ (null);
    /** Frames returned by `next()` so far (each once). @type {Set<any>} */
    this.taken = new Set();
    /** Called with every frame the client sends, before it is recorded. @type {((frame: any) => void) | null} */
    this.onSend = null;
    /** @type {((event: {data: string}) => void) | null} */
    this.onmessage = null;
    /** @type {((event: {code: number, reason: string, wasClean: boolean}) => void) | null} */
    this.onclose = null;
    /** @type {((event: unknown) => void) | null} */
    this.onerror = null;
    /** @type {((event: unknown) => void) | null} */
    this.onopen = null;
  }

  // The WebSocket side (what the SDK calls).

  /** @param {string} text */
  send(text) {
    if (this.readyState !== 1) throw new Error('tanis/testing: send on a closed socket');
    const frame = JSON.parse(text);
    this.onSend?.(frame);
    this.sent.push(frame);
    if (this.server.autoReply) later(() => this.server.answer(frame, this));
  }

  /** @param {number} [code] @param {string} [reason] */
  close(code = 1000, reason = '') {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.closedWith = code;
    later(() => this.onclose?.({ code, reason, wasClean: true }));
  }

  // The server side (what the test calls).

  /** Whether the socket is still open. */
  get open() {
    return this.readyState === 1;
  }

  /** Sends a frame to the client (an object, or raw text). @param {unknown} frame */
  deliver(frame) {
    if (this.readyState !== 1) throw new Error('tanis/testing: deliver on a closed socket');
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }

  /** Greets the client: a `hello` (the server's state, with `overrides`). @param {Record<string, unknown>} [overrides] */
  hello(overrides = {}) {
    this.deliver(this.server.helloFrame(overrides));
  }

  /** The server closes the socket with `code` (4003 banned, 4002 token expired, 4010 draining, 1006, ...). @param {number} code @param {string} [reason] */
  serverClose(code, reason = '') {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.closedByServer = code;
    this.onclose?.({ code, reason, wasClean: code !== 1006 });
  }

  /** Every frame of `type` the client sent on this socket. @param {string} type */
  sentOf(type) {
    return this.sent.filter((f) => f.type === type);
  }

  /**
   * The first frame of `type` (and for which `wanted` holds) the client sent that no `next` returned yet, waiting
   * for it. @param {string} type @param {(frame: any) => boolean} [wanted] @returns {Promise<any>}
   */
  async next(type, wanted = () => true) {
    const frame = await until(() => this.sent.find((f) => f.type === type && !this.taken.has(f) && wanted(f)), { what: `a ${type} frame` });
    this.taken.add(frame);
    return frame;
  }
}

/**
 * A tanis server in the test's hands: `server.WebSocket` and `server.fetch` go to the Client
 * (`server.clientOptions()`), the test reads what the client sent and makes the server speak.
 */
export class ScriptedServer {
  /**
   * @param {object} [options]
   * @param {string} [options.baseUrl] default `https://tanis.test`
   * @param {boolean} [options.autoReply] answer as tanis does (default true); false: the test answers everything
   * @param {number} [options.protocol] `hello.protocol` (default 2)
   * @param {number} [options.accessTtlSeconds] lifetime of the access tokens it issues (default 900)
   * @param {() => number} [options.now] its clock, ms since the epoch (default `Date.now()` at each call, so that a
   *   FakeClock installed moves it)
   * @param {string} [options.handle] the signed-in user's `alias#tag`
   */
  constructor({ baseUrl = 'https://tanis.test', autoReply = true, protocol = 2, accessTtlSeconds = 900, now, handle = 'me#0001' } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.autoReply = autoReply;
    this.protocol = protocol;
    this.accessTtlSeconds = accessTtlSeconds;
    this.now = now ?? (() => Date.now());
    /** The account `GET /v1/me`, login and register answer. @type {Record<string, any>} */
    this.user = { handle, alias: handle.split('#')[0], tag: handle.split('#')[1] ?? '0001', role: 'user', is_premium: false, balances: { daily_text: 10, daily_video: 3, bonus_text: 0, bonus_video: 0 }, locale: 'en', interests: [], languages: ['en'] };
    /** @type {ScriptedSocket[]} every socket the client opened, in order */
    this.sockets = [];
    /** @type {ScriptedRequest[]} every REST request, in order */
    this.requests = [];
    /** @type {any[]} what `GET /v1/contacts` lists (`peer.contact()` adds one) */
    this.contacts = [];
    /** @type {any[]} the devices `POST /v1/devices` registered */
    this.devices = [];
    /**
     * Every match by id: its stored messages, how it ended (`ended`, null while it goes on).
     * @type {Map<number, {log: any[], seq: number, sends: Map<string, number>, peer: ScriptedPeer | null, ended: string | null}>}
     */
    this.matches = new Map();
    /** The match the client is in, as `hello.active_match` reports it. @type {any} */
    this.activeMatch = null;
    /** The account is banned: sockets close with 4003, login answers 403 `account_banned`. */
    this.banned = false;
    /** @type {Map<string, number>} access token → expiry (ms) */
    this.accessTokens = new Map();
    /** @type {Set<string>} refresh tokens that may be used (once) */
    this.refreshTokens = new Set();
    /** @type {Set<string>} refresh tokens used already: presenting one again is `token_reused` */
    this.usedRefreshTokens = new Set();
    this.issued = 0;
    /** How many sockets `socket()` handed out. */
    this.handedOut = 0;
    /** @type {Map<string, FrameHandler>} */
    this.handlers = new Map();
    /** @type {Map<string, ScriptedRoute>} */
    this.routes = new Map();
    const server = this;
    /** The WebSocket constructor to give the Client. */
    this.WebSocket = class ScriptedWebSocket extends ScriptedSocket {
      static CONNECTING = 0;
      static OPEN = 1;
      static CLOSING = 2;
      static CLOSED = 3;
      /** @param {string} url @param {string | string[]} [protocols] */
      constructor(url, protocols) {
        super(server, url, protocols);
        server.sockets.push(this);
        if (server.autoReply) later(() => server.greet(this));
      }
    };
    /** The fetch to give the Client. */
    this.fetch = /** @type {typeof fetch} */ (/** @type {unknown} */ ((/** @type {any} */ url, /** @type {any} */ init) => this.request(String(url), init)));
  }

  /** `{baseUrl, WebSocket, fetch}`: spread into the Client's options. */
  clientOptions() {
    return { baseUrl: this.baseUrl, WebSocket: this.WebSocket, fetch: this.fetch };
  }

  /** The latest socket the client opened (undefined before the first). */
  get last() {
    return this.sockets[this.sockets.length - 1];
  }

  /** The socket open now, if any. */
  get connected() {
    const last = this.sockets[this.sockets.length - 1];
    return last?.open ? last : undefined;
  }

  /**
   * The next socket the client opens that no `socket()` returned yet, waiting for it (the SDK connects
   * asynchronously: it first reads, maybe refreshes, its token). @returns {Promise<ScriptedSocket>}
   */
  async socket() {
    const socket = await until(() => this.sockets[this.handedOut], { what: 'a new socket' });
    this.handedOut++;
    return socket;
  }

  // --- scripting -----------------------------------------------------------------------------------------

  /**
   * Answers every client frame of `type` with `fn` instead of the default (`server.answer` is the default, to
   * call from `fn`). Frames are answered after the client's send returns, as a network would.
   * @param {string} type
   * @param {FrameHandler} fn
   */
  handle(type, fn) {
    this.handlers.set(type, fn);
    return this;
  }

  /**
   * Answers `'METHOD /path'` (the path without query) with `fn`; it may return undefined for the default answer
   * and throw for a network failure.
   * @param {string} key e.g. `'POST /v1/auth/refresh'`
   * @param {ScriptedRoute} fn
   */
  route(key, fn) {
    this.routes.set(key, fn);
    return this;
  }

  /**
   * A token pair as login, register and refresh return it, access token valid for `accessTtlSeconds`.
   * @param {{accessTtlSeconds?: number}} [options]
   */
  issueTokens({ accessTtlSeconds = this.accessTtlSeconds } = {}) {
    const n = ++this.issued;
    const now = this.now();
    const exp = Math.floor(now / 1000) + accessTtlSeconds;
    const access = jwt({ sub: this.user.handle, sid: 's1', iat: Math.floor(now / 1000), exp, n });
    this.accessTokens.set(access, exp * 1000);
    const refresh = `refresh-${n}`;
    this.refreshTokens.add(refresh);
    return {
      access_token: access,
      access_token_expires_at: new Date(exp * 1000).toISOString(),
      refresh_token: refresh,
      refresh_token_expires_at: new Date(now + 30 * 86_400_000).toISOString(),
      token_type: 'Bearer',
    };
  }

  /**
   * Signs a device in without a login: stores a fresh token pair where the Client on `storage` reads it
   * (`client.start()` then connects), as an app that signed in earlier would have.
   * @param {{set: (key: string, value: string) => Promise<void>}} storage
   * @param {{prefix?: string, accessTtlSeconds?: number}} [options]
   */
  async signIn(storage, { prefix = 'tanis.', accessTtlSeconds } = {}) {
    const tokens = this.issueTokens({ accessTtlSeconds });
    await storage.set(`${prefix}tokens`, JSON.stringify(tokens));
    return tokens;
  }

  /** Whether an access token is one this server issued and not yet expired. @param {string | null} token */
  tokenState(token) {
    const exp = token ? this.accessTokens.get(token) : undefined;
    if (exp === undefined) return 'invalid';
    return exp <= this.now() ? 'expired' : 'valid';
  }

  /** Bans the account: every open socket closes with 4003, later ones too, login answers 403. */
  ban() {
    this.banned = true;
    for (const socket of this.sockets) if (socket.open) socket.serverClose(4003, 'banned');
  }

  /** Signs every session out: tokens refused (401), open sockets closed with 4001. */
  revoke() {
    this.accessTokens.clear();
    this.refreshTokens.clear();
    for (const socket of this.sockets) if (socket.open) socket.serverClose(4001, 'invalid_token');
  }

  /** A stranger (or contact) with a real key pair, to match the client with. @param {{handle?: string}} [options] */
  peer(options) {
    return new ScriptedPeer(this, options);
  }

  /** The `hello` this server would send now. @param {Record<string, unknown>} [overrides] */
  helloFrame(overrides = {}) {
    return {
      type: 'hello',
      protocol: this.protocol,
      handle: this.user.handle,
      balances: this.user.balances,
      premium: this.user.is_premium,
      limits: { max_frame_bytes: 65_536, max_message_bytes: 8_192, messages_per_second: 10 },
      server_time: new Date(this.now()).toISOString(),
      active_match: this.activeMatch,
      ...overrides,
    };
  }

  /**
   * Ends the match as tanis does: `match.ended` on the open socket, once (the first end decides), after every
   * message stored before it (each went out when it was stored); from then on nothing of the match is sent live,
   * and a message sent in it is refused (`not_in_match`). A `resume` still replays what was stored.
   * @param {number} matchId
   * @param {string} [reason]
   */
  endMatch(matchId, reason = 'peer_left') {
    this.endOn(this.connected, matchId, reason);
  }

  /** @param {ScriptedSocket | undefined} socket @param {number} matchId @param {string} reason */
  endOn(socket, matchId, reason) {
    const m = this.match(matchId);
    if (m.ended) return;
    m.ended = reason;
    if (this.activeMatch?.match_id === matchId) this.activeMatch = null;
    if (socket?.open) socket.deliver({ type: 'match.ended', match_id: matchId, reason });
  }

  /** A `notification` frame on the open socket (or stored for nobody if offline). @param {string} text @param {string} [type] */
  notify(text, type = 'system') {
    this.connected?.deliver({ type: 'notification', notification: { id: ++this.issued, type, text, created_at: new Date(this.now()).toISOString() } });
  }

  /** @param {number} matchId */
  match(matchId) {
    let m = this.matches.get(matchId);
    if (!m) this.matches.set(matchId, (m = { log: [], seq: 0, sends: new Map(), peer: null, ended: null }));
    return m;
  }

  // --- default answers -----------------------------------------------------------------------------------

  /** A new socket: greeted when its token is valid, else closed as tanis closes it. @param {ScriptedSocket} socket */
  greet(socket) {
    if (!socket.open) return;
    if (this.banned) return socket.serverClose(4003, 'banned');
    const state = this.tokenState(socket.token);
    if (state === 'expired') return socket.serverClose(4002, 'token_expired');
    if (state === 'invalid') return socket.serverClose(4001, 'invalid_token');
    socket.hello();
  }

  /**
   * The answer to a client frame: the handler set for its type, else what tanis answers.
   * @param {any} frame
   * @param {ScriptedSocket} socket
   */
  answer(frame, socket) {
    if (!socket.open) return;
    const handler = this.handlers.get(frame.type);
    if (handler) return handler(frame, socket);
    this.defaultAnswer(frame, socket);
  }

  /** @param {any} frame @param {ScriptedSocket} socket */
  defaultAnswer(frame, socket) {
    const id = frame.id ?? null;
    switch (frame.type) {
      case 'ping':
        return socket.deliver({ type: 'pong', id });
      case 'resume': {
        const m = this.match(frame.match_id);
        for (const msg of m.log) if (msg.seq > frame.after_seq) socket.deliver(msg);
        return socket.deliver({ type: 'resume.done', id, match_id: frame.match_id, last_seq: m.seq });
      }
      case 'msg.send': {
        const m = this.match(frame.match_id);
        // Checked first, as tanis does: a send again of a message stored before the end is refused too.
        if (m.ended) return socket.deliver(errorFrame(frame, 'not_in_match'));
        let seq = m.sends.get(frame.client_msg_id);
        if (seq === undefined) {
          seq = ++m.seq;
          m.sends.set(frame.client_msg_id, seq);
          const { type: _t, id: _i, ack: _a, client_msg_id: _c, ...sealed } = frame;
          m.log.push({ ...sealed, type: 'msg', seq, sent_at: new Date(this.now()).toISOString(), mine: true });
          m.peer?.receive(frame);
        }
        return socket.deliver({ type: 'msg.accepted', id, match_id: frame.match_id, client_msg_id: frame.client_msg_id, seq });
      }
      case 'match.find':
        return socket.deliver({ type: 'match.queued', id, kind: frame.kind ?? 'text' });
      case 'match.cancel':
        return socket.deliver({ type: 'match.cancelled', id });
      case 'match.leave':
        // Over already: no longer the active match.
        if (this.match(frame.match_id).ended) return socket.deliver(errorFrame(frame, 'not_in_match'));
        // In tanis's order: `match.ended` first, then the answer.
        this.endOn(socket, frame.match_id, 'left');
        return socket.deliver({ type: 'ok', id });
      case 'msg.ack':
      case 'typing':
        return;
      default:
        if (frame.type.startsWith('rtc.')) return;
        // block, report, claim, contact.propose, contact.key, ...: accepted.
        if (id !== null) socket.deliver({ type: 'ok', id });
    }
  }

  /**
   * The fetch behind `server.fetch`: records the request, answers its route.
   * @param {string} url
   * @param {{method?: string, headers?: Record<string, string>, body?: string}} [init]
   */
  async request(url, init = {}) {
    const path = url.startsWith(this.baseUrl) ? url.slice(this.baseUrl.length) : url;
    /** @type {ScriptedRequest} */
    const request = { method: (init.method ?? 'GET').toUpperCase(), path, body: init.body ? JSON.parse(init.body) : null, headers: { ...(init.headers ?? {}) } };
    this.requests.push(request);
    const key = `${request.method} ${path.split('?')[0]}`;
    const route = this.routes.get(key);
    const reply = (route && (await route(request))) ?? this.defaultRoute(request, key);
    return response(reply.status ?? 200, reply.body);
  }

  /** Requests to `'METHOD /path'` so far. @param {string} key */
  requestsTo(key) {
    return this.requests.filter((r) => `${r.method} ${r.path.split('?')[0]}` === key);
  }

  /** @param {ScriptedRequest} request @param {string} key @returns {ScriptedReply} */
  defaultRoute(request, key) {
    const session = () => ({ status: key.endsWith('register') ? 201 : 200, body: { user: this.user, tokens: this.issueTokens() } });
    switch (key) {
      case 'POST /v1/auth/login':
        if (this.banned) return httpError(403, 'account_banned');
        return session();
      case 'POST /v1/auth/register':
        return session();
      case 'POST /v1/auth/refresh': {
        const used = request.body?.refresh_token;
        if (this.usedRefreshTokens.has(used)) {
          this.revoke();
          return httpError(401, 'token_reused');
        }
        if (!this.refreshTokens.has(used)) return httpError(401, 'invalid_token');
        this.refreshTokens.delete(used);
        this.usedRefreshTokens.add(used);
        return { body: this.issueTokens() };
      }
      case 'POST /v1/auth/logout':
        this.refreshTokens.delete(request.body?.refresh_token);
        return { status: 204 };
    }
    const bearer = request.headers.authorization?.replace(/^Bearer /, '') ?? null;
    const state = this.tokenState(bearer);
    if (state !== 'valid') return httpError(401, state === 'expired' ? 'token_expired' : 'invalid_token');
    if (key === 'GET /v1/contacts') return { body: { contacts: this.contacts } };
    if (key === 'GET /v1/me') return { body: this.user };
    if (key === 'PATCH /v1/me') return { body: Object.assign(this.user, request.body) };
    if (key === 'POST /v1/devices') {
      this.devices.push(request.body);
      return { status: 204 };
    }
    // A call report (Client.reportCall): accepted; the test reads what was sent in `requestsTo`.
    if (key === 'POST /v1/reports/call') return { status: 204 };
    if (key === 'DELETE /v1/devices') {
      this.devices = [];
      return { status: 204 };
    }
    if (key.startsWith('DELETE /v1/contacts/')) {
      const id = Number(key.slice('DELETE /v1/contacts/'.length));
      this.contacts = this.contacts.filter((c) => c.match_id !== id);
      return { status: 204 };
    }
    return httpError(404, 'not_found', `the scripted server has no route ${key}`);
  }
}

/** The other person: a real X25519 key pair per match, sealing and franking as a tanis client does. */
export class ScriptedPeer {
  /** @param {ScriptedServer} server @param {{handle?: string}} [options] */
  constructor(server, { handle = 'peer#0001' } = {}) {
    this.server = server;
    this.handle = handle;
    this.identity = generateIdentity();
    /** This peer's public key (base64), as `peer_public_key` carries it. */
    this.publicKey = toBase64(this.identity.publicKey);
    /** @type {Map<number, import('./crypto/e2e.js').Session>} */
    this.sessions = new Map();
    /** The match it was last matched in. @type {number | null} */
    this.matchId = null;
    /** The texts the client sent it (opened from every `msg.send` the server accepted), in order. @type {string[]} */
    this.received = [];
  }

  /**
   * Keys this peer's side of `matchId` with the client's public key; returns the MatchInfo the client sees.
   * @param {number} matchId
   * @param {string} clientKey base64, from the client's `match.find` (or `contact.key`)
   * @param {{initiator?: boolean, kind?: string, expiresAt?: string}} [options] `initiator` as the client sees it (default true)
   */
  key(matchId, clientKey, { initiator = true, kind = 'text', expiresAt } = {}) {
    this.sessions.set(matchId, establish(this.identity, clientKey, matchId, !initiator));
    this.matchId = matchId;
    this.server.match(matchId).peer = this;
    return {
      match_id: matchId,
      kind,
      peer: this.handle,
      peer_public_key: this.publicKey,
      initiator,
      expires_at: expiresAt ?? new Date(this.server.now() + 3_600_000).toISOString(),
    };
  }

  /**
   * The `match.found` answering the client's `match.find` frame, the match now the server's active one.
   * @param {any} find the client's `match.find` (its `public_key`)
   * @param {{matchId?: number, initiator?: boolean, rtc?: any, expiresAt?: string, shared_interests?: string[],
   *   shared_languages?: string[], video_safety?: import('./frames.js').VideoSafety}} [options] `video_safety`: a
   *   video match's policy (tanis sends one with every video match; here it is left out unless given)
   */
  found(find, options = {}) {
    const { matchId = 1 + this.server.matches.size, initiator = true, rtc = null, expiresAt } = options;
    const { shared_interests = [], shared_languages = [], video_safety } = options;
    const keyed = this.key(matchId, find.public_key, { initiator, kind: find.kind ?? 'text', expiresAt });
    const info = { ...keyed, ...(video_safety && { video_safety }) };
    this.server.activeMatch = { ...info, shared_interests, shared_languages };
    return { type: 'match.found', ...info, rtc, shared_interests, shared_languages, balances: this.server.user.balances };
  }

  /**
   * Waits for the client's next `match.find` on the open socket and answers it with `match.found` (after the
   * `match.queued` the server answered): the client emits `matched`. Resolves with the match id.
   * @param {Parameters<ScriptedPeer['found']>[1]} [options]
   */
  async match(options) {
    const socket = await until(() => this.server.connected, { what: 'an open socket' });
    const find = await socket.next('match.find');
    await settle();
    socket.deliver(this.found(find, options));
    return /** @type {number} */ (this.matchId);
  }

  /**
   * A sealed, franked `msg` frame from this peer, not delivered (for out-of-order or forged tests).
   * @param {string} text
   * @param {{matchId?: number, seq?: number, commitment?: string, delivered?: number}} [options] seq default: the
   *   match's next
   */
  message(text, { matchId = this.matchId ?? 0, seq, commitment, delivered } = {}) {
    const session = this.sessions.get(matchId);
    if (!session) throw new Error(`tanis/testing: ${this.handle} is not keyed for match ${matchId}`);
    const franked = frank(text);
    const m = this.server.match(matchId);
    /** @type {any} */
    const frame = {
      type: 'msg',
      match_id: matchId,
      seq: seq ?? m.seq + 1,
      ...session.seal(franked.payload),
      commitment: commitment ?? franked.commitment,
      sent_at: new Date(this.server.now()).toISOString(),
      mine: false,
    };
    if (delivered !== undefined) frame.delivered = delivered;
    return frame;
  }

  /**
   * Sends `text` as tanis relays it: stored under the match's next seq (a later `resume` replays it) and
   * delivered on the open socket if there is one. Returns the frame. Throws once the match has ended (`endMatch`,
   * `match.leave`): tanis refuses it, and nothing of a match follows its `match.ended`.
   * @param {string} text
   * @param {{matchId?: number}} [options]
   */
  send(text, options = {}) {
    const matchId = options.matchId ?? this.matchId ?? 0;
    const m = this.server.match(matchId);
    if (m.ended) throw new Error(`tanis/testing: match ${matchId} is over (${m.ended}): tanis refuses its messages`);
    const frame = this.message(text, { matchId, seq: m.seq + 1 });
    m.seq = frame.seq;
    m.log.push(frame);
    this.server.connected?.deliver(frame);
    return frame;
  }

  /**
   * The text of a `msg.send` the client sent to this peer (decrypted and its franking checked).
   * @param {any} send
   */
  read(send) {
    const session = this.sessions.get(send.match_id);
    if (!session) throw new Error(`tanis/testing: ${this.handle} is not keyed for match ${send.match_id}`);
    return unfrank(session.openBytes(send.ciphertext, send.nonce), send.commitment).text;
  }

  /** @param {any} send */
  receive(send) {
    try {
      this.received.push(this.read(send));
    } catch {
      this.received.push('(undecryptable)');
    }
  }

  /**
   * Lists this peer as a contact of the client in `GET /v1/contacts` (the match must be keyed).
   * @param {{matchId?: number, initiator?: boolean, since?: string}} [options]
   */
  contact({ matchId = this.matchId ?? 0, initiator = true, since } = {}) {
    const contact = {
      match_id: matchId,
      peer: this.handle,
      peer_public_key: this.publicKey,
      initiator,
      since: since ?? new Date(this.server.now()).toISOString(),
      last_seq: this.server.match(matchId).seq,
    };
    this.server.contacts = [...this.server.contacts.filter((c) => c.match_id !== matchId), contact];
    if (this.server.activeMatch?.match_id === matchId) this.server.activeMatch = null;
    return contact;
  }
}

/** Runs `fn` after the current synchronous code, as a frame from the network would arrive. @param {() => void} fn */
function later(fn) {
  void Promise.resolve().then(fn);
}

/**
 * A fetch Response with what the SDK reads (`ok`, `status`, `text()`, `json()`, `headers.get`): no dependency on
 * a global Response, which some engines lack.
 * @param {number} status
 * @param {unknown} body
 */
function response(status, body) {
  const text = body === undefined || status === 204 ? '' : JSON.stringify(body);
  return /** @type {Response} */ (/** @type {unknown} */ ({
    ok: status >= 200 && status < 300,
    status,
    headers: { get: (/** @type {string} */ name) => (name.toLowerCase() === 'content-type' && text ? 'application/json' : null) },
    text: async () => text,
    json: async () => JSON.parse(text),
  }));
}
