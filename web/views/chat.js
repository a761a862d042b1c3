// The conversation screen: the stranger's handle, what the two have in common (the interests and languages of
// `match.found`, nothing else of the other's profile), the safety number to compare, the transcript with
// sent/delivered marks, the typing indicator, the composer, and what to do once the match is over. The
// transcript is updated in place (one element per message, keyed), so typing is never interrupted. A contact's
// conversation is this screen with its own buttons and notices (views/contact-chat.js extends it). The report
// dialog offers the stranger's messages to reveal as proof (the SDK's crypto/franking.js), up to 20 picked; none is
// picked by default; the SDK's `report` reveals the picked ones.

import { formValues, h, modal } from '../dom.js';
import { MAX_EVIDENCE, revealable } from '../sdk/crypto/franking.js';
import { formatClock, t } from '../i18n.js';
import { icon } from '../icons.js';
import { topicLabel } from '../interests.js';
import { languageName } from '../languages.js';

/** Hide the peer's typing indicator after this long without another `typing`. */
const TYPING_SHOWN_MS = 4_000;
const REPORT_REASONS = ['spam', 'harassment', 'nudity', 'hate', 'scam', 'underage', 'child_sexual_abuse', 'other'];

export class ChatView {
  /**
   * @param {import('../sdk/conversation.js').Conversation} conversation the SDK's
   * @param {EventTarget} events its `change` and `typing` (web/changes.js)
   * @param {{send, typing, leave, next, block, report, claim, lobby}} actions
   * @param {Node|Array|null} stage what goes above the transcript: the keep-in-touch strip, a video call's view
   */
  constructor(conversation, events, actions, stage = null) {
    this.conversation = conversation;
    this.events = events;
    this.actions = actions;
    this.items = new Map();
    this.list = h('ol', { class: 'messages', 'data-testid': 'messages', 'aria-live': 'polite' });
    this.typingNote = h('p', { class: 'typing', hidden: true, 'data-testid': 'typing' }, t('chat.typing'));
    this.endedBox = h('div', { class: 'ended', hidden: true, 'data-testid': 'ended' });
    this.input = h('textarea', {
      name: 'text', rows: 1, maxlength: 4000, placeholder: t('chat.placeholder'), 'data-testid': 'composer',
      oninput: () => actions.typing(),
      onkeydown: (e) => e.key === 'Enter' && !e.shiftKey && (e.preventDefault(), this.composer.requestSubmit()),
    });
    this.composer = h('form', { class: 'composer', onsubmit: (e) => this.submit(e) },
      this.input, h('button', { class: 'primary', type: 'submit', 'data-testid': 'send' }, t('chat.send')));

    const c = conversation;
    this.el = h('section', { class: `chat kind-${c.record.kind}`, 'data-screen': 'chat', 'data-match': c.id },
      h('header', { class: 'chat-head' },
        h('div', { class: 'who' },
          h('span', { class: 'avatar', 'aria-hidden': 'true' }, c.record.peer.slice(0, 1).toUpperCase()),
          h('div', {},
            h('strong', { 'data-testid': 'peer-handle' }, c.record.peer),
            h('small', { class: 'muted' }, this.subtitle(), ' · ', t('chat.e2e')))),
        h('div', { class: 'actions' }, this.headerActions())),
      this.sharedStrip(),
      this.safetyStrip(),
      this.keyBanner(),
      stage,
      h('div', { class: 'transcript' }, this.list, this.typingNote),
      this.endedBox,
      this.composer);

    events.addEventListener('change', () => this.update());
    events.addEventListener('typing', () => this.peerTyping());
    this.update();
  }

  /** The interests and languages both profiles list, as `match.found` named them; nothing when there are none. */
  sharedStrip() {
    const { shared_interests: interests = [], shared_languages: languages = [] } = this.conversation.record;
    if (!interests.length && !languages.length) return null;
    const group = (label, testid, items) => items.length > 0 && h('p', {},
      h('span', { class: 'muted' }, label, ': '),
      items.map((text) => h('span', { class: 'chip small', 'data-testid': testid }, text)));
    return h('div', { class: 'shared', 'data-testid': 'shared' },
      group(t('chat.sharedInterests'), 'shared-interest', interests.map(topicLabel)),
      group(t('chat.sharedLanguages'), 'shared-language', languages.map(languageName)));
  }

  subtitle() {
    return t(`chat.kind.${this.conversation.record.kind}`);
  }

  /** The buttons beside the handle (a contact's conversation has its own: views/contact-chat.js). */
  headerActions() {
    return [
      h('button', { type: 'button', onclick: () => this.report(), 'data-testid': 'report' }, t('chat.report')),
      h('button', { type: 'button', onclick: () => this.block(), 'data-testid': 'block' }, t('chat.block')),
      h('button', { type: 'button', class: 'leave', onclick: this.actions.leave, 'data-testid': 'leave' }, t('chat.leave')),
      h('button', { type: 'button', class: 'primary', onclick: this.actions.next, 'data-testid': 'next' }, t('chat.next'))];
  }

  keyBanner() {
    return this.conversation.keyError && h('p', { class: 'banner error', role: 'alert', 'data-testid': 'e2e-error' }, t('chat.keyRefused'));
  }

  safetyStrip() {
    const number = this.conversation.safetyNumber;
    if (!number) return null;
    return h('details', { class: 'safety' },
      h('summary', {}, icon('lock'), ' ', t('chat.safety'), ' ', h('code', { 'data-testid': 'safety-number' }, number)),
      h('p', { class: 'muted small' }, t('chat.safetyHelp')));
  }

  async submit(event) {
    event.preventDefault();
    const text = this.input.value;
    if (!text.trim()) return;
    if (await this.actions.send(text)) {
      this.input.value = '';
      this.input.focus();
    }
  }

  peerTyping() {
    this.typingNote.hidden = false;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => (this.typingNote.hidden = true), TYPING_SHOWN_MS);
  }

  update() {
    const nearBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    // By seq, a late message of the stranger's where they wrote it, ours not yet accepted last (the SDK's rule).
    const sorted = this.conversation.ordered();
    for (const message of sorted) {
      let item = this.items.get(message.key);
      if (!item) {
        item = this.renderMessage(message);
        this.items.set(message.key, item);
        // A message from the stranger ends their typing.
        if (!message.mine) this.typingNote.hidden = true;
      }
      this.updateMessage(item, message);
      this.list.append(item);
    }
    if (nearBottom) this.list.scrollTop = this.list.scrollHeight;
    this.renderEnded();
  }

  renderMessage(message) {
    const notice = { foreign: 'chat.foreign', unverified: 'chat.unverified' }[message.status] ?? 'chat.undecryptable';
    const body = message.text != null
      ? h('p', { class: 'text' }, message.text)
      : h('p', { class: 'text notice' }, t(notice));
    return h('li', { class: `message ${message.mine ? 'mine' : 'theirs'}`, 'data-testid': 'message' },
      body, h('span', { class: 'meta' }, h('time', {}, formatClock(message.at)), h('span', { class: 'mark' })));
  }

  updateMessage(item, message) {
    item.dataset.status = message.status;
    if (message.seq != null) item.dataset.seq = message.seq;
    const mark = item.querySelector('.mark');
    if (!message.mine) return;
    const name = { sending: 'clock', sent: 'check', delivered: 'checks', failed: 'alert' }[message.status];
    if (!name || mark.dataset.icon === name) return;
    mark.dataset.icon = name;
    mark.title = t(`chat.status.${message.status}`);
    mark.replaceChildren(icon(name, mark.title));
  }

  renderEnded() {
    const reason = this.conversation.ended;
    this.composer.hidden = Boolean(reason) || Boolean(this.conversation.keyError);
    // Once it is over, "leave" has nothing to do and "next" moves down to the end-of-match box.
    for (const button of this.el.querySelectorAll('.actions .leave, .actions .primary')) button.hidden = Boolean(reason);
    if (!reason || !this.endedBox.hidden) return;
    this.endedBox.hidden = false;
    this.typingNote.hidden = true;
    this.endedBox.append(
      h('p', {}, t(`ended.${reason}`, {}, t('ended.gone'))),
      h('div', { class: 'row' },
        h('button', { type: 'button', class: 'primary', onclick: this.actions.next, 'data-testid': 'ended-next' }, t('chat.next')),
        h('button', { type: 'button', onclick: this.actions.lobby, 'data-testid': 'ended-lobby' }, t('chat.lobby')),
        h('button', { type: 'button', onclick: this.actions.claim, 'data-testid': 'claim' }, t('chat.claim'))),
      h('p', { class: 'muted small' }, t('chat.claimHelp')));
  }

  async block() {
    const sure = await modal((close) =>
      h('div', { class: 'stack' },
        h('h2', {}, t('block.title', { peer: this.conversation.record.peer })),
        h('p', {}, t('block.body')),
        h('div', { class: 'row end' },
          h('button', { type: 'button', onclick: () => close(false) }, t('dialog.cancel')),
          h('button', { type: 'button', class: 'danger', onclick: () => close(true), 'data-testid': 'block-confirm' }, t('chat.block')))));
    if (sure) this.actions.block();
  }

  async report() {
    const c = this.conversation;
    const values = await modal((close) => {
      const picks = () => [...form.querySelectorAll('[data-testid=report-evidence]:checked')].map((box) => Number(box.dataset.seq));
      const form = h('form', { class: 'stack', onsubmit: (e) => (e.preventDefault(), close({ ...formValues(form), seqs: picks() })) },
        h('h2', {}, t('report.title', { peer: c.record.peer })),
        // One tap, apart from the form: it carries no words and no messages (docs/admin.md "Declarations"). Only
        // where a gender was asked for: a match of this device's own find with `seeking` (the SDK's `filtered`).
        c.filtered && h('div', { class: 'stack' },
          h('button', { type: 'button', onclick: () => close({ reason: 'not_as_declared', seqs: [] }), 'data-testid': 'report-not-as-declared' },
            t('report.notAsDeclared')),
          h('p', { class: 'muted small' }, t('report.notAsDeclaredHelp'))),
        h('label', {}, t('report.reason'),
          h('select', { name: 'reason', required: true, 'data-testid': 'report-reason' },
            REPORT_REASONS.map((r) => h('option', { value: r }, t(`report.reason.${r}`))))),
        h('label', {}, t('report.details'), h('textarea', { name: 'details', maxlength: 1000, rows: 3 })),
        evidencePicker(revealable(c.messages)),
        h('p', { class: 'muted small' }, t('report.privacy')),
        h('div', { class: 'row end' },
          h('button', { type: 'button', onclick: () => close(), 'data-testid': 'report-cancel' }, t('dialog.cancel')),
          h('button', { type: 'submit', class: 'danger', 'data-testid': 'report-submit' }, t('report.send'))));
      return form;
    });
    if (values) this.actions.report(values.reason, values.details, values.seqs);
  }
}

/**
 * The stranger's messages the user may attach, as checkboxes (unnamed, so formValues leaves them out): every one
 * the conversation still holds, newest first, in a list that scrolls. At most MAX_EVIDENCE can be picked: once
 * that many are, the others are disabled until one is unpicked. Only the seq is in the page; the franking key and
 * the text's bytes stay in the conversation's record until the report is sent.
 */
function evidencePicker(messages) {
  const count = h('p', { class: 'muted small', 'data-testid': 'report-evidence-count' });
  const boxes = messages.map((m) => h('input', { type: 'checkbox', 'data-testid': 'report-evidence', 'data-seq': m.seq }));
  const update = () => {
    const picked = boxes.filter((box) => box.checked).length;
    for (const box of boxes) box.disabled = !box.checked && picked >= MAX_EVIDENCE;
    count.textContent = t('report.evidenceCount', { count: picked, max: MAX_EVIDENCE });
  };
  update();
  const list = messages.length
    ? h('div', { class: 'picks', onchange: update }, messages.map((m, i) => h('label', { class: 'check' },
      boxes[i],
      h('span', {}, h('span', { class: 'pick-text' }, m.text), ' ', h('time', { class: 'muted small' }, formatClock(m.at))))))
    : h('p', { class: 'muted small' }, t('report.evidenceNone'));
  return h('fieldset', { class: 'evidence', 'data-testid': 'report-picker' },
    h('legend', {}, t('report.evidence')),
    h('p', { class: 'muted small' }, t('report.evidenceHelp')),
    list,
    messages.length ? count : null);
}
