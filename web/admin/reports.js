// The report queue as the API orders it (GET /v1/admin/reports: most verified evidence first, then most distinct
// reporters, then the most recent), each report's verified evidence shown as sent: every invisible character drawn
// as a marked code point, and each message's length in characters and bytes. From it a moderator decides a report
// (dismiss or action, with a note), bans the reported user with a reason code, a duration and a note, or clears
// their report count; the queue is read again after each.

import { actionForm, banForm, clearForm } from './actions.js';
import { call } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';
import { measure, pieces } from './visible.js';

/** A verified message as sent: its text in pieces, invisible characters marked, and its length. */
export function asSent(text) {
  const shown = el(
    'span',
    { class: 'as-sent', testid: 'as-sent' },
    pieces(text).map((p) =>
      'text' in p ? p.text : el('mark', { class: 'invisible', title: p.name, testid: 'invisible' }, p.code),
    ),
  );
  const { characters, bytes, invisible } = measure(text);
  const length = `${characters} ${t('characters')} · ${bytes} ${t('bytes')}` + (invisible ? ` · ${invisible} ${t('invisibleCount')}` : '');
  return el('div', { class: 'evidence' }, shown, el('small', { class: 'length', testid: 'length' }, length));
}

function decideForm(r, done) {
  const resolution = el(
    'select',
    { testid: 'resolution', 'aria-label': t('decision') },
    el('option', { value: 'dismissed' }, t('dismiss')),
    el('option', { value: 'actioned' }, t('actionIt')),
  );
  const note = el('input', { type: 'text', required: true, maxlength: 1000, testid: 'resolve-note', 'aria-label': t('note'), placeholder: t('note') });
  const act = () => call('POST', `/v1/admin/reports/${r.id}/resolve`, { resolution: resolution.value, note: note.value });
  return actionForm('decide-form', [resolution, note, el('button', { type: 'submit', testid: 'resolve' }, t('decide'))], act, done);
}

function report(r, done) {
  const evidence = r.evidence ?? [];
  return el(
    'li',
    { class: 'report', testid: 'report', 'data-report': r.id },
    el('div', {}, `${t('reportedBy')} ${r.reporter} · ${t('reason')}: ${r.reason}`),
    r.previous_resolution && el('div', { class: 'flag', testid: 'previous' }, `${t('previously')}: ${r.previous_resolution}`),
    r.details && el('div', { class: 'details' }, `${t('theirWords')}: `, asSent(r.details)),
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

function user(u, done) {
  return el(
    'section',
    { class: 'reported', testid: 'reported', 'data-handle': u.handle },
    el(
      'h2',
      {},
      u.handle,
      u.banned && el('span', { class: 'flag' }, t('banned')),
      u.review && el('span', { class: 'flag', testid: 'review' }, `${t('review')}: ${u.review}`),
    ),
    el('div', { class: 'muted' }, `${u.reporters} ${t('reporters')} · ${u.with_evidence} ${t('withEvidence')}`),
    !u.banned && banForm(u.user_id, done),
    clearForm(u.user_id, done),
    el('ul', { class: 'reports' }, u.reports.map((r) => report(r, done))),
  );
}

export async function reportsView() {
  const view = el('div', { testid: 'report-queue' });
  const load = async () => {
    const queue = await call('GET', '/v1/admin/reports?limit=50');
    view.replaceChildren(
      ...(queue.users.length === 0 ? [el('p', { testid: 'no-reports' }, t('noReports'))] : queue.users.map((u) => user(u, load))),
    );
  };
  await load();
  return view;
}
