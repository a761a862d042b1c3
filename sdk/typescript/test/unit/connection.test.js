// The connection against a scripted server (a fake WebSocket): the subprotocols it offers, app pings while
// connected, a silent connection declared dead and reconnected after a full-jitter delay from the injected random,
// a draining node's close (4010) reconnected after the drain jitter, a ban that is never retried, and pause() that
// stops reconnecting.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Client, MemoryStorage } from '../../src/index.js';
import { FakeSocket, jwt } from './scripted.js';

const hello = { type: 'hello', protocol: 1, handle: 'me#0001', balances: {}, premium: false, limits: {}, server_time: '2026-01-01T00:00:00Z', active_match: null };
const fetch = async () => new Response(JSON.stringify({ contacts: [] }), { status: 200 });
const clients = [];
after(() => clients.forEach((c) => c.close()));

async function client(connection, clock = Date.now) {
  const storage = new MemoryStorage();
  const now = Math.floor(clock() / 1000);
  const token = jwt({ exp: now + 900, iat: now });
  await storage.set('tanis.tokens', JSON.stringify({ access_token: token, refresh_token: 'r', access_token_expires_at: new Date((now + 900) * 1000).toISOString() }));
  const c = new Client({ baseUrl: 'https://tanis.test', WebSocket: FakeSocket, storage, fetch, random: () => 0.5, connection, now: clock });
  clients.push(c);
  return Object.assign(c, { token });
}

test('offers tanis.v2 and tanis.v1 with the token, pings while connected, and reconnects a silent connection after jitter', async (t) => {
  // The heartbeat and the backoff run on mocked timers and an injected clock, moved by the test: a loaded machine
  // cannot make the connection look dead before its first ping.
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
  let clock = Date.now();
  const advance = (ms) => {
    for (let i = 0; i < ms; i += 10) {
      clock += 10;
      t.mock.timers.tick(10);
    }
  };
  FakeSocket.made = [];
  const c = await client({ pingIntervalMs: 10, deadAfterMs: 60, backoffBaseMs: 400, backoffCapMs: 30_000 }, () => clock);
  const reconnects = [];
  c.on('reconnecting', (d) => reconnects.push(d));
  await c.start();
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(FakeSocket.made.length, 1);
  const socket = FakeSocket.made[0];
  assert.equal(socket.url, 'wss://tanis.test/v1/ws');
  assert.deepEqual(socket.protocols, ['tanis.v2', 'tanis.v1', `tanis.auth.${c.token}`]);
  socket.deliver(hello);
  assert.equal(c.state, 'connected');

  // Nothing more from the server: pings go out, then the connection is declared dead and comes back.
  const closing = c.events.once('closed', () => true);
  advance(70);
  const closed = await closing;
  assert.deepEqual(closed, { code: 1006, reason: 'heartbeat', action: 'reconnect' });
  assert.ok(socket.sent.some((f) => f.type === 'ping'), 'app pings were sent');
  assert.equal(socket.closedWith, 4000);
  // Full jitter with random() = 0.5 and the first ceiling 400 ms.
  assert.deepEqual(reconnects, [{ delayMs: 200, attempt: 1 }]);
  const connecting = c.events.once('state', ({ state }) => state === 'connecting');
  advance(200);
  await connecting;
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(FakeSocket.made.length, 2, 'a new socket after the delay');
});

test('a draining close (4010) reconnects after the drain jitter, not the first backoff ceiling', async (t) => {
  t.mock.timers.enable({ apis: ['setInterval', 'setTimeout'] });
  FakeSocket.made = [];
  // random() = 0.5: the drain jitter is 1000 ms, where attempt 0 of this backoff (ceiling 400 ms) would be 200 ms.
  const c = await client({ backoffBaseMs: 400, backoffCapMs: 30_000 });
  await c.start();
  await new Promise((resolve) => setImmediate(resolve));
  const socket = FakeSocket.made.at(-1);
  socket.deliver(hello);
  assert.equal(c.state, 'connected');
  const reconnects = [];
  c.on('reconnecting', (d) => reconnects.push(d));
  const closed = [];
  c.on('closed', (d) => closed.push(d));

  socket.onclose({ code: 4010, reason: 'draining' });
  assert.deepEqual(closed, [{ code: 4010, reason: 'draining', action: 'reconnect' }]);
  assert.deepEqual(reconnects, [{ delayMs: 1000, attempt: 1 }]);
  assert.equal(c.state, 'disconnected');

  t.mock.timers.tick(999);
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(FakeSocket.made.at(-1), socket, 'no new socket before the drain jitter has passed');
  t.mock.timers.tick(1);
  await new Promise((resolve) => setImmediate(resolve));
  assert.notEqual(FakeSocket.made.at(-1), socket, 'a new socket after the drain jitter');
  FakeSocket.made.at(-1).deliver(hello);
  assert.equal(c.state, 'connected');
});

test('a ban (4003) closes for good; pause() closes cleanly and does not reconnect', async () => {
  FakeSocket.made = [];
  const c = await client();
  await c.start();
  await new Promise((resolve) => setImmediate(resolve));
  const socket = FakeSocket.made.at(-1);
  socket.deliver(hello);
  const reconnects = [];
  c.on('reconnecting', (d) => reconnects.push(d));
  const banned = c.events.once('banned', () => true, 1000);
  socket.onclose({ code: 4003, reason: 'banned' });
  await banned;
  assert.equal(c.state, 'closed');
  assert.deepEqual(reconnects, []);

  c.connect();
  await new Promise((resolve) => setImmediate(resolve));
  const again = FakeSocket.made.at(-1);
  assert.notEqual(again, socket);
  again.deliver(hello);
  c.pause();
  assert.equal(again.closedWith, 1000);
  assert.equal(c.state, 'disconnected');
  again.onclose({ code: 1000, reason: '' });
  assert.deepEqual(reconnects, []);
  assert.equal(FakeSocket.made.at(-1), again, 'no new socket after pause');
});
