// Resilience on the mocked clock: a refresh that fails (the network, a 5xx: not a refusal) is retried after a
// capped full-jitter backoff, never every second, so that the clients of an outage spread out; a refused token
// whose refresh failed is refreshed again after the backoff instead of ending the session; an expired token whose
// refresh fails reconnects with the backoff; and a socket that brings no `hello` within helloTimeoutMs is closed
// and reconnected (never left `connecting`).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Api } from '../../src/api.js';
import { Emitter } from '../../src/emitter.js';
import { Client, MemoryStorage, backoffDelay } from '../../src/index.js';
import { encode } from '../../src/storage.js';

/** A WebSocket whose server is the test: it records what the client sends; the test calls onmessage/onclose. */
class FakeSocket {
  static made = [];
  constructor(url, protocols) {
    Object.assign(this, { url, protocols, sent: [], closedWith: null });
    FakeSocket.made.push(this);
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close(code) {
    this.closedWith = code;
  }
  deliver(frame) {
    this.onmessage({ data: JSON.stringify(frame) });
  }
}

/** An unsigned JWT with `claims` (only `exp` and `iat` are read). */
const jwt = (claims) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

const T0 = Date.parse('2026-01-01T00:00:00Z');
const hello = { type: 'hello', protocol: 2, handle: 'me#0001', balances: {}, premium: false, limits: {}, server_time: '2026-01-01T00:00:00Z', active_match: null };
const flush = () => new Promise((resolve) => setImmediate(resolve));

/** A token pair issued at `iat` (ms) living `lifetime` ms, numbered `n`. */
function pair(n, iat = T0, lifetime = 15 * 60_000) {
  return {
    access_token: jwt({ iat: iat / 1000, exp: (iat + lifetime) / 1000, n }),
    access_token_expires_at: new Date(iat + lifetime).toISOString(),
    refresh_token: `refresh-${n}`,
    refresh_token_expires_at: new Date(iat + 30 * 86_400_000).toISOString(),
  };
}

const json = (body, status = 200) => new Response(JSON.stringify(body), { status });
const unavailable = () => json({ error: { code: 'internal', message: 'down' } }, 503);

/** Moves the mocked clock (timers and Date) `ms` forward in 10 ms steps, letting promises settle after each. */
async function advance(t, ms) {
  for (let i = 0; i < ms; i += 10) {
    t.mock.timers.tick(10);
    await flush();
  }
}

test('a failing refresh is retried after a capped full-jitter backoff, not every second; success ends the backoff', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
  const storage = new MemoryStorage();
  await storage.set('tanis.tokens', encode(pair(1)));
  const calls = [];
  let down = true;
  const fetch = async (_url, init) => {
    calls.push(Date.now());
    if (down) return unavailable();
    assert.equal(JSON.parse(init.body).refresh_token, 'refresh-1');
    return json(pair(2, Date.now()));
  };
  const events = new Emitter();
  const refused = [];
  events.on('reauthenticate', (d) => refused.push(d));
  const api = new Api({ baseUrl: 'http://x', fetch, storage, now: () => Date.now(), random: () => 0.5, events, prefix: 'tanis.' });
  await api.load();
  // Due a minute before the 15-minute token expires.
  const due = T0 + 14 * 60_000;
  assert.equal(api.refreshDue(), due);
  await advance(t, 14 * 60_000 + 60_000 - 1_000);
  // Ceilings 500, 1000, ... capped at 30 000 ms; random() = 0.5 takes half of each.
  const gaps = calls.slice(1).map((at, i) => at - calls[i]);
  assert.equal(calls[0], due);
  const expected = [];
  for (let i = 0, at = due; ; i++) {
    at += backoffDelay(i, { random: () => 0.5 });
    if (at > due + 59_000) break;
    expected.push(backoffDelay(i, { random: () => 0.5 }));
  }
  assert.deepEqual(gaps, expected);
  assert.deepEqual(expected.slice(0, 8), [250, 500, 1000, 2000, 4000, 8000, 15_000, 15_000]);
  assert.ok(calls.length < 12, `${calls.length} refresh requests in a minute, not 60`);
  assert.equal(api.tokens?.refresh_token, 'refresh-1', 'a failure keeps the pair');
  assert.deepEqual(refused, []);

  // Between retries the access token, not expired yet, is used without a request.
  const before = calls.length;
  assert.equal(await api.accessToken(), pair(1).access_token);
  assert.equal(calls.length, before, 'no request inside the backoff window');

  // The server is back: the next retry rotates the pair and the timer goes back to the new pair's due time.
  down = false;
  await advance(t, 15_000);
  assert.equal(api.tokens?.refresh_token, 'refresh-2');
  assert.equal(api.failures, 0);
  const rotatedAt = calls.at(-1);
  await advance(t, 60_000);
  assert.equal(calls.at(-1), rotatedAt, 'no refresh before the new pair is due');
  api.stop();
});

test('after an outage, clients whose refresh fails at the same moment retry spread over the window', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
  const firstRetry = [];
  const apis = [];
  for (let i = 0; i < 20; i++) {
    const storage = new MemoryStorage();
    // Already due: refreshed on load's timer (1 s), all at once, as after an outage.
    await storage.set('tanis.tokens', encode(pair(1, T0 - 14.5 * 60_000)));
    const tries = [];
    const fetch = async () => {
      tries.push(Date.now());
      if (tries.length === 2) firstRetry.push(tries[1] - tries[0]);
      throw new TypeError('fetch failed');
    };
    const random = () => (i + 0.5) / 20;
    const api = new Api({ baseUrl: 'http://x', fetch, storage, now: () => Date.now(), random, backoff: { base: 2_000 }, events: new Emitter(), prefix: 'tanis.' });
    apis.push(api);
    await api.load();
  }
  await advance(t, 4_000);
  apis.forEach((a) => a.stop());
  assert.equal(firstRetry.length, 20);
  // Spread over [0, 2000) ms (the first ceiling): random() × 2000 each, not all one second later.
  assert.deepEqual([...firstRetry].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => Math.floor(((i + 0.5) / 20) * 2_000)));
});

test('a refused refresh (401) ends the session at once: no retry', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: T0 });
  const storage = new MemoryStorage();
  await storage.set('tanis.tokens', encode(pair(1, T0 - 14.5 * 60_000)));
  const calls = [];
  const fetch = async () => {
    calls.push(Date.now());
    return json({ error: { code: 'token_reused', message: 'reused' } }, 401);
  };
  const events = new Emitter();
  const refused = [];
  events.on('reauthenticate', (d) => refused.push(d));
  const api = new Api({ baseUrl: 'http://x', fetch, storage, now: () => Date.now(), random: () => 0.5, events, prefix: 'tanis.' });
  await api.load();
  await advance(t, 60_000);
  assert.equal(calls.length, 1);
  assert.deepEqual(refused, [{ code: 'token_reused' }]);
  assert.equal(api.signedIn, false);
  assert.equal(await storage.get('tanis.tokens'), null);
});

/** A client signed in with `tokens` whose refresh answers `refresh()` (a Response, or throws). */
async function client(t, tokens, refresh, connection = {}) {
  const storage = new MemoryStorage();
  await storage.set('tanis.tokens', encode(tokens));
  const fetch = async (url) => (String(url).endsWith('/v1/auth/refresh') ? refresh() : json({ contacts: [] }));
  const c = new Client({
    baseUrl: 'https://tanis.test', WebSocket: FakeSocket, storage, fetch, random: () => 0.5, now: () => Date.now(),
    connection: { backoffBaseMs: 400, backoffCapMs: 30_000, ...connection },
  });
  t.after(() => c.close());
  const seen = { reconnecting: [], reauthenticate: [], closed: [], states: [] };
  for (const name of /** @type {const} */ (['reconnecting', 'reauthenticate', 'closed'])) c.on(name, (d) => seen[name].push(d));
  c.on('state', ({ state }) => seen.states.push(state));
  return { c, seen };
}

test('a refused token whose refresh fails is refreshed again after the backoff, not taken for a second refusal', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: T0 });
  FakeSocket.made = [];
  let down = true;
  let refreshes = 0;
  const { c, seen } = await client(t, pair(1), () => {
    refreshes++;
    if (down) throw new TypeError('fetch failed');
    return json(pair(2, Date.now()));
  });
  await c.start();
  await flush();
  FakeSocket.made[0].deliver(hello);
  assert.equal(c.state, 'connected');

  // The server refuses the token (4001) while /v1/auth/refresh cannot be reached.
  FakeSocket.made[0].onclose({ code: 4001, reason: 'invalid_token' });
  await flush();
  assert.equal(refreshes, 1);
  assert.deepEqual(seen.reconnecting, [{ delayMs: 200, attempt: 1 }]);
  assert.equal(c.state, 'disconnected');
  await advance(t, 200);
  assert.equal(FakeSocket.made.length, 2, 'a new socket after the backoff (the token is not expired)');

  // Refused again, the refresh still failing: again after a longer backoff; the session is not over.
  FakeSocket.made[1].onclose({ code: 4001, reason: 'invalid_token' });
  await flush();
  assert.deepEqual(seen.reconnecting.at(-1), { delayMs: 400, attempt: 2 });
  assert.deepEqual(seen.reauthenticate, []);
  assert.notEqual(c.state, 'closed');

  // The refresh service is back: the next refusal is refreshed and the socket comes back with the new token.
  down = false;
  await advance(t, 400);
  assert.equal(FakeSocket.made.length, 3);
  FakeSocket.made[2].onclose({ code: 4001, reason: 'invalid_token' });
  await advance(t, 10);
  const last = FakeSocket.made.at(-1);
  assert.equal(c.api.tokens?.refresh_token, 'refresh-2');
  assert.ok(last.protocols.includes(`tanis.auth.${c.api.tokens?.access_token}`), 'the new access token');
  last.deliver(hello);
  assert.equal(c.state, 'connected');
  assert.deepEqual(seen.reauthenticate, []);
});

test('an expired token whose refresh fails reconnects with the growing backoff, then with the new token', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: T0 });
  FakeSocket.made = [];
  let down = true;
  // Expired a minute ago.
  const { c, seen } = await client(t, pair(1, T0 - 16 * 60_000), () => (down ? unavailable() : json(pair(2, Date.now()))));
  c.api.stop(); // only the connection's path here: the refresh timer is the first test's
  await c.start();
  await flush();
  assert.equal(FakeSocket.made.length, 0, 'no socket with an expired token');
  assert.deepEqual(seen.reconnecting, [{ delayMs: 200, attempt: 1 }]);
  await advance(t, 200);
  assert.deepEqual(seen.reconnecting.at(-1), { delayMs: 400, attempt: 2 });
  await advance(t, 400);
  assert.deepEqual(seen.reconnecting.at(-1), { delayMs: 800, attempt: 3 });
  assert.equal(FakeSocket.made.length, 0);
  down = false;
  await advance(t, 800);
  assert.equal(FakeSocket.made.length, 1);
  assert.ok(FakeSocket.made[0].protocols.includes(`tanis.auth.${c.api.tokens?.access_token}`));
  assert.equal(c.api.tokens?.refresh_token, 'refresh-2');
  assert.deepEqual(seen.reauthenticate, []);
});

test('a socket that brings no hello within helloTimeoutMs is closed and reconnected with the backoff', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'setInterval', 'Date'], now: T0 });
  FakeSocket.made = [];
  const { c, seen } = await client(t, pair(1), () => json(pair(2, Date.now())), { helloTimeoutMs: 1_000 });
  await c.start();
  await flush();
  assert.equal(FakeSocket.made.length, 1);
  assert.equal(c.state, 'connecting');
  await advance(t, 990);
  assert.equal(c.state, 'connecting', 'not before the timeout');
  assert.equal(FakeSocket.made[0].closedWith, null);
  await advance(t, 10);
  assert.equal(FakeSocket.made[0].closedWith, 4000);
  assert.deepEqual(seen.closed, [{ code: 1006, reason: 'hello timeout', action: 'reconnect' }]);
  assert.equal(c.state, 'disconnected');
  assert.deepEqual(seen.reconnecting, [{ delayMs: 200, attempt: 1 }]);
  // A late event of the dropped socket changes nothing.
  FakeSocket.made[0].onclose({ code: 1006, reason: '' });
  assert.equal(seen.closed.length, 1);

  // Silent twice: the backoff grows (attempt 2), as after any failed connect.
  await advance(t, 200);
  assert.equal(FakeSocket.made.length, 2);
  await advance(t, 1_000);
  assert.deepEqual(seen.reconnecting.at(-1), { delayMs: 400, attempt: 2 });
  await advance(t, 400);
  assert.equal(FakeSocket.made.length, 3);

  // A socket that greets in time stays, past the timeout.
  FakeSocket.made[2].deliver(hello);
  assert.equal(c.state, 'connected');
  await advance(t, 2_000);
  assert.equal(c.state, 'connected');
  assert.equal(FakeSocket.made[2].closedWith, null);
  assert.equal(seen.closed.length, 2);
});
