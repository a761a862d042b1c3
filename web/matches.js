// The match on screen: what the lobby's and the chat screen's buttons do, and which SDK events put what on screen.
// The protocol is the SDK's Client (sdk/typescript/src/client.js): the key pair of `match.find`, keying the match
// or restoring it after a reload, asking again after a reconnect, routing every frame, delivery. This module keeps
// what only the page has: which conversation the chat screen shows, its video call (video.js), the waiting screen,
// and the toasts. A match both kept goes to contacts.js.

import { toast } from './dom.js';
import { t } from './i18n.js';
import { findMode, vocabulary } from './interests.js';
import { VideoCall } from './video.js';

export class Matches {
  /** @param {import('./app.js').App} app for the client, the REST calls, the state and the screens */
  constructor(app) {
    this.app = app;
    /** The match on screen (current or just ended) and its call. */
    this.conversation = null;
    this.call = null;
    /** `find` waits for its find's first answer: a refusal then rejects its promise, and `find` says it. */
    this.asking = false;
    const client = app.client;
    client.on('queued', () => client.finding && this.state.screen !== 'chat' && this.app.show('waiting'));
    client.on('cancelled', () => this.toLobby());
    // A find refused later: sent again after a reconnect, or at pairing time (`quota_exhausted`). The SDK also tells
    // of a refusal that rejects `find`'s promise: that one is `find`'s to say, once.
    client.on('findRefused', (e) => {
      if (this.asking) return;
      if (e.code === 'age_assurance_required') return this.app.age.refusedFind();
      toast(t(`error.${e.code}`, {}, e.message), 'error');
      this.toLobby();
    });
    client.on('matched', (detail) => this.matched(detail).catch((e) => console.warn('tanis: a match could not be shown', e)));
    client.on('matchedElsewhere', () => toast(t('chat.otherDevice')));
    client.on('ended', ({ matchId, reason }) => this.ended(matchId, reason));
  }

  get client() {
    return this.app.client;
  }

  get state() {
    return this.app.state;
  }

  /** What the waiting screen says: the `match.find` the SDK is waiting on (also after a reload). */
  get finding() {
    const frame = this.client.finding?.frame;
    return frame && { kind: frame.kind, nearby: frame.nearby, interests: frame.interests, region: frame.region };
  }

  /** Sign-out: forget the match on screen. */
  reset() {
    this.endCall();
    this.call = null;
    this.conversation = null;
  }

  /** `contact.added`: the match is no longer ours to show; contacts.js shows its conversation. */
  release(matchId) {
    if (this.conversation?.id !== matchId) return false;
    this.endCall();
    this.conversation = null;
    return true;
  }

  // --- SDK events -------------------------------------------------------------------------------------------

  /** A new match, or (`restored`) the one we were in before a reload. */
  async matched({ conversation: c, rtc = null, restored = false, balances }) {
    if (balances) this.state.balances = balances;
    this.endCall();
    this.call = null;
    this.conversation = c;
    this.app.chatView = null;
    // Without a key the SDK has left the match (protocol section 9.2): the screen says why. A video match's call
    // listens for the other side's offer before anything is awaited here.
    if (!c.session) toast(t('chat.keyRefused'), 'error');
    else if (c.record.kind === 'video') await this.startCall(c, rtc, restored);
    // Earlier matches go from this browser; contacts stay (their conversations outlive the match: contacts.js).
    for (const old of [...this.client.conversations.values()]) {
      if (old !== c && old.ended && !old.isContact) await this.client.forget(old.id).catch(() => {});
    }
    // The shared interests are shown by their labels (fetched once; the ids stand in if that fails).
    if (c.record.shared_interests?.length) await vocabulary().catch(() => {});
    this.app.show('chat');
  }

  ended(matchId, reason) {
    const c = this.client.conversations.get(matchId);
    if (!c || c.isContact) return;
    if (this.conversation?.id === matchId) return this.endCall();
    // After a reload: the match we were in ended while the page was away. Shown, ended, as it was left.
    if (!this.conversation && reason === 'gone' && ['lobby', 'waiting'].includes(this.state.screen)) {
      this.conversation = c;
      this.app.chatView = null;
      this.app.show('chat');
    }
  }

  // --- matching ---------------------------------------------------------------------------------------------

  /**
   * @param {{nearby?: boolean, interests?: 'off'|'prefer'|'only', region?: string|object,
   *   seeking?: {genders: string[], mode?: 'only'|'prefer'}}} how the lobby's choices; `seeking` (premium) makes the
   *   match `filtered` (the SDK's), which alone offers the "not as declared" report (views/chat.js)
   */
  async find(kind, { nearby = false, interests = 'off', region = undefined, seeking = undefined } = {}) {
    if (this.conversation && !this.conversation.ended) return;
    this.asking = true;
    const found = this.client.findMatch({ kind, nearby, interests, region, seeking });
    // On screen before the answer: `match.found` may follow `match.queued` at once.
    if (this.client.finding) this.app.show('waiting');
    try {
      await found;
    } catch (e) {
      // `video_held` among them: the toast says why, and the lobby's text find still works.
      if (e.code === 'age_assurance_required') return this.app.age.refusedFind();
      const key = e.code === 'offline' ? 'conn.offlineAction' : e.kind === 'unsupported' ? 'error.e2e_unsupported' : `error.${e.code}`;
      toast(t(key, {}, e.message), 'error');
      this.toLobby();
    } finally {
      this.asking = false;
    }
  }

  async cancelFind() {
    try {
      await this.client.cancelFind();
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
    this.toLobby();
  }

  async startCall(c, rtc, restored) {
    try {
      rtc ??= await this.app.api.iceServers();
    } catch {
      return toast(t('call.noServers'), 'error');
    }
    // The stranger may have left before we were told: `ended` right behind `matched`, maybe during that wait.
    if (c.ended) return;
    const { initiator } = c.record;
    // The SDK's Call (inside VideoCall) answers the other side's offer by itself.
    const call = new VideoCall(this.client, { matchId: c.id, initiator, rtc, videoSafety: c.record.video_safety });
    this.call = call;
    call.camera.catch(() => toast(t('call.mediaFailed'), 'error'));
    // The initiator calls. After a reload the other side still holds the dead call: whoever comes back calls again.
    if (initiator || restored) call.callAgain();
  }

  endCall() {
    this.call?.dispose();
  }

  // --- chat actions -----------------------------------------------------------------------------------------

  /** Sends `text` in the match, or in `conversation` (a contact's: contacts.js); false when nothing was sent. */
  async send(text, conversation = this.conversation) {
    try {
      await this.client.send(text, conversation.id);
      return true;
    } catch (e) {
      // Never a plaintext fallback: nothing was sent.
      toast(t(e.code === 'too_long' ? 'chat.tooLong' : 'chat.cannotEncrypt'), 'error');
      return false;
    } finally {
      this.app.changes.dispatch(conversation.id, 'change');
    }
  }

  async leave() {
    const c = this.conversation;
    if (!c || c.ended) return this.toLobby();
    try {
      await this.client.leave(c.id);
    } catch (e) {
      if (e.code !== 'not_in_match') return toast(t(`error.${e.code}`, {}, e.message), 'error');
      c.end('gone');
      this.app.changes.dispatch(c.id, 'change');
    }
  }

  async next() {
    const kind = this.conversation?.record.kind ?? 'text';
    await this.leave();
    // "Next" keeps the lobby's remembered interest choice; nearby is asked for in the lobby each time.
    if (!this.conversation || this.conversation.ended) this.find(kind, { interests: findMode(this.state.me) });
  }

  toLobby() {
    if (this.conversation && !this.conversation.ended) return this.app.show('chat');
    this.endCall();
    this.app.show('lobby');
  }

  async block() {
    try {
      await this.client.block(this.conversation.id);
      toast(t('block.done'));
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
  }

  /**
   * Reports the peer of `matchId` (the match on screen, or a contact's: contacts.js), revealing the messages of
   * `seqs` the user picked (the SDK checks them against their franking commitments' keys); a refused reveal
   * stores nothing, and the toast says why.
   */
  async report(reason, details, seqs = [], matchId = this.conversation.id) {
    try {
      await this.client.report(matchId, reason, { details, seqs });
      toast(t('report.done'));
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
  }

  /**
   * Reports the other side of the video match on screen from its call: the reason, the person's words, the
   * classifier's last verdict, and the snapshot only when they ticked its box (views/call.js). True once sent.
   */
  async reportCall({ reason, details, snapshot = null }) {
    try {
      const verdict = this.call?.verdict ?? null;
      await this.app.api.reportCall({ matchId: this.conversation.id, reason, details, verdict, snapshot });
      toast(t('report.done'));
      return true;
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
      return false;
    }
  }

  async claim() {
    try {
      await this.app.api.fileClaim(this.conversation.id);
      toast(t('claim.filed'));
      this.app.loadNotifications();
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
  }
}
