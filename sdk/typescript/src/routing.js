// @ts-check
// Where each server frame goes (docs/protocol.md section 5): a conversation's own frames to it (conversation.js),
// matches to matching.js, contacts to contacts.js, what only the app reads (`queued`, `notification`, `ad`,
// `rtc.*`) to the app as events. A frame for a conversation still being made after its `match.found` waits for
// it, in order. After every `hello` the catching up: the active match adopted, the contacts synced, every other
// conversation's end told and what was stored of it collected.

import { TanisError } from './errors.js';

export class FrameRouter {
  /**
   * @param {object} port
   * @param {import('./conversations.js').Conversations} port.conversations
   * @param {import('./matching.js').Matching} port.matching
   * @param {import('./contacts.js').Contacts} port.contacts
   * @param {import('./emitter.js').Emitter<import('./events.js').ClientEvents>['emit']} port.emit
   * @param {(hello: any) => void} port.greeted a `hello` came: the client keeps it (limits, protocol version)
   * @param {() => Promise<void>} port.restore reads the stored conversations first, once
   */
  constructor({ conversations, matching, contacts, emit, greeted, restore }) {
    this.conversations = conversations;
    this.matching = matching;
    this.contacts = contacts;
    this.emit = emit;
    this.greeted = greeted;
    this.restore = restore;
    /** Conversations being made for `match.found`, which frames for them wait for (see onFrame). @type {Promise<unknown> | null} */
    this.opening = null;
  }

  /** @param {import('./frames.js').ServerFrame} frame */
  onFrame(frame) {
    // Every frame as it came, before the SDK acts on it: for logging, and for what the SDK does not interpret.
    this.emit('frame', frame);
    // A new match's conversation is made asynchronously (storage, keys) after `match.found`, and the peer's first
    // `msg` may be the very next frame. A frame for a conversation not made yet waits for that work, in the order
    // frames came, instead of finding no conversation and being dropped: no `resume` follows a `match.found` to
    // bring it back. (After `hello` and `resync` the conversation's `resume` does.) So does a `match.ended` right
    // behind it (the stranger left before we were told), after the messages that came before it.
    const unknown = 'match_id' in frame && !this.conversations.map.has(frame.match_id);
    if (unknown && this.opening && frame.type !== 'match.found' && !frame.type.startsWith('contact.')) {
      return this.afterOpening(() => this.handleFrame(frame));
    }
    this.handleFrame(frame);
  }

  /** @param {import('./frames.js').ServerFrame} frame */
  handleFrame(frame) {
    const c = 'match_id' in frame ? this.conversations.map.get(frame.match_id) : undefined;
    switch (frame.type) {
      case 'hello':
        this.greeted(frame);
        this.emit('hello', frame);
        return void this.caughtUp(frame.active_match).catch((e) => this.emit('error', e));
      case 'resync':
        return void this.matching.adopt(frame.active_match, true).catch((e) => this.emit('error', e));
      case 'match.queued':
        return this.emit('queued', { kind: frame.kind });
      case 'match.cancelled':
        return void this.matching.clear().then(() => this.emit('cancelled', {}));
      case 'match.found': {
        const found = this.matching.found(frame);
        return this.afterOpening(() => found);
      }
      case 'match.ended':
        return this.matching.ended(frame);
      case 'contact.proposed':
        // A proposal is live traffic of the match: none follows its `match.ended`.
        if (c?.endedHere) return;
        return this.emit('contactProposed', { matchId: frame.match_id });
      case 'contact.added':
        return void this.contacts.added(frame.contact);
      case 'contact.ended':
        return this.contacts.ended(frame.match_id);
      case 'contact.key':
        if (frame.mine) return this.contacts.takenOver(frame.match_id, frame.public_key, frame.session_id);
        return this.contacts.peerKey(frame.match_id, frame.peer_public_key);
      case 'notification':
        return this.emit('notification', frame.notification);
      case 'ad':
        return this.emit('ad', frame.ad);
      case 'error':
        return this.refused(frame);
      case 'ok':
      case 'pong':
        return;
      default:
        // (`startsWith` does not narrow the union: the frame is one of the `rtc.*` ones.) None follows `match.ended`.
        if (frame.type.startsWith('rtc.')) {
          if (c?.endedHere) return;
          return this.emit('rtc', { matchId: frame.match_id, frame: /** @type {any} */ (frame) });
        }
        c?.handle(frame);
    }
  }

  /**
   * Chains `step` after the conversations being made (see onFrame), in order; the chain is dropped once it is done.
   * @param {() => unknown} step
   */
  afterOpening(step) {
    const opening = (this.opening ?? Promise.resolve()).then(step);
    this.opening = opening;
    void opening.then(() => {
      if (this.opening === opening) this.opening = null;
    });
  }

  /** @param {any} frame */
  refused(frame) {
    if (this.matching.refused(frame)) return;
    const owner = [...this.conversations.map.values()].find((c) => c.awaits(frame.id));
    if (owner) return owner.handle(frame);
    // A request's error went to its promise; anything else is reported.
    if (frame.id == null || !String(frame.id).startsWith('q')) this.emit('error', TanisError.fromFrame(frame));
  }

  /** After every `hello`: the active match, contacts, every other conversation's catching up, the queue. @param {any} active */
  async caughtUp(active) {
    await this.restore();
    await this.matching.adopt(active, false);
    await this.contacts.sync();
    for (const c of this.conversations.map.values()) {
      if (c === this.conversations.current || c.isContact) continue;
      // A match that ended while we were away: say so, and collect what was still stored, once.
      if (!c.ended) {
        c.end('gone');
        this.emit('ended', { matchId: c.id, reason: 'gone' });
      }
      c.collect();
    }
  }
}
