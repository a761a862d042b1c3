// @ts-check
// The transparency report of a period (GET /v1/admin/transparency, admins only; docs/admin.md "Transparency
// report"): notices by reason and lane, decisions by moderators and automated ones, the time from a report to its
// decision, and appeals with the decisions they reversed, as tables; and the same counts as the server's CSV to
// download. Counts and durations only: nothing in it names anyone. The period is UTC days, the previous calendar
// month unless another is asked for; a period the server refuses is shown with its words, and no report.

import { TanisError, call, callText } from './api.js';
import { el, latestOnly } from './dom.js';
import { duration } from './figures.js';
import { t } from './i18n.js';

/** @typedef {{from: string, to: string}} Period */

/**
 * The calendar month before the one `now` is in, as UTC days (`YYYY-MM-DD`, both included): the last month ended
 * where the server counts. A local month could still be running there (in Istanbul, a month's first three hours are
 * the last one's in UTC) and would be counted in part.
 * @param {Date} [now]
 * @returns {Period}
 */
export function previousMonth(now = new Date()) {
  const [year, month] = [now.getUTCFullYear(), now.getUTCMonth()];
  const day = (/** @type {number} */ stamp) => new Date(stamp).toISOString().slice(0, 10);
  // Day 0 of this month is the last day of the one before; month -1 of January is the December before it.
  return { from: day(Date.UTC(year, month - 1, 1)), to: day(Date.UTC(year, month, 0)) };
}

/** The report's address; `csv` for the server's `section,key,value` rows. @param {Period} period */
const address = (period, csv = false) =>
  `/v1/admin/transparency?${new URLSearchParams({ ...period, ...(csv ? { format: 'csv' } : {}) })}`;

/**
 * A table: a header row, then one row per `[key, label, ...figures]`, the row named by `data-key` and each figure's
 * cell by `data-col` (the column's id), for whoever looks one figure up: a test, a search of the page.
 * @param {string} testid
 * @param {[string, string][]} columns `[id, label]` of each figure's column, after the label's
 * @param {string} first the label column's header
 * @param {[string, string, ...string[]][]} rows
 */
function table(testid, first, columns, rows) {
  const head = el('tr', {}, el('th', {}, first), columns.map(([, label]) => el('th', {}, label)));
  const row = ([key, label, ...figures]) =>
    el('tr', { 'data-key': key }, el('th', { scope: 'row' }, label), figures.map((f, i) => el('td', { 'data-col': columns[i][0] }, f)));
  return el('table', { class: 'history', testid }, el('thead', {}, head), el('tbody', {}, rows.map(row)));
}

/** `[code, count]` pairs as the server keyed them (reasons, lanes, resolutions: its stable codes, as the CSV has them). */
const counted = (/** @type {Record<string, number>} */ by) =>
  Object.entries(by).map(([key, n]) => /** @type {[string, string, string]} */ ([key, key, String(n)]));

/** @param {any} notices */
function noticesSection(notices) {
  const column = /** @type {[string, string][]} */ ([['count', t('count')]]);
  return el(
    'section',
    { testid: 'transparency-notices' },
    el('h2', {}, t('notices')),
    el('p', {}, `${t('noticesTotal')}: `, el('strong', { testid: 'notices-total' }, String(notices.total))),
    el('h3', {}, t('byReason')),
    table('notices-by-reason', t('banReason'), column, counted(notices.by_reason)),
    el('h3', {}, t('byLane')),
    table('notices-by-lane', t('lane'), column, counted(notices.by_lane)),
  );
}

/** @param {any} decisions */
function decisionsSection(decisions) {
  /** @type {[string, string][]} */
  const columns = [['moderators', t('byModerators')], ['automated', t('automated')]];
  /** @type {[string, string, string, string][]} */
  const rows = [
    // Only moderators decide reports; only the automatic ban sends a user to review instead of banning them.
    ...Object.entries(decisions.by_moderators).map(([resolution, n]) =>
      /** @type {[string, string, string, string]} */ ([resolution, `${t('reportsDecided')}: ${resolution}`, String(n), '—'])),
    ['bans', t('bansTitle'), String(decisions.moderator_bans), String(decisions.automated_bans)],
    ['reviews', t('reviews'), '—', String(decisions.automated_reviews)],
  ];
  return el('section', { testid: 'transparency-decisions' }, el('h2', {}, t('decisions')), table('decisions', t('decision'), columns, rows));
}

/** @param {any} times */
function timesSection(times) {
  /** @type {[string, string][]} */
  const columns = [['decided', t('decided')], ['median', t('median')], ['p90', t('p90')]];
  const figures = (/** @type {any} */ p) => [String(p.decided), duration(p.median_secs), duration(p.p90_secs)];
  /** @type {[string, string, ...string[]][]} */
  const rows = [
    ['all', t('allLanes'), ...figures(times)],
    ...Object.entries(times.by_lane).map(([lane, p]) => /** @type {[string, string, ...string[]]} */ ([lane, lane, ...figures(p)])),
  ];
  return el(
    'section',
    { testid: 'transparency-times' },
    el('h2', {}, t('timeToDecision')),
    table('time-to-decision', t('lane'), columns, rows),
    times.sampled && el('p', { class: 'muted', testid: 'sampled' }, t('sampled')),
  );
}

/** @param {any} appeals */
function appealsSection(appeals) {
  /** @type {[string, string, string][]} */
  const rows = [
    ['filed', t('appealsFiled'), String(appeals.filed)],
    ['decided', t('decided'), String(appeals.decided)],
    ['reversed', t('reversed'), String(appeals.reversed)],
  ];
  return el('section', { testid: 'transparency-appeals' }, el('h2', {}, t('appealsSection')), table('appeals', t('appeals'), [['count', t('count')]], rows));
}

/**
 * A refusal in the server's words, with its code (`invalid_parameter`): what to mend is in the message. A 400 is
 * the period's; anything else (a network gone, a role taken away) is said as it is.
 * @param {unknown} e
 */
function refusalWords(e) {
  if (!(e instanceof TanisError)) return /** @type {Error} */ (e).message;
  const words = `${e.message} (${e.code})`;
  return e.status === 400 ? `${t('periodRefused')}: ${words}` : words;
}

/**
 * Download CSV: the server's CSV of the period shown (not of the fields, which may have changed since), fetched with
 * the console's token in a header, as the statements' export is: the token is never in a URL.
 * @param {Period} period
 */
function csvDownload(period) {
  const problem = el('p', { class: 'problem', role: 'alert', testid: 'csv-problem', hidden: true });
  const button = el('button', { type: 'button', testid: 'transparency-csv' }, t('downloadCsv'));
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const rows = await callText('GET', address(period, true));
      const href = URL.createObjectURL(new Blob([rows], { type: 'text/csv' }));
      // The server's file name (its Content-Disposition), which a blob: URL does not carry.
      el('a', { href, download: `tanis-transparency-${period.from}-${period.to}.csv` }).click();
      // The download holds the blob by then; a URL revoked at once could end it before it begins.
      setTimeout(() => URL.revokeObjectURL(href), 60_000);
      problem.hidden = true;
    } catch (e) {
      problem.textContent = refusalWords(e);
      problem.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  return el('div', { class: 'action' }, button, problem);
}

/** @param {any} report @param {Period} period */
function shown(report, period) {
  return [
    el('p', { class: 'muted', testid: 'transparency-period' }, `${period.from} – ${period.to} · ${t('utcDays')}`),
    csvDownload(period),
    noticesSection(report.notices),
    decisionsSection(report.decisions),
    timesSection(report.time_to_decision),
    appealsSection(report.appeals),
  ];
}

export async function transparencyView() {
  const initial = previousMonth();
  const from = el('input', { type: 'date', value: initial.from, required: true, testid: 'transparency-from', 'aria-label': t('from') });
  const to = el('input', { type: 'date', value: initial.to, required: true, testid: 'transparency-to', 'aria-label': t('to') });
  const view = el('div', { class: 'transparency', testid: 'transparency' });
  /** Which period the screen answers (or refused), for whoever waits for one to apply: a test, a screen reader. */
  const answers = (/** @type {Period} */ period) => (view.dataset.period = `${period.from}/${period.to}`);
  // Periods asked for one after another: only the last one's answer is drawn, whichever comes back first.
  const loads = latestOnly(view);
  const load = (/** @type {Period} */ period) =>
    loads.run(async (current) => {
      try {
        const report = await call('GET', address(period));
        if (!current()) return;
        view.replaceChildren(...shown(report, period));
        answers(period);
      } catch (e) {
        if (current()) throw e;
      }
    });
  /** @param {Event} event */
  const ask = (event) => {
    event.preventDefault();
    const period = { from: from.value, to: to.value };
    // No report under a period that was refused: the last one's figures would read as this one's.
    load(period).catch((e) => {
      view.replaceChildren(el('p', { class: 'problem', role: 'alert', testid: 'problem' }, refusalWords(e)));
      answers(period);
    });
  };
  // The first period's refusal (a role taken away since the sign-in) is the console's to show.
  await load(initial);
  return el(
    'div',
    {},
    el(
      'form',
      { class: 'action', onsubmit: ask },
      el('label', {}, t('from'), ' ', from),
      el('label', {}, t('to'), ' ', to),
      el('button', { type: 'submit', testid: 'transparency-show' }, t('show')),
    ),
    view,
  );
}
