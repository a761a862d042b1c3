// The one WebSocket (GET /v1/ws): the access token rides as the subprotocol `tanis.auth.<token>` beside
// `tanis.v1` (browsers cannot set headers), the server's close code decides what happens next (docs/protocol.md
// section 3), and a dropped socket comes back with jittered exponential backoff. What to do after `hello`
// (resume, re-send) is the conversation's business; this module only moves frames.

const PROTOCOL = 'tanis.v1';
const AUTH_PREFIX = 'tanis.auth.';
const BACKOFF_START_MS = 500;
const BACKOFF_MAX_MS = 15_000;
/** Application ping when the socket has been quiet this long (the server's own Pings are invisible to JS). */
const PING_AFTER_MS = 25_000;
/** Nothing from the server for this long: the connection is dead even if the browser has not noticed. */
const DEAD_AFTER_MS = 60_000;
/** How long a request waits for its `ok` (or error) before it is given up. */
const REQUEST_TIMEOUT_MS = 10_000;

export class Socket extends EventTarget {
  /** @param {{accessToken: () => Promise<string|null>, refresh: () => Promise<void>}} auth */
  constructor(auth) {
    super();
    this.auth = auth;
    this.ws = null;
    this.state = 'idle';
    this.attempt = 0;
    this.generation = 0;
    this.requests = new Map();
    this.nextId = 1;
    /** A refused token was refreshed once since the last `hello`. */
    this.authRetried = false;
    this.lastFrameAt = 0;
    this.retryTimer = null;
    this.watchdog = setInterval(() => this.checkAlive(), 5_000);
    addEventListener('online', () => this.state === 'waiting' && this.connectNow());
  }

  start() {
    if (this.state === 'idle' || this.state === 'stopped') this.connectNow();
  }

  /** Closes for good (sign-out, ban). */
  stop() {
    this.setState('stopped');
    clearTimeout(this.retryTimer);
    this.ws?.close(1000);
    this.ws = null;
  }

  /** Drops the connection as a network failure would; it comes back by itself. */
  drop() {
    this.ws?.close(4000, 'dropped by the client');
  }

  get open() {
    return this.ws?.readyState === WebSocket.OPEN && this.state === 'online';
  }

  /** Sends a frame if the socket is up; false when it is not (the caller keeps it for later). */
  send(frame) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends a frame with a fresh `id` and resolves with its answer (`ok`, `pong`, …), rejects with its `error`. */
  request(frame) {
    const id = `q${this.nextId++}`;
    return new Promise((resolve, reject) => {
      if (!this.send({ ...frame, id })) return reject(Object.assign(new Error('offline'), { code: 'offline' }));
      const timer = setTimeout(() => {
        this.requests.delete(id);
        reject(Object.assign(new Error('no answer'), { code: 'timeout' }));
      }, REQUEST_TIMEOUT_MS);
      this.requests.set(id, { resolve, reject, timer });
    });
  }

  async connectNow() {
    clearTimeout(this.retryTimer);
    this.setState('connecting');
    const token = await this.auth.accessToken().catch(() => null);
    if (this.state !== 'connecting') return;
    if (!token) return this.setState('unauthorized');
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/v1/ws`, [PROTOCOL, AUTH_PREFIX + token]);
    const generation = ++this.generation;
    this.ws = ws;
    this.lastFrameAt = Date.now();
    ws.onmessage = (event) => generation === this.generation && this.receive(event.data);
    ws.onclose = (event) => generation === this.generation && this.closed(event.code);
  }

  receive(data) {
    this.lastFrameAt = Date.now();
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return;
    }
    if (frame.type === 'hello') {
      this.attempt = 0;
      this.authRetried = false;
      this.setState('online');
    }
    const pending = frame.id != null && this.requests.get(frame.id);
    if (pending && frame.type !== 'match.ended') {
      this.requests.delete(frame.id);
      clearTimeout(pending.timer);
      if (frame.type === 'error') pending.reject(Object.assign(new Error(frame.message), { code: frame.code }));
      else pending.resolve(frame);
    }
    this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
  }

  async closed(code) {
    this.ws = null;
    for (const [id, pending] of this.requests) {
      clearTimeout(pending.timer);
      pending.reject(Object.assign(new Error('disconnected'), { code: 'offline' }));
      this.requests.delete(id);
    }
    if (this.state === 'stopped') return;
    this.dispatchEvent(new CustomEvent('closed', { detail: code }));
    if (code === 4003) return this.setState('banned');
    if (code === 4001 || code === 4002) {
      // A bad or expired token: refresh, and reconnect at once if that worked. A second refusal before a
      // `hello` is not retried in a loop: the session is over.
      if (this.authRetried) return this.setState('unauthorized');
      this.authRetried = true;
      try {
        await this.auth.refresh();
      } catch {
        return this.setState('unauthorized');
      }
      return this.connectNow();
    }
    // 1001, 4004, 4008, 4009, 4013, 1006 (dropped): back off and come back; `hello` then says where we were.
    const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_START_MS * 2 ** this.attempt);
    this.attempt++;
    this.setState('waiting');
    this.retryTimer = setTimeout(() => this.connectNow(), ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  checkAlive() {
    if (this.state !== 'online') return;
    const quiet = Date.now() - this.lastFrameAt;
    if (quiet > DEAD_AFTER_MS) this.ws?.close(4000, 'no answer');
    else if (quiet > PING_AFTER_MS) this.send({ type: 'ping' });
  }

  setState(state) {
    if (this.state === state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent('state', { detail: state }));
  }
}
