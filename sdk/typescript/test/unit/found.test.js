// The peer's first message right behind `match.found`: the conversation is made asynchronously (storage, keys), and
// a `msg` delivered before that work is done must wait for it, not find no conversation and be dropped (no
// `resume` follows a `match.found` to bring it back). The scripted server sends both frames in one tick.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { establish, generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { frank } from '../../src/crypto/franking.js';
import { helloed } from './scripted.js';

const clients = [];
after(() => clients.forEach((c) => c.close()));

test('a message delivered in the same tick as match.found is received and acknowledged', async () => {
  const peer = generateIdentity();
  const { client, socket, mine } = await helloed(clients);

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
