// Order under retries, against the real server: what a client accepted into its outbox reaches the peer readable,
// once, in the order it was written, whatever the server refuses for now. Both sides write far past the per-user
// rate (hub.message_burst, then hub.messages_per_second) at once; on PostgreSQL the database also goes away in the
// middle of a conversation (every connection of the server terminated and new ones refused, as a restart does) and
// comes back.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, test } from 'node:test';

import { closeAll, drained, match, next, person } from './harness.js';

after(closeAll);

/** Resolves once `client` has read `count` messages of the peer in `conversation`; fails on an unreadable one. */
function readsAll(client, conversation, count, timeoutMs) {
  return new Promise((resolve, reject) => {
    const done = () => conversation.messages.filter((m) => !m.mine && m.status === 'received').length >= count;
    const timer = setTimeout(() => {
      offs.forEach((off) => off());
      reject(new Error(`read ${conversation.messages.filter((m) => !m.mine).length} of ${count}`));
    }, timeoutMs);
    const finish = (error) => {
      clearTimeout(timer);
      offs.forEach((off) => off());
      error ? reject(error) : resolve();
    };
    const offs = [
      client.on('message', () => done() && finish()),
      client.on('undecryptable', ({ seq, reason }) => finish(new Error(`seq ${seq} unreadable (${reason})`))),
    ];
  });
}

/** The peer's texts in `conversation`'s transcript, in the order shown. */
const theirs = (conversation) => conversation.messages.filter((m) => !m.mine).map((m) => m.text);

/** Counts the refusals `client` receives with `code`. */
function refusals(client, code) {
  const seen = { count: 0 };
  client.on('frame', (frame) => {
    if (frame.type === 'error' && frame.code === code) seen.count++;
  });
  return seen;
}

test('both sides writing far past the rate limit at once: every message read, once, in the order written', async () => {
  const ela = await person('sdkorderela');
  const can = await person('sdkordercan');
  const [e, c] = await match(ela, can);
  const count = 100;
  const fromEla = Array.from({ length: count }, (_, i) => `ela ${i + 1}`);
  const fromCan = Array.from({ length: count }, (_, i) => `can ${i + 1}`);
  const limited = [refusals(ela, 'rate_limited'), refusals(can, 'rate_limited')];

  const heard = [readsAll(can, c, count, 60_000), readsAll(ela, e, count, 60_000)];
  // Written as fast as the outbox takes them, on both sides at once.
  await Promise.all([
    (async () => {
      for (const text of fromEla) await ela.send(text);
    })(),
    (async () => {
      for (const text of fromCan) await can.send(text);
    })(),
  ]);
  await Promise.all(heard);

  assert.ok(limited[0].count > 0 && limited[1].count > 0, `past the limit: ${limited.map((l) => l.count)} refusals`);
  assert.deepEqual(theirs(c), fromEla, 'can reads ela in the order she wrote');
  assert.deepEqual(theirs(e), fromCan, 'ela reads can in the order he wrote');
  // Each accepted once: every message of each side holds its own seq (once the sender has heard every
  // `msg.accepted`: the peer may read a message before its sender hears it was stored).
  await Promise.all([drained(ela, e), drained(can, c)]);
  for (const conversation of [e, c]) {
    const seqs = conversation.messages.map((m) => m.seq);
    assert.equal(new Set(seqs).size, 2 * count, 'one seq per message');
    assert.ok(conversation.messages.filter((m) => m.mine).every((m) => m.status === 'sent' || m.status === 'delivered'));
  }
});

const postgres = process.env.SDK_TEST_DATABASE_URL?.startsWith('postgres') && process.env.SDK_TEST_POSTGRES_ADMIN_URL;

/** The server's database taken away as a restarting PostgreSQL does (connections terminated, new ones refused). */
function database(allow) {
  const name = new URL(process.env.SDK_TEST_DATABASE_URL).pathname.slice(1);
  const sql = allow
    ? `ALTER DATABASE ${name} ALLOW_CONNECTIONS true`
    : `ALTER DATABASE ${name} ALLOW_CONNECTIONS false; SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = '${name}'`;
  execFileSync('psql', ['-q', '-v', 'ON_ERROR_STOP=1', process.env.SDK_TEST_POSTGRES_ADMIN_URL, '-c', sql], { stdio: 'pipe' });
}

test('messages written while the database is down reach the peer once it is back, readable and in order', { skip: !postgres && 'PostgreSQL only (SDK_TEST_DATABASE_URL)' }, async () => {
  const ela = await person('sdkoutageela');
  const can = await person('sdkoutagecan');
  const [, c] = await match(ela, can);
  const written = Array.from({ length: 30 }, (_, i) => `while down ${i + 1}`);
  const heard = readsAll(can, c, written.length, 60_000);
  for (const text of written.slice(0, 5)) await ela.send(text);
  await next(ela, 'sent', () => ela.conversation().outbox.length === 0);

  database(false);
  try {
    // Down until the server refuses a message for it (`internal`, retried by the outbox after its hint), or for
    // 12 s: a write may also wait for the database and be stored once it is back.
    const refused = next(ela, 'frame', (f) => f.type === 'error' && f.code === 'internal', 12_000).catch(() => null);
    for (const text of written.slice(5, 20)) await ela.send(text);
    await refused;
  } finally {
    database(true);
  }
  for (const text of written.slice(20)) await ela.send(text);
  await heard;
  assert.deepEqual(theirs(c), written);
});
