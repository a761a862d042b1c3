// The side panel behind the bell: notifications (claim refunds, referral rewards, bans lifted, broadcasts),
// newest first, in the language the server renders them in, and the verdicts of the user's claims.

import { h } from '../dom.js';
import { formatTime, t } from '../i18n.js';
import { icon } from '../icons.js';

/**
 * @param {{notifications: object[], claims: object[]}} state
 * @param {{close: Function}} actions
 */
export function renderPanel(state, actions) {
  const notifications = state.notifications.length
    ? h('ul', { class: 'notes' }, state.notifications.map((n) =>
      h('li', { class: n.read ? 'read' : 'unread', 'data-testid': 'notification' },
        h('span', { class: 'badge' }, t(`note.type.${n.type}`, {}, n.type)),
        h('p', {}, n.text),
        h('time', { class: 'muted small' }, formatTime(n.created_at)))))
    : h('p', { class: 'muted' }, t('panel.noNotifications'));

  const claims = state.claims.length
    ? h('ul', { class: 'claims' }, [...state.claims].reverse().map((c) =>
      h('li', { 'data-testid': 'claim-row', 'data-status': c.status },
        h('span', {}, t('panel.claimFor', { id: c.match_id })),
        h('span', { class: `badge ${c.status}` }, t(`claim.${c.status}`, {}, c.status)),
        c.reason && h('small', { class: 'muted' }, c.reason))))
    : h('p', { class: 'muted' }, t('panel.noClaims'));

  return h('aside', { class: 'drawer', 'data-testid': 'panel', 'aria-label': t('panel.title') },
    h('header', {},
      h('h2', {}, t('panel.title')),
      h('button', { type: 'button', class: 'link', onclick: actions.close, 'aria-label': t('dialog.close') }, icon('close'))),
    notifications,
    h('h3', {}, t('panel.claims')),
    claims);
}
