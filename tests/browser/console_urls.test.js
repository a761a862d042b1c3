// The moderators' console keeps where it is in its URL (docs/admin.md, "The console"): each screen, each report
// (`#/reports/<id>`) and each user (`#/users/<id>`) has its own, and back, forward, a reload and a link pasted
// into a new tab all land on it; a place the role may not open is the first screen, and the URL says so.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  PASSWORD, WAIT_MS, adminToken, api, assertNoPageErrors, consoleAt, launch, match, needsAdmin, person, register,
  reportWithEvidence,
} from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/** The admin's console in a new tab at `address`, as a link pasted there. */
const adminAt = (address = '') =>
  consoleAt(browser, process.env.BROWSER_TEST_ADMIN_PHONE, process.env.BROWSER_TEST_ADMIN_PASSWORD, address);

/**
 * Runs in the page: what the console shows once nothing is loading (null while something is): the URL's
 * fragment, the screen, the user on it, and the report a link marked; given `want`, whether it is that.
 */
function showing(want = undefined) {
  const screen = document.getElementById('screen');
  const shown = !screen?.dataset.view || screen.hasAttribute('aria-busy') ? null : {
    hash: location.hash,
    view: screen.dataset.view,
    user: document.querySelector('[data-testid=user]')?.dataset.user ?? null,
    report: document.querySelector('[data-landed]')?.dataset.report ?? null,
  };
  return want === undefined ? shown : JSON.stringify(shown) === JSON.stringify(want);
}

/** A place of the console, as `showing` reads it. */
const place = (view, { user = null, report = null } = {}) => ({
  hash: `#/${view}${user ? `/${user}` : ''}${report ? `/${report}` : ''}`,
  view,
  user,
  report,
});

/** Waits until the console shows `want`; fails with what it shows instead. */
async function lands(page, want, why = '') {
  try {
    await page.waitForFunction(showing, want, { timeout: WAIT_MS });
  } catch {
    assert.deepEqual(await page.evaluate(showing), want, why);
  }
}

test('each screen, report and user of the console has its own URL: back, forward, a reload and a pasted link land on it', { skip: needsAdmin }, async () => {
  const reporter = await person(browser);
  const reported = await person(browser);
  await register(reporter, 'mert');
  await register(reported, 'nazli');
  await match(reporter, reported);
  await reportWithEvidence(reporter, reported, ['bir mesaj']);
  const token = await adminToken();
  const queue = (await api('GET', '/v1/admin/reports?limit=100', { token })).body;
  const entry = queue.users.find((u) => u.handle === reported.handle);
  assert.ok(entry, JSON.stringify(queue));
  const [userId, reportId] = [String(entry.user_id), String(entry.reports[0].id)];

  // The console's own address lands on the dashboard, and says so.
  const admin = await adminAt();
  const { page } = admin;
  await lands(page, place('dashboard'));
  const visited = [place('dashboard')];
  // Each screen, from its button.
  for (const screen of ['reports', 'users', 'appeals', 'audit', 'statements', 'transparency']) {
    await page.getByTestId(`nav-${screen}`).click();
    visited.push(place(screen));
    await lands(page, visited.at(-1));
  }
  // A user found by a search: the search has its place, the user theirs.
  await page.getByTestId('nav-users').click();
  visited.push(place('users'));
  await lands(page, visited.at(-1));
  await page.getByTestId('user-query').fill(reported.handle);
  await page.getByTestId('find-user').click();
  visited.push(place('users', { user: userId }));
  await lands(page, visited.at(-1));
  // A report, from its link in the queue: marked, and the keyboard on it.
  await page.getByTestId('nav-reports').click();
  visited.push(place('reports'));
  await lands(page, visited.at(-1));
  await page.locator(`[data-testid=report][data-report="${reportId}"] [data-testid=report-link]`).click();
  visited.push(place('reports', { report: reportId }));
  await lands(page, visited.at(-1));
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.report), reportId, 'the keyboard is on the report');

  // Back through every place, then forward again: each lands where it was.
  for (let i = visited.length - 2; i >= 0; i -= 1) {
    await page.goBack();
    await lands(page, visited[i], `back to ${visited[i].hash}`);
  }
  for (let i = 1; i < visited.length; i += 1) {
    await page.goForward();
    await lands(page, visited[i], `forward to ${visited[i].hash}`);
  }
  // A reload lands on the report, and, back one step further than the queue, on the user.
  await page.reload();
  await lands(page, place('reports', { report: reportId }), 'reloaded');
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.report), reportId);
  await page.goBack();
  await page.goBack();
  await lands(page, place('users', { user: userId }));
  await page.reload();
  await lands(page, place('users', { user: userId }), 'reloaded');
  assert.equal(await page.getByTestId('user').getAttribute('data-handle'), reported.handle);

  // Links pasted into new tabs: after the sign-in, each lands on its report or user.
  const onReport = await adminAt(`#/reports/${reportId}`);
  await lands(onReport.page, place('reports', { report: reportId }));
  const onUser = await adminAt(`#/users/${userId}`);
  await lands(onUser.page, place('users', { user: userId }));
  // A report decided since its link was made: the queue, and a word that it is no longer open.
  const decided = await api('POST', `/v1/admin/reports/${reportId}/resolve`, { token, body: { resolution: 'dismissed', note: 'linked' } });
  assert.equal(decided.status, 204, JSON.stringify(decided.body));
  await onReport.page.reload();
  await lands(onReport.page, { hash: `#/reports/${reportId}`, view: 'reports', user: null, report: null });
  assert.match(await onReport.page.getByTestId('report-gone').textContent(), new RegExp(`^#${reportId}: not among the open reports`));

  // A moderator's link to an admin's screen lands on the first screen, and the URL says so.
  const found = await api('GET', `/v1/admin/users?handle=${encodeURIComponent(reporter.handle)}`, { token });
  const role = await api('PUT', `/v1/admin/users/${found.body.id}/role`, { token, body: { role: 'moderator' } });
  assert.equal(role.status, 204, JSON.stringify(role.body));
  const moderator = await consoleAt(browser, reporter.phone, PASSWORD, '#/statements');
  await lands(moderator.page, place('dashboard'));
  assert.equal(await moderator.page.getByTestId('nav-statements').count(), 0);

  assertNoPageErrors(reporter, reported, admin, onReport, onUser, moderator);
  for (const p of [reporter, reported, admin, onReport, onUser, moderator]) await p.context.close();
});
