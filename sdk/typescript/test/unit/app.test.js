// An app team's test of its wiring, written as one would be outside this repository: the package by its name
// (`@tanis/client`, `@tanis/client/testing`: node resolves the package's own name through its "exports"), the
// scripted server answering as tanis does, the mocked clock. Sign in, match, a message each way, a token refresh
// ahead of expiry and after a 4002 close, a push that wakes the app, a ban (4003) that closes it for good.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';

import { Client, MemoryStorage } from '@tanis/client';
import { FakeClock, ScriptedServer, settle, until } from '@tanis/client/testing';

/** What the app under test does with the SDK's events: its screen, reduced to a list. */
function wire(client) {
  const screen = { state: null, messages: [], notices: [] };
  client.on('state', ({ state }) => (screen.state = state));
  client.on('matched', ({ conversation }) => screen.notices.push(`matched with ${conversation.record.peer}`));
  client.on('message', ({ message }) => screen.messages.push(message.text));
  client.on('banned', () => screen.notices.push('banned'));
  client.on('reauthenticate', () => screen.notices.push('sign in again'));
  return screen;
}

let clock;
let server;
let client;
let screen;

beforeEach(() => {
  clock = new FakeClock().install();
  // Access tokens that live a minute: refreshed 12 s before they expire.
  server = new ScriptedServer({ accessTtlSeconds: 60 });
  client = new Client({ ...server.clientOptions(), storage: new MemoryStorage(), now: clock.now });
  screen = wire(client);
});

afterEach(() => {
  client.close();
  clock.uninstall();
});

/** Signed in, matched with `peer`, greeted: the app's first screen. */
async function matched() {
  await client.login('+905321234567', 'correct horse');
  await until(() => screen.state === 'connected');
  const peer = server.peer({ handle: 'kediadam#9021' });
  const finding = client.findMatch({ kind: 'text' });
  await peer.match();
  await finding;
  await until(() => screen.notices.includes('matched with kediadam#9021'));
  return peer;
}

test('sign in, match, and a message each way', async () => {
  const peer = await matched();
  assert.deepEqual(server.requestsTo('POST /v1/auth/login').map((r) => r.body), [{ phone: '+905321234567', password: 'correct horse' }]);

  peer.send('selam');
  await until(() => screen.messages.length === 1);
  assert.deepEqual(screen.messages, ['selam']);

  await client.send('merhaba');
  await until(() => peer.received.length === 1);
  assert.deepEqual(peer.received, ['merhaba'], 'the peer opened what the app sent');
  await clock.tickAsync(1_000);
  assert.equal(client.current.messages.find((m) => m.mine).status, 'sent');
});

test('the access token is refreshed before it expires, and again when the socket closes with 4002', async () => {
  await matched();
  const first = server.last.token;
  await clock.tickAsync(50_000);
  assert.equal(server.requestsTo('POST /v1/auth/refresh').length, 1, 'refreshed ahead of its expiry');

  server.last.serverClose(4002, 'token_expired');
  await until(() => server.sockets.length === 2 && screen.state === 'connected');
  assert.equal(server.requestsTo('POST /v1/auth/refresh').length, 2, 'refreshed once more, then reconnected at once');
  assert.notEqual(server.last.token, first);
  assert.equal(server.tokenState(server.last.token), 'valid');
  assert.deepEqual(screen.notices.filter((n) => n === 'sign in again'), []);
});

test('a push wakes the app: it reconnects, catches up, and shows who wrote, never what', async () => {
  const peer = await matched();
  client.pause();
  const sent = peer.send('while you were away');
  assert.equal(server.connected, undefined, 'nobody online: the server stores it');

  const shown = await client.handlePush({
    data: { type: 'message', match_id: String(sent.match_id) },
    notification: { title: 'tanis', body: 'New message from kediadam#9021' },
  });
  assert.deepEqual(shown, { kind: 'message', matchId: sent.match_id, title: 'tanis', body: 'New message from kediadam#9021' });
  await until(() => screen.messages.length === 1);
  assert.deepEqual(screen.messages, ['while you were away']);
});

test('a ban closes the app for good: 4003, no reconnect', async () => {
  await matched();
  server.ban();
  await until(() => screen.notices.includes('banned'));
  assert.equal(screen.state, 'closed');
  await clock.tickAsync(120_000);
  await settle();
  assert.equal(server.sockets.length, 1, 'never reconnected');
  await assert.rejects(client.login('+905321234567', 'correct horse'), { code: 'account_banned', status: 403 });
});
