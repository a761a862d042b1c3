// @ts-check
// The dashboard an operator reads daily (GET /v1/admin/dashboard?days=N, staff): the open reports and how long
// they have waited, the median time from a report to its decision, what happened per day (automatic bans and
// reviews, appeals and how many overturned a ban, reports and decisions, matches and calls) and the figures of
// now (live sockets on the node that answered, matches and messages a minute, the share of calls that connected);
// and, first, the operator's waiver when video goes without an assured age (docs/operations.md, "Age assurance").

import { call } from './api.js';
import { dailyChart } from './chart.js';
import { el, isolated, latestOnly } from './dom.js';
import { decimal, duration, percent, since } from './figures.js';
import { t } from './i18n.js';

const PERIODS = [7, 14, 30, 90];
const AGES = ['under_1h', 'under_24h', 'under_7d', 'older'];

/** The charts, each two or three series of the same day; colours tell the series apart in both schemes.
 * @type {[string, [string, string][]][]} */
const CHARTS = [
  ['automatedChart', [['auto_bans', '#d32f2f'], ['reviews', '#e6a700']]],
  ['appealsChart', [['appeals', '#1565c0'], ['overturned', '#d32f2f']]],
  ['reportsChart', [['reports', '#e65100'], ['decisions', '#2e7d32']]],
  ['trafficChart', [['matches', '#1565c0'], ['calls', '#8e24aa'], ['calls_connected', '#2e7d32']]],
];

function tile(testid, label, value, ...more) {
  const figure = el('div', { class: 'figure', testid }, value);
  return el('div', { class: 'tile' }, el('div', { class: 'muted' }, label), figure, ...more);
}

function openReports(open) {
  const oldest = open.oldest_at ? duration(since(open.oldest_at)) : t('none');
  const ages = el(
    'dl',
    { class: 'ages' },
    AGES.flatMap((age) => [el('dt', {}, t(age === 'older' ? 'age_older' : age)), el('dd', { testid: `age-${age}` }, String(open.ages[age]))]),
  );
  return tile('open-reports', t('openReports'), String(open.count),
    el('div', { testid: 'oldest-report' }, `${t('oldest')}: ${oldest}`), ages);
}

/** The child-safety lane's open reports and how long the oldest has waited: the first tile (docs/admin.md, "Child
 * safety first"), marked while any waits. */
function childSafety(open) {
  const lane = open.lanes.find((l) => l.lane === 'child_safety');
  const oldest = lane.oldest_at ? duration(since(lane.oldest_at)) : t('none');
  const figure = tile('child-safety-reports', t('childSafetyReports'), String(lane.count),
    el('div', { testid: 'oldest-child-safety-report' }, `${t('oldest')}: ${oldest}`));
  if (lane.count > 0) figure.classList.add('urgent');
  return figure;
}

function board(d) {
  const median = d.median_decision_secs === null ? t('noDecisions') : duration(d.median_decision_secs);
  const connected = d.now.call_connect_rate === null ? t('noCalls') : percent(d.now.call_connect_rate);
  const waiver = d.age_assurance.video_waiver;
  return [
    // What the operator wrote goes in as text, isolated: it cannot be markup nor turn the words around it.
    ...(waiver === null ? [] : [el('p', { class: 'problem', role: 'status', testid: 'video-waiver' }, `${t('videoWaived')}: `, isolated(waiver))]),
    el(
      'div',
      { class: 'tiles' },
      childSafety(d.open_reports),
      openReports(d.open_reports),
      tile('median-decision', t('medianDecision'), median),
      tile('now-sockets', t('liveSockets'), String(d.now.live_sockets)),
      tile('now-matches', t('matchesPerMinute'), decimal(d.now.matches_per_minute)),
      tile('now-messages', t('messagesPerMinute'), decimal(d.now.messages_per_minute)),
      tile('now-connect-rate', t('callConnectRate'), connected),
    ),
    el(
      'div',
      { class: 'charts' },
      CHARTS.map(([id, series]) => dailyChart(id, d.days, series.map(([key, color]) => ({ key, color })))),
    ),
    el('p', { class: 'muted' }, `${t('generatedAt')} ${d.generated_at} · ${t('utcDays')}`),
  ];
}

export async function dashboardView() {
  const period = el(
    'select',
    { testid: 'dashboard-days', 'aria-label': t('period') },
    PERIODS.map((n) => el('option', { value: n, selected: n === 14 }, `${n} ${t('days')}`)),
  );
  const view = el('div', { class: 'dashboard', testid: 'dashboard' });
  // Periods chosen one after another: only the last one's answer is drawn, whichever comes back first.
  const loads = latestOnly(view);
  const load = () =>
    loads.run(async (current) => {
      try {
        const d = await call('GET', `/v1/admin/dashboard?days=${period.value}`);
        if (!current()) return;
        view.replaceChildren(...board(d));
        // Which window the figures answer, for whoever waits for a change of period to apply: a test, a screen reader.
        view.dataset.days = String(d.days.length);
      } catch (e) {
        if (current()) throw e;
      }
    });
  period.addEventListener('change', () => load().catch((e) => view.replaceChildren(problem(e))));
  await load();
  return el('div', {}, el('label', { class: 'action' }, t('period'), period), view);
}

function problem(e) {
  return el('p', { class: 'problem', role: 'alert', testid: 'problem' }, e.message);
}
