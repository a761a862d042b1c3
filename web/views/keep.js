// The "keep in touch" strip of a match's chat screen (`contact.propose`, docs/protocol.md): the offer, the wait
// for the other's answer, and, prominently, the other's proposal with the button that accepts it. Gone once the
// match is over; when both kept it, contacts.js moves the conversation to the contacts screen.

import { fill, h } from '../dom.js';
import { t } from '../i18n.js';

/**
 * @param {import('../sdk/conversation.js').Conversation} conversation the match on screen (`record.keep` says who
 *   proposed: web/contacts.js)
 * @param {EventTarget} events its `change` (web/changes.js)
 * @param {() => Promise<void>} propose sends `contact.propose`
 */
export function keepInTouch(conversation, events, propose) {
  const el = h('div', { class: 'keep', 'data-testid': 'keep-bar' });
  let shown = null;
  const send = (event) => {
    event.currentTarget.disabled = true;
    // Refused (the match just ended, offline): the button comes back as it was.
    propose().finally(() => ((shown = null), render()));
  };
  const render = () => {
    const { keep = {}, peer, ended } = conversation.record;
    const state = ended || conversation.keyError ? 'none' : keep.mine ? 'waiting' : keep.theirs ? 'asked' : 'offer';
    if (state === shown) return;
    shown = state;
    el.dataset.state = state;
    switch (state) {
      case 'none':
        return fill(el);
      case 'asked':
        return fill(el,
          h('p', { role: 'status', 'data-testid': 'keep-asked' }, t('keep.asked', { peer })),
          h('button', { type: 'button', class: 'primary', onclick: send, 'data-testid': 'keep-accept' }, t('keep.accept')));
      case 'waiting':
        return fill(el, h('p', { class: 'muted', 'data-testid': 'keep-waiting' }, t('keep.waiting', { peer })));
      default:
        return fill(el,
          h('p', { class: 'muted small' }, t('keep.hint')),
          h('button', { type: 'button', onclick: send, 'data-testid': 'keep' }, t('keep.offer')));
    }
  };
  events.addEventListener('change', render);
  render();
  return el;
}
