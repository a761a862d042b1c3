// TURN over TCP and over TLS, for people whose network passes no UDP: each browser is handed only the server's
// `turn:…?transport=tcp` (then only its `turns:`) URL, as if UDP were blocked, and the call still connects
// relay ↔ relay, with getStats() naming the transport the relay was reached over. The IP-privacy promise is the
// same as over UDP: no page is ever given a non-relay candidate of the other side.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoPageErrors, launch, person, register, succeededPair } from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/**
 * Makes this page's RTCPeerConnection see only the ICE server URLs that `keep` (a regular expression's source)
 * matches: the app and the server are untouched, the browser simply cannot reach the others.
 */
async function onlyTurnUrls(p, keep) {
  await p.context.addInitScript((pattern) => {
    const Native = window.RTCPeerConnection;
    const re = new RegExp(pattern);
    window.RTCPeerConnection = function (config, ...rest) {
      const iceServers = (config?.iceServers ?? [])
        .map((s) => ({ ...s, urls: [s.urls].flat().filter((u) => re.test(u)) }))
        .filter((s) => s.urls.length > 0);
      window.tanisTurnUrls = iceServers.flatMap((s) => s.urls);
      return new Native({ ...config, iceServers }, ...rest);
    };
    window.RTCPeerConnection.prototype = Native.prototype;
  }, keep);
  await p.page.reload();
}

async function callOver(transport, keep) {
  const eda = await person(browser);
  const filiz = await person(browser);
  for (const p of [eda, filiz]) await onlyTurnUrls(p, keep);
  await register(eda, 'eda');
  await register(filiz, 'filiz');
  await eda.page.getByTestId('find-video').click();
  await eda.page.getByTestId('waiting').waitFor();
  await filiz.page.getByTestId('find-video').click();
  for (const p of [eda, filiz]) {
    await p.page.locator('.stage[data-state=connected]').waitFor({ timeout: 30_000 });
    await p.page.waitForFunction(() => document.querySelector('[data-testid=remote-video]')?.videoWidth > 0);
    const urls = await p.page.evaluate(() => window.tanisTurnUrls);
    assert.ok(urls.length > 0 && urls.every((u) => new RegExp(keep).test(u)), `${transport}: offered ${urls}`);
    const pair = await succeededPair(p.page);
    const { local, remote, relayProtocol } = pair;
    assert.deepEqual({ local, remote, relayProtocol }, { local: 'relay', remote: 'relay', relayProtocol: transport }, JSON.stringify(pair));
    const seen = await p.page.evaluate(() => window.tanis.remoteCandidates);
    assert.deepEqual(seen.filter((c) => c.type !== 'relay'), [], 'a non-relay candidate of the other side');
  }
  assertNoPageErrors(eda, filiz);
  await Promise.all([eda.context.close(), filiz.context.close()]);
}

test('a call connects through the relay over TCP when UDP is blocked', async () => {
  await callOver('tcp', '^turn:.*\\?transport=tcp$');
});

test('a call connects through the relay over TLS when only TLS gets through', async () => {
  await callOver('tls', '^turns:');
});
