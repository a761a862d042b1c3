// A contact's conversation: the chat screen of views/chat.js (transcript, delivery marks, typing, composer, safety
// number) with a contact's own buttons (back to the list, block, end the contact), the offer to take the
// conversation over on a device without its key, the notice that the safety number changed, and its end.

import { fill, h, modal } from '../dom.js';
import { formatTime, t } from '../i18n.js';
import { ChatView } from './chat.js';

export class ContactChatView extends ChatView {
  /**
   * @param {import('../sdk/conversation.js').Conversation} conversation a contact's (`record.contact`)
   * @param {EventTarget} events its `change`, `typing` and `rekeyed` (web/changes.js)
   * @param {{send, typing, block, end, takeOver, list, lobby, forget, keySeen}} actions
   * @param {boolean} justAdded the match has just become this contact: say so, and point to the lobby
   */
  constructor(conversation, events, actions, justAdded = false) {
    const notice = justAdded ? addedNotice(conversation.record.peer, actions.lobby) : null;
    super(conversation, events, actions, notice);
    this.notice = notice;
    this.el.dataset.screen = 'contact';
    this.el.classList.replace(`kind-${conversation.record.kind}`, 'contact-chat');
    events.addEventListener('rekeyed', () => this.rekeyed());
  }

  /** Shown again later (from the list): the "now contacts" notice has been read. */
  shownAgain() {
    this.notice?.remove();
  }

  subtitle() {
    return t('contacts.since', { date: formatTime(this.conversation.record.contact.since) });
  }

  headerActions() {
    return [
      h('button', { type: 'button', onclick: this.actions.list, 'data-testid': 'contact-back' }, t('contacts.title')),
      h('button', { type: 'button', onclick: () => this.report(), 'data-testid': 'report' }, t('chat.report')),
      h('button', { type: 'button', class: 'open-only', onclick: () => this.block(), 'data-testid': 'block' }, t('chat.block')),
      h('button', { type: 'button', class: 'open-only', onclick: () => this.end(), 'data-testid': 'end-contact' }, t('contacts.end'))];
  }

  /** The safety number, and a notice while a key change has not been acknowledged. */
  safetyStrip() {
    this.safetyHost ??= h('div', { class: 'safety-host' });
    const changed = this.conversation.record.key_changed;
    return fill(this.safetyHost, super.safetyStrip(), changed && h('div', { class: 'banner notice', role: 'status', 'data-testid': 'safety-changed' },
      h('p', {}, t({ mine: 'contacts.keyMine', elsewhere: 'contacts.keyElsewhere' }[changed] ?? 'contacts.keyTheirs', { peer: this.conversation.record.peer })),
      h('button', { type: 'button', onclick: () => this.actions.keySeen().then(() => this.safetyStrip()), 'data-testid': 'safety-changed-ok' }, t('contacts.keySeen'))));
  }

  /** Without the conversation's key on this device: nothing here can be read, but it can be taken over. */
  keyBanner() {
    this.keyHost ??= h('div', { class: 'key-host' });
    const { identity, peer } = this.conversation.record;
    if (identity) {
      return fill(this.keyHost, this.conversation.keyError && h('p', { class: 'banner error', role: 'alert', 'data-testid': 'e2e-error' }, t('contacts.keyRefused', { peer })));
    }
    const takeOver = (event) => {
      event.currentTarget.disabled = true;
      this.actions.takeOver().finally(() => this.keyBanner());
    };
    return fill(this.keyHost, h('div', { class: 'banner notice', 'data-testid': 'no-key' },
      h('p', {}, t('contacts.noKey')),
      h('button', { type: 'button', class: 'primary', onclick: takeOver, 'data-testid': 'take-over' }, t('contacts.takeOver'))));
  }

  rekeyed() {
    this.safetyStrip();
    this.keyBanner();
    this.update();
  }

  renderEnded() {
    const { ended_how: how, peer } = this.conversation.record;
    const ended = this.conversation.ended && (how ?? this.conversation.ended);
    this.composer.hidden = Boolean(ended) || Boolean(this.conversation.keyError);
    for (const button of this.el.querySelectorAll('.actions .open-only')) button.hidden = Boolean(ended);
    if (!ended) return;
    // Who ended it may be known a moment after the end itself (web/contacts.js): the words follow.
    const words = t(`contacts.ended.${ended}`, { peer }, t('contacts.ended.contact_ended'));
    if (!this.endedBox.hidden) return void (this.endedText.textContent = words);
    this.endedBox.hidden = false;
    this.typingNote.hidden = true;
    this.endedText = h('p', { 'data-testid': 'contact-ended' }, words);
    this.endedBox.append(
      this.endedText,
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', onclick: this.actions.list, 'data-testid': 'ended-contacts' }, t('contacts.title')),
        h('button', { type: 'button', onclick: this.actions.forget, 'data-testid': 'forget-contact' }, t('contacts.forget'))),
      h('p', { class: 'muted small' }, t('contacts.forgetHelp')));
  }

  async end() {
    const peer = this.conversation.record.peer;
    const sure = await modal((close) =>
      h('div', { class: 'stack' },
        h('h2', {}, t('contacts.endTitle', { peer })),
        h('p', {}, t('contacts.endBody', { peer })),
        h('div', { class: 'row end' },
          h('button', { type: 'button', onclick: () => close(false) }, t('dialog.cancel')),
          h('button', { type: 'button', class: 'danger', onclick: () => close(true), 'data-testid': 'end-contact-confirm' }, t('contacts.end')))));
    if (sure) this.actions.end();
  }
}

function addedNotice(peer, lobby) {
  return h('div', { class: 'banner notice', role: 'status', 'data-testid': 'contact-added' },
    h('p', {}, t('contacts.added', { peer })),
    h('button', { type: 'button', onclick: lobby, 'data-testid': 'contact-added-lobby' }, t('contacts.meetNew')));
}
