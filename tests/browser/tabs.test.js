// Two tabs of one person share the token pair (this origin's IndexedDB, web/storage.js). Refresh tokens rotate and
// a reused one signs every session out, so a refresh due in both tabs at once must rotate the pair once: the SDK's
// api.js runs it under a Web Lock, reads the pair inside it and writes the new one before letting go, and the tab
// that waited adopts what the other wrote. The first version of this test, on localStorage, failed on PostgreSQL
// in CI (the waiting tab could still read the old pair): the race is run several rounds in a row here.
// The tabs share a conversation too: its key pair and its send counter. Each message's counter is taken under a
// lock per conversation and the outbox is re-read under it (sdk/typescript/src/conversation.js), so two tabs
// writing at once never seal with one counter, and the peer opens both tabs' messages.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoPageErrors, baseUrl, launch, match, person, register, transcript } from './harness.js';

const ROUNDS = 5;

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('two tabs due for a refresh at once rotate the shared pair once per round, and both stay signed in', async () => {
  const ela = await person(browser);
  await register(ela, 'ela');
  const second = await ela.context.newPage();
  second.on('pageerror', (e) => ela.errors.push(e.message));
  await second.goto(`${baseUrl}/`);
  await second.locator('[data-testid=connection][data-state=online]').waitFor();
  const tabs = [ela.page, second];

  const seen = new Set();
  for (let round = 1; round <= ROUNDS; round++) {
    // Both tabs hold a pair about to expire (the one tab 1 holds, which tab 2 adopted in the round before).
    const due = () => {
      const api = window.tanis.app.api;
      api.tokens = { ...api.tokens, access_token_expires_at: new Date(Date.now() + 1_000).toISOString() };
      return api.tokens.refresh_token;
    };
    const [first, other] = await Promise.all(tabs.map((page) => page.evaluate(due)));
    assert.equal(first, other, `round ${round}: the tabs share one token pair`);
    seen.add(first);

    // A request in each, at once: each first refreshes.
    await Promise.all(tabs.map((page) => page.evaluate(() => window.tanis.app.api.me())));
    const [a, b] = await Promise.all(tabs.map((page) => page.evaluate(() => window.tanis.app.api.tokens.refresh_token)));
    assert.ok(!seen.has(a), `round ${round}: the pair was rotated`);
    assert.equal(a, b, `round ${round}: the tab that waited adopted the pair the other stored, rather than reusing the old one`);
    const stored = await second.evaluate(async () => JSON.parse(await (await import('/app/storage.js')).store.get('tanis.tokens')).refresh_token);
    assert.equal(stored, a, `round ${round}: the stored pair is the new one`);
  }

  // Neither was signed out: both still reach the API and the socket, and neither went back to the sign-in screen.
  for (const page of tabs) {
    assert.equal((await page.evaluate(() => window.tanis.app.api.me())).alias, 'ela');
    await page.locator('[data-testid=connection][data-state=online]').waitFor();
    assert.equal(await page.locator('[data-screen=auth]').count(), 0);
  }
  assertNoPageErrors(ela);
  await ela.context.close();
});

test('two tabs writing in one match at once: the peer reads every message, and both tabs show the whole conversation', async () => {
  const ela = await person(browser);
  const can = await person(browser);
  await register(ela, 'elatabs');
  await register(can, 'cantabs');
  await match(ela, can);
  // A second tab of ela's, opened in the match: it takes the conversation up from the shared storage.
  const second = await ela.context.newPage();
  second.on('pageerror', (e) => ela.errors.push(e.message));
  await second.goto(`${baseUrl}/`);
  await second.locator('[data-screen=chat]').waitFor();
  const tabs = [ela.page, second];

  const count = 20;
  const texts = (tab) => Array.from({ length: count }, (_, i) => `tab ${tab} says ${i + 1}`);
  // Both at once, each as fast as its outbox takes them (40 in all: past the burst of 30, so refusals for now too).
  await Promise.all(tabs.map((page, i) => page.evaluate(async (written) => {
    for (const text of written) await window.tanis.client.send(text);
  }, texts(i + 1))));

  const all = [...texts(1), ...texts(2)];
  const read = async () => (await transcript(can)).filter((m) => !m.mine);
  for (let shown = await read(); shown.length < all.length; shown = await read()) {
    await can.page.waitForFunction((n) => document.querySelectorAll('.message.theirs').length > n, shown.length);
  }
  const heard = (await read()).map((m) => m.text);
  assert.deepEqual([...heard].sort(), [...all].sort(), 'every message readable, once (an unreadable one shows a notice instead)');
  // Each tab's messages in the order that tab wrote them.
  for (const tab of [1, 2]) assert.deepEqual(heard.filter((t) => t.startsWith(`tab ${tab} `)), texts(tab));

  // Both tabs show all 40 as ela's, with the text (the other tab's opened with the shared key).
  for (const page of tabs) {
    await page.waitForFunction((n) => document.querySelectorAll('.message.mine').length >= n, all.length);
    const shown = (await transcript({ page })).filter((m) => m.mine).map((m) => m.text);
    assert.deepEqual([...shown].sort(), [...all].sort());
  }
  assertNoPageErrors(ela, can);
  await Promise.all([ela.context.close(), can.context.close()]);
});
