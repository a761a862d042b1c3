// A user's page (GET /v1/admin/users?handle= or /users/{id}): status, bans and how they ended, distinct reporters
// (ever, and since the last clearance), claims, units, the audit history; ban, unban, clear the count; for admins
// the role, and the phone number shown only on request (`phone=true`, audited as `admin.phone_viewed`); the trust
// standing (standing.js).

import { actionForm, banForm, clearDeclarationForm, clearForm } from './actions.js';
import { call } from './api.js';
import { el } from './dom.js';
import { t } from './i18n.js';
import { standing } from './standing.js';

const ROLES = ['user', 'moderator', 'admin'];

/** The look-up path for what was typed: an id, or a handle (`alias#tag`). */
function lookUp(query, phone = false) {
  const asked = phone ? 'phone=true' : '';
  if (/^\d+$/.test(query)) return `/v1/admin/users/${query}${asked ? `?${asked}` : ''}`;
  return `/v1/admin/users?handle=${encodeURIComponent(query)}${asked ? `&${asked}` : ''}`;
}

function row(label, ...value) {
  return el('div', { class: 'row' }, el('dt', {}, label), el('dd', {}, ...value));
}

function bans(list) {
  if (list.length === 0) return t('none');
  return el(
    'ul',
    { testid: 'bans' },
    list.map((b) =>
      el(
        'li',
        {},
        `${b.reason_code} · ${b.created_at} → ${b.ends_at ?? t('untilLifted')}`,
        b.lifted_at && ` · ${t('lifted')} ${b.lifted_at} (${b.lift_reason})`,
        b.note && el('div', { class: 'muted' }, `${t('note')}: ${b.note}`),
      ),
    ),
  );
}

function history(entries) {
  return el(
    'table',
    { class: 'history', testid: 'history' },
    el('thead', {}, el('tr', {}, el('th', {}, t('when')), el('th', {}, t('action')), el('th', {}, t('by')))),
    el('tbody', {}, entries.map((e) => el('tr', {}, el('td', {}, e.created_at), el('td', {}, e.action), el('td', {}, e.actor_id ?? t('system'))))),
  );
}

function page(u, role, reload) {
  const isAdmin = role === 'admin';
  const phone = el('span', { testid: 'phone-number' });
  const showPhone = async () => {
    const seen = await call('GET', lookUp(String(u.id), true));
    phone.textContent = seen.phone_number ?? t('none');
  };
  const unban = actionForm('unban-form', [el('button', { type: 'submit', testid: 'unban' }, t('unban'))], () => call('POST', `/v1/admin/users/${u.id}/unban`), reload);
  const newRole = el('select', { testid: 'role', 'aria-label': t('role') }, ROLES.map((r) => el('option', { value: r, selected: r === u.role }, r)));
  const setRole = actionForm(
    'role-form',
    [newRole, el('button', { type: 'submit', testid: 'set-role' }, t('setRole'))],
    () => call('PUT', `/v1/admin/users/${u.id}/role`, { role: newRole.value }),
    reload,
  );
  return el(
    'section',
    { class: 'user', testid: 'user', 'data-handle': u.handle },
    el('h2', {}, u.handle, el('span', { class: 'flag', testid: 'status' }, u.status)),
    el(
      'dl',
      {},
      row(t('role'), u.role),
      u.status === 'banned' && row(t('banned'), `${u.ban_reason} · ${u.banned_at} → ${u.ban_ends_at ?? t('untilLifted')}`),
      row(t('reportersEver'), String(u.reporters), ` (${u.reporters_since_clearance} ${t('sinceClearance')})`),
      row(t('declaration'), u.declaration.suspended_at ? `${t('declarationSuspended')} ${u.declaration.suspended_at}` : t('declarationInUse'),
        ` (${u.declaration.reporters_since_clearance} ${t('declarationReporters')})`),
      row(t('claims'), Object.entries(u.claims).map(([k, v]) => `${k}: ${v}`).join(', ') || t('none')),
      row(t('age'), `${u.account_age_days} · ${t('lastActive')} ${u.last_active}`),
      row(t('premium'), u.is_premium ? '✓' : '—'),
      row(t('bansTitle'), bans(u.bans)),
      isAdmin && row(t('phone'), phone, ' ', el('button', { type: 'button', testid: 'show-phone', onclick: showPhone }, t('showPhone'))),
    ),
    u.trust && [el('h3', {}, t('trustTitle')), standing(u.trust)],
    u.status === 'banned' ? unban : banForm(u.id, reload),
    clearForm(u.id, reload),
    u.declaration.suspended_at && clearDeclarationForm(u.id, reload),
    isAdmin && setRole,
    el('h3', {}, t('history')),
    history(u.history),
  );
}

export async function usersView(role) {
  const query = el('input', { type: 'search', required: true, testid: 'user-query', 'aria-label': t('findUser'), placeholder: 'kediadam#9021' });
  const result = el('div', { 'aria-live': 'polite' });
  const show = async () => {
    try {
      result.replaceChildren(page(await call('GET', lookUp(query.value.trim())), role, show));
    } catch (e) {
      result.replaceChildren(el('p', { class: 'problem', role: 'alert', testid: 'problem' }, e.message));
    }
  };
  const form = el(
    'form',
    { class: 'action', onsubmit: (event) => (event.preventDefault(), show()) },
    query,
    el('button', { type: 'submit', testid: 'find-user' }, t('findUser')),
  );
  return el('div', {}, form, result);
}
