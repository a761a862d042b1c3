// The report window `revealable` takes (issue 59, point 5): the one the server announces in
// `hello.limits.report_window_days`; the `reportWindowDays` option (default 30) only for a server that does not
// announce it. On a mocked clock: the peer's message is written at the start, and days pass.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { establish, generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { frank } from '../../src/crypto/franking.js';
import { Client, MemoryStorage } from '../../src/index.js';
import { FakeClock, ScriptedServer, settle } from '@tanis/client/testing';

const DAY = 24 * 3600 * 1000;
const clients = [];
after(() => clients.forEach((c) => c.close()));

/**
 * A client on `clock` in match 7, greeted with `limits`, holding one message of the peer's written now.
 * @param {FakeClock} clock
 * @param {Record<string, unknown>} limits `hello.limits`
 * @param {Record<string, unknown>} [options] the Client's
 */
async function withOneMessage(clock, limits, options = {}) {
  const server = new ScriptedServer({ autoReply: false, protocol: 2, now: clock.now });
  const storage = new MemoryStorage();
  await server.signIn(storage);
  const [mine, peer] = [generateIdentity(), generateIdentity()];
  await storage.set('tanis.find', JSON.stringify({ id: 'f1', frame: {}, identity: { privateKey: toBase64(mine.privateKey), publicKey: toBase64(mine.publicKey) } }));
  const client = new Client({ ...server.clientOptions(), storage, now: clock.now, ...options });
  clients.push(client);
  await client.start();
  const socket = await server.socket();
  const hello = client.events.once('hello');
  const active_match = { match_id: 7, kind: 'text', peer: 'peer#0001', peer_public_key: toBase64(peer.publicKey), initiator: true, expires_at: '2099-01-01T00:00:00Z' };
  socket.hello({ active_match, limits: { max_frame_bytes: 65_536, max_message_bytes: 8_192, messages_per_second: 10, ...limits } });
  await hello;
  await settle();
  const resume = socket.sent.find((f) => f.type === 'resume');
  socket.deliver({ type: 'resume.done', id: resume.id, match_id: 7, last_seq: 0 });
  const session = establish(peer, toBase64(mine.publicKey), 7, false);
  const franked = frank('bunu bildir');
  const received = client.events.once('message');
  socket.deliver({ type: 'msg', match_id: 7, seq: 1, ...session.seal(franked.payload), commitment: franked.commitment, sent_at: new Date(clock.now()).toISOString(), mine: false });
  await received;
  return client;
}

/** @param {FakeClock} clock @param {number} days */
const pass = (clock, days) => clock.tick(days * DAY);

test('revealable follows the window the server announces, not the default of 30 days', async (t) => {
  const clock = new FakeClock().install();
  t.after(() => clock.uninstall());
  const client = await withOneMessage(clock, { report_window_days: 45 });
  pass(clock, 31);
  assert.deepEqual(client.revealable(7).map((m) => m.seq), [1], 'past 30 days, within the 45 announced');
  pass(clock, 15);
  assert.deepEqual(client.revealable(7), [], 'past the 45 announced: the server no longer verifies it');
});

test('the announced window wins over the option, which is only for a server that says nothing', async (t) => {
  const clock = new FakeClock().install();
  t.after(() => clock.uninstall());
  const client = await withOneMessage(clock, { report_window_days: 7 }, { reportWindowDays: 60 });
  pass(clock, 6);
  assert.equal(client.revealable(7).length, 1);
  pass(clock, 2);
  assert.deepEqual(client.revealable(7), [], 'the 7 announced, not the 60 of the option');
});

test('from an older server that announces nothing, the option decides', async (t) => {
  const clock = new FakeClock().install();
  t.after(() => clock.uninstall());
  const client = await withOneMessage(clock, {}, { reportWindowDays: 10 });
  pass(clock, 9);
  assert.equal(client.revealable(7).length, 1);
  pass(clock, 2);
  assert.deepEqual(client.revealable(7), [], 'the 10 days of the option');
});
