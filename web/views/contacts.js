// The contacts screen: everyone you kept in touch with, by handle only (alias#tag), with how many of their
// messages are unread; an ended contact stays listed (its transcript is on this device) until removed.

import { h } from '../dom.js';
import { formatTime, t } from '../i18n.js';

/**
 * @param {{id: number, peer: string, since: string, unread: number, ended: string|null, keyless: boolean}[]} items
 * @param {{open: (id: number) => void, back: () => void}} actions
 */
export function renderContacts(items, actions) {
  return h('section', { class: 'contacts', 'data-screen': 'contacts' },
    h('div', { class: 'card' },
      h('div', { class: 'row between' },
        h('h1', {}, t('contacts.title')),
        h('button', { type: 'button', onclick: actions.back, 'data-testid': 'contacts-back' }, t('chat.lobby'))),
      h('p', { class: 'muted small' }, t('contacts.help')),
      items.length === 0
        ? h('p', { class: 'muted', 'data-testid': 'contacts-empty' }, t('contacts.empty'))
        : h('ul', { class: 'contact-list', 'data-testid': 'contact-list' }, items.map((item) => renderItem(item, actions.open)))));
}

function renderItem(item, open) {
  const status = item.ended ? t('contacts.endedLabel')
    : item.keyless ? t('contacts.otherDevice')
      : t('contacts.since', { date: formatTime(item.since) });
  return h('li', { 'data-testid': 'contact', 'data-match': item.id, 'data-state': item.ended ? 'ended' : 'open' },
    h('button', { type: 'button', class: 'contact', onclick: () => open(item.id) },
      h('span', { class: 'avatar', 'aria-hidden': 'true' }, item.peer.slice(0, 1).toUpperCase()),
      h('span', { class: 'name' },
        h('strong', { 'data-testid': 'contact-handle' }, item.peer),
        h('small', { class: 'muted' }, status)),
      item.unread > 0 && h('span', { class: 'count', title: t('contacts.unread', { n: item.unread }), 'data-testid': 'contact-unread' }, item.unread)));
}
