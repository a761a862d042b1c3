// handlePush: a push that wakes the app reconnects the client (starting it when the app was killed: a background
// handler runs before any screen) and says what the app may show, from the push's documented fields only
// (src/push/mod.rs: `{type: 'message', match_id}`, `{type: <notification type>, notification_id}`); an unknown
// payload is null and still reconnects; a signed-out device gets null.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Client, MemoryStorage } from '@tanis/client';
import { ScriptedServer, until } from '@tanis/client/testing';

const clients = [];
after(() => clients.forEach((c) => c.close()));

/** A client the app made but never started (a cold start from a push), on `server`'s stored sign-in. */
async function killedApp(server = new ScriptedServer()) {
  const storage = new MemoryStorage();
  await server.signIn(storage);
  const client = new Client({ ...server.clientOptions(), storage });
  clients.push(client);
  return { client, server };
}

test('a cold start from a message push: the client starts, connects and catches up; the app gets who, never what', async () => {
  const { client, server } = await killedApp();
  const remoteMessage = {
    messageId: '0:1',
    data: { type: 'message', match_id: '42' },
    notification: { title: 'tanis', body: 'New message from peer#0001' },
    // Whatever else a payload carries is never passed on.
    text: 'not from tanis',
  };
  const shown = await client.handlePush(remoteMessage);
  assert.deepEqual(shown, { kind: 'message', matchId: 42, title: 'tanis', body: 'New message from peer#0001' });
  assert.equal(client.state, 'connected', 'resolved once connected');
  assert.equal(server.sockets.length, 1);
});

test('the data map alone, an Expo content, a notification, and what is not a tanis push', async () => {
  const { client, server } = await killedApp();
  assert.deepEqual(await client.handlePush({ type: 'message', match_id: '7' }), { kind: 'message', matchId: 7, title: null, body: null });
  assert.deepEqual(await client.handlePush({ title: 'tanis', body: 'New message from a#0001', data: { type: 'message', match_id: 8 } }), { kind: 'message', matchId: 8, title: 'tanis', body: 'New message from a#0001' });
  assert.deepEqual(await client.handlePush({ data: { type: 'claim', notification_id: '17' }, notification: { title: 'tanis', body: 'A match unit came back' } }), {
    kind: 'notification',
    type: 'claim',
    notificationId: 17,
    title: 'tanis',
    body: 'A match unit came back',
  });
  for (const unknown of [null, undefined, {}, { data: { type: 'message' } }, { data: { type: 'message', match_id: 'x' } }, { data: { type: 'promo', notification_id: '3' } }]) {
    assert.equal(await client.handlePush(unknown), null, JSON.stringify(unknown));
  }
  assert.equal(server.sockets.length, 1, 'connected once, and still');
});

test('an unknown payload still reconnects a paused client', async () => {
  const { client, server } = await killedApp();
  await client.start();
  await until(() => client.state === 'connected');
  client.pause();
  assert.equal(await client.handlePush({ data: { something: 'else' } }), null);
  assert.equal(client.state, 'connected');
  assert.equal(server.sockets.length, 2);
});

test('a signed-out device: null, no socket', async () => {
  const server = new ScriptedServer();
  const client = new Client({ ...server.clientOptions(), storage: new MemoryStorage() });
  clients.push(client);
  assert.equal(await client.handlePush({ data: { type: 'message', match_id: '1' } }), null);
  assert.equal(server.sockets.length, 0);
});
