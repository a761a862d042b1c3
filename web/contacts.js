// Keeping in touch, as the page shows it: the proposal strip of a match, the contacts list with its unread counts,
// a contact's conversation screen and what its buttons do. The protocol is the SDK's Client: `contact.propose`,
// `contact.added` carrying the match's conversation on, catching every contact up after a reload or reconnect
// (`GET /v1/contacts`, `resume`), a key change (the contact's new device, or this device taking the conversation
// over), a takeover by another session of ours, and the end of a contact.
// What the page adds to a conversation's record (saved with it by the SDK, which leaves these names alone):
// `keep` (who proposed, for the strip), `seen_seq` (what was read, for unread), `key_changed` (a safety-number
// notice not yet acknowledged: `theirs`, `mine` or `elsewhere`), `ended_how` (`you_ended`, `you_blocked`: the
// server's `contact.ended` does not say who).

import { toast } from './dom.js';
import { getLang, t } from './i18n.js';
import { ContactChatView } from './views/contact-chat.js';
import { renderContacts } from './views/contacts.js';
import { keepInTouch } from './views/keep.js';

export class Contacts {
  /** @param {import('./app.js').App} app for the client, the match on screen, the state and the screens */
  constructor(app) {
    this.app = app;
    /** The contact conversation on screen; match_id → its view, kept while the language stays. */
    this.openId = null;
    this.views = new Map();
    /** The match that has just become a contact: its screen says so once. */
    this.justAdded = null;
    /** match_id → how this side is ending it, until the SDK says it ended. */
    this.ending = new Map();
    const client = app.client;
    client.on('contactProposed', ({ matchId }) => this.proposed(matchId));
    client.on('contactAdded', (detail) => this.added(detail));
    client.on('contactEnded', ({ matchId }) => this.ended(matchId));
    client.on('safetyNumberChanged', ({ matchId, by }) => this.keyChanged(matchId, by));
    client.on('takenOver', ({ matchId }) => this.takenOver(matchId));
    client.on('keyRefused', ({ matchId, reason }) => {
      const peer = client.conversations.get(matchId)?.record.peer;
      toast(t(reason === 'replayed' ? 'contacts.keyReplayed' : 'contacts.keyRefused', { peer }), 'error');
    });
    for (const name of ['message', 'undecryptable', 'failed']) client.on(name, ({ matchId }) => this.changed(matchId));
  }

  get client() {
    return this.app.client;
  }

  /** Every contact conversation this browser holds (stored here, or listed by the server). */
  get conversations() {
    return new Map([...this.client.conversations].filter(([, c]) => c.isContact));
  }

  /** Sign-out: nothing of the contacts stays in the page. */
  reset() {
    this.views.clear();
    this.ending.clear();
    Object.assign(this, { openId: null, justAdded: null });
  }

  // --- keeping in touch -------------------------------------------------------------------------------------

  /** The strip on the match's chat screen. */
  keepBar(c) {
    return keepInTouch(c, this.app.changes.of(c.id), () => this.propose(c));
  }

  async propose(c) {
    try {
      await this.client.proposeContact(c.id);
    } catch (e) {
      return toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
    // When the other had proposed, `contact.added` came before this `ok`.
    if (c.isContact) return;
    this.note(c, { keep: { ...c.record.keep, mine: true } });
  }

  proposed(matchId) {
    const c = this.app.matches.conversation;
    // Another tab of ours asked for this match: only it holds the key, and it shows the proposal.
    if (c?.id === matchId) this.note(c, { keep: { ...c.record.keep, theirs: true } });
  }

  /** `contact.added` (or a contact the server lists that this page did not know): the lobby is free again. */
  added({ matchId, lastSeq }) {
    const c = this.client.conversations.get(matchId);
    if (!c) return;
    delete c.record.keep;
    // What came before this device held the conversation is unreadable here; it is not "unread".
    c.record.seen_seq ??= lastSeq ?? c.record.highest_seq;
    c.persist();
    const live = this.app.matches.release(matchId);
    this.app.chatView = null;
    if (live && this.app.state.screen === 'chat') {
      this.justAdded = matchId;
      this.open(matchId);
    } else {
      if (live) toast(t('contacts.addedToast', { peer: c.record.peer }));
      this.changed();
    }
  }

  // --- keys -------------------------------------------------------------------------------------------------

  keyChanged(matchId, by) {
    const c = this.client.conversations.get(matchId);
    if (!c) return;
    this.note(c, { key_changed: by });
    this.app.changes.dispatch(matchId, 'rekeyed');
  }

  /** Another session of this person's took the conversation over: said at once, never silent. */
  takenOver(matchId) {
    const c = this.client.conversations.get(matchId);
    if (!c) return;
    toast(t('contacts.keyElsewhere', { peer: c.record.peer }), 'error');
    this.note(c, { key_changed: 'elsewhere' });
    this.app.changes.dispatch(matchId, 'rekeyed');
  }

  /** "Use this device": a fresh key pair, published with `contact.key`; the old device reads nothing new. */
  async takeOver(c) {
    try {
      await this.client.takeOver(c.id);
    } catch (e) {
      if (e.kind) return toast(t(e.kind === 'unsupported' ? 'error.e2e_unsupported' : 'chat.keyRefused'), 'error');
      return toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
  }

  async keySeen(c) {
    c.record.key_changed = null;
    await c.save().catch(() => {});
  }

  // --- ending -----------------------------------------------------------------------------------------------

  async end(c) {
    this.ending.set(c.id, 'you_ended');
    try {
      await this.client.endContact(c.id);
    } catch (e) {
      // not_found: it had ended already (by the other side).
      if (e.code !== 'not_found') {
        this.ending.delete(c.id);
        return toast(t(`error.${e.code}`, {}, e.message), 'error');
      }
      c.end('contact_ended');
    }
    this.ended(c.id);
  }

  async block(c) {
    this.ending.set(c.id, 'you_blocked');
    try {
      await this.client.block(c.id);
    } catch (e) {
      this.ending.delete(c.id);
      return toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
    toast(t('block.done'));
    c.end('contact_ended');
    this.ended(c.id);
  }

  /** The contact ended (either side, or missing from the list): no more messages; the transcript stays here. */
  ended(matchId) {
    const c = this.client.conversations.get(matchId);
    if (!c?.ended) return;
    const how = this.ending.get(matchId);
    this.ending.delete(matchId);
    if (how) this.note(c, { ended_how: how });
    else if (!c.record.ended_how && !this.onScreen(c)) toast(t('contacts.endedToast', { peer: c.record.peer }));
    this.app.changes.dispatch(matchId, 'change');
    this.changed();
  }

  async forget(c) {
    this.views.delete(c.id);
    await this.client.forget(c.id).catch(() => {});
    this.showList();
  }

  /** A change of the page's own to a conversation's record: saved with it, and shown. */
  note(c, fields) {
    Object.assign(c.record, fields);
    c.persist();
    this.app.changes.dispatch(c.id, 'change');
  }

  // --- screens ----------------------------------------------------------------------------------------------

  showList() {
    this.openId = null;
    this.app.state.panel = false;
    this.app.show('contacts');
  }

  open(id) {
    this.openId = id;
    this.app.show('contact');
  }

  onScreen(c) {
    return this.app.state.screen === 'contact' && this.openId === c.id;
  }

  listScreen() {
    const items = [...this.conversations.values()].map((c) => ({
      id: c.id,
      peer: c.record.peer,
      since: c.record.contact.since,
      unread: unread(c),
      ended: c.ended,
      keyless: !c.record.identity,
      last: c.messages.at(-1)?.at ?? Date.parse(c.record.contact.since),
    }));
    // Open ones first, the latest conversation at the top.
    items.sort((a, b) => Boolean(a.ended) - Boolean(b.ended) || b.last - a.last);
    return renderContacts(items, { open: (id) => this.open(id), back: () => this.app.matches.toLobby() });
  }

  conversationScreen() {
    const c = this.client.conversations.get(this.openId);
    if (!c?.isContact) return this.listScreen();
    let view = this.views.get(c.id);
    if (view?.conversation === c && view.lang === getLang()) {
      if (this.justAdded !== c.id) view.shownAgain();
    } else {
      const m = this.app.matches;
      view = new ContactChatView(c, this.app.changes.of(c.id), {
        send: (text) => m.send(text, c),
        typing: () => this.client.typing(c.id),
        block: () => this.block(c),
        // A contact can be reported like the stranger they were: the report names the contact's match.
        report: (reason, details, seqs) => m.report(reason, details, seqs, c.id),
        end: () => this.end(c),
        takeOver: () => this.takeOver(c),
        keySeen: () => this.keySeen(c),
        forget: () => this.forget(c),
        list: () => this.showList(),
        lobby: () => m.toLobby(),
      }, this.justAdded === c.id);
      view.lang = getLang();
      this.views.set(c.id, view);
    }
    this.justAdded = null;
    this.seen(c);
    return view.el;
  }

  // --- unread -----------------------------------------------------------------------------------------------

  /** A contact conversation changed: what is on screen is read; the count in the bar and the list follow. */
  changed(matchId = null) {
    const c = matchId == null ? null : this.client.conversations.get(matchId);
    if (matchId != null && !c?.isContact) return;
    if (c && this.onScreen(c)) this.seen(c);
    const s = this.app.state;
    const total = [...this.conversations.values()].reduce((n, each) => n + unread(each), 0);
    if (s.contactsUnread !== total) {
      s.contactsUnread = total;
      this.app.renderHeader();
    }
    if (s.screen === 'contacts') this.app.render();
  }

  seen(c) {
    // The SDK moves `highest_seq` past a message just after telling of it: the newest message counts too.
    const newest = Math.max(c.record.highest_seq, ...c.messages.map((m) => m.seq ?? 0));
    if (c.record.seen_seq === newest) return;
    c.record.seen_seq = newest;
    c.save().catch(() => {});
    this.changed();
  }
}

function unread(c) {
  const seen = c.record.seen_seq ?? 0;
  return c.messages.filter((m) => !m.mine && m.seq > seen).length;
}
