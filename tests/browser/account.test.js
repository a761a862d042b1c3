// The rest of the journey: the language switch (UI and the account's notification language), silent token
// refresh (ahead of expiry, and after the socket is refused with 4001), a broadcast arriving live in the
// notifications panel; from a conversation: the one-tap "not as declared" report and its refund, report, block,
// and a claim that shows up among the claims; and a connection closed for a bug of the page (4004) that
// reconnects only when the person asks.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { adminToken, api, assertNoPageErrors, launch, match, needsAdmin, person, register, say, theirs } from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('the language switches, tokens refresh silently, and a broadcast lands in the notifications panel', { skip: needsAdmin }, async () => {
  const irem = await person(browser);
  await register(irem, 'irem');
  const { page } = irem;

  // Turkish on screen, and for the server's notifications too.
  await page.getByTestId('lang').click();
  await page.getByText('Yeni biriyle tanış').waitFor();
  await page.waitForFunction(async () => (await window.tanis.app.api.me()).locale === 'tr', null, { polling: 200 });

  // Ahead of expiry: a request with a token about to expire rotates the pair first.
  const rotated = await page.evaluate(async () => {
    const api = window.tanis.app.api;
    const before = api.tokens.refresh_token;
    api.tokens = { ...api.tokens, access_token_expires_at: new Date(Date.now() + 1_000).toISOString() };
    await api.me();
    // Stored where the SDK keeps it (web/storage.js: IndexedDB, read by every tab).
    const { store } = await import('/app/storage.js');
    return before !== api.tokens.refresh_token && JSON.parse(await store.get('tanis.tokens')).refresh_token === api.tokens.refresh_token;
  });
  assert.ok(rotated, 'the token pair was rotated and stored');

  // A socket refused with 4001 (here: a token the server cannot verify) refreshes and comes back by itself.
  const generation = await page.evaluate(() => {
    const { api, socket } = window.tanis.app;
    api.tokens = { ...api.tokens, access_token: 'not-a-token' };
    socket.drop();
    return socket.generation;
  });
  await page.waitForFunction((g) => {
    const { api, socket } = window.tanis.app;
    return socket.generation > g + 1 && socket.open && api.tokens.access_token !== 'not-a-token';
  }, generation);
  await page.locator('[data-testid=connection][data-state=online]').waitFor();

  // A broadcast reaches the open page at once, in Turkish, and the panel marks it read.
  const token = await adminToken();
  const sent = await api('POST', '/v1/admin/broadcasts', {
    token,
    body: { audience: 'all', tr: 'Bu gece 02:00’de kısa bir bakım var.', en: 'A short maintenance tonight at 02:00.' },
  });
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  await page.getByTestId('unread').waitFor();
  await page.getByTestId('bell').click();
  await page.getByTestId('notification').filter({ hasText: 'Bu gece 02:00’de kısa bir bakım var.' }).waitFor();
  await page.getByTestId('unread').waitFor({ state: 'detached' });
  assertNoPageErrors(irem);
  await irem.context.close();
});

test('one tap from a conversation: "not the gender they declared" sends no words and gives the match back', async () => {
  const lale = await person(browser);
  const mert = await person(browser);
  await register(lale, 'lale');
  await register(mert, 'mert');
  await match(lale, mert);
  await say(lale, 'Selam');
  await theirs(mert, 'Selam').waitFor();

  await mert.page.getByTestId('report').click();
  await mert.page.getByTestId('report-not-as-declared').click();
  await mert.page.getByText('Your report was sent.').waitFor();
  // The refund is his own news: a notification, never a word about her declaration.
  await mert.page.getByTestId('bell').click();
  await mert.page.getByText('one text match was refunded', { exact: false }).waitFor();
  assertNoPageErrors(lale, mert);
  await Promise.all([lale.context.close(), mert.context.close()]);
});

test('from a conversation: report the stranger, block them, and claim the match back', async () => {
  const jale = await person(browser);
  const kaan = await person(browser);
  await register(jale, 'jale');
  await register(kaan, 'kaan');
  await match(jale, kaan);
  await say(jale, 'Merhaba?');
  await theirs(kaan, 'Merhaba?').waitFor();

  await kaan.page.getByTestId('report').click();
  await kaan.page.getByTestId('report-reason').selectOption('spam');
  await kaan.page.locator('dialog textarea[name=details]').fill('links in every message');
  await kaan.page.getByTestId('report-submit').click();
  await kaan.page.getByText('Your report was sent.').waitFor();

  await kaan.page.getByTestId('block').click();
  await kaan.page.getByTestId('block-confirm').click();
  await kaan.page.getByTestId('ended').filter({ hasText: 'You blocked the stranger.' }).waitFor();
  // The blocked side is never told about the block.
  await jale.page.getByTestId('ended').filter({ hasText: 'The stranger left.' }).waitFor();

  // No reply came: Jale claims her match back, and sees the claim waiting for its verdict.
  await jale.page.getByTestId('claim').click();
  await jale.page.getByText('Claim filed.', { exact: false }).waitFor();
  await jale.page.getByTestId('bell').click();
  await jale.page.locator('[data-testid=claim-row][data-status=pending]').waitFor();
  // A second claim for the same match is refused, and said so.
  await jale.page.getByTestId('claim').click();
  await jale.page.getByText('You already claimed this match.').waitFor();
  assertNoPageErrors(jale, kaan);
  await Promise.all([jale.context.close(), kaan.context.close()]);
});

test('a connection closed for a bug of the page (4004) is not reopened on its own, only when the person asks', async () => {
  const kaan = await person(browser);
  await register(kaan, 'kaan');
  const { page } = kaan;
  await page.locator('[data-testid=connection][data-state=online]').waitFor();

  // More frames the server cannot take than hub.max_protocol_errors (20 within 60 s): it closes with 4004.
  const closed = page.evaluate(() => new Promise((resolve) => {
    window.tanis.app.socket.addEventListener('closed', ({ detail }) => resolve(detail), { once: true });
  }));
  await page.evaluate(() => {
    for (let i = 0; i < 25; i++) window.tanis.app.socket.send({ type: 'no.such.frame', id: `junk${i}` });
  });
  assert.equal(await closed, 4004);
  await page.locator('[data-testid=connection][data-state=broken]').waitFor();
  // Nothing scheduled: reconnecting by itself would send the same frames again and loop.
  assert.equal(await page.evaluate(() => window.tanis.app.socket.connection.wanted), false);

  await page.getByTestId('reconnect').click();
  await page.locator('[data-testid=connection][data-state=online]').waitFor();
  await page.getByTestId('reconnect').waitFor({ state: 'detached' });
  assertNoPageErrors(kaan);
  await kaan.context.close();
});
