// The controller: boots the session, puts the screens up, and turns the account's actions (sign-in, language,
// location, notifications, bans) into REST calls. The protocol is the SDK's Client (sdk/typescript/src/client.js,
// served at /app/sdk/): tokens, the socket, matching, delivery, encryption, contacts. The match on screen is
// matches.js's, the people we kept in touch with are contacts.js's, the call is video.js's; the views only render
// what they are handed.

import { AgeAssurance } from './age.js';
import { Api } from './api.js';
import { Changes } from './changes.js';
import { Contacts } from './contacts.js';
import { fill, h, toast } from './dom.js';
import { formatTime, getLang, initLang, setLang, t } from './i18n.js';
import { vocabulary } from './interests.js';
import { Matches } from './matches.js';
import { Client } from './sdk/client.js';
import { Socket } from './socket.js';
import { clearAll, store } from './storage.js';
import { upgrade } from './upgrade.js';
import { remoteCandidates } from './video.js';
import { renderAccount } from './views/account.js';
import { renderAuth } from './views/auth.js';
import { parseBanMessage, renderBanned } from './views/ban.js';
import { renderCall } from './views/call.js';
import { ChatView } from './views/chat.js';
import { renderHeader } from './views/header.js';
import { renderLobby, renderWaiting } from './views/lobby.js';
import { renderPanel } from './views/panel.js';
import { ProfileView } from './views/profile.js';

export class App {
  constructor() {
    this.client = new Client({
      baseUrl: location.origin,
      // The WebSocket of the moment of each connect, not of this module's load: the browser tests route the socket
      // through themselves (playwright's routeWebSocket, which replaces window.WebSocket) and reconnect it.
      WebSocket: function PageWebSocket(url, protocols) {
        return new window.WebSocket(url, protocols);
      },
      storage: store,
      // The secrets (token pair, private keys) in the same IndexedDB store: a browser has nothing more private to
      // offer a page than its origin's storage (a second database would sit beside the first, readable by the same
      // scripts), and the tabs' one-refresh lock needs the pair where a committed write is seen at once. The SDK
      // keeps its keys as raw bytes (docs/sdk.md, "Storage and secrets", says why not non-extractable CryptoKeys).
      secrets: store,
      // The tabs share the token pair: one refresh at a time across them (storage.js says why IndexedDB).
      lock: navigator.locks ? (name, task) => navigator.locks.request(name, task) : undefined,
    });
    this.api = new Api(this.client.api, () => this.sessionGone());
    this.socket = new Socket(this.client);
    /** Each conversation's events, for its views. */
    this.changes = new Changes(this.client);
    this.state = this.freshState();
    this.matches = new Matches(this);
    /** The people we kept in touch with, and their conversations. */
    this.contacts = new Contacts(this);
    /** Proving one's age to the server's provider, when it asks for it (age.js). */
    this.age = new AgeAssurance(this);
    /** The chat screen of the match on screen, kept while it is the same match. */
    this.chatView = null;
    /** The account screen's interests and languages, kept while it is open so that a draft survives re-renders. */
    this.profileView = null;
  }

  freshState() {
    return {
      screen: 'auth', me: null, balances: null, premium: false, connection: 'offline', unread: 0,
      notifications: [], claims: [], ad: null, panel: false, ban: null,
      sessions: null, codeSent: null, contactsUnread: 0,
    };
  }

  async boot() {
    initLang();
    this.listen();
    // What the page before the SDK stored, carried over first (upgrade.js); a failure leaves it for the next load.
    await upgrade().catch((e) => console.warn('tanis: the stored conversations could not be carried over', e));
    await this.client.restore();
    if (!(await this.client.api.load())) return this.show('auth');
    try {
      await this.loadMe();
    } catch (e) {
      if (e.code === 'account_banned') return this.showBan(parseBanMessage(e.message));
      return this.show('auth');
    }
    this.enter();
  }

  async loadMe() {
    const me = await this.api.me();
    Object.assign(this.state, { me, balances: me.balances, premium: me.is_premium });
  }

  enter() {
    this.show(this.matches.finding ? 'waiting' : 'lobby');
    this.socket.start();
    this.loadNotifications();
    // The lobby and the chat name interests by their labels; a failure leaves the ids until the next try.
    vocabulary().then(() => this.state.screen === 'lobby' && this.render(), () => {});
  }

  // --- rendering --------------------------------------------------------------------------------------------

  show(screen) {
    this.state.screen = screen;
    this.render();
  }

  render() {
    this.renderHeader();
    const main = document.getElementById('screen');
    const s = this.state;
    document.body.dataset.view = s.screen;
    switch (s.screen) {
      case 'auth':
        return fill(main, renderAuth({
          login: (p, w) => this.login(p, w),
          register: (v) => this.register(v),
          requestReset: (phone) => this.api.requestReset(phone),
          confirmReset: async (phone, code, password) => {
            await this.api.confirmReset(phone, code, password);
            toast(t('auth.resetDone'));
          },
        }));
      case 'lobby':
        return fill(main, renderLobby(s, {
          find: (kind, nearby, interests, region) => this.matches.find(kind, { nearby, interests, region }),
          setLocation: () => this.setLocation(),
          clearLocation: () => this.updateMe({ location: null }),
          adClicked: (ad) => this.adClicked(ad),
          acceptNotice: () => this.acceptNotice(),
          account: () => this.openAccount(),
          ageCard: () => this.age.card(s.me),
        }));
      case 'account':
        return fill(main, renderAccount(s, this.accountActions(), this.profileScreen()));
      case 'waiting':
        return fill(main, renderWaiting(this.matches.finding ?? { kind: 'text' }, () => this.matches.cancelFind()));
      case 'chat':
        return fill(main, this.chatScreen());
      case 'contacts':
        return fill(main, this.contacts.listScreen());
      case 'contact':
        return fill(main, this.contacts.conversationScreen());
      case 'banned':
        return fill(main, renderBanned(s.ban, {
          status: (phone, password) => this.banDetails(phone, password),
          appeal: (phone, password, text) => this.api.appeal(phone, password, text),
          signOut: () => this.signOut(),
        }));
    }
  }

  renderHeader() {
    const s = this.state;
    fill(document.getElementById('topbar'), renderHeader(s, {
      togglePanel: () => this.togglePanel(),
      toggleLang: () => this.toggleLang(),
      signOut: () => this.signOut(),
      account: () => this.openAccount(),
      contacts: () => this.contacts.showList(),
      reconnect: () => this.socket.reconnect(),
    }));
    const drawer = document.getElementById('drawer');
    drawer.hidden = !s.panel;
    if (s.panel) fill(drawer, renderPanel(s, { close: () => this.togglePanel() }));
  }

  chatScreen() {
    const { conversation: c, call } = this.matches;
    if (!c) return h('p', {}, t('chat.none'));
    if (this.chatView?.conversation !== c) {
      const m = this.matches;
      const callView = call && renderCall(call, {
        callAgain: () => call.callAgain(),
        report: (report) => m.reportCall(report),
        peer: c.record.peer,
      });
      const stage = [this.contacts.keepBar(c), callView];
      this.chatView = new ChatView(c, this.changes.of(c.id), {
        send: (text) => m.send(text),
        typing: () => this.client.typing(c.id),
        leave: () => m.leave(),
        next: () => m.next(),
        lobby: () => m.toLobby(),
        block: () => m.block(),
        report: (reason, details, seqs) => m.report(reason, details, seqs),
        claim: () => m.claim(),
      }, stage);
    }
    return this.chatView.el;
  }

  profileScreen() {
    if (this.profileView) this.profileView.setSaved(this.state.me);
    else this.profileView = new ProfileView(this.state.me, (change) => this.saveProfile(change));
    return this.profileView.el;
  }

  // --- accounts ---------------------------------------------------------------------------------------------

  async login(phone, password) {
    try {
      await this.client.login(phone, password);
    } catch (e) {
      if (e.code !== 'account_banned') throw e;
      return this.banDetails(phone, password, e.message);
    }
    await this.loadMe();
    this.enter();
  }

  async register({ phone, password, alias, birthYear, referralCode, consent }) {
    await this.client.register({ phone, password, alias, birthYear: Number(birthYear), acceptPrivacyNotice: consent, referralCode });
    await this.loadMe();
    // The server writes notifications in the user's language: start it with the one on screen.
    this.updateMe({ locale: getLang() }, { quiet: true });
    this.enter();
  }

  /** Signs this session out on the server, then forgets it here. */
  async signOut() {
    this.banned = false;
    // Stopped on purpose first: the socket's close must not read as a session the server refused.
    this.socket.stop();
    await this.client.logout().catch(() => {});
    await this.signedOut();
  }

  /** The server no longer takes this session (signed out elsewhere, revoked, a refused refresh). */
  async sessionGone() {
    await this.client.api.forget();
    await this.signedOut();
  }

  async signedOut() {
    // A ban revokes the tokens: the ban screen stays until the user signs out themself.
    if (this.banned) return;
    this.socket.stop();
    this.matches.reset();
    this.contacts.reset();
    this.changes.clear();
    this.chatView = null;
    this.profileView = null;
    this.state = this.freshState();
    // Nothing of the person stays in this browser: the SDK's keys, conversations and tokens, and the rest. Cleared
    // before the sign-in form shows: a sign-in begun during the clearing had its new connection stopped and its
    // tokens wiped by it (seen in CI: signing in again right after deleting the account never came online).
    await this.client.logout().catch(() => {});
    await clearAll().catch(() => {});
    this.show('auth');
  }

  async updateMe(change, { quiet = false } = {}) {
    try {
      this.state.me = await this.api.updateMe(change);
      if (!quiet) this.render();
    } catch (e) {
      if (!quiet) toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
  }

  /** Interests or languages, from the account screen; a refusal rejects, for the card to show. */
  async saveProfile(change) {
    this.state.me = await this.api.updateMe(change);
    toast(t('profile.saved'));
    if (this.state.screen === 'account') this.render();
  }

  /** A newer privacy notice: matching answers `consent_required` until the version shown is accepted. */
  async acceptNotice() {
    try {
      this.state.me = await this.api.acceptNotice(this.state.me.current_privacy_notice_version);
      this.render();
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
  }

  // --- the account screen -----------------------------------------------------------------------------------

  async openAccount() {
    this.state.panel = false;
    this.profileView = null;
    this.show('account');
    await this.loadSessions();
  }

  async loadSessions() {
    try {
      this.state.sessions = await this.api.sessions();
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
    if (this.state.screen === 'account') this.render();
  }

  accountActions() {
    return {
      back: () => this.show('lobby'),
      sendCode: async () => {
        try {
          this.state.codeSent = await this.api.requestPhoneCode();
        } catch (e) {
          toast(t(`error.${e.code}`, {}, e.message), 'error');
        }
        this.render();
      },
      verify: async ({ code }) => {
        this.state.me = await this.api.verifyPhone(code);
        this.state.codeSent = null;
        toast(t('account.phoneVerified'));
        this.render();
      },
      revoke: async (id) => {
        await this.api.revokeSession(id).catch((e) => toast(t(`error.${e.code}`, {}, e.message), 'error'));
        await this.loadSessions();
      },
      revokeOthers: async () => {
        await this.api.revokeOtherSessions().catch((e) => toast(t(`error.${e.code}`, {}, e.message), 'error'));
        await this.loadSessions();
      },
      changePassword: async ({ current, next }) => {
        await this.api.changePassword(current, next);
        toast(t('account.passwordChanged'));
        await this.loadSessions();
      },
      download: () => this.downloadExport(),
      deleteAccount: async ({ password }) => {
        const { purge_after: purgeAfter } = await this.api.deleteAccount(password);
        toast(t('account.deleted', { date: formatTime(purgeAfter) }));
        await this.sessionGone();
      },
    };
  }

  /** The KVKK export as a file the browser saves; nothing of it is kept in the page. */
  async downloadExport() {
    try {
      const data = await this.api.exportData();
      const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: 'application/json' }));
      const link = h('a', { href: url, download: 'tanis-export.json', 'data-testid': 'export-link' });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
  }

  setLocation() {
    if (!navigator.geolocation) return toast(t('lobby.noGeolocation'), 'error');
    navigator.geolocation.getCurrentPosition(
      // Two decimals (about a kilometre) are plenty for "nearby", and all the server ever needs to hold.
      ({ coords }) => this.updateMe({ location: { lat: round2(coords.latitude), lon: round2(coords.longitude) } }),
      () => toast(t('lobby.noGeolocation'), 'error'),
      { maximumAge: 600_000, timeout: 15_000 });
  }

  toggleLang() {
    setLang(getLang() === 'tr' ? 'en' : 'tr');
    this.chatView = null;
    this.render();
    if (!this.state.me) return;
    this.updateMe({ locale: getLang() }, { quiet: true }).then(() => {
      this.loadNotifications();
      // Languages never chosen are the notification language's: the account screen shows the new one.
      if (this.state.screen === 'account') this.render();
    });
  }

  // --- bans -------------------------------------------------------------------------------------------------

  async onBanned() {
    this.banned = true;
    this.matches.endCall();
    let ban = { reason_code: null, ends_at: null };
    try {
      await this.api.me();
    } catch (e) {
      if (e.code === 'account_banned') ban = parseBanMessage(e.message);
    }
    this.showBan(ban);
  }

  async banDetails(phone, password, message = null) {
    try {
      const status = await this.api.banStatus(phone, password);
      this.showBan({ ...status, detailed: true });
    } catch (e) {
      if (!message) throw e;
      this.showBan(parseBanMessage(message));
    }
  }

  showBan(ban) {
    this.banned = true;
    this.socket.stop();
    // The account is out of reach: the bar shows no handle, balances or bell for it.
    Object.assign(this.state, { ban, panel: false, me: null });
    this.show('banned');
  }

  // --- the socket -------------------------------------------------------------------------------------------

  onSocketState(state) {
    if (state === 'banned') return this.onBanned();
    if (state === 'unauthorized') return this.sessionGone();
    this.state.connection = { online: 'online', connecting: 'connecting', waiting: 'reconnecting', broken: 'broken' }[state] ?? 'offline';
    this.renderHeader();
  }

  /** The SDK's events the page shows outside a conversation; matches.js and contacts.js take the rest. */
  listen() {
    const client = this.client;
    this.socket.addEventListener('state', (e) => this.onSocketState(e.detail));
    client.on('hello', (frame) => {
      Object.assign(this.state, { balances: frame.balances, premium: frame.premium });
      if (this.state.me) this.state.me.handle = frame.handle;
      this.renderHeader();
    });
    client.on('notification', (notification) => {
      this.state.notifications.unshift({ ...notification, read: false });
      this.state.unread++;
      toast(notification.text);
      this.renderHeader();
    });
    client.on('ad', (ad) => {
      this.state.ad = ad;
      if (this.state.screen === 'lobby') this.render();
    });
    // The SDK's own failures that the person should hear of; the others (a stray error frame) are its business.
    client.on('error', (e) => {
      if (e?.code === 'storage') toast(t('error.storage'), 'error');
    });
  }

  async adClicked(ad) {
    this.state.ad = null;
    this.render();
    await this.api.adClicked(ad.id).catch(() => {});
  }

  // --- notifications ----------------------------------------------------------------------------------------

  async loadNotifications() {
    try {
      const [page, claims] = await Promise.all([this.api.notifications(), this.api.claims()]);
      Object.assign(this.state, { notifications: page.notifications, unread: page.unread, claims });
      this.renderHeader();
    } catch {
      // The bell stays as it was; the next load tries again.
    }
  }

  async togglePanel() {
    this.state.panel = !this.state.panel;
    this.renderHeader();
    if (!this.state.panel) return;
    await this.loadNotifications();
    const newest = this.state.notifications[0];
    if (newest && this.state.unread > 0) {
      const { unread } = await this.api.markRead(newest.id).catch(() => ({ unread: this.state.unread }));
      this.state.unread = unread;
      this.renderHeader();
    }
  }
}

function round2(n) {
  return Math.round(n * 100) / 100;
}

const app = new App();
// For the browser tests (tests/browser) and for curious users. The conversations here hold their private keys (as
// this origin's IndexedDB does, where the SDK keeps them): any script running in the page could read them either
// way, so what protects them is that only the server's own scripts run (the CSP of src/api/web.rs), not this
// object's absence.
window.tanis = {
  app,
  remoteCandidates,
  get client() {
    return app.client;
  },
  get call() {
    return app.matches.call;
  },
  get conversation() {
    return app.matches.conversation;
  },
  get contacts() {
    return app.contacts.conversations;
  },
};
app.boot();
