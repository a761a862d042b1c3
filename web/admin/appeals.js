// The appeals queue (GET /v1/admin/appeals, oldest first): each banned user's one appeal, with the ban's reason
// code and their words as sent; accepting lifts the ban if it still holds, rejecting sends the user the note as
// the statement they will read (POST /v1/admin/appeals/{id}/decision). Pending ones by default; decided ones on
// request.

import { actionForm } from './actions.js';
import { call } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';
import { asSent } from './reports.js';

const STATUSES = ['pending', 'accepted', 'rejected'];

function appeal(a, reload) {
  const decision = el(
    'select',
    { testid: 'appeal-decision', 'aria-label': t('decision') },
    el('option', { value: 'accept' }, t('accept')),
    el('option', { value: 'reject' }, t('reject')),
  );
  const note = el('input', { type: 'text', required: true, maxlength: 1000, testid: 'appeal-note', 'aria-label': t('statementToUser'), placeholder: t('statementToUser') });
  const act = () => call('POST', `/v1/admin/appeals/${a.id}/decision`, { decision: decision.value, note: note.value });
  return el(
    'li',
    { class: 'appeal', testid: 'appeal', 'data-handle': a.handle },
    el('h2', {}, a.handle, el('span', { class: 'flag' }, a.reason_code), el('span', { class: 'flag' }, a.status)),
    el('div', { class: 'muted' }, a.created_at),
    asSent(a.text),
    a.status === 'pending' &&
      actionForm('appeal-form', [decision, note, el('button', { type: 'submit', testid: 'decide-appeal' }, t('decide'))], act, reload),
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
