// Keeping in touch (docs/protocol.md: `contact.*`, and section 9 "Contacts"): the proposal during a match, the
// contact conversations that outlive their match, their catching up after a reload or a reconnect, a key change
// (this device taking a conversation over, or the contact's new device), the end of a contact, and what the
// contact screens' buttons do. matches.js owns the match we are in and hands it over here once both kept it.
// Each contact is a Conversation (conversation.js), persisted by match_id as a match is, so delivery and
// encryption stay there; its record carries `contact` ({since}) and `seen_seq` (what was read, for unread).

import { Conversation } from './conversation.js';
import { toast } from './dom.js';
import * as e2e from './sdk/crypto/e2e.js';
import { getLang, t } from './i18n.js';
import * as storage from './storage.js';
import { ContactChatView } from './views/contact-chat.js';
import { renderContacts } from './views/contacts.js';
import { keepInTouch } from './views/keep.js';

export class Contacts {
  /** @param {import('./app.js').App} app for the socket, the REST client, the match, the state and the screens */
  constructor(app) {
    this.app = app;
    /** match_id → Conversation: every contact this device knows of (stored here, or listed by the server). */
    this.conversations = new Map();
    /** The stored contacts, read once per sign-in. */
    this.restored = null;
    /** The contact conversation on screen; match_id → its view, kept while the language stays. */
    this.openId = null;
    this.views = new Map();
    /** The match that has just become a contact: its screen says so once. */
    this.justAdded = null;
    /** match_id → how this side is ending it (`you_ended`, `you_blocked`): `contact.ended` does not say. */
    this.ending = new Map();
  }

  get socket() {
    return this.app.socket;
  }

  /** Sign-out: nothing of the contacts stays in memory (storage.clearAll empties the disk). */
  reset() {
    this.conversations.clear();
    this.views.clear();
    Object.assign(this, { restored: null, openId: null, justAdded: null });
  }

  // --- frames -----------------------------------------------------------------------------------------------

  /** The contact frames, and every frame of a contact conversation; false for anything else. */
  onFrame(frame) {
    switch (frame.type) {
      case 'contact.proposed':
        this.proposed(frame.match_id);
        return true;
      case 'contact.added':
        this.added(frame.contact).catch((e) => console.error(e));
        return true;
      case 'contact.ended':
        this.ended(frame.match_id);
        return true;
      case 'contact.key':
        // `mine`: another of this person's sessions took the conversation over; else the contact's new key.
        if (frame.mine) this.takenOver(frame.match_id, frame.public_key);
        else this.peerKey(frame.match_id, frame.peer_public_key).catch((e) => console.error(e));
        return true;
      case 'error': {
        // A refused `msg.send` or `resume` of a contact: the frame's id is its client_msg_id or resume id.
        const owner = [...this.conversations.values()].find((c) =>
          c.resumeId === frame.id || c.record.pending.some((p) => p.client_msg_id === frame.id));
        owner?.handle(frame);
        return Boolean(owner);
      }
      default: {
        const c = frame.match_id != null && this.conversations.get(frame.match_id);
        if (c) c.handle(frame);
        return Boolean(c);
      }
    }
  }

  /** After every `hello` (and `resync`): new contacts, new keys and ended ones from the server, then `resume`. */
  async sync() {
    this.restored ??= this.restoreStored();
    await this.restored;
    const endedBefore = new Set([...this.conversations.values()].filter((c) => c.ended).map((c) => c.id));
    // Keys first: a message the contact sealed to a new key while we were away must find the new session.
    await this.refresh();
    // An ended contact is resumed once more, to collect what was stored (and to have a message written
    // meanwhile refused, and so shown as not sent).
    for (const c of this.conversations.values()) if (!endedBefore.has(c.id)) c.resume();
    this.changed();
  }

  async restoreStored() {
    const records = (await storage.allMatches().catch(() => [])).filter((r) => r.contact);
    for (const record of records) this.track(await Conversation.restore(record, this.socket));
  }

  /** `GET /v1/contacts`: contacts made on another device, keys changed and contacts ended while we were away. */
  async refresh() {
    const known = new Set(this.conversations.keys());
    let listed;
    try {
      ({ contacts: listed } = await this.app.api.contacts());
    } catch {
      return;
    }
    const open = new Set();
    for (const info of listed) {
      open.add(info.match_id);
      if (!this.conversations.has(info.match_id)) {
        // Kept while this page was away (its `contact.added` missed): as if it came now.
        if (this.app.matches.conversation?.id === info.match_id) await this.added(info);
        else await this.load(info);
      }
      const c = this.conversations.get(info.match_id);
      c.record.peer = info.peer;
      await this.peerKey(info.match_id, info.peer_public_key);
    }
    // Only those known before the list was asked for: one added since is not in it yet.
    for (const id of known) if (!open.has(id)) this.ended(id);
  }

  /** A contact's conversation from this device's storage, or (this device never held its key) a keyless one. */
  async load(info) {
    const saved = await storage.loadMatch(info.match_id).catch(() => null);
    const record = saved ?? {
      match_id: info.match_id, kind: 'text', peer: info.peer, peer_public_key: info.peer_public_key,
      initiator: info.initiator, expires_at: null, identity: null, sent: 0n, received: 0n, highest_seq: 0,
      pending: [], unacked: [], messages: [], ended: null,
      // What came before this device is unreadable here; it is not "unread".
      seen_seq: info.last_seq ?? 0,
    };
    record.contact ??= { since: info.since };
    const c = await Conversation.restore(record, this.socket);
    // Another path may have loaded it meanwhile (a `contact.added` during a sync): one object per contact.
    if (this.conversations.has(c.id)) return this.conversations.get(c.id);
    this.track(c);
    await c.save().catch(() => {});
    return c;
  }

  track(c) {
    this.conversations.set(c.id, c);
    c.addEventListener('change', () => this.changed(c));
    c.addEventListener('storage-error', () => toast(t('error.storage'), 'error'), { once: true });
  }

  // --- keeping in touch -------------------------------------------------------------------------------------

  /** The strip on the match's chat screen. */
  keepBar(c) {
    return keepInTouch(c, () => this.propose(c));
  }

  async propose(c) {
    try {
      await this.socket.request({ type: 'contact.propose', match_id: c.id });
    } catch (e) {
      return toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
    // When the other had proposed, `contact.added` came before this `ok`.
    if (c.record.contact) return;
    c.record.keep = { ...c.record.keep, mine: true };
    c.persist();
  }

  proposed(matchId) {
    const c = this.app.matches.conversation;
    // Another tab of ours asked for this match: only it holds the key, and it shows the proposal.
    if (c?.id !== matchId) return;
    c.record.keep = { ...c.record.keep, theirs: true };
    c.persist();
  }

  /** `contact.added`: the match goes on as a contact, and the lobby is free again. */
  async added(contact) {
    const id = contact.match_id;
    const live = this.app.matches.release(id);
    // Taken over before anything can await, so that the contact's next frames find it.
    if (live && !this.conversations.has(id)) this.track(live);
    const c = this.conversations.get(id) ?? await this.load(contact);
    const r = c.record;
    delete r.keep;
    // Open, whatever the page thought (a reconnect may have taken it for a match that ended).
    Object.assign(r, { peer: contact.peer, contact: { since: contact.since }, expires_at: null, ended: null });
    r.seen_seq ??= r.highest_seq;
    c.persist();
    if (!live) return c.resume();
    this.app.chatView = null;
    if (this.app.state.screen === 'chat') {
      this.justAdded = id;
      this.open(id);
    } else {
      toast(t('contacts.addedToast', { peer: contact.peer }));
    }
  }

  // --- keys -------------------------------------------------------------------------------------------------

  /** `contact.key` (or a new key in the list): the contact's new device; re-derive and say the number changed. */
  async peerKey(matchId, key) {
    const c = this.conversations.get(matchId);
    if (!c || key === c.record.peer_public_key) return;
    if (c.record.retired_peer_keys?.includes(key)) {
      // A key the contact had before: a replay meant to restart an old session's counters (protocol section 9,
      // "Contacts", step 3). The current session stays; the person is told.
      return toast(t('contacts.keyReplayed', { peer: c.record.peer }), 'error');
    }
    if (!c.record.identity) {
      // Nothing to re-derive on a device without the key; taking it over will use this one.
      c.record.peer_public_key = key;
      return c.persist();
    }
    let next;
    try {
      next = await c.prepareKey({ peerPublicKey: key });
    } catch (e) {
      // A refused key means no conversation (protocol section 9.2), never plaintext.
      Object.assign(c, { session: null, keyError: e });
      return c.changed();
    }
    // The same key may have come twice (the frame and the list) while this one was deriving: apply it once,
    // or the counters would start again under a key already used.
    if (key !== c.record.peer_public_key) c.applyKey(next, 'theirs');
  }

  /**
   * `contact.key` with `mine`: another session of this person's published `key`, so this device's key no longer
   * reads the conversation. It becomes keyless here (it can take it back), and the person is told at once: a
   * takeover by a stolen session is never silent.
   */
  takenOver(matchId, key) {
    const c = this.conversations.get(matchId);
    if (!c?.record.identity || e2e.toBase64(c.record.identity.publicKey) === key) return;
    Object.assign(c.record, { identity: null, previous: null, key_changed: 'elsewhere' });
    Object.assign(c, { session: null, previous: null, keyError: new e2e.E2eError('unsupported') });
    toast(t('contacts.keyElsewhere', { peer: c.record.peer }), 'error');
    c.dispatchEvent(new Event('rekeyed'));
    c.persist();
  }

  /** "Use this device": a fresh key pair, published with `contact.key`; the old device reads nothing new. */
  async takeOver(c) {
    let next;
    try {
      next = await c.prepareKey({ identity: e2e.generateIdentity() });
    } catch (e) {
      return toast(t(e.kind === 'unsupported' ? 'error.e2e_unsupported' : 'chat.keyRefused'), 'error');
    }
    try {
      await this.socket.request({ type: 'contact.key', match_id: c.id, public_key: e2e.toBase64(next.identity.publicKey) });
    } catch (e) {
      return toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
    // Synchronously after the `ok`: no frame of the contact is handled before the new session is in place.
    c.applyKey(next, 'mine');
  }

  async keySeen(c) {
    c.record.key_changed = null;
    await c.save().catch(() => {});
  }

  // --- ending -----------------------------------------------------------------------------------------------

  async end(c) {
    this.ending.set(c.id, 'you_ended');
    try {
      await this.app.api.endContact(c.id);
    } catch (e) {
      // not_found: it had ended already (by the other side); the list says so below.
      if (e.code !== 'not_found') {
        this.ending.delete(c.id);
        return toast(t(`error.${e.code}`, {}, e.message), 'error');
      }
    }
    this.ended(c.id);
  }

  async block(c) {
    this.ending.set(c.id, 'you_blocked');
    try {
      await this.socket.request({ type: 'block', match_id: c.id });
    } catch (e) {
      this.ending.delete(c.id);
      return toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
    toast(t('block.done'));
    this.ended(c.id);
  }

  /** `contact.ended` (or missing from the list): no more messages either way; the transcript stays here. */
  ended(matchId) {
    const c = this.conversations.get(matchId);
    if (!c || c.ended) return;
    c.end(this.ending.get(matchId) ?? 'contact_ended');
    this.ending.delete(matchId);
    if (!this.onScreen(c)) toast(t('contacts.endedToast', { peer: c.record.peer }));
  }

  async forget(c) {
    this.conversations.delete(c.id);
    this.views.delete(c.id);
    await storage.deleteMatch(c.id).catch(() => {});
    this.showList();
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
    const c = this.conversations.get(this.openId);
    if (!c) return this.listScreen();
    let view = this.views.get(c.id);
    if (view?.conversation === c && view.lang === getLang()) {
      if (this.justAdded !== c.id) view.shownAgain();
    } else {
      const m = this.app.matches;
      view = new ContactChatView(c, {
        send: (text) => m.send(text, c),
        typing: () => c.typing(),
        block: () => this.block(c),
        // A contact can be reported like the stranger they were: the report names the contact's match.
        report: (reason, details, evidence) => m.report(reason, details, evidence, c.id),
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

  /** Any contact conversation changed: what is on screen is read; the count in the bar and the list follow. */
  changed(c = null) {
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
    if (c.record.seen_seq === c.record.highest_seq) return;
    c.record.seen_seq = c.record.highest_seq;
    c.save().catch(() => {});
    this.changed();
  }
}

function unread(c) {
  const seen = c.record.seen_seq ?? 0;
  return c.messages.filter((m) => !m.mine && m.seq > seen).length;
}
