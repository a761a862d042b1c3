// @ts-check
// This device's contacts kept in step with the server (docs/protocol.md section 9, "Contacts"): a match both kept
// (`contact.added`), the list after every connect (`GET /v1/contacts`: contacts kept on another device, ones that
// ended, a `contact.added` missed while away), the contact's key changes (`contact.key`, the list), and a takeover
// by another session of ours. What a key change does to a conversation is conversation.js's; which conversations
// there are, conversations.js's.

import { Conversation } from './conversation.js';

export class Contacts {
  /**
   * @param {object} port
   * @param {import('./conversations.js').Conversations} port.conversations
   * @param {() => Promise<any>} port.list `GET /v1/contacts`
   * @param {import('./emitter.js').Emitter<import('./events.js').ClientEvents>['emit']} port.emit
   */
  constructor({ conversations, list, emit }) {
    this.conversations = conversations;
    this.list = list;
    this.emit = emit;
  }

  /** `contact.added`: the match goes on as a contact (a conversation is made for one this device never held). @param {any} contact */
  async added(contact) {
    const all = this.conversations;
    let c = all.map.get(contact.match_id);
    if (!c) c = await all.track({ ...Conversation.fresh({ ...contact, kind: 'text', expires_at: null }, null), contact: null });
    c.becameContact(contact.since);
    c.renamed(contact.peer);
    if (all.current === c) all.current = null;
    c.persist();
    this.emit('contactAdded', { matchId: c.id, conversation: c });
  }

  /**
   * `GET /v1/contacts` after every connect: contacts kept on another device, keys changed, contacts ended, and
   * conversations another session of ours took over while this device was away (`my_public_key` is not the key
   * this device holds: `takenOver`, naming `my_key_session_id`, as the `contact.key` it missed would have).
   */
  async sync() {
    const all = this.conversations;
    let listed;
    try {
      ({ contacts: listed } = await this.list());
    } catch (e) {
      return this.emit('error', e);
    }
    const open = new Set();
    for (const info of listed) {
      open.add(info.match_id);
      let c = all.map.get(info.match_id);
      if (!c) {
        // Kept on another device: this one never held its key and reads nothing until it takes it over.
        const record = Conversation.fresh({ ...info, kind: 'text', expires_at: null }, null);
        c = await all.track({ ...record, contact: { since: info.since } });
        // `lastSeq`: what was written before this device held it, which it cannot read (not "unread").
        this.emit('contactAdded', { matchId: c.id, conversation: c, lastSeq: info.last_seq });
      } else if (!c.isContact) {
        // Both kept the match while this device was away (its `contact.added` missed): as if it came now.
        c.becameContact(info.since);
        if (all.current === c) all.current = null;
        this.emit('contactAdded', { matchId: c.id, conversation: c });
      }
      c.renamed(info.peer);
      // Only a device that holds a key can have lost it; a server without the field says nothing of ours.
      const held = c.publicKey;
      if (held && info.my_public_key && info.my_public_key !== held) {
        this.takenOver(info.match_id, info.my_public_key, info.my_key_session_id);
      }
      this.peerKey(info.match_id, info.peer_public_key);
      if (!c.ended) c.resume();
    }
    for (const c of all.map.values()) {
      if (c.isContact && !c.ended && !open.has(c.id)) {
        c.end('contact_ended');
        this.emit('contactEnded', { matchId: c.id });
        // Once more: what was stored before the end is collected, and a message written meanwhile is sent and
        // refused (`failed`), rather than left sending for ever.
        c.resume();
      }
    }
  }

  /** `contact.ended`: no more messages either way. @param {number} matchId */
  ended(matchId) {
    this.conversations.map.get(matchId)?.end('contact_ended');
    this.emit('contactEnded', { matchId });
  }

  /**
   * The contact's new key (`contact.key` or the list): derived again, `safetyNumberChanged`. The key in use changes
   * nothing; a key the contact had before is refused (`keyRefused`).
   * @param {number} matchId
   * @param {string | null | undefined} key
   */
  peerKey(matchId, key) {
    if (key) this.conversations.map.get(matchId)?.peerKey(key);
  }

  /**
   * Another session of ours published a key for this contact: this device reads nothing new there. Never silent.
   * @param {number} matchId
   * @param {string | null | undefined} key
   * @param {string | null | undefined} sessionId
   */
  takenOver(matchId, key, sessionId) {
    if (this.conversations.map.get(matchId)?.takenOver(key)) this.emit('takenOver', { matchId, sessionId: sessionId ?? null });
  }
}
