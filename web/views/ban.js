// What a banned user sees: the reason (a code from docs/admin.md, in the user's language), until when, the ban's
// statement of reasons once signed in again (what was decided, the facts, the clause of the terms with its link,
// whether automated, how to appeal: docs/admin.md "Statements of reasons"), and the one appeal a ban allows. A ban revokes every token, so the details and the appeal take the phone number and
// password again (`POST /v1/ban/status`, `POST /v1/ban/appeal`).

import { formValues, h } from '../dom.js';
import { icon } from '../icons.js';
import { formatTime, t } from '../i18n.js';

/**
 * The reason and end from an `account_banned` message (`the account is banned (harassment) until lifted`,
 * docs/admin.md), for when only the message is at hand (a live ban closes the socket with 4003).
 */
export function parseBanMessage(message) {
  const match = /\(([a-z_]+)\)\s+until\s+(.+)$/.exec(message ?? '');
  if (!match) return { reason_code: null, ends_at: null };
  return { reason_code: match[1], ends_at: match[2] === 'lifted' ? null : match[2] };
}

/** The ban's statement of reasons (`statement` in `POST /v1/ban/status`). */
function renderStatement(statement) {
  const row = (key, ...value) => [h('dt', {}, t(`statement.${key}`)), h('dd', { 'data-testid': `statement-${key}` }, ...value)];
  const ground = statement.ground;
  return h('section', { class: 'statement', 'data-testid': 'statement' },
    h('h3', {}, t('statement.title')),
    h('dl', {},
      ...row('decision', t(`statement.decision.${statement.decision}`, {}, statement.decision)),
      ...row('facts', statement.facts),
      ...row('ground', t('statement.clause', { clause: ground.clause }), ' — ', ground.text, ' ',
        h('a', { href: ground.url, target: '_blank', rel: 'noopener' }, t('statement.terms'))),
      ...row('automated', t(`statement.automated.${statement.automated_decision}`, {}, statement.automated_decision)),
      ...row('until', statement.ends_at ? formatTime(statement.ends_at) : t('ban.untilLifted')),
      ...(statement.redress ? row('redress', statement.redress) : [])));
}

/**
 * @param {{reason_code: string|null, ends_at: string|null, appeal?: object|null, statement?: object|null, detailed?: boolean}} ban
 * @param {{status: (phone, password) => Promise, appeal: (phone, password, text) => Promise, signOut: Function}} actions
 */
export function renderBanned(ban, actions) {
  const error = h('p', { class: 'form-error', role: 'alert' });
  const more = h('div', {});
  const credentials = (extra, submitLabel, run) => {
    const form = h('form', { class: 'stack', onsubmit: async (e) => {
      e.preventDefault();
      error.textContent = '';
      try {
        await run(formValues(form));
      } catch (err) {
        error.textContent = t(`error.${err.code}`, {}, err.message);
      }
    } },
      h('label', {}, t('auth.phone'), h('input', { name: 'phone', type: 'tel', required: true, autocomplete: 'tel' })),
      h('label', {}, t('auth.password'), h('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' })),
      extra,
      h('button', { type: 'submit', class: 'primary' }, submitLabel));
    return form;
  };

  if (ban.appeal) {
    more.append(h('p', { 'data-testid': 'appeal-status' }, t(`appeal.${ban.appeal.status}`),
      ban.appeal.decision_note ? ` — ${ban.appeal.decision_note}` : ''));
  } else if (ban.detailed) {
    more.append(h('h3', {}, t('appeal.title')), credentials(
      h('label', {}, t('appeal.text'), h('textarea', { name: 'text', required: true, maxlength: 2000, rows: 4 })),
      t('appeal.send'),
      async (v) => {
        await actions.appeal(v.phone, v.password, v.text);
        more.replaceChildren(h('p', { 'data-testid': 'appeal-status' }, t('appeal.pending')));
      }));
  } else {
    more.append(h('p', { class: 'muted' }, t('ban.signInForDetails')),
      credentials(null, t('ban.details'), (v) => actions.status(v.phone, v.password)));
  }

  return h('section', { class: 'banned', 'data-screen': 'banned' },
    h('div', { class: 'card' },
      h('h1', {}, icon('ban'), ' ', t('ban.title')),
      h('p', { class: 'reason', 'data-testid': 'ban-reason' },
        t('ban.reason'), ' ', h('strong', {}, ban.reason_code ? t(`ban.code.${ban.reason_code}`, {}, ban.reason_code) : t('ban.code.unknown'))),
      h('p', { 'data-testid': 'ban-until' }, ban.ends_at ? t('ban.until', { date: formatTime(ban.ends_at) }) : t('ban.untilLifted')),
      ban.statement ? renderStatement(ban.statement) : null,
      more,
      error,
      h('button', { type: 'button', class: 'link', onclick: actions.signOut }, t('header.signOut'))));
}
