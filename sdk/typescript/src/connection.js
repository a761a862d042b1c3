// @ts-check
// The one WebSocket (GET /v1/ws) and its states: disconnected → connecting → connected, and closed (the end:
// banned, signed out, stopped, a protocol error). The access token rides as the subprotocol `tanis.auth.<token>`
// beside `tanis.v2` and `tanis.v1` (docs/protocol.md section 2; a server that predates version 2 selects `tanis.v1`); the close code decides what comes next (policy.closeAction);
// a dropped socket comes back after a full-jitter backoff (one closed by a draining node, 4010, after the drain
// jitter); app pings keep it alive and a silent one is declared dead, as is a socket that brings no `hello` within
// helloTimeoutMs of its creation (reconnected with the same backoff). What to do after `hello` (resume, re-send
// the outbox) is the client's business: this module moves frames.

import { TanisError } from './errors.js';
import { closeAction, reconnectDelay } from './policy.js';

/** `WebSocket.OPEN`, the same in browsers, React Native and Node's `ws`; above it, closing or closed. */
const OPEN = 1;

/** The subprotocol of the version this SDK speaks (docs/protocol.md, "Version 2"). */
export const PROTOCOL = 'tanis.v2';
/** Offered beside it: a server that predates version 2 selects this one, and `hello.protocol` says 1. */
export const PROTOCOL_V1 = 'tanis.v1';
export const AUTH_PREFIX = 'tanis.auth.';

/**
 * @typedef {'disconnected' | 'connecting' | 'connected' | 'closed'} ConnectionState
 * @typedef {import('./frames.js').ServerFrame} ServerFrame
 * @typedef {import('./frames.js').ClientFrame} ClientFrame
 */

/**
 * @typedef {object} ConnectionOptions
 * @property {number} [pingIntervalMs] an app `ping` this often while connected (default 20 000)
 * @property {number} [deadAfterMs] nothing received for this long: the connection is dead (default 60 000)
 * @property {number} [requestTimeoutMs] a request's answer waited for this long (default 15 000)
 * @property {number} [helloTimeoutMs] a new socket (from its creation: the handshake included) that has not
 *   brought `hello` after this long is closed and reconnected with the backoff (default 10 000)
 * @property {number} [backoffBaseMs] first reconnect ceiling (default 500)
 * @property {number} [backoffCapMs] largest reconnect ceiling (default 30 000)
 */

export class Connection {
  /**
   * @param {object} deps
   * @param {string} deps.url the ws(s):// address of /v1/ws
   * @param {any} deps.WebSocket a WebSocket constructor (browser, React Native, or the `ws` package)
   * @param {import('./api.js').Api} deps.api for the access token and its refresh
   * @param {() => number} deps.random [0, 1)
   * @param {() => number} deps.now
   * @param {import('./emitter.js').Emitter<import('./events.js').ClientEvents>} deps.events
   * @param {(frame: ServerFrame) => void} deps.onFrame every frame, after the request bookkeeping
   * @param {ConnectionOptions} [options]
   */
  constructor({ url, WebSocket, api, random, now, events, onFrame }, options = {}) {
    this.url = url;
    this.WebSocket = WebSocket;
    this.api = api;
    this.random = random;
    this.now = now;
    this.events = events;
    this.onFrame = onFrame;
    this.options = { pingIntervalMs: 20_000, deadAfterMs: 60_000, requestTimeoutMs: 15_000, helloTimeoutMs: 10_000, backoffBaseMs: 500, backoffCapMs: 30_000, ...options };
    /** @type {ConnectionState} */
    this.state = 'disconnected';
    /** The raw socket of the current connection (tests terminate it to simulate a network failure). */
    this.socket = /** @type {any} */ (null);
    /** Bumped per socket: a late event of an old socket is ignored; the outbox re-sends once per generation. */
    this.generation = 0;
    /** Failed attempts since the last `hello`: the backoff's exponent. */
    this.attempt = 0;
    /** A refused token was refreshed once since the last `hello`; a second refusal is the end of the session. */
    this.authRetried = false;
    /** Whether the app wants to be connected (false after `pause()` and `stop()`). */
    this.wanted = false;
    /** @type {Map<string, {resolve: (f: any) => void, reject: (e: Error) => void, timer: ReturnType<typeof setTimeout>}>} */
    this.requests = new Map();
    this.nextId = 1;
    this.lastFrameAt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.heartbeat = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} the wait for the current socket's `hello` */
    this.helloTimer = undefined;
  }

  /** Connects (again), from any state; the client calls it at start, after sign-in and at `resume()`. */
  connect() {
    this.wanted = true;
    this.attempt = 0;
    this.authRetried = false;
    if (this.state === 'connecting' || this.state === 'connected') return;
    this.open();
  }

  /** Closes cleanly (1000) and stays disconnected until `connect()`: the app went to the background. */
  pause() {
    this.wanted = false;
    this.shut('disconnected');
  }

  /** Closes for good: sign-out, ban, a protocol error. */
  stop() {
    this.wanted = false;
    this.shut('closed');
  }

  /** @param {ConnectionState} state */
  shut(state) {
    clearTimeout(this.retryTimer);
    const socket = this.socket;
    this.detach();
    if (socket) {
      try {
        socket.close(1000);
      } catch {
        // Closing a socket that never opened may throw in some implementations; it is gone either way.
      }
    }
    this.setState(state);
  }

  /** Forgets the current socket: its events no longer count, its requests fail. */
  detach() {
    this.generation++;
    this.socket = null;
    clearInterval(this.heartbeat);
    clearTimeout(this.helloTimer);
    for (const [id, pending] of this.requests) {
      clearTimeout(pending.timer);
      pending.reject(new TanisError('offline', 'the connection closed before the answer'));
      this.requests.delete(id);
    }
  }

  /**
   * Sends a frame if connected; false when not (the caller keeps it for later). A socket already closing counts as
   * not connected: its close event has not come yet, and a frame sent on it is dropped (the browser logs an error).
   * @param {ClientFrame} frame
   */
  send(frame) {
    if (this.state !== 'connected' || !this.socket || this.socket.readyState > OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  /**
   * Sends a frame with a fresh `id` (unless it has one) and resolves with the answer carrying that id (`ok`,
   * `pong`, `match.queued`, ...), or rejects with the `error` frame's TanisError.
   * @param {ClientFrame} frame
   * @returns {Promise<any>}
   */
  request(frame) {
    const id = frame.id ?? `q${this.nextId++}`;
    return new Promise((resolve, reject) => {
      if (!this.send(/** @type {ClientFrame} */ ({ ...frame, id }))) {
        return reject(new TanisError('offline', 'not connected'));
      }
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(new TanisError('timeout', `no answer to ${frame.type}`));
      }, this.options.requestTimeoutMs);
      this.requests.set(id, { resolve, reject, timer });
    });
  }

  async open() {
    clearTimeout(this.retryTimer);
    this.setState('connecting');
    const generation = ++this.generation;
    let token;
    try {
      token = await this.api.accessToken();
    } catch (e) {
      if (generation !== this.generation) return;
      // A refused refresh has emitted `reauthenticate`; a network failure is retried like a dropped socket.
      if (!this.api.signedIn) return this.end('closed');
      return this.retry();
    }
    if (generation !== this.generation || !this.wanted) return;
    if (!token) {
      this.end('closed');
      return this.events.emit('reauthenticate', { code: 'signed_out' });
    }
    const socket = new this.WebSocket(this.url, [PROTOCOL, PROTOCOL_V1, AUTH_PREFIX + token]);
    this.socket = socket;
    this.lastFrameAt = this.now();
    socket.onmessage = (/** @type {{data: any}} */ event) => {
      if (generation === this.generation) this.receive(event.data);
    };
    socket.onclose = (/** @type {{code: number, reason?: string}} */ event) => {
      if (generation === this.generation) this.closed(event.code, event.reason ?? '');
    };
    // An error is always followed by a close; nothing to do here but keep it from being unhandled.
    socket.onerror = () => {};
    // Upgraded (or still opening) but never greeted: not left `connecting`, dropped and tried again.
    this.helloTimer = setTimeout(() => {
      if (generation !== this.generation || this.state !== 'connecting') return;
      try {
        socket.close(4000, 'no hello');
      } catch {
        // Still opening, or already closing.
      }
      if (generation === this.generation) this.closed(1006, 'hello timeout');
    }, this.options.helloTimeoutMs);
  }

  /** @param {any} data */
  receive(data) {
    this.lastFrameAt = this.now();
    if (typeof data !== 'string') return;
    /** @type {any} */
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (!frame || typeof frame.type !== 'string') return;
    if (frame.type === 'hello') {
      clearTimeout(this.helloTimer);
      this.attempt = 0;
      this.authRetried = false;
      this.startHeartbeat();
      this.setState('connected');
    }
    const pending = frame.id != null ? this.requests.get(frame.id) : undefined;
    if (pending) {
      this.requests.delete(frame.id);
      clearTimeout(pending.timer);
      if (frame.type === 'error') pending.reject(TanisError.fromFrame(frame));
      else pending.resolve(frame);
    }
    this.onFrame(frame);
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  async closed(code, reason) {
    this.detach();
    const action = closeAction(code);
    this.events.emit('closed', { code, reason, action });
    if (!this.wanted) return this.setState('disconnected');
    if (action === 'banned') {
      this.end('closed');
      return this.events.emit('banned', { code });
    }
    if (action === 'fatal') {
      this.end('closed');
      return this.events.emit('error', new TanisError('protocol_error', `the server closed the connection: ${code} ${reason}`));
    }
    if (action === 'reauthenticate') {
      // Refresh and reconnect at once; a second refusal before a `hello` is not retried in a loop.
      if (this.authRetried) {
        this.end('closed');
        return this.events.emit('reauthenticate', { code: reason || 'invalid_token' });
      }
      this.authRetried = true;
      this.setState('connecting');
      try {
        await this.api.refresh();
      } catch {
        if (!this.api.signedIn) return this.end('closed');
        // No verdict on the session (the network, a 5xx): the next refused token is refreshed again, after the
        // backoff, rather than taken for a second refusal.
        this.authRetried = false;
        return this.retry();
      }
      if (this.wanted) return this.open();
      return;
    }
    this.retry(code);
  }

  /**
   * Waits a full-jitter backoff (after a 4010 `draining` close, the drain jitter: policy.reconnectDelay), then
   * connects again.
   * @param {number} [code] the close code that ended the socket; none when the token could not be fetched
   */
  retry(code) {
    const delay = reconnectDelay(code, this.attempt, { base: this.options.backoffBaseMs, cap: this.options.backoffCapMs, random: this.random });
    this.attempt++;
    this.setState('disconnected');
    this.events.emit('reconnecting', { delayMs: delay, attempt: this.attempt });
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.wanted && this.open(), delay);
  }

  /** @param {ConnectionState} state */
  end(state) {
    this.wanted = false;
    this.setState(state);
  }

  startHeartbeat() {
    clearInterval(this.heartbeat);
    const { pingIntervalMs, deadAfterMs } = this.options;
    const socket = this.socket;
    this.heartbeat = setInterval(() => {
      if (this.socket !== socket || this.state !== 'connected') return;
      if (this.now() - this.lastFrameAt > deadAfterMs) {
        // Dead though the platform has not noticed: drop it and come back as after any network failure.
        const generation = this.generation;
        try {
          socket.close(4000, 'no answer');
        } catch {
          // Already closing.
        }
        if (generation === this.generation) this.closed(1006, 'heartbeat');
      } else {
        this.send({ type: 'ping' });
      }
    }, Math.min(pingIntervalMs, deadAfterMs / 2));
  }

  /** @param {ConnectionState} state */
  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.events.emit('state', { state });
  }
}
