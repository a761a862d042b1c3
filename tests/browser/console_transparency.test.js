// The transparency report in the moderators' console (docs/admin.md, "Transparency report"): an admin's screen at
// its own URL (`#/transparency`), the previous calendar month by default; a period's notices, decisions, times to
// decision and appeals as the server counts them; the same counts as the server's CSV, fetched with the console's
// token in a header and never in a URL; a period the server refuses shown in its words, with no report under it;
// and no such screen for a moderator.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';

import {
  PASSWORD, adminToken, api, assertNoPageErrors, consoleAt, launch, match, needsAdmin, person, register,
  reportWithEvidence,
} from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/** The UTC day (`YYYY-MM-DD`) `days` before today's: the server counts UTC days. */
const utcDay = (days = 0) => new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);

/** The previous calendar month in UTC days, worked out here another way than the console does: the day before
 * this month's first, and the first of that day's month. */
function lastMonth() {
  const now = new Date();
  const to = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1) - 86_400_000).toISOString().slice(0, 10);
  return { from: `${to.slice(0, 8)}01`, to };
}

/** Runs in the page: every figure of the report's tables, as shown, by table, row and column. */
function figures() {
  const shown = {};
  for (const table of document.querySelectorAll('[data-testid=transparency] table')) {
    const rows = (shown[table.dataset.testid] = {});
    for (const row of table.querySelectorAll('tbody tr')) {
      rows[row.dataset.key] = Object.fromEntries([...row.querySelectorAll('td')].map((td) => [td.dataset.col, td.textContent]));
    }
  }
  return shown;
}

/** The screen once it shows `period` and nothing is loading. */
const answering = (page, { from, to }) =>
  page.locator(`[data-testid=transparency][data-period="${from}/${to}"]:not([aria-busy])`).waitFor();

/** A span of time as the console writes one (`45 s`, `3 min 20 s`), or a dash for none. */
const SPAN = /^(—|\d+ (s|min|h|d)( \d+ (s|min|h))?)$/;

test('an admin reads a period\'s transparency report in the console, counted as the server counts it, and downloads it as CSV with the token kept out of every URL; a refused period shows the server\'s words; a moderator has no such screen', { skip: needsAdmin }, async () => {
  // A notice filed through the product (a message reported with it as evidence), and a moderator's decision on it.
  const reporter = await person(browser);
  const reported = await person(browser);
  await register(reporter, 'oya');
  await register(reported, 'polat');
  await match(reporter, reported);
  await reportWithEvidence(reporter, reported, ['sayılacak bir mesaj']);
  const token = await adminToken();
  const queue = (await api('GET', '/v1/admin/reports?limit=100', { token })).body;
  const entry = queue.users.find((u) => u.handle === reported.handle);
  assert.ok(entry, JSON.stringify(queue));
  const decided = await api('POST', `/v1/admin/reports/${entry.reports[0].id}/resolve`, {
    token,
    body: { resolution: 'dismissed', note: 'counted in the report' },
  });
  assert.equal(decided.status, 204, JSON.stringify(decided.body));

  // The screen's own URL, after the sign-in: the previous calendar month, in the admin's bar.
  const admin = await consoleAt(browser, process.env.BROWSER_TEST_ADMIN_PHONE, process.env.BROWSER_TEST_ADMIN_PASSWORD, '#/transparency');
  const { page } = admin;
  const urls = [];
  page.on('request', (r) => urls.push(r.url()));
  const month = lastMonth();
  await answering(page, month);
  assert.equal(await page.locator('#screen').getAttribute('data-view'), 'transparency');
  assert.equal(await page.evaluate(() => location.hash), '#/transparency');
  assert.equal(await page.getByTestId('nav-transparency').getAttribute('aria-current'), '');
  assert.deepEqual(
    [await page.getByTestId('transparency-from').inputValue(), await page.getByTestId('transparency-to').inputValue()],
    [month.from, month.to],
  );
  // The default across a year's end, a leap February, and the first hours of a month east of Greenwich (still the
  // month before in UTC, whose days the server counts).
  const defaults = await page.evaluate(async () => {
    const { previousMonth } = await import('/app/admin/transparency.js');
    return ['2027-01-15T12:00:00Z', '2028-03-10T12:00:00Z', '2028-03-01T01:00:00+03:00'].map((at) => previousMonth(new Date(at)));
  });
  assert.deepEqual(defaults, [
    { from: '2026-12-01', to: '2026-12-31' },
    { from: '2028-02-01', to: '2028-02-29' },
    { from: '2028-01-01', to: '2028-01-31' },
  ]);

  // Yesterday and today (UTC): the notice just filed and its decision, each figure as the server's JSON has it.
  const period = { from: utcDay(1), to: utcDay(0) };
  await page.getByTestId('transparency-from').fill(period.from);
  await page.getByTestId('transparency-to').fill(period.to);
  await page.getByTestId('transparency-show').click();
  await answering(page, period);
  const answer = await api('GET', `/v1/admin/transparency?from=${period.from}&to=${period.to}`, { token });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const { notices, decisions, time_to_decision: times, appeals } = answer.body;
  assert.ok(notices.by_reason.harassment >= 1 && notices.by_lane.standard >= 1, JSON.stringify(notices));
  assert.ok(decisions.by_moderators.dismissed >= 1 && times.decided >= 1, JSON.stringify(answer.body));
  assert.equal(await page.getByTestId('notices-total').textContent(), String(notices.total));
  const shown = await page.evaluate(figures);
  const counts = (by) => Object.fromEntries(Object.entries(by).map(([key, n]) => [key, { count: String(n) }]));
  const spans = Object.fromEntries(Object.entries(shown['time-to-decision']).map(([key, row]) => [key, row.decided]));
  assert.deepEqual(shown['notices-by-reason'], counts(notices.by_reason));
  assert.deepEqual(shown['notices-by-lane'], counts(notices.by_lane));
  assert.deepEqual(shown.decisions, {
    ...Object.fromEntries(Object.entries(decisions.by_moderators).map(([key, n]) => [key, { moderators: String(n), automated: '—' }])),
    bans: { moderators: String(decisions.moderator_bans), automated: String(decisions.automated_bans) },
    reviews: { moderators: '—', automated: String(decisions.automated_reviews) },
  });
  assert.deepEqual(spans, {
    all: String(times.decided),
    ...Object.fromEntries(Object.entries(times.by_lane).map(([lane, p]) => [lane, String(p.decided)])),
  });
  // Durations as a person reads them, never a raw count of seconds; the decision just made has both.
  for (const row of Object.values(shown['time-to-decision'])) {
    assert.match(row.median, SPAN);
    assert.match(row.p90, SPAN);
  }
  assert.notEqual(shown['time-to-decision'].all.median, '—');
  assert.deepEqual(shown.appeals, {
    filed: { count: String(appeals.filed) },
    decided: { count: String(appeals.decided) },
    reversed: { count: String(appeals.reversed) },
  });

  // Download CSV: the server's CSV of the period shown, asked for with the token in the Authorization header, saved
  // from a blob: under the server's file name; its counts are the screen's.
  const asked = page.waitForRequest((r) => r.url().includes('/v1/admin/transparency?') && r.url().includes('format=csv'));
  const downloading = page.waitForEvent('download');
  await page.getByTestId('transparency-csv').click();
  const [request, download] = await Promise.all([asked, downloading]);
  assert.equal(new URL(request.url()).search, `?from=${period.from}&to=${period.to}&format=csv`);
  assert.match((await request.allHeaders()).authorization ?? '', /^Bearer \S+$/);
  assert.equal(download.suggestedFilename(), `tanis-transparency-${period.from}-${period.to}.csv`);
  assert.match(download.url(), /^blob:/);
  const csv = (await readFile(await download.path(), 'utf8')).trimEnd().split('\n');
  assert.equal(csv[0], 'section,key,value');
  const rows = new Map(csv.slice(1).map((line) => [line.split(',').slice(0, 2).join(','), line.split(',')[2]]));
  assert.equal(rows.get('period,from'), `${period.from}T00:00:00+00:00`);
  assert.equal(rows.get('notices,total'), await page.getByTestId('notices-total').textContent());
  assert.equal(rows.get('notices_by_reason,harassment'), shown['notices-by-reason'].harassment.count);
  assert.equal(rows.get('decisions_by_moderators,dismissed'), shown.decisions.dismissed.moderators);
  assert.equal(rows.get('time_to_decision,decided'), shown['time-to-decision'].all.decided);
  assert.equal(rows.get('appeals,filed'), shown.appeals.filed.count);

  // A period the server refuses (its last day before its first): the server's words and code, and no report under
  // them, not even the last one's.
  await page.getByTestId('transparency-from').fill(utcDay(0));
  await page.getByTestId('transparency-to').fill(utcDay(1));
  await page.getByTestId('transparency-show').click();
  await answering(page, { from: utcDay(0), to: utcDay(1) });
  const problem = page.getByTestId('transparency').getByTestId('problem');
  assert.equal(await problem.getAttribute('role'), 'alert');
  assert.match(await problem.textContent(), /^The period was refused: .*from not after to.* \(invalid_parameter\)$/);
  assert.equal(await page.getByTestId('notices-total').count(), 0);
  assert.equal(await page.getByTestId('transparency-csv').count(), 0);

  // The token was in no URL the console asked for, the CSV's included.
  const access = await page.evaluate(() => JSON.parse(sessionStorage.getItem('tanis.console.tokens') ?? 'null')?.access_token);
  assert.ok(access, 'the console holds a token');
  assert.ok(urls.length >= 3, urls.join('\n'));
  assert.deepEqual(urls.filter((url) => url.includes(access)), []);

  // In Turkish: the screen's own words, no key shown in their place.
  await page.getByTestId('language').click();
  await answering(page, month);
  assert.equal(await page.getByTestId('nav-transparency').textContent(), 'Şeffaflık raporu');
  assert.equal(await page.getByTestId('transparency-csv').textContent(), 'CSV indir');
  assert.deepEqual(await page.locator('[data-testid=transparency] h2').allTextContents(), [
    'Bildirimler (yapılan şikâyetler)', 'Kararlar', 'Şikâyetten karara geçen süre', 'İtirazlar (yasaklara yapılan itirazlar)',
  ]);

  // A moderator: no such screen in the bar, its link lands on the first screen, and the server refuses the report.
  const found = await api('GET', `/v1/admin/users?handle=${encodeURIComponent(reporter.handle)}`, { token });
  const role = await api('PUT', `/v1/admin/users/${found.body.id}/role`, { token, body: { role: 'moderator' } });
  assert.equal(role.status, 204, JSON.stringify(role.body));
  const moderator = await consoleAt(browser, reporter.phone, PASSWORD, '#/transparency');
  await moderator.page.locator('#screen[data-view=dashboard]:not([aria-busy])').waitFor();
  assert.equal(await moderator.page.evaluate(() => location.hash), '#/dashboard');
  assert.equal(await moderator.page.getByTestId('nav-transparency').count(), 0);
  assert.equal(await moderator.page.getByTestId('transparency').count(), 0);
  const login = await api('POST', '/v1/auth/login', { body: { phone: reporter.phone, password: PASSWORD } });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  const refused = await api('GET', `/v1/admin/transparency?from=${period.from}&to=${period.to}`, { token: login.body.tokens.access_token });
  assert.equal(refused.status, 403, JSON.stringify(refused.body));

  assertNoPageErrors(reporter, reported, admin, moderator);
  for (const p of [reporter, reported, admin, moderator]) await p.context.close();
});
