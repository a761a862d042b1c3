// What the viewer sees of the other side's picture (src/safety.js through the Call): the policy blur from the
// picture's first showing, the classifier's blur, the viewer's reveal, and the classifier's limits: sampled only
// while the picture is shown and the call connected, one classification at a time, a failing or hung one harmless,
// and nothing of it sent anywhere. Time is the test kit's FakeClock: no real waits.

import assert from 'node:assert/strict';
import { afterEach, beforeEach, test } from 'node:test';

import { Call, Client, Emitter, FLAG_SCORE, MemoryStorage, flaggedByDefault } from '@tanis/client';
import { FakeClock, ScriptedServer, settle, until } from '@tanis/client/testing';

let clock;
beforeEach(() => (clock = new FakeClock().install()));
afterEach(() => clock.uninstall());

/** The part of Client a Call uses: its events, its clock, and what it signals (recorded). */
function fakeClient() {
  const events = new Emitter();
  return { events, sent: [], on: (name, fn) => events.on(name, fn), signal(frame) {
    this.sent.push(frame);
    return true;
  }, now: () => clock.now() };
}

/** A connection the Call is handed (`attach`), brought to `connected` by the test. */
function connection() {
  return { connectionState: 'new', signalingState: 'stable', getStats: async () => new Map() };
}

/**
 * A Call whose classifier answers what `answers` holds now (a verdict, a function of the frame, or an Error to
 * throw), counting its calls; `states` lists the safety states emitted.
 */
function viewing({ videoSafety = { blur_secs: 3, caution: false }, classify, ...options } = {}) {
  const client = fakeClient();
  const seen = { calls: 0, frames: [], answer: { label: 'Neutral', score: 0.98 } };
  const classifier = classify ?? (async (frame) => {
    seen.calls++;
    seen.frames.push(frame);
    if (seen.answer instanceof Error) throw seen.answer;
    return seen.answer;
  });
  const call = new Call(client, { matchId: 9, initiator: true, videoSafety, classifier, sampleFrame: () => 'frame', ...options });
  const states = [];
  call.on('safety', ({ state }) => states.push(state));
  const pc = connection();
  call.attach(pc);
  const connect = () => {
    pc.connectionState = 'connected';
    pc.onconnectionstatechange();
  };
  return { client, call, seen, states, connect, pc };
}

/** Moves the clock `ms`, letting the classifier's promises settle between timers. */
const pass = (ms) => clock.tickAsync(ms);

test('the picture is blurred by policy from its first showing for blur_secs, then clear', async () => {
  const { call, states, connect } = viewing({ videoSafety: { blur_secs: 3, caution: false } });
  assert.equal(call.safety, 'policy', 'blurred before anything shows');
  connect();
  await pass(10_000);
  assert.equal(call.safety, 'policy', 'the seconds count from the picture, not from the call');
  call.pictureShown(true);
  await pass(2_999);
  assert.equal(call.safety, 'policy');
  await pass(1);
  assert.equal(call.safety, 'clear');
  assert.deepEqual(states, ['clear']);
  call.dispose();
});

test('a cautious policy blurs longer, and a match without video_safety is blurred the safe default of 3 s', async () => {
  const cautious = viewing({ videoSafety: { blur_secs: 10, caution: true } });
  cautious.call.pictureShown(true);
  await pass(9_999);
  assert.equal(cautious.call.safety, 'policy');
  await pass(1);
  assert.equal(cautious.call.safety, 'clear');
  cautious.call.dispose();

  const older = viewing({ videoSafety: null });
  older.call.pictureShown(true);
  await pass(2_999);
  assert.equal(older.call.safety, 'policy');
  await pass(1);
  assert.equal(older.call.safety, 'clear');
  older.call.dispose();
});

test('revealing during the policy blur clears the picture at once, and the classifier still watches', async () => {
  const { call, seen, states, connect } = viewing({ videoSafety: { blur_secs: 10, caution: true } });
  connect();
  call.pictureShown(true);
  call.reveal();
  assert.equal(call.safety, 'clear');
  await pass(1_000);
  assert.equal(seen.calls, 1, 'sampled after the reveal');
  seen.answer = { label: 'porn', score: 0.91 };
  await pass(1_000);
  assert.equal(call.safety, 'classifier');
  assert.deepEqual(states, ['clear', 'classifier']);
  await pass(20_000);
  assert.equal(call.safety, 'classifier', 'the policy timer it cancelled does not come back');
  call.dispose();
});

test('a flagged frame blurs a clear picture; the classifier then stops, and a reveal is kept for the match', async () => {
  const { call, seen, states, connect } = viewing();
  connect();
  call.pictureShown(true);
  await pass(3_000);
  assert.equal(call.safety, 'clear');
  assert.equal(seen.calls, 3, 'one frame a second while shown and connected');
  assert.deepEqual(call.verdict, { label: 'Neutral', score: 0.98 }, 'the last verdict is kept');

  seen.answer = { label: 'Sexy', score: FLAG_SCORE };
  await pass(1_000);
  assert.equal(call.safety, 'classifier');
  assert.deepEqual(call.verdict, { label: 'Sexy', score: 0.7 });
  seen.answer = { label: 'Neutral', score: 0.99 };
  await pass(10_000);
  assert.equal(seen.calls, 4, 'nothing the classifier says next can lift its blur: it is not asked');
  assert.equal(call.safety, 'classifier');
  assert.deepEqual(call.verdict, { label: 'Sexy', score: 0.7 }, 'the flagging verdict stays for a report');

  call.reveal();
  assert.equal(call.safety, 'revealed');
  call.reveal();
  call.pictureShown(false);
  call.pictureShown(true);
  await pass(10_000);
  assert.equal(call.safety, 'revealed', 'for the rest of the match');
  assert.equal(seen.calls, 4);
  assert.deepEqual(states, ['clear', 'classifier', 'revealed']);
  call.dispose();
});

test('a frame flagged during the policy blur keeps it blurred by the classifier once the policy ends', async () => {
  const { call, seen, states, connect } = viewing();
  seen.answer = { label: 'Hentai', score: 0.8 };
  connect();
  call.pictureShown(true);
  await pass(1_000);
  assert.equal(call.safety, 'classifier');
  await pass(5_000);
  assert.equal(call.safety, 'classifier');
  assert.deepEqual(states, ['classifier']);
  call.dispose();
});

test('frames are sampled only while the picture is shown and the call connected, and never after the match', async () => {
  const { call, seen, connect, pc } = viewing();
  call.pictureShown(true);
  await pass(5_000);
  assert.equal(seen.calls, 0, 'not connected');
  connect();
  await pass(2_000);
  assert.equal(seen.calls, 2);
  call.pictureShown(false);
  await pass(5_000);
  assert.equal(seen.calls, 2, 'not shown');
  call.pictureShown(true);
  await pass(1_000);
  assert.equal(seen.calls, 3);
  pc.connectionState = 'failed';
  pc.onconnectionstatechange();
  await pass(5_000);
  assert.equal(seen.calls, 3, 'the call failed');
  await call.dispose();
  await pass(5_000);
  assert.equal(seen.calls, 3, 'the match is over');
  assert.equal(clock.pending, 0, 'no timer left behind');
});

test('a grabber with no frame yet is not a verdict, and nothing is classified', async () => {
  let frame = null;
  const { call, seen, connect } = viewing({ sampleFrame: async () => frame });
  connect();
  call.pictureShown(true);
  await pass(2_000);
  assert.equal(seen.calls, 0);
  frame = 'a frame';
  await pass(1_000);
  assert.deepEqual(seen.frames, ['a frame']);
  call.dispose();
});

test('a classifier that throws or answers nonsense changes nothing, breaks nothing, and is asked again', async () => {
  const { call, client, seen, states, connect } = viewing();
  const errors = [];
  client.on('error', (e) => errors.push(e));
  connect();
  call.pictureShown(true);
  seen.answer = new Error('the model is not loaded');
  await pass(2_000);
  for (const answer of [{ label: 'porn', score: 7 }, { label: '', score: 0.9 }, { label: 'x'.repeat(65), score: 0.9 }, null]) {
    seen.answer = answer;
    await pass(1_000);
  }
  assert.equal(seen.calls, 6, 'asked at every sample');
  assert.equal(call.verdict, null, 'none of these is a verdict');
  assert.equal(call.state, 'connected');
  assert.deepEqual(errors, []);
  assert.deepEqual(states, ['clear'], 'the policy blur ended as it would have');
  seen.answer = { label: 'PORN', score: 0.95 };
  await pass(1_000);
  assert.equal(call.safety, 'classifier');
  call.dispose();
});

test('a hung classifier is never asked twice at once, and the policy blur still ends', async () => {
  let calls = 0;
  const { call, connect } = viewing({ classify: () => (calls++, new Promise(() => {})) });
  connect();
  call.pictureShown(true);
  await pass(30_000);
  // The picture hidden and shown again (a tab switched back): still only the one running.
  call.pictureShown(false);
  call.pictureShown(true);
  await pass(30_000);
  assert.equal(calls, 1);
  assert.equal(call.safety, 'clear');
  assert.equal(clock.pending, 0, 'no sampling timer waits behind it');
  call.dispose();
});

test('a slow classifier is asked again an interval after it answers, not while it works', async () => {
  const asked = [];
  const { call, connect } = viewing({
    sampleIntervalMs: 500,
    classify: () => (asked.push(clock.now()), new Promise((resolve) => setTimeout(() => resolve({ label: 'Neutral', score: 0.9 }), 2_000))),
  });
  const start = clock.now();
  connect();
  call.pictureShown(true);
  await pass(6_000);
  assert.deepEqual(asked.map((t) => t - start), [500, 3_000, 5_500]);
  call.dispose();
});

test('the default flags: NSFWJS’s Porn, Hentai and Sexy from 0.7, in any case; an app’s own flags instead', async () => {
  assert.equal(flaggedByDefault({ label: 'Porn', score: 0.7 }), true);
  assert.equal(flaggedByDefault({ label: 'hentai', score: 0.99 }), true);
  assert.equal(flaggedByDefault({ label: 'SEXY', score: 0.71 }), true);
  assert.equal(flaggedByDefault({ label: 'Porn', score: 0.69 }), false);
  assert.equal(flaggedByDefault({ label: 'Neutral', score: 0.99 }), false);
  assert.equal(flaggedByDefault({ label: 'Drawing', score: 0.99 }), false);

  // Apple's analysis says only sensitive or not: an app maps it to a label of its own.
  const { call, seen, connect } = viewing({ flags: (v) => v.label === 'sensitive' });
  connect();
  call.pictureShown(true);
  seen.answer = { label: 'Porn', score: 1 };
  await pass(1_000);
  assert.equal(call.safety, 'policy', 'not a flag by these rules');
  seen.answer = { label: 'sensitive', score: 1 };
  await pass(1_000);
  assert.equal(call.safety, 'classifier');
  call.dispose();
});

test('without a classifier the picture is blurred by policy only, and the reveal works the same', async () => {
  const client = fakeClient();
  const call = new Call(client, { matchId: 9, initiator: true, videoSafety: { blur_secs: 3, caution: false } });
  call.pictureShown(true);
  call.reveal();
  assert.equal(call.safety, 'clear');
  assert.equal(call.verdict, null);
  call.dispose();
});

test('classifying sends nothing: no frame on the socket, no request, only the call’s own signalling', async () => {
  const server = new ScriptedServer();
  const client = new Client({ ...server.clientOptions(), storage: new MemoryStorage(), now: clock.now });
  try {
    await client.login('+905321234567', 'correct horse');
    await until(() => server.connected);
    const peer = server.peer({ handle: 'kediadam#9021' });
    const matched = client.events.once('matched');
    const finding = client.findMatch({ kind: 'video' });
    await peer.match({ video_safety: { blur_secs: 10, caution: true } });
    await finding;
    const { conversation } = await matched;
    assert.deepEqual(conversation.record.video_safety, { blur_secs: 10, caution: true });
    const requests = server.requests.length;
    const socket = server.connected;
    const frames = socket.sent.length;

    const pc = connection();
    const call = new Call(client, {
      matchId: conversation.id,
      initiator: true,
      videoSafety: conversation.record.video_safety,
      classifier: async () => ({ label: 'Porn', score: 0.97 }),
      sampleFrame: () => new Uint8Array([0xff, 0xd8, 0xff]),
    });
    call.attach(pc);
    pc.connectionState = 'connected';
    pc.onconnectionstatechange();
    call.pictureShown(true);
    await pass(5_000);
    assert.equal(call.safety, 'classifier');
    await settle();
    assert.equal(server.requests.length, requests, 'no REST request');
    assert.deepEqual(socket.sent.slice(frames).map((f) => f.type).filter((t) => !t.startsWith('rtc.') && t !== 'ping'), []);
    assert.ok(!JSON.stringify(socket.sent).includes('Porn'), 'the verdict is in no frame');
    await call.dispose();
  } finally {
    client.close();
  }
});
