// @ts-check
// The report queue as the API orders it (GET /v1/admin/reports: most verified evidence first, then most distinct
// reporters, then the most recent), each report's verified evidence shown as sent: every invisible character drawn
// as a marked code point, and each message's length in characters and bytes. From it a moderator decides a report
// (dismiss or action, with a note), bans the reported user with a reason code, a duration and a note, or clears
// their report count; the queue is read again after each. A report from a video call shows what it carries
// (calls.js). Each report has its own URL (`#/reports/<id>`, its link beside it): the queue, read as far as that
// report, with the report marked and the keyboard on it.

import { banForm, banReasons, clearForm, decisionForm } from './actions.js';
import { placeOf } from './address.js';
import { call } from './api.js';
import { callPart, reporterSignal } from './calls.js';
import { el, isolated } from './dom.js';
import { t } from './i18n.js';
import { asSent } from './sent.js';

/** How many pages of the queue a report's link reads at most, looking for it (50 reported users each). */
const LINKED_PAGES = 20;

/** @param {any} r a report of the queue @param {() => unknown} done */
function decideForm(r, done) {
  const ids = { form: 'decide-form', choice: 'resolution', note: 'resolve-note', submit: 'resolve' };
  /** @type {[string, string][]} */
  const choices = [['dismissed', t('dismiss')], ['actioned', t('actionIt')]];
  /** @param {string} resolution @param {string} note */
  const send = (resolution, note) => call('POST', `/v1/admin/reports/${r.id}/resolve`, { resolution, note });
  return decisionForm(ids, choices, t('note'), send, done);
}

/** @param {any} r a report of the queue @param {() => unknown} done */
function report(r, done) {
  /** @type {any[]} */
  const evidence = r.evidence ?? [];
  return el(
    'li',
    { class: 'report', testid: 'report', 'data-report': r.id },
    el(
      'div',
      {},
      el('a', { href: placeOf('reports', r.id), testid: 'report-link', title: t('reportLink') }, `#${r.id}`),
      ` · ${t('reportedBy')} `,
      isolated(r.reporter),
      ` · ${t('reason')}: ${r.reason}`,
    ),
    reporterSignal(r),
    r.previous_resolution && el('div', { class: 'flag', testid: 'previous' }, `${t('previously')}: ${r.previous_resolution}`),
    r.details && el('div', { class: 'details' }, `${t('theirWords')}: `, asSent(r.details)),
    callPart(r),
    evidence.length === 0
      ? el('div', { class: 'muted' }, t('bareClaim'))
      : el(
          'ol',
          { class: 'evidence-list' },
          evidence.map((e) => el('li', { title: t('verified') }, el('small', {}, `#${e.seq} · ${e.sent_at}`), asSent(e.text))),
        ),
    decideForm(r, done),
  );
}

/** @param {any} u a reported user of the queue @param {string[]} reasons @param {() => unknown} done */
function user(u, reasons, done) {
  return el(
    'section',
    { class: 'reported', testid: 'reported', 'data-handle': u.handle },
    el(
      'h2',
      {},
      isolated(u.handle),
      u.banned && el('span', { class: 'flag' }, t('banned')),
      u.review && el('span', { class: 'flag', testid: 'review' }, `${t('review')}: ${u.review}`),
    ),
    el('div', { class: 'muted' }, `${u.reporters} ${t('reporters')} · ${u.with_evidence} ${t('withEvidence')}`),
    // The queue holds a user's first reports (evidence first, then the oldest); deciding them brings up the next.
    u.open_reports > u.reports.length &&
      el('div', { class: 'muted', testid: 'reports-shown' }, `${u.reports.length} ${t('shownOf')} ${u.open_reports} ${t('openReportsOf')}`),
    !u.banned && banForm(u.user_id, reasons, done),
    clearForm(u.user_id, done),
    el('ul', { class: 'reports' }, u.reports.map((r) => report(r, done))),
  );
}

/**
 * The queue; with `linked`, a report's id from its URL, read on until that report is in it (or the queue ends).
 * @param {string} _role
 * @param {string | null} [linked]
 */
export async function reportsView(_role, linked = null) {
  const reasons = await banReasons();
  const view = el('div', { testid: 'report-queue' });
  // Pages of 50 users, as the API orders them; "More" reads the next page (`offset` = the last page's
  // `next_offset`) below the ones shown. A decision reads the queue again from the top.
  const list = el('div', {});
  const more = el('button', { type: 'button', testid: 'queue-more', hidden: true }, t('moreUsers'));
  let next = null;
  /** @param {boolean} further */
  const load = async (further) => {
    const offset = further ? next : 0;
    const queue = await call('GET', `/v1/admin/reports?limit=50&offset=${offset}`);
    const users = queue.users.map((u) => user(u, reasons, () => load(false)));
    // The first page's child-safety lane (docs/admin.md, "Child safety first") comes before everyone else.
    const lane = queue.child_safety.length === 0 ? [] : [
      el('section', { class: 'lane', testid: 'child-safety-lane', 'aria-label': t('childSafetyLane') },
        el('h2', {}, t('childSafetyLane')), ...queue.child_safety.map((u) => user(u, reasons, () => load(false)))),
    ];
    if (further) list.append(...users);
    else list.replaceChildren(...lane, ...(users.length === 0 ? [el('p', { testid: 'no-reports' }, t('noReports'))] : users));
    next = queue.next_offset ?? null;
    more.hidden = next === null;
  };
  more.addEventListener('click', () => load(true));
  view.append(list, more);
  await load(false);
  if (linked !== null) {
    const find = () => list.querySelector(`[data-testid=report][data-report="${linked}"]`);
    // Bounded: a report decided since its link was made is in no page, and the queue can be thousands long.
    for (let pages = 1; !find() && next !== null && pages < LINKED_PAGES; pages += 1) await load(true);
    const found = find();
    if (found) {
      found.classList.add('landed');
      found.setAttribute('tabindex', '-1');
      found.setAttribute('data-landed', '');
    } else {
      view.prepend(el('p', { class: 'problem', role: 'status', testid: 'report-gone' }, `#${linked}: ${t('reportGone')}`));
    }
  }
  return view;
}
