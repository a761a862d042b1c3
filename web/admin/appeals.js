// @ts-check
// The appeals queue (GET /v1/admin/appeals, oldest first): each banned user's one appeal, with the ban's reason
// code and their words as sent; accepting lifts the ban if it still holds, rejecting sends the user the note as
// the statement they will read (POST /v1/admin/appeals/{id}/decision). Pending ones by default; decided ones on
// request.

import { decisionForm } from './actions.js';
import { call } from './api.js';
import { el, isolated } from './dom.js';
import { t } from './i18n.js';
import { asSent } from './sent.js';

const STATUSES = ['pending', 'accepted', 'rejected'];

/** @param {any} a an appeal, as GET /v1/admin/appeals lists it @param {() => unknown} reload */
function appeal(a, reload) {
  const ids = { form: 'appeal-form', choice: 'appeal-decision', note: 'appeal-note', submit: 'decide-appeal' };
  /** @type {[string, string][]} */
  const choices = [['accept', t('accept')], ['reject', t('reject')]];
  /** @param {string} decision @param {string} note */
  const send = (decision, note) => call('POST', `/v1/admin/appeals/${a.id}/decision`, { decision, note });
  return el(
    'li',
    { class: 'appeal', testid: 'appeal', 'data-handle': a.handle },
    el('h2', {}, isolated(a.handle), el('span', { class: 'flag' }, a.reason_code), el('span', { class: 'flag' }, a.status)),
    el('div', { class: 'muted' }, a.created_at),
    asSent(a.text),
    a.status === 'pending' && decisionForm(ids, choices, t('statementToUser'), send, reload),
  );
}

export async function appealsView() {
  const status = el('select', { testid: 'appeal-status-filter', 'aria-label': t('status') }, STATUSES.map((s) => el('option', { value: s }, s)));
  const list = el('ul', { class: 'appeals', testid: 'appeals' });
  const load = async () => {
    const page = await call('GET', `/v1/admin/appeals?status=${status.value}&limit=100`);
    list.replaceChildren(...(page.appeals.length ? page.appeals.map((a) => appeal(a, load)) : [el('li', { testid: 'no-appeals' }, t('noAppeals'))]));
  };
  status.addEventListener('change', load);
  await load();
  return el('div', {}, status, list);
}
