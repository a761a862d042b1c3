// The match lifecycle: asking for a match, keying it (or restoring it after a reload), routing its frames to
// the conversation and the call, and what the chat screen's buttons do. app.js owns the session and the screens;
// this module owns "the match we are in", and the protocol rules stay in conversation.js and video.js.

import { Conversation } from './conversation.js';
import { toast } from './dom.js';
import * as e2e from './sdk/crypto/e2e.js';
import { KEY_LEN as FRANKING_KEY_BYTES } from './sdk/crypto/franking.js';
import { t } from './i18n.js';
import { findMode, vocabulary } from './interests.js';
import * as storage from './storage.js';
import { Call } from './video.js';

/** The AEAD tag: the largest plaintext is `max_message_bytes` minus this (docs/protocol.md section 7). */
const TAG_BYTES = 16;
/** And the plaintext begins with the message's franking key: the text gets what is left. */
const SEALED_OVERHEAD = TAG_BYTES + FRANKING_KEY_BYTES;

export class Matches {
  /** @param {import('./app.js').App} app for the socket, the REST client, the state and the screens */
  constructor(app) {
    this.app = app;
    /** The match on screen (current or just ended) and its call. */
    this.conversation = null;
    this.call = null;
    /** While a match is being keyed (async WebCrypto), its frames wait here. */
    this.keying = null;
    this.early = [];
  }

  get socket() {
    return this.app.socket;
  }

  get api() {
    return this.app.api;
  }

  get state() {
    return this.app.state;
  }

  /** The frames about matching and the current match (everything but the session's own). */
  onFrame(frame) {
    switch (frame.type) {
      case 'match.queued':
        if (this.state.finding && this.state.screen !== 'chat') this.app.show('waiting');
        return;
      case 'match.cancelled':
        this.state.finding = null;
        return this.toLobby();
      case 'match.found':
        return this.matched(frame);
      case 'error':
        return this.refused(frame);
      default:
        if (frame.match_id != null) this.route(frame);
    }
  }

  /** Sign-out: forget the match on screen. */
  reset() {
    this.endCall();
    this.conversation = null;
  }

  /** `contact.added`: the match is no longer ours to show; contacts.js carries its conversation on. */
  release(matchId) {
    const c = this.conversation;
    if (c?.id !== matchId) return null;
    this.endCall();
    this.conversation = null;
    return c;
  }

  route(frame) {
    if (this.keying === frame.match_id) return void this.early.push(frame);
    const c = this.conversation;
    if (!c || c.id !== frame.match_id) return;
    if (frame.type.startsWith('rtc.')) return void this.call?.handle(frame);
    c.handle(frame);
    if (frame.type === 'match.ended') this.endCall();
  }

  refused(frame) {
    if (frame.id && frame.id === this.state.finding?.id) {
      this.state.finding = null;
      storage.clearPendingFind().catch(() => {});
      toast(t(`error.${frame.code}`, {}, frame.message), 'error');
      return this.toLobby();
    }
    if (frame.code === 'not_queued') {
      this.state.finding = null;
      return this.toLobby();
    }
    if (this.conversation) this.conversation.handle(frame);
  }

  /** `hello.active_match` / `resync`: continue the match we were in, adopt one we did not know, or note its end. */
  async adopt(active) {
    const c = this.conversation;
    if (active && c?.id === active.match_id) return c.resume();
    if (c && !c.ended) {
      // It ended while we were away: say so, and collect what was still stored for it.
      c.end('gone');
      this.endCall();
      if (!active) c.resume();
    }
    if (active) {
      const pending = await storage.loadPendingFind().catch(() => null);
      await this.open(active, pending?.identity ?? null, { restored: true });
      return this.conversation?.id === active.match_id && this.conversation.resume();
    }
    if (!c) await this.reopenLast();
    // Waiting when the connection dropped: the queue entry went with the old socket, so queue again.
    if (this.state.finding) this.sendFind();
  }

  /** After a reload with no active match: the last conversation, ended while we were away, if it is stored. */
  async reopenLast() {
    const records = (await storage.allMatches().catch(() => [])).filter((r) => !r.ended && !r.contact);
    const last = records.sort((a, b) => b.match_id - a.match_id)[0];
    if (!last) return;
    this.conversation = await Conversation.restore(last, this.socket);
    this.conversation.end('gone');
    this.conversation.resume();
    this.app.show('chat');
  }

  // --- matching ---------------------------------------------------------------------------------------------

  /** @param {{nearby?: boolean, interests?: 'off'|'prefer'|'only', region?: string|object}} how the lobby's choices */
  async find(kind, { nearby = false, interests = 'off', region = undefined } = {}) {
    if (this.conversation && !this.conversation.ended) return;
    let identity;
    try {
      identity = e2e.generateIdentity();
    } catch {
      return toast(t('error.e2e_unsupported'), 'error');
    }
    // Kept on disk until matched: a reload between `match.found` and keying must still find the key.
    await storage.savePendingFind(identity, kind);
    this.state.finding = { id: `f${crypto.randomUUID().slice(0, 8)}`, kind, nearby, interests, region, identity };
    if (!this.sendFind()) {
      this.state.finding = null;
      return toast(t('conn.offlineAction'), 'error');
    }
    this.app.show('waiting');
  }

  sendFind() {
    const f = this.state.finding;
    const frame = { type: 'match.find', id: f.id, kind: f.kind, public_key: e2e.toBase64(f.identity.publicKey) };
    if (f.nearby) frame.nearby = true;
    if (f.interests !== 'off') frame.interests = f.interests;
    if (f.region) frame.region = f.region;
    return this.socket.send(frame);
  }

  cancelFind() {
    if (!this.socket.send({ type: 'match.cancel', id: 'cancel' })) {
      this.state.finding = null;
      this.toLobby();
    }
  }

  async matched(frame) {
    if (frame.balances) this.state.balances = frame.balances;
    // Only the socket that asked holds the key pair (protocol section 2); another tab of ours just says so.
    const identity = this.state.finding?.identity;
    this.state.finding = null;
    if (!identity) return toast(t('chat.otherDevice'));
    await this.open(frame, identity, { rtc: frame.rtc });
  }

  /** Keys (or restores) the conversation of `info` and puts it on screen; its early frames follow. */
  async open(info, identity, { rtc = null, restored = false } = {}) {
    this.keying = info.match_id;
    this.state.finding = null;
    this.early = [];
    let conversation = null;
    try {
      const saved = await storage.loadMatch(info.match_id);
      if (saved) {
        conversation = await Conversation.restore(saved, this.socket);
        // `hello`/`resync` work these out again from the profiles as they are now.
        for (const field of ['shared_interests', 'shared_languages']) if (info[field]) conversation.record[field] = info[field];
      } else if (identity) conversation = await Conversation.create(info, identity, this.socket);
      await storage.clearPendingFind();
      // Earlier matches go; contacts stay (their conversations outlive the match: contacts.js).
      for (const old of await storage.allMatches()) {
        if (old.match_id !== info.match_id && !old.contact) await storage.deleteMatch(old.match_id);
      }
    } catch (e) {
      toast(t('error.storage'), 'error');
      console.error(e);
    }
    this.endCall();
    this.conversation = conversation;
    this.app.chatView = null;
    if (!conversation) {
      this.keying = null;
      toast(t('chat.otherDevice'), 'error');
      return this.toLobby();
    }
    if (conversation.keyError) {
      // A refused key means no chat at all (protocol section 9.2): leave the match.
      this.socket.send({ type: 'match.leave', id: 'key-refused', match_id: info.match_id });
    } else if (info.kind === 'video') {
      await this.startCall(info, rtc, restored);
    }
    conversation.addEventListener('storage-error', () => toast(t('error.storage'), 'error'), { once: true });
    // The shared interests are shown by their labels (fetched once; the ids stand in if that fails).
    if (conversation.record.shared_interests?.length) await vocabulary().catch(() => {});
    this.app.show('chat');
    this.keying = null;
    for (const frame of this.early.splice(0)) this.route(frame);
  }

  async startCall(info, rtc, restored) {
    try {
      rtc ??= await this.api.iceServers();
    } catch {
      return toast(t('call.noServers'), 'error');
    }
    const call = new Call({ matchId: info.match_id, initiator: info.initiator, rtc, send: (f) => this.socket.send(f) });
    this.call = call;
    call.start()
      // After a reload the other side still holds the dead call: whoever comes back calls again.
      .then(() => restored && !info.initiator && call.offer())
      .catch(() => toast(t('call.mediaFailed'), 'error'));
  }

  endCall() {
    this.call?.dispose();
  }

  // --- chat actions -----------------------------------------------------------------------------------------

  /** Sends `text` in the match, or in `conversation` (a contact's: contacts.js). */
  async send(text, conversation = this.conversation) {
    const limit = (this.app.limits?.max_message_bytes ?? 16384) - SEALED_OVERHEAD;
    if (new TextEncoder().encode(text).length > limit) {
      toast(t('chat.tooLong'), 'error');
      return false;
    }
    try {
      await conversation.send(text);
      return true;
    } catch {
      // Never a plaintext fallback: nothing was sent.
      toast(t('chat.cannotEncrypt'), 'error');
      return false;
    }
  }

  async leave() {
    const c = this.conversation;
    if (!c || c.ended) return this.toLobby();
    try {
      await this.socket.request({ type: 'match.leave', match_id: c.id });
    } catch (e) {
      if (e.code === 'not_in_match') c.end('gone');
      else toast(t(`error.${e.code}`, {}, e.message), 'error');
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
      await this.socket.request({ type: 'block', match_id: this.conversation.id });
      toast(t('block.done'));
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
  }

  /**
   * `report` of the peer of `matchId`: the match on screen, or a contact's (web/contacts.js). `evidence` reveals
   * the messages the user picked (sdk/crypto/franking.js); a refused reveal stores nothing, and the toast says why.
   */
  async report(reason, details, evidence = [], matchId = this.conversation.id) {
    const frame = { type: 'report', match_id: matchId, reason_code: reason };
    if (details) frame.details = details;
    if (evidence.length) frame.evidence = evidence;
    try {
      await this.socket.request(frame);
      toast(t('report.done'));
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
  }

  async claim() {
    try {
      await this.api.fileClaim(this.conversation.id);
      toast(t('claim.filed'));
      this.app.loadNotifications();
    } catch (e) {
      toast(t(`error.${e.code}`, {}, e.message), 'error');
    }
  }
}
