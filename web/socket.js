// The WebSocket as the page sees it. The SDK's Client (sdk/typescript/src/client.js and connection.js, served at
// /app/sdk/) does the protocol: the access token as the subprotocol `tanis.auth.<token>` beside `tanis.v2` and
// `tanis.v1`, cumulative acknowledgements (version 2), what each close code means (docs/protocol.md section 3,
// the SDK's policy.js), the full-jitter backoff, app pings and a silent socket declared dead, requests answered by
// `ok`/`error`, and everything after `hello`. This module turns its states into the page's: `online`,
// `connecting`, `waiting` (to reconnect), `unauthorized` (sign in again), `banned`, `broken` (closed for a bug of
// this page's: reconnects only when the person asks) and `stopped`, with `state`, `frame` and `closed` events.

export class Socket extends EventTarget {
  /** @param {import('./sdk/client.js').Client} client */
  constructor(client) {
    super();
    this.client = client;
    this.connection = client.connection;
    this.state = 'idle';
    /** Why the connection closed for good, learnt from the event the SDK emits right after its `closed` state. */
    this.ending = null;
    client.on('state', ({ state }) => this.follow(state));
    client.on('frame', (frame) => this.dispatchEvent(new CustomEvent('frame', { detail: frame })));
    client.on('closed', ({ code }) => this.dispatchEvent(new CustomEvent('closed', { detail: code })));
    client.on('banned', () => (this.ending = 'banned'));
    client.on('reauthenticate', () => (this.ending = 'unauthorized'));
    // 1002, 1007, 1009 and 4004: a bug of this page's (protocol.md section 3). Logged, and no reconnect on its own,
    // which would send the same frames again and loop: the header offers to reconnect (`reconnect`).
    client.on('error', (error) => {
      if (error?.code !== 'protocol_error') return;
      console.warn('tanis: the server closed the connection for a protocol error of this page', error);
      this.ending = 'broken';
    });
    addEventListener('online', () => this.state === 'waiting' && this.client.connect());
  }

  /** Bumped per socket (and per close). */
  get generation() {
    return this.connection.generation;
  }

  get open() {
    return this.connection.state === 'connected';
  }

  start() {
    if (this.state === 'idle' || this.state === 'stopped') this.client.connect();
  }

  /** The person asked to connect again after a `broken` close. */
  reconnect() {
    if (this.state === 'broken') this.client.connect();
  }

  /** Closes for good (sign-out, ban, or offline on purpose); `start()` comes back and catches up. */
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

  /** Sends a frame if the socket is up; false when it is not. */
  send(frame) {
    return this.connection.send(frame);
  }

  follow(state) {
    if (state === 'connected') return this.setState('online');
    if (state === 'connecting') {
      this.ending = null;
      return this.setState('connecting');
    }
    if (state === 'disconnected') return this.setState(this.connection.wanted ? 'waiting' : 'stopped');
    // `closed`: the reason (set by stop(), or the event the SDK emits next, in the same turn) decides.
    queueMicrotask(() => this.setState(this.ending ?? (this.client.api.signedIn ? 'stopped' : 'unauthorized')));
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }
}
