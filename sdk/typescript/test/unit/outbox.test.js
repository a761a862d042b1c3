// The outbox, against a scripted server (a fake WebSocket): a message is on storage before its frame leaves,
// survives a restart (a new Client on the same storage) and is re-sent unchanged after `resume.done` until
// `msg.accepted`, which empties the stored outbox.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { Client, MemoryStorage } from '../../src/index.js';
import { FakeSocket, jwt } from './scripted.js';

/** A WebSocket whose server side is the test: it records what the client sent. */

const peer = generateIdentity();
const match = { match_id: 7, kind: 'text', peer: 'peer#0001', peer_public_key: toBase64(peer.publicKey), initiator: true, expires_at: '2099-01-01T00:00:00Z' };
const hello = { type: 'hello', protocol: 1, handle: 'me#0001', balances: {}, premium: false, limits: {}, server_time: '2026-01-01T00:00:00Z', active_match: match };
const fetch = async () => new Response(JSON.stringify({ contacts: [] }), { status: 200 });
const clients = [];
after(() => clients.forEach((c) => c.close()));

async function started(storage) {
  const client = new Client({ baseUrl: 'http://tanis.test', WebSocket: FakeSocket, storage, fetch });
  clients.push(client);
  const connected = client.events.once('hello');
  assert.equal(await client.start(), true);
  await until(() => FakeSocket.last);
  const socket = FakeSocket.last;
  FakeSocket.last = null;
  socket.deliver(hello);
  await connected;
  return { client, socket };
}

/** Waits for a condition the client reaches on its own (storage writes are promises). */
async function until(condition) {
  for (let i = 0; i < 1000; i++) {
    const value = condition();
    if (value) return value;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('condition never held');
}

test('the outbox is persisted before sending and re-sent unchanged after a restart until accepted', async () => {
  const storage = new MemoryStorage();
  const now = Math.floor(Date.now() / 1000);
  await storage.set('tanis.tokens', JSON.stringify({ access_token: jwt({ exp: now + 900, iat: now }), refresh_token: 'r', access_token_expires_at: new Date((now + 900) * 1000).toISOString() }));
  const key = 'tanis.conversation.7';
  // The key pair this device sent with its `match.find`, as findMatch stores it.
  const mine = generateIdentity();
  await storage.set('tanis.find', JSON.stringify({ id: 'f1', frame: {}, identity: { privateKey: toBase64(mine.privateKey), publicKey: toBase64(mine.publicKey) } }));

  const first = await started(storage);
  const c = first.client.conversation(7);
  const resume = await until(() => first.socket.sent.find((f) => f.type === 'resume'));
  first.socket.deliver({ type: 'resume.done', id: resume.id, match_id: 7, last_seq: 0 });

  // When the frame leaves, it is already in the stored outbox.
  let storedWhenSent = null;
  first.socket.onSend = (frame) => {
    if (frame.type === 'msg.send') storedWhenSent = JSON.parse(storage.map.get(key)).pending.map((p) => p.client_msg_id);
  };
  const message = await first.client.send('survive me');
  const frame = first.socket.sent.find((f) => f.type === 'msg.send');
  assert.deepEqual(storedWhenSent, [frame.client_msg_id]);
  assert.equal(message.key, frame.client_msg_id);
  // No `msg.accepted`: the app is killed.
  first.client.close();

  const second = await started(storage);
  const again = second.client.conversation(7);
  assert.notEqual(again, c);
  assert.deepEqual(again.outbox, [frame.client_msg_id]);
  const resume2 = await until(() => second.socket.sent.find((f) => f.type === 'resume'));
  assert.equal(second.socket.sent.some((f) => f.type === 'msg.send'), false, 'not before resume.done');
  second.socket.deliver({ type: 'resume.done', id: resume2.id, match_id: 7, last_seq: 0 });
  const resent = second.socket.sent.find((f) => f.type === 'msg.send');
  assert.deepEqual(resent, frame, 'the identical frame: same id, ciphertext, nonce and commitment');

  second.socket.deliver({ type: 'msg.accepted', id: frame.id, match_id: 7, client_msg_id: frame.client_msg_id, seq: 1 });
  assert.deepEqual(again.outbox, []);
  await until(() => JSON.parse(storage.map.get(key)).pending.length === 0);
  assert.equal(again.messages[0].seq, 1);
  assert.equal(again.messages[0].status, 'sent');
});
