// @ts-check
// The audit trail (GET /v1/admin/audit, newest first): every moderator's and the system's actions, filtered by who
// acted, whom it was about, the action and a time range, paged with "Older" (`before` = the page's `next_before`).

import { call } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';

const ACTIONS = [
  'user.banned', 'user.unbanned', 'user.reports_cleared', 'user.review_requested', 'report.resolved', 'report.reopened',
  'appeal.filed', 'appeal.decided', 'admin.phone_viewed', 'claim.decided', 'user.role_changed', 'statements.exported',
];

function entry(e) {
  return el(
    'tr',
    { testid: 'audit-entry', 'data-action': e.action },
    el('td', {}, e.created_at),
    el('td', {}, e.action),
    el('td', {}, e.actor_id ?? t('system')),
    el('td', {}, e.target_id ?? ''),
    el('td', { class: 'details' }, e.details ? JSON.stringify(e.details) : ''),
  );
}

export async function auditView() {
  const actor = el('input', { type: 'text', inputmode: 'numeric', testid: 'audit-actor', 'aria-label': t('actor'), placeholder: t('actor') });
  const target = el('input', { type: 'text', inputmode: 'numeric', testid: 'audit-target', 'aria-label': t('target'), placeholder: t('target') });
  const action = el('select', { testid: 'audit-action', 'aria-label': t('action') }, el('option', { value: '' }, t('anyAction')), ACTIONS.map((a) => el('option', { value: a }, a)));
  const since = el('input', { type: 'datetime-local', testid: 'audit-since', 'aria-label': t('from') });
  const until = el('input', { type: 'datetime-local', testid: 'audit-until', 'aria-label': t('to') });
  const rows = el('tbody', {});
  const problem = el('p', { class: 'problem', role: 'alert', hidden: true });
  const older = el('button', { type: 'button', testid: 'audit-older', hidden: true }, t('older'));
  let before = null;
  const query = () => {
    const q = new URLSearchParams({ limit: '50' });
    if (actor.value.trim()) q.set('actor', actor.value.trim());
    if (target.value.trim()) q.set('target', target.value.trim());
    if (action.value) q.set('action', action.value);
    if (since.value) q.set('since', new Date(since.value).toISOString());
    if (until.value) q.set('until', new Date(until.value).toISOString());
    if (before !== null) q.set('before', String(before));
    return q;
  };
  const load = async (more) => {
    if (!more) before = null;
    try {
      const q = query();
      const page = await call('GET', `/v1/admin/audit?${q}`);
      const fresh = page.entries.map(entry);
      if (more) rows.append(...fresh);
      else rows.replaceChildren(...fresh);
      before = page.next_before ?? null;
      older.hidden = before === null;
      problem.hidden = true;
      // What the rows answer (without the page), for whoever waits for a filter to apply: a test, a screen reader.
      q.delete('before');
      table.dataset.query = q.toString();
    } catch (e) {
      problem.textContent = /** @type {Error} */ (e).message;
      problem.hidden = false;
    }
  };
  const table = el(
    'table',
    { class: 'history', testid: 'audit' },
    el('thead', {}, el('tr', {}, [t('when'), t('action'), t('by'), t('target'), t('details')].map((h) => el('th', {}, h)))),
    rows,
  );
  older.addEventListener('click', () => load(true));
  const form = el(
    'form',
    { class: 'action', onsubmit: (event) => (event.preventDefault(), load(false)) },
    actor, target, action, since, until,
    el('button', { type: 'submit', testid: 'audit-filter' }, t('filter')),
  );
  await load(false);
  return el('div', {}, form, problem, table, older);
}
