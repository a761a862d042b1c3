// The outbox on its own (src/conversation/outbox.js), on a port of plain functions: no Client, no socket, no
// server. What was sent, told and stored is the port's; the E2E session is real (a key pair each side), so what
// leaves is what a peer would open.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Acks } from '../../src/conversation/acks.js';
import { Keys, storeIdentity } from '../../src/conversation/keys.js';
import { Outbox } from '../../src/conversation/outbox.js';
import { RecordStore, freshRecord } from '../../src/conversation/record.js';
import { counterOf, establish, generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { unfrank } from '../../src/crypto/franking.js';
import { SEND_AHEAD } from '../../src/ordering.js';
import { encode } from '../../src/storage.js';
import { FakeClock, settle } from '@tanis/client/testing';

/**
 * A port whose socket is `port.online`, numbered `port.socket`; `sent`, `told` and `stored` say what went where.
 * @param {{protocol?: number, lock?: any}} [options]
 */
function fakePort({ protocol = 1, lock = null } = {}) {
  const port = {
    online: true,
    socket: 1,
    /** @type {any[]} */ sent: [],
    /** @type {{name: string, detail: any}[]} */ told: [],
    /** @type {Map<string, string>} */ stored: new Map(),
    send: (/** @type {any} */ frame) => (port.online ? (port.sent.push(frame), true) : false),
    link: () => ({ socket: port.socket, protocol }),
    now: () => Date.now(),
    emit: (/** @type {string} */ name, /** @type {any} */ detail) => void port.told.push({ name, detail }),
    storage: {
      get: async (/** @type {string} */ part) => port.stored.get(part) ?? null,
      set: async (/** @type {string} */ part, /** @type {string} */ text) => void port.stored.set(part, text),
    },
    lock,
  };
  return port;
}

/** An outbox of match 7 on `port`, with the peer's session to open what it sends. */
function outboxOn(port, { resuming = () => false } = {}) {
  const mine = generateIdentity();
  const peer = generateIdentity();
  const info = { match_id: 7, kind: 'text', peer: 'peer#0001', peer_public_key: toBase64(peer.publicKey), initiator: true, expires_at: null };
  const record = freshRecord(/** @type {any} */ (info), storeIdentity(mine));
  const keys = new Keys(record);
  const acks = new Acks(record, port);
  const outbox = new Outbox({ record, port, store: new RecordStore(record, port), keys, acks, resuming });
  const peerSession = establish(peer, toBase64(mine.publicKey), 7, false);
  /** What the peer reads of a frame that left. @param {any} frame */
  const read = (frame) => unfrank(peerSession.openBytes(frame.ciphertext, frame.nonce), frame.commitment).text;
  return { record, outbox, acks, read, mine };
}

const sends = (/** @type {any} */ port) => port.sent.filter((/** @type {any} */ f) => f.type === 'msg.send');
const storedIds = (/** @type {any} */ port) => JSON.parse(port.stored.get('outbox')).pending.map((/** @type {any} */ p) => p.client_msg_id);

test('a message is in the stored outbox before its frame leaves, and leaves once per socket', async () => {
  const port = fakePort();
  const { outbox, read } = outboxOn(port);
  /** @type {string[][]} */
  const storedWhenSent = [];
  const send = port.send;
  port.send = (frame) => (storedWhenSent.push(storedIds(port)), send(frame));

  const message = await outbox.send('merhaba');
  assert.deepEqual(storedWhenSent, [[message.key]], 'stored first');
  assert.equal(read(sends(port)[0]), 'merhaba');
  outbox.pump();
  assert.equal(sends(port).length, 1, 'not twice on one socket');

  port.socket = 2;
  outbox.pump();
  assert.equal(sends(port).length, 2, 'again on a new socket');
  assert.deepEqual(sends(port)[1], sends(port)[0], 'the identical frame: same id, counter and ciphertext');
});

test('offline, a message waits in the outbox and leaves, in order, with the next pump', async () => {
  const port = fakePort();
  const { outbox, read } = outboxOn(port);
  port.online = false;
  await outbox.send('bir');
  await outbox.send('iki');
  assert.deepEqual(sends(port), []);
  assert.equal(outbox.ids.length, 2);
  port.online = true;
  port.socket = 2;
  outbox.pump();
  assert.deepEqual(sends(port).map(read), ['bir', 'iki']);
});

test('nothing leaves while the inbox waits for resume.done', async () => {
  const port = fakePort();
  let resuming = true;
  const { outbox } = outboxOn(port, { resuming: () => resuming });
  await outbox.send('sonra');
  assert.deepEqual(sends(port), []);
  resuming = false;
  outbox.pump();
  assert.equal(sends(port).length, 1);
});

test('msg.accepted takes a frame out of the outbox and its stored record; its message is sent with its seq', async () => {
  const port = fakePort();
  const { outbox } = outboxOn(port);
  const message = await outbox.send('tamam');
  outbox.accepted({ type: 'msg.accepted', client_msg_id: message.key, seq: 4 });
  await settle();
  assert.deepEqual(outbox.ids, []);
  assert.deepEqual(storedIds(port), []);
  assert.equal(message.seq, 4);
  assert.equal(message.status, 'sent');
  assert.deepEqual(port.told.at(-1), { name: 'sent', detail: { matchId: 7, clientMsgId: message.key, seq: 4 } });
});

test('a frame refused for now holds every later one until its retry hint passed, then all go again in order', async (t) => {
  const clock = new FakeClock().install();
  t.after(() => clock.uninstall());
  const port = fakePort();
  const { outbox, read } = outboxOn(port);
  for (const text of ['1', '2', '3']) await outbox.send(text);
  const [first] = sends(port);
  port.sent.length = 0;

  outbox.refused({ type: 'error', id: first.id, code: 'rate_limited', message: 'slow down', retry_after_ms: 300 });
  await outbox.send('4');
  clock.tick(299);
  assert.deepEqual(sends(port), [], 'nothing leaves while the refused one waits');
  clock.tick(1);
  assert.deepEqual(sends(port).map(read), ['1', '2', '3', '4']);
});

test('a frame refused for good fails and leaves the outbox; nothing behind it is held', async () => {
  const port = fakePort();
  const { outbox, read } = outboxOn(port);
  const failing = await outbox.send('olmaz');
  outbox.refused({ type: 'error', id: failing.key, code: 'not_in_match', message: 'over' });
  assert.equal(failing.status, 'failed');
  assert.equal(failing.error, 'not_in_match');
  assert.deepEqual(outbox.ids, []);
  const told = port.told.find((e) => e.name === 'failed');
  assert.equal(told?.detail.clientMsgId, failing.key);
  assert.equal(told?.detail.error.code, 'not_in_match');
  await outbox.send('sonraki');
  assert.deepEqual(sends(port).map(read), ['olmaz', 'sonraki']);
});

test(`no frame goes on the wire ${SEND_AHEAD} counters or more past the oldest one not accepted`, async () => {
  const port = fakePort();
  const { outbox } = outboxOn(port);
  const written = [];
  for (let i = 0; i < SEND_AHEAD + 2; i++) written.push(await outbox.send(`m${i}`));
  assert.equal(sends(port).length, SEND_AHEAD, 'the window is full');
  outbox.accepted({ type: 'msg.accepted', client_msg_id: written[0].key, seq: 1 });
  outbox.pump();
  assert.equal(sends(port).length, SEND_AHEAD + 1, 'the oldest accepted: one more leaves');
  assert.equal(sends(port).at(-1).client_msg_id, written[SEND_AHEAD].key);
});

test('version 2: what the inbox owes rides on the next msg.send, and is then no longer owed', async () => {
  const port = fakePort({ protocol: 2 });
  const { outbox, acks } = outboxOn(port);
  acks.owe(5);
  await outbox.send('ve sen');
  assert.equal(sends(port)[0].ack, 5);
  assert.equal(acks.riding(), 0);
  assert.equal(JSON.parse(port.stored.get('outbox')).pending[0].ack, undefined, 'the stored frame is kept as written');
  acks.stop();
});

test('with a lock, the outbox another client stored is taken in: its frames go too, and its counters are not reused', async () => {
  /** @type {string[]} */
  const locked = [];
  const lock = async (/** @type {() => Promise<void>} */ task) => {
    locked.push('held');
    await task();
  };
  const port = fakePort({ lock });
  const { outbox, record } = outboxOn(port);
  // Another tab sealed counters 1 and 2 with the same key pair and stored them.
  const theirs = [1n, 2n].map((counter) => ({ type: 'msg.send', id: `t${counter}`, match_id: 7, client_msg_id: `t${counter}`, ciphertext: 'AAAA', nonce: toBase64(nonce(counter)), commitment: 'AAAA' }));
  port.stored.set('outbox', encode({ sent: 2n, pending: theirs }));

  await outbox.send('benden');
  assert.ok(locked.length > 0, 'the counter was taken under the lock');
  assert.equal(record.sent, 3n);
  assert.deepEqual(sends(port).map((f) => f.client_msg_id).slice(0, 2), ['t1', 't2'], "the other tab's frames, oldest first");
  assert.equal(counterOf(sends(port)[2].nonce), 3n, 'ours after theirs');
});

/** A 24-byte nonce carrying `counter` in its last 8 bytes. @param {bigint} counter */
function nonce(counter) {
  const bytes = new Uint8Array(24);
  for (let i = 23, n = counter; i >= 16; i--, n >>= 8n) bytes[i] = Number(n & 0xffn);
  return bytes;
}
