// Two tabs of one person share the token pair (this origin's IndexedDB, web/storage.js). Refresh tokens rotate and
// a reused one signs every session out, so a refresh due in both tabs at once must rotate the pair once: the SDK's
// api.js runs it under a Web Lock, reads the pair inside it and writes the new one before letting go, and the tab
// that waited adopts what the other wrote. The first version of this test, on localStorage, failed on PostgreSQL
// in CI (the waiting tab could still read the old pair): the race is run several rounds in a row here.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoPageErrors, baseUrl, launch, person, register } from './harness.js';

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
