// Order under retries, against a scripted server on the mocked clock: a message refused for now holds the outbox
// behind it until the server's retry hint has passed and then goes first; no frame goes on the wire more than
// SEND_AHEAD counters past the oldest unaccepted one; and on the receiving side a message that was overtaken is
// still opened, once, and takes its writer's place in the transcript.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { RECEIVE_WINDOW, counterOf, toBase64 } from '../../src/crypto/e2e.js';
import { frank } from '../../src/crypto/franking.js';
import { SEND_AHEAD, merged } from '../../src/ordering.js';
import { matched } from './scripted.js';

const clients = [];
after(() => clients.forEach((c) => c.close()));

/** The texts of the `msg.send` frames the client put on the wire, in order (counters checked to match). */
const wire = (socket, texts) => socket.sent.filter((f) => f.type === 'msg.send').map((f) => texts.get(f.client_msg_id));

/** Sends `texts` in order; returns client_msg_id → text. */
async function write(client, texts, into = new Map()) {
  for (const text of texts) into.set((await client.send(text)).key, text);
  return into;
}

const accept = (socket, frame, seq) => socket.deliver({ type: 'msg.accepted', id: frame.id, match_id: 7, client_msg_id: frame.client_msg_id, seq });
const refuse = (socket, frame, code, retry) =>
  socket.deliver({ type: 'error', id: frame.id, code, message: 'for now', ...(retry === undefined ? {} : { retry_after_ms: retry }) });

test('a message refused for now holds every later one until the retry hint passed, then goes first', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { client, socket } = await matched(clients);
  const texts = await write(client, ['1', '2', '3', '4']);
  const frames = socket.sent.filter((f) => f.type === 'msg.send');
  assert.deepEqual(wire(socket, texts), ['1', '2', '3', '4']);

  // The server accepts 1, refuses 2 (rate limited, retry in 300 ms), accepts 3 (it was on the wire already).
  accept(socket, frames[0], 1);
  refuse(socket, frames[1], 'rate_limited', 300);
  accept(socket, frames[2], 2);
  socket.sent.length = 0;
  // Written while 2 waits: it waits too.
  await write(client, ['5'], texts);
  assert.deepEqual(wire(socket, texts), [], 'nothing leaves while a refused message waits');
  t.mock.timers.tick(299);
  assert.deepEqual(wire(socket, texts), []);
  t.mock.timers.tick(1);
  // 2 first, then what is still unaccepted, in the order written (4 may have been accepted: sent again, the
  // server answers it from its deduplication).
  assert.deepEqual(wire(socket, texts), ['2', '4', '5']);
});

test('a refusal without a hint waits a second; internal is retried like rate_limited, a final refusal is not', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const { client, socket } = await matched(clients);
  const failed = [];
  client.on('failed', ({ clientMsgId }) => failed.push(clientMsgId));
  const texts = await write(client, ['a', 'b']);
  const [a, b] = socket.sent.filter((f) => f.type === 'msg.send');
  refuse(socket, a, 'internal');
  socket.sent.length = 0;
  t.mock.timers.tick(999);
  assert.deepEqual(wire(socket, texts), []);
  t.mock.timers.tick(1);
  assert.deepEqual(wire(socket, texts), ['a', 'b']);
  // not_in_match is final: b fails and is not sent again.
  refuse(socket, b, 'not_in_match');
  assert.deepEqual(failed, [b.client_msg_id]);
  accept(socket, a, 1);
  assert.deepEqual(client.conversation(7).outbox, []);
});

test(`no frame leaves more than SEND_AHEAD (${SEND_AHEAD}) counters past the oldest unaccepted one`, async () => {
  assert.ok(SEND_AHEAD <= RECEIVE_WINDOW, 'the peer must still open the oldest');
  const { client, socket } = await matched(clients);
  const written = Array.from({ length: SEND_AHEAD + 5 }, (_, i) => String(i + 1));
  const texts = await write(client, written);
  assert.deepEqual(wire(socket, texts), written.slice(0, SEND_AHEAD));
  const frames = socket.sent.filter((f) => f.type === 'msg.send');
  // The second is accepted, the first not: still nothing past the first + SEND_AHEAD.
  accept(socket, frames[1], 1);
  assert.equal(wire(socket, texts).length, SEND_AHEAD);
  // The first is accepted: the window moves by two.
  accept(socket, frames[0], 2);
  assert.deepEqual(wire(socket, texts).slice(SEND_AHEAD), written.slice(SEND_AHEAD, SEND_AHEAD + 2));
  const counters = socket.sent.filter((f) => f.type === 'msg.send').map((f) => Number(counterOf(f.nonce)));
  assert.deepEqual(counters, written.slice(0, SEND_AHEAD + 2).map(Number), 'each counter once, in order');
});

test('an overtaken message is opened once and shown where its writer put it', async () => {
  const { client, socket, session } = await matched(clients);
  const sealed = ['one', 'two', 'three'].map((text) => {
    const f = frank(text);
    return { ...session.seal(f.payload), commitment: f.commitment };
  });
  const events = [];
  client.on('message', ({ message, before }) => events.push([message.text, before]));
  client.on('undecryptable', ({ seq }) => events.push(['undecryptable', seq]));
  const at = new Date().toISOString();
  // The server accepted "two" and "three" before "one" (refused for now, sent again): seq 1, 2, 3 = two, three, one.
  const relay = (seq, i) => socket.deliver({ type: 'msg', match_id: 7, seq, ...sealed[i], sent_at: at, mine: false });
  relay(1, 1);
  relay(2, 2);
  relay(3, 0);
  // And once more, as a resume could bring it: seq 3 again is a duplicate, not a second message.
  relay(3, 0);
  const c = client.conversation(7);
  assert.deepEqual(c.messages.map((m) => m.text), ['one', 'two', 'three'], 'the transcript in the order written');
  assert.deepEqual(c.ordered().map((m) => [m.seq, m.text]), [[3, 'one'], [1, 'two'], [2, 'three']], 'shown in the order written');
  assert.deepEqual(events, [['two', null], ['three', null], ['one', 's1']], '"one" told as going before seq 1');
  // Its counter opened once: the same ciphertext under a new seq is a replay, never shown twice.
  relay(4, 0);
  assert.deepEqual(events.at(-1), ['undecryptable', 4]);
  assert.equal(c.messages.filter((m) => m.text === 'one').length, 1);
});

test('ordered(): by seq, a late message of the peer before their later ones, ours not yet accepted last', async () => {
  const { client, socket, session } = await matched(clients);
  const sealed = ['p1', 'p2', 'p3'].map((text) => {
    const f = frank(text);
    return { ...session.seal(f.payload), commitment: f.commitment };
  });
  const at = new Date().toISOString();
  const relay = (seq, i) => socket.deliver({ type: 'msg', match_id: 7, seq, ...sealed[i], sent_at: at, mine: false });
  relay(1, 1); // p2
  await client.send('mine, accepted as 2');
  const [frame] = socket.sent.filter((f) => f.type === 'msg.send');
  socket.deliver({ type: 'msg.accepted', id: frame.id, match_id: 7, client_msg_id: frame.client_msg_id, seq: 2 });
  relay(3, 0); // p1, overtaken by p2
  relay(4, 2); // p3
  await client.send('mine, not accepted');
  const shown = client.conversation(7).ordered().map((m) => m.text);
  assert.deepEqual(shown, ['p1', 'p2', 'mine, accepted as 2', 'p3', 'mine, not accepted']);
});

test("merged(): another tab's stored frames join in counter order, but none this client saw settled", () => {
  const frame = (id, n) => ({ client_msg_id: id, nonce: toNonce(n) });
  const mine = [frame('a', 1), frame('c', 3)];
  const stored = [frame('a', 1), frame('b', 2), frame('d', 4), frame('e', 5)];
  const settled = new Set(['d', '5']);
  assert.deepEqual(merged(mine, stored, settled).map((f) => f.client_msg_id), ['a', 'b', 'c']);
  assert.equal(merged(mine, [frame('a', 1)], settled), mine, 'nothing new: the same outbox');
});

/** A nonce of the scheme carrying counter `n`. */
function toNonce(n) {
  const bytes = new Uint8Array(24);
  bytes[23] = n;
  return toBase64(bytes);
}
