// The connection against a scripted server (a fake WebSocket): the subprotocols it offers, app pings while
// connected, a silent connection declared dead and reconnected after a full-jitter delay from the injected random,
// a draining node's close (4010) reconnected after the drain jitter, a ban that is never retried, and pause() that
// stops reconnecting.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Client, MemoryStorage } from '../../src/index.js';
import { FakeClock, ScriptedServer, settle } from '@tanis/client/testing';

const hello = { type: 'hello', protocol: 1, handle: 'me#0001', balances: {}, premium: false, limits: {}, server_time: '2026-01-01T00:00:00Z', active_match: null };
const clients = [];
after(() => clients.forEach((c) => c.close()));

/** A signed-in client of its own scripted server (which answers nothing by itself), with random() = 0.5. */
async function client(connection, clock = Date.now) {
  const server = new ScriptedServer({ autoReply: false, protocol: 1, now: clock });
  const storage = new MemoryStorage();
  const { access_token: token } = await server.signIn(storage);
  const c = new Client({ ...server.clientOptions(), storage, random: () => 0.5, connection, now: clock });
  clients.push(c);
  return Object.assign(c, { token, server });
}

test('offers tanis.v2 and tanis.v1 with the token, pings while connected, and reconnects a silent connection after jitter', async (t) => {
  // The heartbeat and the backoff run on mocked timers and an injected clock, moved by the test: a loaded machine
  // cannot make the connection look dead before its first ping.
  const clock = new FakeClock(Date.now()).install();
  t.after(() => clock.uninstall());
  const advance = (ms) => clock.tick(ms);
  const c = await client({ pingIntervalMs: 10, deadAfterMs: 60, backoffBaseMs: 400, backoffCapMs: 30_000 }, clock.now);
  const made = c.server.sockets;
  const reconnects = [];
  c.on('reconnecting', (d) => reconnects.push(d));
  await c.start();
  await settle();
  assert.equal(made.length, 1);
  const socket = made[0];
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
  await settle();
  assert.equal(made.length, 2, 'a new socket after the delay');
});

test('a draining close (4010) reconnects after the drain jitter, not the first backoff ceiling', async (t) => {
  const clock = new FakeClock(Date.now()).install();
  t.after(() => clock.uninstall());
  // random() = 0.5: the drain jitter is 1000 ms, where attempt 0 of this backoff (ceiling 400 ms) would be 200 ms.
  const c = await client({ backoffBaseMs: 400, backoffCapMs: 30_000 });
  await c.start();
  await settle();
  const socket = c.server.last;
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

  clock.tick(999);
  await settle();
  assert.equal(c.server.last, socket, 'no new socket before the drain jitter has passed');
  clock.tick(1);
  await settle();
  assert.notEqual(c.server.last, socket, 'a new socket after the drain jitter');
  c.server.last.deliver(hello);
  assert.equal(c.state, 'connected');
});

test('a ban (4003) closes for good; pause() closes cleanly and does not reconnect', async () => {
  const c = await client();
  await c.start();
  await settle();
  const socket = c.server.last;
  socket.deliver(hello);
  const reconnects = [];
  c.on('reconnecting', (d) => reconnects.push(d));
  const banned = c.events.once('banned', () => true, 1000);
  socket.onclose({ code: 4003, reason: 'banned' });
  await banned;
  assert.equal(c.state, 'closed');
  assert.deepEqual(reconnects, []);

  c.connect();
  await settle();
  const again = c.server.last;
  assert.notEqual(again, socket);
  again.deliver(hello);
  c.pause();
  assert.equal(again.closedWith, 1000);
  assert.equal(c.state, 'disconnected');
  again.onclose({ code: 1000, reason: '' });
  assert.deepEqual(reconnects, []);
  assert.equal(c.server.last, again, 'no new socket after pause');
});
