// A video call between two browsers with Chromium's fake camera and microphone, through the server's embedded
// TURN relay: it connects, both sides' selected candidate pair is relay ↔ relay in getStats(), and no page was
// ever handed a host, srflx or prflx candidate of the other side (neither trickled nor inside an SDP). Each side
// reports the call once with `rtc.stats` when it ends, with the whole call's packets.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoPageErrors, launch, person, register, screenshot, succeededPair } from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/**
 * Routes this person's WebSocket through the test (reconnecting it). Every frame the page sends is kept in
 * `sent`, and `sentFrame(wanted)` resolves with the first one for which `wanted` holds, once it has gone. With
 * `hold`, every `rtc.*` frame the server sends them waits until `release()` is called; their order is kept.
 */
async function routeSocket(p, { hold = false } = {}) {
  let release;
  const released = hold && new Promise((resolve) => (release = resolve));
  const sent = [];
  let waiting = [];
  const check = () => {
    waiting = waiting.filter(({ wanted, resolve }) => {
      const frame = sent.find(wanted);
      if (frame) resolve(frame);
      return !frame;
    });
  };
  const sentFrame = (wanted) => new Promise((resolve) => {
    waiting.push({ wanted, resolve });
    check();
  });
  await p.page.routeWebSocket(/\/v1\/ws$/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((message) => {
      server.send(message);
      sent.push(JSON.parse(String(message)));
      check();
    });
    server.onMessage(async (message) => {
      if (released && String(message).includes('"type":"rtc.')) await released;
      ws.send(message);
    });
  });
  const before = await p.page.evaluate(() => {
    window.tanis.app.socket.drop();
    return window.tanis.app.socket.generation;
  });
  await p.page.waitForFunction((g) => window.tanis.app.socket.generation > g && window.tanis.app.socket.open, before);
  return { release, sent, sentFrame };
}

test('a video call connects through the TURN relay only, and no peer address ever reaches the page', async () => {
  const eda = await person(browser);
  const filiz = await person(browser);
  await register(eda, 'eda');
  await register(filiz, 'filiz');
  // Filiz's socket goes through the test, which holds the signalling addressed to her until told: Eda's screen
  // then stays on "connecting" long enough to be looked at, without a sleep. Both sockets' frames are read.
  const sockets = new Map([[eda, await routeSocket(eda)], [filiz, await routeSocket(filiz, { hold: true })]]);
  const release = sockets.get(filiz).release;

  await eda.page.getByTestId('find-video').click();
  await eda.page.getByTestId('waiting').waitFor();
  await filiz.page.getByTestId('find-video').click();
  for (const p of [eda, filiz]) await p.page.locator('.stage').waitFor();
  // The state a person sees before media flows says how the call is made.
  await eda.page.locator('.stage[data-state=connecting]').waitFor();
  assert.equal(await eda.page.getByTestId('call-status').textContent(), 'Connecting through relay…');
  await screenshot(eda.page, '05-video-connecting');
  release();

  for (const p of [eda, filiz]) {
    await p.page.locator('.stage[data-state=connected]').waitFor({ timeout: 30_000 });
    assert.equal(await p.page.getByTestId('call-status').textContent(), 'Connected through relay');
    // Media flows: the remote video has frames.
    await p.page.waitForFunction(() => document.querySelector('[data-testid=remote-video]')?.videoWidth > 0);
  }
  for (const p of [eda, filiz]) {
    // The pair the call runs on passed its connectivity check (a call that never gets there times out here).
    const pair = await succeededPair(p.page);
    assert.deepEqual({ local: pair.local, remote: pair.remote }, { local: 'relay', remote: 'relay' }, `${p.handle}: ${JSON.stringify(pair)}`);

    const seen = await p.page.evaluate(() => window.tanis.remoteCandidates);
    assert.ok(seen.length > 0, 'the page was given the other side’s relay candidates');
    const notRelay = seen.filter((c) => c.type !== 'relay');
    assert.deepEqual(notRelay, [], `${p.handle} saw a non-relay candidate of the other side`);
    // The relay candidates' related address (the peer's own reflexive address) is blanked by the server.
    for (const c of seen) assert.match(c.candidate, /raddr 0\.0\.0\.0 rport 0/, c.candidate);
  }
  await eda.page.locator('.stage[data-route="relay/relay"]').waitFor();
  await screenshot(eda.page, '06-video-connected');
  // Nothing is reported while the call goes on: its loss is known at its end.
  for (const [p, socket] of sockets) assert.deepEqual(socket.sent.filter((f) => f.type === 'rtc.stats'), [], p.handle);

  // Hanging up ends the call on both sides; the match stays until someone leaves.
  await eda.page.getByTestId('hang-up').click();
  await filiz.page.locator('.stage[data-state=ended]').waitFor();
  assert.match(await filiz.page.getByTestId('call-status').textContent(), /the stranger hung up/);
  await filiz.page.getByTestId('call-again').waitFor();

  // Each side reported the call once at its end (Eda before her hang-up, Filiz on receiving it): connected, the
  // time to connect, the round trip through the relay, and the whole call's packets.
  for (const [p, socket] of sockets) {
    const stats = await socket.sentFrame((f) => f.type === 'rtc.stats');
    assert.equal(stats.outcome, 'connected', p.handle);
    assert.ok(stats.setup_ms > 0 && stats.setup_ms < 30_000, `${p.handle}: ${JSON.stringify(stats)}`);
    assert.ok(Number.isInteger(stats.rtt_ms), `${p.handle}: ${JSON.stringify(stats)}`);
    assert.ok(stats.packets_sent > 0 && stats.packets_lost >= 0 && stats.packets_lost <= stats.packets_sent, `${p.handle}: ${JSON.stringify(stats)}`);
    assert.equal(socket.sent.filter((f) => f.type === 'rtc.stats').length, 1, p.handle);
  }
  const edaSent = sockets.get(eda).sent.map((f) => f.type);
  assert.ok(edaSent.indexOf('rtc.stats') < edaSent.indexOf('rtc.hangup'), edaSent.join(' '));

  // Calling again in the same match: a new connection on both sides, relay ↔ relay again, media flows, and the
  // match's one report is not sent again when this call ends.
  await filiz.page.getByTestId('call-again').click();
  for (const p of [eda, filiz]) {
    await p.page.locator('.stage[data-state=connected]').waitFor({ timeout: 30_000 });
    await p.page.waitForFunction(() => document.querySelector('[data-testid=remote-video]')?.videoWidth > 0);
    const pair = await succeededPair(p.page);
    assert.deepEqual({ local: pair.local, remote: pair.remote }, { local: 'relay', remote: 'relay' }, `${p.handle}: ${JSON.stringify(pair)}`);
  }
  await filiz.page.getByTestId('hang-up').click();
  await eda.page.locator('.stage[data-state=ended]').waitFor();
  const filizSocket = sockets.get(filiz);
  // Her hang-up has gone, and whatever she would report comes before it.
  await filizSocket.sentFrame((f) => f.type === 'rtc.hangup');
  assert.equal(filizSocket.sent.filter((f) => f.type === 'rtc.stats').length, 1, 'one report per match');
  assertNoPageErrors(eda, filiz);
  await Promise.all([eda.context.close(), filiz.context.close()]);
});
