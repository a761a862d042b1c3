// @ts-check
// A user's page (GET /v1/admin/users?handle= or /users/{id}): status, bans and how they ended, distinct reporters
// (ever, and since the last clearance), claims, units, the audit history; ban, unban, clear the count; for admins
// the role, and the phone number shown only on request (`phone=true`, audited as `admin.phone_viewed`); the trust
// standing (standing.js). Each user has their own URL (`#/users/<id>`): a search that finds one goes there.

import { actionForm, banForm, banReasons, clearDeclarationForm, clearForm } from './actions.js';
import { note, placeOf } from './address.js';
import { call } from './api.js';
import { el, isolated } from './dom.js';
import { t } from './i18n.js';
import { standing } from './standing.js';

const ROLES = ['user', 'moderator', 'admin'];

/** The look-up path for what was typed: an id, or a handle (`alias#tag`). @param {string} query */
function lookUp(query, phone = false) {
  const asked = phone ? 'phone=true' : '';
  if (/^\d+$/.test(query)) return `/v1/admin/users/${query}${asked ? `?${asked}` : ''}`;
  return `/v1/admin/users?handle=${encodeURIComponent(query)}${asked ? `&${asked}` : ''}`;
}

/** @param {string} label @param {...import('./dom.js').Child} value */
function row(label, ...value) {
  return el('div', { class: 'row' }, el('dt', {}, label), el('dd', {}, ...value));
}

/** @param {any[]} list */
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

/** @param {any[]} entries */
function history(entries) {
  return el(
    'table',
    { class: 'history', testid: 'history' },
    el('thead', {}, el('tr', {}, el('th', {}, t('when')), el('th', {}, t('action')), el('th', {}, t('by')))),
    el('tbody', {}, entries.map((e) => el('tr', {}, el('td', {}, e.created_at), el('td', {}, e.action), el('td', {}, e.actor_id ?? t('system'))))),
  );
}

/**
 * @param {any} u the user, as GET /v1/admin/users answers
 * @param {string} role the staff member's
 * @param {string[]} reasons the ban reason codes
 * @param {() => unknown} reload
 */
function page(u, role, reasons, reload) {
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
    { class: 'user', testid: 'user', 'data-handle': u.handle, 'data-user': u.id },
    el('h2', {}, isolated(u.handle), el('span', { class: 'flag', testid: 'status' }, u.status)),
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
    u.status === 'banned' ? unban : banForm(u.id, reasons, reload),
    clearForm(u.id, reload),
    u.declaration.suspended_at && clearDeclarationForm(u.id, reload),
    isAdmin && setRole,
    el('h3', {}, t('history')),
    history(u.history),
  );
}

/**
 * The search, and the user `id` names (from the URL) under it.
 * @param {string} role
 * @param {string | null} [id]
 */
export async function usersView(role, id = null) {
  const reasons = await banReasons();
  const query = el('input', { type: 'search', required: true, testid: 'user-query', 'aria-label': t('findUser'), placeholder: 'kediadam#9021' });
  const result = el('div', { 'aria-live': 'polite' });
  /** Looks up what was typed or linked; the user found is the URL's from then on (the search's is none). @param {string} asked */
  const show = async (asked) => {
    try {
      const u = await call('GET', lookUp(asked));
      result.replaceChildren(page(u, role, reasons, () => show(String(u.id))));
      // Only while this screen is the one shown: a search answered after the moderator moved on takes no URL.
      if (result.isConnected) note(placeOf('users', u.id));
    } catch (e) {
      result.replaceChildren(el('p', { class: 'problem', role: 'alert', testid: 'problem' }, /** @type {Error} */ (e).message));
      if (result.isConnected) note(placeOf('users'));
    }
  };
  const form = el(
    'form',
    { class: 'action', onsubmit: (/** @type {Event} */ event) => (event.preventDefault(), show(query.value.trim())) },
    query,
    el('button', { type: 'submit', testid: 'find-user' }, t('findUser')),
  );
  if (id !== null) await show(id);
  return el('div', {}, form, result);
}
