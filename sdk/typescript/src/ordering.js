// @ts-check
// The order rules of a conversation (docs/protocol.md section 9 step 5), as plain functions over plain data: which
// outbox frames may go on the wire, how two clients' outboxes on one storage merge, and where a peer's message goes
// in the transcript. The server numbers messages in the order it accepts them; a message refused for now and sent
// again arrives behind those written after it; the E2E counter, authenticated, says where its writer put it.

import { RECEIVE_WINDOW, counterOf } from './crypto/e2e.js';

/**
 * At most this many counters between the oldest unaccepted message and the newest on the wire. Whatever overtakes a
 * refused message is on the wire with it, so the peer's window (RECEIVE_WINDOW, at least this) still opens it.
 */
export const SEND_AHEAD = 32;
if (SEND_AHEAD > RECEIVE_WINDOW) throw new Error('tanis: SEND_AHEAD must not exceed the receive window');

/** @param {any} frame a `msg.send` frame @returns {bigint} its E2E counter */
const counter = (frame) => counterOf(frame.nonce) ?? 0n;

/**
 * The outbox frames to put on the wire now, oldest first: those not `onWire` already, none `SEND_AHEAD` counters
 * or more past the oldest unaccepted one.
 * @param {any[]} pending the outbox, in counter order
 * @param {(frame: any) => boolean} onWire
 * @returns {any[]}
 */
export function due(pending, onWire) {
  if (!pending.length) return [];
  const oldest = counter(pending[0]);
  const out = [];
  for (const frame of pending) {
    if (counter(frame) - oldest >= BigInt(SEND_AHEAD)) break;
    if (!onWire(frame)) out.push(frame);
  }
  return out;
}

/**
 * This client's outbox with the frames another client on the same storage stored (a tab): theirs that this one
 * neither holds nor saw settled (`settled` holds client_msg_ids and counters as strings), in counter order.
 * @param {any[]} mine
 * @param {any[]} stored
 * @param {Set<string>} settled
 * @returns {any[]}
 */
export function merged(mine, stored, settled) {
  const known = new Set(mine.map((p) => p.client_msg_id));
  const theirs = stored.filter((p) => !known.has(p.client_msg_id) && !settled.has(p.client_msg_id) && !settled.has(String(counter(p))));
  if (!theirs.length) return mine;
  return [...mine, ...theirs].sort((a, b) => (counter(a) < counter(b) ? -1 : counter(a) > counter(b) ? 1 : 0));
}

/**
 * @typedef {import('./conversation.js').Message} Message
 */

/**
 * Puts a peer's message into the transcript where its writer put it: after every message of theirs sealed before
 * it (a lower counter under the same key) already there. Normally that is the end; a late one goes back to its
 * place. Returns the key of the message it was placed before, or null.
 * @param {Message[]} list the transcript (changed)
 * @param {Message} message with `counter` and `epoch`
 * @returns {string | null}
 */
export function place(list, message) {
  let at = list.length;
  for (let i = list.length - 1; i >= 0; i--) {
    const m = list[i];
    if (m.mine || m.counter === undefined) continue;
    if (m.epoch !== message.epoch || /** @type {number} */ (m.counter) < /** @type {number} */ (message.counter)) break;
    at = i;
  }
  list.splice(at, 0, message);
  return at < list.length - 1 ? list[at + 1].key : null;
}

/**
 * The transcript in the order to show it: by `seq` (the order the server accepted), except that a message of the
 * peer that arrived behind later ones of theirs goes before them, where its writer put it; messages of ours not
 * yet accepted last, in the order written.
 * @param {Message[]} messages
 * @returns {Message[]}
 */
export function ordered(messages) {
  // A peer message shows at the lowest seq of any of theirs written after it (same key): in order, its own.
  /** @type {Map<Message, number>} */
  const at = new Map();
  const theirs = messages.filter((m) => !m.mine && m.counter !== undefined && m.seq !== null);
  theirs.sort((a, b) => (a.epoch ?? 0) - (b.epoch ?? 0) || (b.counter ?? 0) - (a.counter ?? 0));
  let epoch = NaN;
  let lowest = Infinity;
  for (const m of theirs) {
    if ((m.epoch ?? 0) !== epoch) [epoch, lowest] = [m.epoch ?? 0, Infinity];
    lowest = Math.min(lowest, /** @type {number} */ (m.seq));
    at.set(m, lowest);
  }
  const key = (/** @type {Message} */ m) => at.get(m) ?? m.seq ?? Infinity;
  return [...messages].sort((a, b) => key(a) - key(b) || (at.has(a) && at.has(b) ? (a.counter ?? 0) - (b.counter ?? 0) : 0) || a.at - b.at);
}
