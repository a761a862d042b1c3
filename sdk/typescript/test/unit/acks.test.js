// Version 2's acknowledgements, against a scripted server, on mocked timers: a received message is acknowledged
// on our next `msg.send` (its `ack`), or by one `msg.ack` up to the highest seq once ACK_DELAY_MS pass with
// nothing sent; a cumulative receipt (`msg.delivered` with `up_to`, or `delivered` riding on the peer's `msg`)
// marks every message of ours up to it. With a version 1 server (hello.protocol 1) every message is acknowledged
// at once, as before.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { establish, generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { frank } from '../../src/crypto/franking.js';
import { ACK_DELAY_MS } from '../../src/index.js';
import { FakeClock } from '@tanis/client/testing';
import { helloed } from './scripted.js';

const clients = [];
after(() => clients.forEach((c) => c.close()));

/** A client in match 7 whose server said `hello.protocol` = `protocol`, and the peer's session. */
async function matched(protocol) {
  const peer = generateIdentity();
  const info = { match_id: 7, kind: 'text', peer: 'peer#0001', peer_public_key: toBase64(peer.publicKey), initiator: true, expires_at: '2099-01-01T00:00:00Z' };
  const { client, socket, mine } = await helloed(clients, { protocol: protocol, active_match: info });
  const resume = socket.sent.find((f) => f.type === 'resume');
  socket.deliver({ type: 'resume.done', id: resume.id, match_id: 7, last_seq: 0 });
  const session = establish(peer, toBase64(mine.publicKey), 7, false);
  return { client, socket, session };
}

/** The `msg` frame the server relays for a message the peer sealed. */
function msg(session, seq, text, extra = {}) {
  const franked = frank(text);
  return { type: 'msg', match_id: 7, seq, ...session.seal(franked.payload), commitment: franked.commitment, sent_at: new Date().toISOString(), mine: false, ...extra };
}

const acks = (socket) => socket.sent.filter((f) => f.type === 'msg.ack');
const sends = (socket) => socket.sent.filter((f) => f.type === 'msg.send');

test('offers tanis.v2 first, tanis.v1 beside it', async () => {
  const { socket } = await matched(2);
  assert.deepEqual(socket.protocols.slice(0, 2), ['tanis.v2', 'tanis.v1']);
});

test('with nothing to send, one msg.ack up to the highest seq leaves once the delay has passed', async (t) => {
  const { socket, session } = await matched(2);
  const clock = new FakeClock().install();
  t.after(() => clock.uninstall());
  socket.deliver(msg(session, 1, 'bir'));
  socket.deliver(msg(session, 2, 'iki'));
  clock.tick(ACK_DELAY_MS - 1);
  socket.deliver(msg(session, 3, 'üç'));
  assert.deepEqual(acks(socket), [], 'nothing before the delay');
  clock.tick(1);
  assert.deepEqual(acks(socket), [{ type: 'msg.ack', match_id: 7, seq: 3 }], 'one, up to the highest');
  clock.tick(ACK_DELAY_MS * 10);
  assert.equal(acks(socket).length, 1, 'and no more');
});

test('a message sent within the delay carries the acknowledgement and no msg.ack follows', async (t) => {
  const { client, socket, session } = await matched(2);
  const clock = new FakeClock().install();
  t.after(() => clock.uninstall());
  socket.deliver(msg(session, 1, 'selam'));
  socket.deliver(msg(session, 2, 'naber'));
  clock.tick(ACK_DELAY_MS / 2);
  await client.conversation(7).send('iyi');
  assert.equal(sends(socket).at(-1).ack, 2, 'the send carries ack: 2');
  clock.tick(ACK_DELAY_MS * 10);
  assert.deepEqual(acks(socket), []);
  // The stored outbox keeps the frame as written: a re-sent copy carries whatever is owed then.
  assert.equal(client.conversation(7).record.pending[0].ack, undefined);
  await client.conversation(7).send('sen?');
  assert.equal(sends(socket).at(-1).ack, undefined, 'nothing owed, nothing rides');
});

test('a cumulative receipt marks every message of ours up to it, whether its own frame or riding on a msg', async () => {
  const { client, socket, session } = await matched(2);
  const conversation = client.conversation(7);
  const delivered = [];
  client.on('delivered', ({ seq }) => delivered.push(seq));
  for (const [n, text] of ['a', 'b', 'c'].entries()) {
    const message = await conversation.send(text);
    socket.deliver({ type: 'msg.accepted', id: message.key, match_id: 7, client_msg_id: message.key, seq: n + 1 });
  }
  socket.deliver({ type: 'msg.delivered', match_id: 7, seq: 2, up_to: true });
  assert.deepEqual(delivered, [1, 2]);
  socket.deliver(msg(session, 4, 'cevap', { delivered: 3 }));
  assert.deepEqual(delivered, [1, 2, 3], 'the receipt riding on the peer message, once each');
  assert.deepEqual(conversation.messages.filter((m) => m.mine).map((m) => m.status), ['delivered', 'delivered', 'delivered']);
});

test('with a version 1 server every message is acknowledged at once and a receipt names one message', async () => {
  const { client, socket, session } = await matched(1);
  const conversation = client.conversation(7);
  socket.deliver(msg(session, 1, 'bir'));
  socket.deliver(msg(session, 2, 'iki'));
  assert.deepEqual(acks(socket).map((f) => f.seq), [1, 2]);
  await conversation.send('üç');
  assert.equal(sends(socket).at(-1).ack, undefined, 'version 1 has no ack on a send');
  const message = conversation.messages.at(-1);
  socket.deliver({ type: 'msg.accepted', id: message.key, match_id: 7, client_msg_id: message.key, seq: 3 });
  socket.deliver({ type: 'msg.delivered', match_id: 7, seq: 3 });
  assert.equal(message.status, 'delivered');
});
