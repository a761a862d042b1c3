// Protocol version 2 against a real server (docs/protocol.md section 12): two SDK clients chatting acknowledge on
// their replies (`ack` on `msg.send`) and send a `msg.ack` only when the conversation pauses; every message still
// comes back delivered, the receipts riding on the peer's messages.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { closeAll, match, next, person, receives } from './harness.js';

after(closeAll);

/** Every frame `client` sends from now on (on its current connection). */
function sentFrames(client) {
  const socket = client.connection.socket;
  const sent = [];
  const send = socket.send.bind(socket);
  socket.send = (data, ...rest) => {
    sent.push(JSON.parse(data));
    return send(data, ...rest);
  };
  return sent;
}

test('over tanis.v2 a chat acknowledges on its replies, one msg.ack when it pauses, and every message is delivered', async () => {
  const ayse = await person('ackayse');
  const mehmet = await person('ackmehmet');
  assert.equal(ayse.hello.protocol, 2, 'the server selected tanis.v2');
  const [a, m] = await match(ayse, mehmet);
  const [fromAyse, fromMehmet] = [sentFrames(ayse), sentFrames(mehmet)];

  let heard = receives(mehmet, ['bir']);
  await ayse.send('bir');
  await heard;
  heard = receives(ayse, ['iki']);
  await mehmet.send('iki');
  await heard;
  const lastDelivered = next(ayse, 'delivered', ({ seq }) => seq === 3);
  const hisDelivered = next(mehmet, 'delivered', ({ seq }) => seq === 2);
  heard = receives(mehmet, ['üç']);
  await ayse.send('üç');
  await heard;
  // Mehmet has nothing more to say: his acknowledgement of 3 leaves on its own after the delay.
  await lastDelivered;

  const sends = (frames) => frames.filter((f) => f.type === 'msg.send').map((f) => f.ack);
  const acks = (frames) => frames.filter((f) => f.type === 'msg.ack').map((f) => f.seq);
  assert.deepEqual(sends(fromAyse), [undefined, 2], 'her reply carried her acknowledgement of 2');
  assert.deepEqual(sends(fromMehmet), [1], 'his reply carried his acknowledgement of 1');
  assert.deepEqual(acks(fromAyse), [], 'she never needed a msg.ack');
  assert.deepEqual(acks(fromMehmet), [3], 'one, when he paused');
  assert.deepEqual(a.messages.filter((x) => x.mine).map((x) => x.status), ['delivered', 'delivered']);
  await hisDelivered;
  assert.deepEqual(m.messages.filter((x) => x.mine).map((x) => x.status), ['delivered']);
});
