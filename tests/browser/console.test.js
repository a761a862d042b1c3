// The moderators' console at /admin/ (docs/admin.md, "The console"): what an invisible character in verified
// evidence looks like there (the pure module, and the page); a ban with a code, a duration and a note and a
// decision made from the queue, reaching the user's page and the audit trail; and the role matrix from the page:
// an admin sees the admin screens, a moderator only theirs, a user is turned away.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { PASSWORD, adminToken, api, assertNoPageErrors, baseUrl, launch, match, needsAdmin, person, register, say, screenshot } from './harness.js';
import { measure, pieces } from '../../web/admin/visible.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('evidence as sent: each invisible character is its own marked piece, and the length counts every one', () => {
  const text = '\uFEFFsel\u0000am\u202Eabc\u200B';
  assert.deepEqual(pieces(text), [
    { code: 'U+FEFF', name: 'ZERO WIDTH NO-BREAK SPACE (BOM)' },
    { text: 'sel' },
    { code: 'U+0000', name: 'NUL' },
    { text: 'am' },
    { code: 'U+202E', name: 'RIGHT-TO-LEFT OVERRIDE' },
    { text: 'abc' },
    { code: 'U+200B', name: 'ZERO WIDTH SPACE' },
  ]);
  assert.deepEqual(measure(text), { characters: 12, bytes: 18, invisible: 4 });
  assert.deepEqual(pieces('ğüşıöç 👋'), [{ text: 'ğüşıöç 👋' }], 'letters and emoji are not marked');
});

/** Signs into the console on a fresh page of its own. */
async function console_(phone, password) {
  const staff = await person(browser);
  await staff.page.goto(`${baseUrl}/admin/`);
  await staff.page.getByTestId('phone').fill(phone);
  await staff.page.getByTestId('password').fill(password);
  await staff.page.getByTestId('sign-in').click();
  return staff;
}

test('the path a team walks: evidence with a zero-width space marked, a ban from it, the user page and its phone on request, an appeal accepted and the user matching again; a user turned away, a moderator seeing no admin screen', { skip: needsAdmin }, async () => {
  const ayla = await person(browser);
  const baris = await person(browser);
  await register(ayla, 'ayla');
  await register(baris, 'baris');
  await match(ayla, baris);
  const hidden = 'gizli\u200Bkelime';
  await say(baris, hidden);
  const page = ayla.page;
  await page.locator('.message.theirs[data-seq]').first().waitFor();
  await page.getByTestId('report').click();
  await page.getByTestId('report-reason').selectOption('harassment');
  await page.getByTestId('report-evidence').first().check();
  await page.getByTestId('report-submit').click();
  await page.getByText('Your report was sent.').waitFor();
  const token = await adminToken();

  const admin = await console_(process.env.BROWSER_TEST_ADMIN_PHONE, process.env.BROWSER_TEST_ADMIN_PASSWORD);
  const reported = admin.page.locator(`[data-testid=reported][data-handle="${baris.handle}"]`);
  await reported.waitFor();
  assert.equal(await reported.getByTestId('invisible').first().textContent(), 'U+200B');
  assert.equal(await reported.getByTestId('invisible').first().getAttribute('title'), 'ZERO WIDTH SPACE');
  assert.match(await reported.getByTestId('length').first().textContent(), /^12 characters · 14 bytes · 1 invisible$/);
  assert.equal(await admin.page.getByTestId('nav-statements').count(), 1, 'an admin sees the admin screens');
  await screenshot(admin.page, '30-console-report');

  // Banned from the report, for 72 hours with a code and a note: the user's page shows the ban at once; the queue,
  // read again, says so and offers no second ban. Then the report is decided, and leaves the queue.
  await reported.getByTestId('ban-reason').selectOption('harassment');
  await reported.getByTestId('ban-hours').fill('72');
  await reported.getByTestId('ban-note').fill('a word hidden with a zero-width space');
  await reported.getByTestId('ban').click();
  await baris.page.locator('[data-screen=banned]').waitFor();
  assert.match(await baris.page.getByTestId('ban-reason').textContent(), /Reason: harassment/);
  assert.notEqual(await baris.page.getByTestId('ban-until').textContent(), 'Until a moderator lifts it', 'a 72-hour ban');
  await reported.locator('.flag', { hasText: 'banned' }).waitFor();
  assert.equal(await reported.getByTestId('ban').count(), 0);
  await reported.getByTestId('resolution').selectOption('actioned');
  await reported.getByTestId('resolve-note').fill('banned for it');
  await reported.getByTestId('resolve').click();
  await reported.waitFor({ state: 'detached' });
  const target = await api('GET', `/v1/admin/users?handle=${encodeURIComponent(baris.handle)}`, { token });
  const audit = await api('GET', `/v1/admin/audit?target=${target.body.id}`, { token });
  const banned = audit.body.entries.find((e) => e.action === 'user.banned');
  assert.ok(banned && audit.body.entries.some((e) => e.action === 'report.resolved'), JSON.stringify(audit.body));
  assert.match(JSON.stringify(banned.details), /harassment/);

  // The user's page: the ban as given, and the phone number only on request, audited.
  const views = async () => (await api('GET', `/v1/admin/audit?target=${target.body.id}&action=admin.phone_viewed`, { token })).body.entries.length;
  await admin.page.getByTestId('nav-users').click();
  await admin.page.getByTestId('user-query').fill(baris.handle);
  await admin.page.getByTestId('find-user').click();
  const userPage = admin.page.locator(`[data-testid=user][data-handle="${baris.handle}"]`);
  await userPage.waitFor();
  assert.equal(await userPage.getByTestId('status').textContent(), 'banned');
  assert.match(await userPage.getByTestId('bans').textContent(), /^harassment · .* → 20\d\d-.*a word hidden with a zero-width space$/);
  assert.equal(await userPage.getByTestId('phone-number').textContent(), '', 'no phone number until asked for');
  assert.equal(await views(), 0, 'looking the user up (here and through the API above) is not a phone view');
  await userPage.getByTestId('show-phone').click();
  await userPage.getByTestId('phone-number').filter({ hasText: baris.phone }).waitFor();
  assert.equal(await views(), 1, 'showing it is audited');
  await screenshot(admin.page, '31-console-user');

  // The banned user appeals from their page (with a zero-width space of their own), as ban.test.js does; the admin
  // accepts it from the appeals queue; the user signs in again and may match.
  const banScreen = baris.page.locator('[data-screen=banned] form');
  await banScreen.locator('input[name=phone]').fill(baris.phone);
  await banScreen.locator('input[name=password]').fill(PASSWORD);
  await banScreen.locator('button[type=submit]').click();
  await baris.page.locator('[data-screen=banned] textarea[name=text]').waitFor();
  await banScreen.locator('input[name=phone]').fill(baris.phone);
  await banScreen.locator('input[name=password]').fill(PASSWORD);
  await banScreen.locator('textarea[name=text]').fill('hiçbir\u200Bşey saklamadım');
  await banScreen.locator('button[type=submit]').click();
  await baris.page.getByTestId('appeal-status').waitFor();
  await admin.page.getByTestId('nav-appeals').click();
  const appeal = admin.page.locator(`[data-testid=appeal][data-handle="${baris.handle}"]`);
  await appeal.waitFor();
  assert.equal(await appeal.getByTestId('invisible').textContent(), 'U+200B', 'the appeal is shown as sent too');
  await appeal.getByTestId('appeal-decision').selectOption('accept');
  await appeal.getByTestId('appeal-note').fill('Kabul edildi: yasak kaldırıldı.');
  await screenshot(admin.page, '32-console-appeal');
  await appeal.getByTestId('decide-appeal').click();
  await appeal.waitFor({ state: 'detached' });
  // The audit trail, filtered to this user's bans: the one ban, by the admin; unfiltered by action, the decisions.
  await admin.page.getByTestId('nav-audit').click();
  await admin.page.getByTestId('audit-target').fill(String(target.body.id));
  await admin.page.getByTestId('audit-action').selectOption('user.banned');
  await admin.page.getByTestId('audit-filter').click();
  await admin.page.locator(`[data-testid=audit][data-query="limit=50&target=${target.body.id}&action=user.banned"]`).waitFor();
  assert.deepEqual(await admin.page.getByTestId('audit-entry').evaluateAll((rows) => rows.map((r) => r.dataset.action)), ['user.banned']);
  await admin.page.getByTestId('audit-action').selectOption('');
  await admin.page.getByTestId('audit-filter').click();
  await admin.page.locator(`[data-testid=audit][data-query="limit=50&target=${target.body.id}"]`).waitFor();
  const actions = await admin.page.getByTestId('audit-entry').evaluateAll((rows) => rows.map((r) => r.dataset.action));
  for (const a of ['appeal.decided', 'appeal.filed', 'admin.phone_viewed', 'report.resolved', 'user.banned']) assert.ok(actions.includes(a), `${a} in ${actions}`);

  const back = await person(browser);
  await back.page.getByTestId('phone').fill(baris.phone);
  await back.page.getByTestId('password').fill(PASSWORD);
  await back.page.getByTestId('login-submit').click();
  await back.page.locator('[data-testid=connection][data-state=online]').waitFor();
  await back.page.getByTestId('find-text').click();
  await back.page.getByTestId('waiting').waitFor();

  // A user is turned away, and nothing of the console shows.
  const user = await console_(ayla.phone, PASSWORD);
  assert.match(await user.page.getByTestId('problem').textContent(), /not a moderator or an admin/);
  assert.equal(await user.page.getByTestId('nav-reports').count(), 0);

  // The same account made a moderator by the admin signs in again: the moderator's screens, no admin's.
  const found = await api('GET', `/v1/admin/users?handle=${encodeURIComponent(ayla.handle)}`, { token });
  const role = await api('PUT', `/v1/admin/users/${found.body.id}/role`, { token, body: { role: 'moderator' } });
  assert.equal(role.status, 204, JSON.stringify(role.body));
  const moderator = await console_(ayla.phone, PASSWORD);
  await moderator.page.getByTestId('nav-reports').waitFor();
  assert.equal(await moderator.page.getByTestId('nav-statements').count(), 0, 'a moderator never sees an admin screen');
  assert.match(await moderator.page.getByTestId('who').textContent(), /moderator$/);
  await moderator.page.getByTestId('nav-users').click();
  await moderator.page.getByTestId('user-query').fill(baris.handle);
  await moderator.page.getByTestId('find-user').click();
  await moderator.page.getByTestId('user').waitFor();
  assert.equal(await moderator.page.getByTestId('status').textContent(), 'active', 'the appeal lifted the ban');
  assert.equal(await moderator.page.getByTestId('show-phone').count(), 0, 'no phone for a moderator');
  assert.equal(await moderator.page.getByTestId('role').count(), 0, 'no role change for a moderator');

  assertNoPageErrors(ayla, baris, admin, back, moderator, user);
  for (const p of [ayla, baris, admin, back, moderator, user]) await p.context.close();
});
