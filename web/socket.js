// The one WebSocket (GET /v1/ws), as the page sees it: the SDK's connection (sdk/typescript/src/connection.js,
// served at /app/sdk/) does the protocol — the access token as the subprotocol `tanis.auth.<token>` beside
// `tanis.v1`, what each close code means (docs/protocol.md section 3, the SDK's policy.js), the full-jitter
// backoff, app pings and a silent socket declared dead, requests answered by `ok`/`error` — and this module
// turns its states into the page's: `online`, `connecting`, `waiting` (to reconnect), `unauthorized` (sign in
// again), `banned`, `broken` (closed for a bug of this page's: reconnects only when the person asks) and
// `stopped`, with a `frame` event per frame. What to do after `hello` (resume, re-send) is
// the conversation's business; this module only moves frames.

import { Connection } from './sdk/connection.js';
import { Emitter } from './sdk/emitter.js';

export class Socket extends EventTarget {
  /** @param {{accessToken: () => Promise<string|null>, refresh: () => Promise<void>, signedIn: boolean}} api web/api.js */
  constructor(api) {
    super();
    this.api = api;
    this.events = new Emitter();
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    this.connection = new Connection({
      url: `${scheme}://${location.host}/v1/ws`,
      WebSocket,
      api,
      random: Math.random,
      now: Date.now,
      events: this.events,
      onFrame: (frame) => this.dispatchEvent(new CustomEvent('frame', { detail: frame })),
    });
    this.state = 'idle';
    /** Why the connection closed for good, learnt from the event the SDK emits right after its `closed` state. */
    this.ending = null;
    this.events.on('state', ({ state }) => this.follow(state));
    this.events.on('closed', ({ code }) => this.dispatchEvent(new CustomEvent('closed', { detail: code })));
    this.events.on('banned', () => (this.ending = 'banned'));
    this.events.on('reauthenticate', () => (this.ending = 'unauthorized'));
    // 1002, 1007, 1009 and 4004: a bug of this page's (protocol.md section 3). Logged, and no reconnect on its own,
    // which would send the same frames again and loop: the header offers to reconnect (`reconnect`).
    this.events.on('error', (error) => {
      console.warn('tanis: the server closed the connection for a protocol error of this page', error);
      this.ending = 'broken';
    });
    addEventListener('online', () => this.state === 'waiting' && this.connection.connect());
  }

  /** Bumped per socket (and per close): a frame sent on an older generation is re-sent once on the new one. */
  get generation() {
    return this.connection.generation;
  }

  get open() {
    return this.connection.state === 'connected';
  }

  start() {
    if (this.state === 'idle' || this.state === 'stopped') this.connection.connect();
  }

  /** The person asked to connect again after a `broken` close. */
  reconnect() {
    if (this.state === 'broken') this.connection.connect();
  }

  /** Closes for good (sign-out, ban). */
  stop() {
    this.ending = 'stopped';
    this.connection.stop();
    // Said here too: a connection already closed (refused token, ban) emits no new state.
    this.setState('stopped');
  }

  /** Drops the connection as a network failure would; it comes back by itself. */
  drop() {
    this.connection.socket?.close(4000, 'dropped by the client');
  }

  /** Sends a frame if the socket is up; false when it is not (the caller keeps it for later). */
  send(frame) {
    return this.connection.send(frame);
  }

  /** Sends a frame with a fresh `id` and resolves with its answer (`ok`, `pong`, …), rejects with its `error`. */
  request(frame) {
    return this.connection.request(frame);
  }

  follow(state) {
    if (state === 'connected') return this.setState('online');
    if (state === 'connecting') {
      this.ending = null;
      return this.setState('connecting');
    }
    if (state === 'disconnected') return this.setState(this.connection.wanted ? 'waiting' : 'stopped');
    // `closed`: the reason (set by stop(), or the event the SDK emits next, in the same turn) decides.
    queueMicrotask(() => this.setState(this.ending ?? (this.api.signedIn ? 'stopped' : 'unauthorized')));
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }
}
