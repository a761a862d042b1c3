// What `hello.active_match` does to a client that starts again (a reload, an app restart), against a scripted
// server: the match it was in is announced as `matched` (restored), one another device of the person asked for
// is `matchedElsewhere` and not kept, and one kept without a usable key is left.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { Conversation } from '../../src/conversation.js';
import { Client, MemoryStorage } from '../../src/index.js';
import { encode } from '../../src/storage.js';
import { ScriptedServer, until } from '@tanis/client/testing';

const peer = generateIdentity();
const match = { match_id: 9, kind: 'text', peer: 'peer#0001', peer_public_key: toBase64(peer.publicKey), initiator: true, expires_at: '2099-01-01T00:00:00Z' };
const clients = [];
after(() => clients.forEach((c) => c.close()));

/** A client on `storage` (signed in) that receives `hello` with the match active; resolves with its events. */
async function restarted(storage) {
  const server = new ScriptedServer({ autoReply: false, protocol: 1 });
  await server.signIn(storage);
  const client = new Client({ ...server.clientOptions(), storage });
  clients.push(client);
  const events = [];
  client.on('*', ({ name, detail }) => events.push({ name, detail }));
  await client.start();
  const socket = await server.socket();
  socket.hello({ active_match: match });
  await until(() => events.some((e) => ['matched', 'matchedElsewhere'].includes(e.name)));
  return { client, socket, events };
}

async function stored(identity) {
  const storage = new MemoryStorage();
  const record = Conversation.fresh(match, identity);
  await storage.set('tanis.conversation.9', encode(record));
  await storage.set('tanis.conversations', encode([9]));
  return storage;
}

test('the match a restarted client was in is announced as matched, restored, and resumed', async () => {
  const mine = generateIdentity();
  const { client, socket, events } = await restarted(await stored({ privateKey: toBase64(mine.privateKey), publicKey: toBase64(mine.publicKey) }));
  const matched = events.find((e) => e.name === 'matched');
  assert.equal(matched.detail.restored, true);
  assert.equal(matched.detail.conversation, client.current);
  assert.ok(client.current.safetyNumber);
  assert.ok(socket.sent.some((f) => f.type === 'resume' && f.match_id === 9));
  assert.equal(socket.sent.some((f) => f.type === 'match.leave'), false);
});

test('a match another device of the person asked for is not kept here', async () => {
  const { client, events } = await restarted(new MemoryStorage());
  assert.deepEqual(events.filter((e) => e.name === 'matchedElsewhere').map((e) => e.detail.matchId), [9]);
  assert.equal(events.some((e) => e.name === 'matched'), false);
  assert.equal(client.conversations.size, 0);
});

test('a match kept without a usable key is left, and said so', async () => {
  const { socket, events } = await restarted(await stored(null));
  assert.ok(events.some((e) => e.name === 'error' && e.detail.code === 'e2e'));
  assert.ok(socket.sent.some((f) => f.type === 'match.leave' && f.match_id === 9));
  assert.equal(events.find((e) => e.name === 'matched').detail.conversation.session, null);
});
