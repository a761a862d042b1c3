// Delivery across failures: a socket killed while messages are in flight comes back and every message arrives
// exactly once; a message written while offline survives an app restart (a new Client on the same storage);
// pause() stops reconnecting and resume() catches up.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { MemoryStorage } from '../src/index.js';
import { closeAll, connectedOnce, device, drained, match, next, person, receives } from './harness.js';

after(closeAll);

test('a socket killed mid-stream reconnects and the peer gets every message exactly once', async () => {
  const sender = await person('sdkkilled');
  const reader = await person('sdkreader');
  const [s, r] = await match(sender, reader);
  const texts = Array.from({ length: 20 }, (_, i) => `in flight ${i + 1}`);
  const all = receives(reader, texts);
  const reconnected = connectedOnce(sender);
  // Written one after the other, the socket terminated (no close frame: a network failure) in the middle.
  for (const [i, text] of texts.entries()) {
    await sender.send(text);
    if (i === 9) sender.connection.socket.terminate();
  }
  assert.ok(s.outbox.length > 0, 'some messages were waiting when the socket died');
  await reconnected;
  const got = await all;
  await drained(sender, s);
  assert.equal(s.outbox.length, 0);
  // Exactly once, in seq order, nothing else.
  assert.deepEqual(got.map((m) => m.text), texts);
  assert.deepEqual(r.messages.map((m) => m.text), texts);
  assert.deepEqual(r.messages.map((m) => m.seq), texts.map((_, i) => i + 1));
  assert.deepEqual(s.messages.map((m) => m.seq), texts.map((_, i) => i + 1));
});

test('a message written offline survives an app restart and is delivered once', async () => {
  const storage = new MemoryStorage();
  const sender = await person('sdkrestart', { storage });
  const reader = await person('sdkwaiter');
  const [s] = await match(sender, reader);
  sender.pause();
  assert.equal(sender.state, 'disconnected');
  const message = await sender.send('written in the background');
  assert.equal(message.status, 'sending');
  assert.deepEqual(s.outbox, [message.key]);
  // The app is killed: nothing of the old instance runs any more.
  sender.close();

  const restarted = device({ storage });
  const heard = receives(reader, ['written in the background']);
  const hello = connectedOnce(restarted);
  assert.equal(await restarted.start(), true, 'the tokens were in storage');
  assert.equal((await hello).active_match.match_id, s.id);
  const again = restarted.conversation(s.id);
  assert.notEqual(again, s);
  assert.deepEqual(again.outbox, [message.key]);
  const [got] = await heard;
  assert.equal(got.seq, 1);
  await drained(restarted, again);
  // The restarted instance also reads the reader's answer with the E2E state it restored.
  const answer = receives(restarted, ['got it']);
  await reader.send('got it');
  await answer;
  assert.equal(reader.conversation(s.id).messages.filter((m) => !m.mine).length, 1);
});

test('pause stops reconnecting; resume reconnects and catches up what came meanwhile', async () => {
  const app = await person('sdkpaused');
  const other = await person('sdkawake');
  await match(app, other);
  const states = [];
  app.on('state', ({ state }) => states.push(state));
  app.pause();
  assert.equal(app.state, 'disconnected');
  await other.send('while you were away');
  // The peer's message is stored (accepted) while this app is in the background; it did not come back by itself.
  await drained(other, other.current);
  assert.deepEqual(states, ['disconnected']);
  const heard = receives(app, ['while you were away']);
  app.resume();
  await heard;
  assert.equal(app.state, 'connected');
});

test('a match that ended while the app was away is reported on resume, its last messages collected', async () => {
  const away = await person('sdkaway');
  const leaver = await person('sdkleaver');
  const [a, l] = await match(away, leaver);
  away.pause();
  await leaver.send('bye, I am leaving');
  await leaver.leave(l.id);
  const heard = receives(away, ['bye, I am leaving']);
  const ended = next(away, 'ended', ({ matchId }) => matchId === a.id);
  away.resume();
  assert.equal((await ended).reason, 'gone');
  await heard;
  assert.equal(away.current, null);
  // Forgotten on request: nothing of it stays in storage.
  await away.forget(a.id);
  assert.equal(await away.storage.get(away.conversationKey(a.id)), null);
  assert.equal(away.conversations.has(a.id), false);
});

test('a client waiting in the queue when its socket dies queues again with the same key and gets its match', async () => {
  const waiting = await person('sdkqueued');
  const other = await person('sdklater');
  const queued = next(waiting, 'queued');
  await waiting.findMatch();
  const requeued = next(waiting, 'queued');
  await queued;
  // The queue entry goes with the socket (protocol section 2): the SDK must ask again after reconnecting.
  waiting.connection.socket.terminate();
  await requeued;
  const matched = next(waiting, 'matched');
  await other.findMatch();
  const { conversation } = await matched;
  assert.equal(conversation.record.peer, other.handle);
  assert.ok(conversation.safetyNumber, 'keyed with the key pair of the first find');
  const heard = receives(other, ['found you after all']);
  await waiting.send('found you after all');
  await heard;
});
