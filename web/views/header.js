// The bar on every screen: the brand, the connection's state, who you are (alias#tag, premium), what you have
// left, the contacts (with their unread count), the notifications bell, the language switch, the account screen
// and sign-out.

import { h } from '../dom.js';
import { getLang, t } from '../i18n.js';
import { icon } from '../icons.js';

/**
 * @param {{me: object|null, balances: object|null, premium: boolean, connection: string, unread: number, contactsUnread: number}} state
 * @param {{togglePanel, toggleLang, signOut, account, contacts, reconnect}} actions
 */
export function renderHeader(state, actions) {
  const { me, balances } = state;
  return h('div', { class: 'topbar-inner' },
    h('span', { class: 'brand' }, 'tanış'),
    me && h('span', { class: `conn ${state.connection}`, 'data-testid': 'connection', 'data-state': state.connection },
      t(`conn.${state.connection}`)),
    // Closed for a bug of this page's: no reconnect on its own (it would loop), only when asked.
    me && state.connection === 'broken' && h('button', { type: 'button', class: 'link', onclick: actions.reconnect, 'data-testid': 'reconnect' }, t('conn.reconnect')),
    h('span', { class: 'spacer' }),
    me && h('span', { class: 'me' },
      h('span', { class: 'handle', 'data-testid': 'header-handle' }, me.handle),
      state.premium && h('span', { class: 'badge premium', 'data-testid': 'premium' }, t('plan.premiumBadge'))),
    me && balances && h('span', { class: 'chips', title: t('header.balances') },
      h('span', { 'data-testid': 'text-left' }, icon('chat'), balances.daily_text + balances.bonus_text),
      h('span', { 'data-testid': 'video-left' }, icon('video'), balances.daily_video + balances.bonus_video)),
    me && h('button', { type: 'button', class: 'contacts-button', onclick: actions.contacts, 'aria-label': t('header.contacts'), 'data-testid': 'contacts' },
      icon('people'), h('span', { class: 'label' }, t('header.contacts')), state.contactsUnread > 0 && h('span', { class: 'count', 'data-testid': 'contacts-unread' }, state.contactsUnread)),
    me && h('button', { type: 'button', class: 'bell', onclick: actions.togglePanel, 'aria-label': t('panel.title'), 'data-testid': 'bell' },
      icon('bell'), state.unread > 0 && h('span', { class: 'count', 'data-testid': 'unread' }, state.unread)),
    h('button', { type: 'button', class: 'lang', onclick: actions.toggleLang, 'data-testid': 'lang' }, getLang() === 'tr' ? 'EN' : 'TR'),
    me && h('button', { type: 'button', class: 'link', onclick: actions.account, 'data-testid': 'account' }, t('header.account')),
    me && h('button', { type: 'button', class: 'link', onclick: actions.signOut, 'data-testid': 'sign-out' }, t('header.signOut')));
}
