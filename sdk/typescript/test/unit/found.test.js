// The peer's first message right behind `match.found`: the conversation is made asynchronously (storage, keys), and
// a `msg` delivered before that work is done must wait for it, not find no conversation and be dropped (no
// `resume` follows a `match.found` to bring it back). The scripted server sends both frames in one tick.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { establish, generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { frank } from '../../src/crypto/franking.js';
import { Client, MemoryStorage } from '../../src/index.js';
import { FakeSocket, jwt } from './scripted.js';

const clients = [];
after(() => clients.forEach((c) => c.close()));

test('a message delivered in the same tick as match.found is received and acknowledged', async () => {
  const storage = new MemoryStorage();
  const now = Math.floor(Date.now() / 1000);
  await storage.set('tanis.tokens', JSON.stringify({ access_token: jwt({ exp: now + 900, iat: now }), refresh_token: 'r', access_token_expires_at: '2099-01-01T00:00:00Z' }));
  const mine = generateIdentity();
  const peer = generateIdentity();
  // A find is waiting: its key pair is the one match.found's conversation is keyed with.
  await storage.set('tanis.find', JSON.stringify({ id: 'f1', frame: {}, identity: { privateKey: toBase64(mine.privateKey), publicKey: toBase64(mine.publicKey) } }));
  const fetch = async () => new Response(JSON.stringify({ contacts: [] }), { status: 200 });
  const client = new Client({ baseUrl: 'http://tanis.test', WebSocket: FakeSocket, storage, fetch });
  clients.push(client);
  await client.start();
  await new Promise((resolve) => setImmediate(resolve));
  const socket = FakeSocket.last;
  const hello = client.events.once('hello');
  socket.deliver({ type: 'hello', protocol: 1, handle: 'me#0001', balances: {}, premium: false, limits: {}, server_time: '2026-01-01T00:00:00Z', active_match: null });
  await hello;
  await new Promise((resolve) => setImmediate(resolve));

  const received = client.events.once('message');
  socket.deliver({ type: 'match.found', match_id: 9, kind: 'text', peer: 'peer#0001', peer_public_key: toBase64(peer.publicKey), initiator: false, expires_at: '2099-01-01T00:00:00Z', balances: {} });
  const franked = frank('hemen selam');
  const session = establish(peer, toBase64(mine.publicKey), 9, true);
  socket.deliver({ type: 'msg', match_id: 9, seq: 1, ...session.seal(franked.payload), commitment: franked.commitment, sent_at: new Date().toISOString(), mine: false });

  const { matchId, message } = await received;
  assert.equal(matchId, 9);
  assert.equal(message.text, 'hemen selam');
  assert.ok(socket.sent.some((f) => f.type === 'msg.ack' && f.match_id === 9 && f.seq === 1), 'acknowledged');
});
