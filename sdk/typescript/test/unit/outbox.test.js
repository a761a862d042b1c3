// The outbox, against a scripted server (a fake WebSocket): a message is on storage before its frame leaves,
// survives a restart (a new Client on the same storage) and is re-sent unchanged after `resume.done` until
// `msg.accepted`, which empties the stored outbox.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { Client, MemoryStorage } from '../../src/index.js';
import { ScriptedServer, until } from '@tanis/client/testing';

/** The server is the test's (it answers nothing by itself): it records what the client sent. */
const server = new ScriptedServer({ autoReply: false, protocol: 1 });

const peer = generateIdentity();
const match = { match_id: 7, kind: 'text', peer: 'peer#0001', peer_public_key: toBase64(peer.publicKey), initiator: true, expires_at: '2099-01-01T00:00:00Z' };
const hello = { type: 'hello', protocol: 1, handle: 'me#0001', balances: {}, premium: false, limits: {}, server_time: '2026-01-01T00:00:00Z', active_match: match };
const clients = [];
after(() => clients.forEach((c) => c.close()));

async function started(storage) {
  const client = new Client({ ...server.clientOptions(), storage });
  clients.push(client);
  const connected = client.events.once('hello');
  assert.equal(await client.start(), true);
  const socket = await server.socket();
  socket.deliver(hello);
  await connected;
  return { client, socket };
}

test('the outbox is persisted before sending and re-sent unchanged after a restart until accepted', async () => {
  const storage = new MemoryStorage();
  await server.signIn(storage);
  // The outbox and send counter: their own record beside the conversation's.
  const key = 'tanis.outbox.7';
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
