// Two tabs of one person share the token pair (this origin's localStorage). Refresh tokens rotate and a reused one
// signs every session out, so a refresh due in both tabs at once must rotate the pair once: the SDK's api.js runs
// it under its `lock` (Web Locks here) and the tab that waited adopts the pair the other stored.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoPageErrors, baseUrl, launch, person, register } from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('two tabs due for a refresh at once rotate the shared pair once, and both stay signed in', async () => {
  const ela = await person(browser);
  await register(ela, 'ela');
  const second = await ela.context.newPage();
  second.on('pageerror', (e) => ela.errors.push(e.message));
  await second.goto(`${baseUrl}/`);
  await second.locator('[data-testid=connection][data-state=online]').waitFor();
  const tabs = [ela.page, second];

  // Both tabs hold the same pair, about to expire.
  const due = () => {
    const api = window.tanis.app.api;
    api.tokens = { ...api.tokens, access_token_expires_at: new Date(Date.now() + 1_000).toISOString() };
    return api.tokens.refresh_token;
  };
  const [first, other] = await Promise.all(tabs.map((page) => page.evaluate(due)));
  assert.equal(first, other, 'the tabs share one token pair');

  // A request in each, at once: each first refreshes.
  await Promise.all(tabs.map((page) => page.evaluate(() => window.tanis.app.api.me())));
  const [a, b] = await Promise.all(tabs.map((page) => page.evaluate(() => window.tanis.app.api.tokens.refresh_token)));
  assert.notEqual(a, first, 'the pair was rotated');
  assert.equal(a, b, 'the tab that waited adopted the pair the other stored, rather than reusing the old one');
  assert.equal(await second.evaluate(() => JSON.parse(localStorage.getItem('tanis.tokens')).refresh_token), a);

  // Neither was signed out: both still reach the API, and neither went back to the sign-in screen.
  for (const page of tabs) {
    assert.equal((await page.evaluate(() => window.tanis.app.api.me())).alias, 'ela');
    await page.locator('[data-testid=connection][data-state=online]').waitFor();
    assert.equal(await page.locator('[data-screen=auth]').count(), 0);
  }
  assertNoPageErrors(ela);
  await ela.context.close();
});
