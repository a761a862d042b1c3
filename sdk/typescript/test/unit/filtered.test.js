// Whether a match answers this device's own find with `seeking` (`Conversation.filtered`): the server never says, and
// a "not as declared" report refunds only such a match, so the SDK remembers it with the conversation. Against the
// scripted server: a plain find's match is not filtered; a find with `seeking` makes one that is, also after a
// restart (the record keeps that it was, never whom it asked for), and also when the match comes in `hello` after a
// restart that lost its `match.found`.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Client, MemoryStorage } from '../../src/index.js';
import { ScriptedServer, until } from '@tanis/client/testing';

const clients = [];
after(() => clients.forEach((c) => c.close()));

const SEEKING = { genders: ['woman'], mode: 'only' };

/** A signed-in client on `storage` of `server`, connected; its `matched` events. */
async function started(server, storage) {
  const client = new Client({ ...server.clientOptions(), storage });
  clients.push(client);
  const matched = [];
  client.on('matched', (detail) => matched.push(detail));
  const sockets = server.sockets.length;
  await client.start();
  await until(() => server.sockets.length > sockets && client.state === 'connected', { what: 'connected' });
  return { client, matched };
}

/** A fresh signed-in client that finds with `options` and is matched at once. */
async function matchedAfter(options) {
  const server = new ScriptedServer();
  const storage = new MemoryStorage();
  await server.signIn(storage);
  const { client, matched } = await started(server, storage);
  const found = server.peer().match();
  await client.findMatch(options);
  await found;
  await until(() => matched.length, { what: 'matched' });
  return { server, storage, client, conversation: matched[0].conversation };
}

test('a plain find\'s match is not filtered', async () => {
  const { conversation } = await matchedAfter({ kind: 'text' });
  assert.equal(conversation.filtered, false);
});

test('a find with `seeking` makes a filtered match, still so after a restart, with no gender on the device', async () => {
  const { server, storage, client, conversation } = await matchedAfter({ kind: 'text', seeking: SEEKING });
  assert.equal(conversation.filtered, true);
  client.close();

  const again = await started(server, storage);
  await until(() => again.matched.length, { what: 'the match restored' });
  assert.equal(again.matched[0].restored, true);
  assert.equal(again.client.current?.filtered, true);
  const stored = JSON.stringify(Object.fromEntries(storage.map));
  assert.ok(!stored.includes('woman'), 'whom it asked for is not kept');
});

test('a filtered match `hello` brings after a restart that lost its `match.found` is filtered too', async () => {
  const server = new ScriptedServer();
  const storage = new MemoryStorage();
  await server.signIn(storage);
  const { client } = await started(server, storage);
  await client.findMatch({ seeking: SEEKING });
  const [find] = server.last.sentOf('match.find');
  client.close();
  // Matched as the socket closed: `match.found` never came, `hello.active_match` carries it.
  server.peer().found(find);
  const again = await started(server, storage);
  await until(() => again.matched.length, { what: 'matched' });
  assert.equal(again.matched[0].restored, true);
  assert.equal(again.client.current?.filtered, true);
});
