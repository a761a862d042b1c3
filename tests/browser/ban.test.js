// A moderator bans a user in the middle of a conversation: the user's page closes its socket (4003) and shows
// the ban's reason in the user's language; signing in again shows the details and lets them appeal once.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { PASSWORD, adminToken, api, assertNoPageErrors, launch, match, needsAdmin, person, register, screenshot } from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/** Bans the user with this handle, as a moderator does (docs/admin.md, Banning). */
async function ban(handle, reason) {
  const token = await adminToken();
  const found = await api('GET', `/v1/admin/users?handle=${encodeURIComponent(handle)}`, { token });
  assert.equal(found.status, 200, JSON.stringify(found.body));
  const banned = await api('POST', `/v1/admin/users/${found.body.id}/ban`, { token, body: { reason, note: 'browser test' } });
  assert.equal(banned.status, 204, JSON.stringify(banned.body));
}

test('a user banned mid-conversation sees why, and can see the details and appeal', { skip: needsAdmin }, async () => {
  const gul = await person(browser);
  const hakan = await person(browser);
  await register(gul, 'gul');
  await register(hakan, 'hakan');
  await match(gul, hakan);

  await ban(hakan.handle, 'harassment');
  // The live ban: socket closed with 4003, the reason read back from the server, in the page's language.
  await hakan.page.locator('[data-screen=banned]').waitFor();
  assert.match(await hakan.page.getByTestId('ban-reason').textContent(), /Reason: harassment/);
  assert.equal(await hakan.page.getByTestId('ban-until').textContent(), 'Until a moderator lifts it');
  await screenshot(hakan.page, '07-banned');
  // The other side is told the conversation ended, not why.
  await gul.page.getByTestId('ended').waitFor();
  assert.match(await gul.page.getByTestId('ended').textContent(), /ended by moderation/);

  // Signing in again on the ban screen: the details (POST /v1/ban/status) and the one appeal.
  const details = hakan.page.locator('[data-screen=banned] form');
  await details.locator('input[name=phone]').fill(hakan.phone);
  await details.locator('input[name=password]').fill(PASSWORD);
  await details.locator('button[type=submit]').click();
  await hakan.page.locator('[data-screen=banned] textarea[name=text]').waitFor();
  // The ban's statement of reasons: what, the facts, the clause with its link, who decided, until when, how to
  // appeal (docs/admin.md, Statements of reasons). Never the moderator's note.
  const statement = hakan.page.getByTestId('statement');
  assert.match(await statement.getByTestId('statement-decision').textContent(), /Ban until lifted/);
  assert.match(await statement.getByTestId('statement-facts').textContent(), /A moderator banned the account for harassment, clause 4\.2/);
  assert.match(await statement.getByTestId('statement-ground').textContent(), /Clause 4\.2 of the terms/);
  assert.match(await statement.locator('a').getAttribute('href'), /#clause-4\.2$/);
  assert.equal(await statement.getByTestId('statement-automated').textContent(), 'Decided by a moderator');
  assert.equal(await statement.getByTestId('statement-until').textContent(), 'Until a moderator lifts it');
  assert.match(await statement.getByTestId('statement-redress').textContent(), /appeal once/);
  assert.doesNotMatch(await statement.textContent(), /browser test/);
  await screenshot(hakan.page, '14-ban-statement');
  const appeal = hakan.page.locator('[data-screen=banned] form');
  await appeal.locator('input[name=phone]').fill(hakan.phone);
  await appeal.locator('input[name=password]').fill(PASSWORD);
  await appeal.locator('textarea[name=text]').fill('I was quoting a film; please look again.');
  await appeal.locator('button[type=submit]').click();
  await hakan.page.getByTestId('appeal-status').waitFor();
  assert.match(await hakan.page.getByTestId('appeal-status').textContent(), /waiting for a moderator/);

  // A new visit: the login itself answers account_banned, and the page shows the ban with its appeal.
  const again = await person(browser);
  await again.page.getByTestId('phone').fill(hakan.phone);
  await again.page.getByTestId('password').fill(PASSWORD);
  await again.page.getByTestId('login-submit').click();
  await again.page.locator('[data-screen=banned]').waitFor();
  assert.match(await again.page.getByTestId('ban-reason').textContent(), /harassment/);
  assert.match(await again.page.getByTestId('appeal-status').textContent(), /waiting for a moderator/);
  assertNoPageErrors(gul, hakan, again);
  await Promise.all([gul.context.close(), hakan.context.close(), again.context.close()]);
});
