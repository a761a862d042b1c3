// A find with `seeking` (issue 77, point 6): the wish is never written to the device's storage (the waiting find is
// kept without it, and `seeks` says it had one), and the SDK does not repeat it to the server by itself long after it
// was made. After a reconnect it is sent again only within FIND_RESEND_BOUND_MS of `findMatch`; later, or after a
// restart, it is dropped (record and key pair) and `findLapsed` tells the app, once. A find without `seeking` is sent
// again after a reconnect and after a restart, as before. Against the scripted server, with the client's clock.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Client, FIND_RESEND_BOUND_MS, MemoryStorage } from '../../src/index.js';
import { encode } from '../../src/storage.js';
import { ScriptedServer, until } from '@tanis/client/testing';

const clients = [];
after(() => clients.forEach((c) => c.close()));

const SEEKING = { genders: ['woman', 'non_binary'], mode: 'only' };

/** The clock of the client and of the scripted server (its tokens), moved by the test; reset per test. */
const clock = { t: Date.now() };

/**
 * A signed-in client on `storage` (a restart: a new Client on the same storage), connected and greeted; its events.
 * @param {ScriptedServer} server
 * @param {MemoryStorage} storage
 */
async function started(server, storage) {
  const client = new Client({ ...server.clientOptions(), storage, now: () => clock.t, random: () => 0 });
  clients.push(client);
  const events = [];
  client.on('*', ({ name, detail }) => events.push({ name, detail }));
  const sockets = server.sockets.length;
  await client.start();
  await until(() => server.sockets.length > sockets && client.state === 'connected', { what: 'connected' });
  return { client, events, socket: server.last };
}

/** A new client, signed in on a fresh storage, waiting with a find (`options`). */
async function waiting(options) {
  clock.t = Date.now();
  const server = new ScriptedServer({ now: () => clock.t });
  const storage = new MemoryStorage();
  await server.signIn(storage);
  const { client, events, socket } = await started(server, storage);
  await client.findMatch(options);
  return { server, storage, client, events, socket };
}

/** The socket drops (1006) and the client reconnects at once (`random` is 0): the new socket, greeted. */
async function reconnected(server, client) {
  server.last.serverClose(1006);
  await until(() => server.sockets.length === 2 && client.state === 'connected', { what: 'a reconnect' });
  return server.last;
}

const lapses = (events) => events.filter((e) => e.name === 'findLapsed').map((e) => e.detail);

test('the stored find holds no `seeking`, only that it had one; the frame that left and the find in memory do', async () => {
  const { storage, client, socket } = await waiting({ kind: 'video', seeking: SEEKING });
  const [sent] = socket.sentOf('match.find');
  assert.deepEqual(sent.seeking, SEEKING, 'the server was asked');
  assert.deepEqual(client.finding?.frame.seeking, SEEKING, 'kept in memory');

  const text = /** @type {string} */ (await storage.get('tanis.find'));
  const stored = JSON.parse(text);
  assert.equal(stored.frame.seeking, undefined);
  assert.equal(stored.seeks, true);
  assert.equal(stored.at, undefined, 'nor when it was asked');
  for (const word of ['woman', 'non_binary', 'only']) assert.ok(!text.includes(word), `no ${word} on disk`);
  // The rest as before: the frame's public half, with its id, and the key pair.
  assert.equal(stored.id, sent.id);
  assert.deepEqual(stored.frame, { type: 'match.find', id: sent.id, kind: 'video', public_key: sent.public_key });
  assert.ok(stored.identity.privateKey);
});

test('a reconnect within FIND_RESEND_BOUND_MS sends the find with `seeking` again, unchanged', async () => {
  const { server, client, events, socket } = await waiting({ seeking: SEEKING });
  clock.t += FIND_RESEND_BOUND_MS - 1_000;
  const again = await reconnected(server, client);
  const [find] = await until(() => again.sentOf('match.find').length && again.sentOf('match.find'));
  assert.deepEqual(find, socket.sentOf('match.find')[0], 'the same frame: seeking, id and key');
  assert.ok(client.finding);
  assert.deepEqual(lapses(events), []);
});

test('a reconnect later than FIND_RESEND_BOUND_MS does not send it: it is forgotten and `findLapsed` says stale', async () => {
  const { server, storage, client, events } = await waiting({ kind: 'text', seeking: SEEKING });
  clock.t += FIND_RESEND_BOUND_MS + 1_000;
  const again = await reconnected(server, client);
  await until(() => lapses(events).length, { what: 'findLapsed' });
  assert.deepEqual(lapses(events), [{ kind: 'text', reason: 'stale' }]);
  assert.deepEqual(again.sentOf('match.find'), [], 'not sent again');
  assert.equal(again.sentOf('match.cancel').length, 1, 'a place the server may still hold is cancelled');
  assert.equal(client.finding, null);
  assert.equal(await storage.get('tanis.find'), null, 'record and key pair gone');

  // Said once: the next reconnect has nothing to send or tell.
  server.last.serverClose(1006);
  await until(() => server.sockets.length === 3 && client.state === 'connected', { what: 'a second reconnect' });
  assert.deepEqual(server.last.sentOf('match.find'), []);
  assert.equal(lapses(events).length, 1);
});

test('a `resync` on the socket that asked sends the find with `seeking` again, however long it has waited', async () => {
  const { client, events, socket } = await waiting({ seeking: SEEKING });
  clock.t += 10 * FIND_RESEND_BOUND_MS;
  socket.deliver({ type: 'resync', active_match: null });
  await until(() => socket.sentOf('match.find').length === 2, { what: 'the find sent again' });
  assert.deepEqual(socket.sentOf('match.find')[1].seeking, SEEKING);
  assert.ok(client.finding);
  assert.deepEqual(lapses(events), []);
});

test('after a restart a find that had `seeking` is never sent: forgotten at the first hello, `findLapsed` says restart', async () => {
  const { server, storage, client } = await waiting({ kind: 'video', seeking: SEEKING });
  client.close();
  const restarted = await started(server, storage);
  await until(() => lapses(restarted.events).length, { what: 'findLapsed' });
  assert.deepEqual(lapses(restarted.events), [{ kind: 'video', reason: 'restart' }]);
  assert.deepEqual(restarted.socket.sentOf('match.find'), [], 'never sent, not even without its wish');
  assert.equal(restarted.client.finding, null);
  assert.equal(await storage.get('tanis.find'), null, 'record and key pair gone');
});

test('after a restart, the key pair of a find that had `seeking` still keys the match `hello` says it made', async () => {
  const { server, storage, client, socket } = await waiting({ seeking: SEEKING });
  client.close();
  // Matched as the socket closed: `match.found` never came, `hello.active_match` carries it.
  const peer = server.peer();
  peer.found(socket.sentOf('match.find')[0]);
  const restarted = await started(server, storage);
  const matched = await until(() => restarted.events.find((e) => e.name === 'matched'), { what: 'matched' });
  assert.equal(matched.detail.restored, true);
  assert.ok(restarted.client.current?.session, 'keyed with the find\'s key pair');
  assert.deepEqual(lapses(restarted.events), []);
  assert.deepEqual(restarted.socket.sentOf('match.find'), []);
  assert.equal(await storage.get('tanis.find'), null);
});

test('a find an older version stored with its `seeking` is scrubbed from the disk on start, and lapses', async () => {
  const { server, storage, client, socket } = await waiting({ seeking: SEEKING });
  client.close();
  // As a version before this one kept it: the whole frame.
  const record = JSON.parse(/** @type {string} */ (await storage.get('tanis.find')));
  await storage.set('tanis.find', encode({ id: record.id, frame: socket.sentOf('match.find')[0], identity: record.identity }));
  assert.ok((await storage.get('tanis.find'))?.includes('woman'));

  const again = new Client({ ...server.clientOptions(), storage, now: () => clock.t, random: () => 0 });
  clients.push(again);
  await again.restore();
  const text = /** @type {string} */ (await storage.get('tanis.find'));
  assert.ok(!text.includes('woman') && !text.includes('seeking":{'), 'the wish left the disk');
  assert.equal(JSON.parse(text).seeks, true);
  assert.equal(again.finding?.frame.seeking, undefined);

  const events = [];
  again.on('findLapsed', (detail) => events.push(detail));
  await again.start();
  await until(() => events.length, { what: 'findLapsed' });
  assert.deepEqual(events, [{ kind: 'text', reason: 'restart' }]);
  assert.deepEqual(server.last.sentOf('match.find'), []);
});

test('a find without `seeking` is sent again after a restart, and after a late reconnect, as before', async () => {
  const { server, storage, client, socket } = await waiting({ kind: 'text', nearby: true });
  const [first] = socket.sentOf('match.find');
  assert.equal(JSON.parse(/** @type {string} */ (await storage.get('tanis.find'))).seeks, undefined);
  client.close();
  clock.t += 3 * 24 * 3_600_000;
  const restarted = await started(server, storage);
  const [find] = await until(() => restarted.socket.sentOf('match.find').length && restarted.socket.sentOf('match.find'));
  assert.deepEqual(find, first, 'the same frame, key pair and id');

  clock.t += 10 * FIND_RESEND_BOUND_MS;
  restarted.socket.serverClose(1006);
  await until(() => server.sockets.length === 3 && restarted.client.state === 'connected', { what: 'a reconnect' });
  await until(() => server.last.sentOf('match.find').length, { what: 'the find sent again' });
  assert.deepEqual(server.last.sentOf('match.find')[0], first);
  assert.deepEqual(lapses(restarted.events), []);
  assert.ok(restarted.client.finding);
});
