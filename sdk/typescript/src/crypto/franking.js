// Message franking, exactly the scheme of docs/protocol.md section 9 "Franking" and client/src/franking.rs: every
// message sealed as `franking_key (32 random bytes) ‖ text`, with `HMAC-SHA256(franking_key, text)` sent beside
// it as its commitment; every received message checked against its commitment before it is shown. A report can
// then reveal (seq, the text's bytes exactly as received, key) and the server, which bound the commitment at send
// time, verifies it. The bytes, never the shown string encoded again: a decoder that drops a leading U+FEFF, or a
// JSON string of escapes, would reveal something else than what was committed to.
// HMAC and not the AEAD's tag: XChaCha20-Poly1305 is not committing, HMAC-SHA256 is (protocol.md explains).
// Synchronous, like ./e2e.js: HMAC-SHA256 from the bundled @noble/hashes.

import { randomBytes } from './e2e.js';
import { fromBase64, toBase64, utf8Decode, utf8Encode } from './encoding.js';
import { hmac, sha256 } from './vendor/noble.js';

export const KEY_LEN = 32;
/** The most messages one report may reveal (protocol section 5, `report`). */
export const MAX_EVIDENCE = 20;
const COMMITMENT_LEN = 32;

/** A message that cannot be verified: never shown as text, never revealable. */
export class FrankingError extends Error {
  constructor() {
    super('franking: the commitment does not open');
    this.name = 'FrankingError';
  }
}

/**
 * `HMAC-SHA256(key, text)` (a string, or its bytes), base64. Test vector: key [0x01; 32], "merhaba" →
 * "AeLncy8vPRZ3B3fFPg70IbOrs9MhP/PgLeZxwDKHXl4=".
 * @param {Uint8Array} key
 * @param {string|Uint8Array} text
 * @returns {string}
 */
export function commit(key, text) {
  return toBase64(mac(key, typeof text === 'string' ? utf8Encode(text) : text));
}

/**
 * A fresh key for `text`: what to seal (key ‖ text) and the commitment for `msg.send`.
 * @param {string} text
 * @returns {{payload: Uint8Array, commitment: string}}
 */
export function frank(text) {
  const key = randomBytes(KEY_LEN);
  const body = utf8Encode(text);
  const payload = new Uint8Array(KEY_LEN + body.length);
  payload.set(key);
  payload.set(body, KEY_LEN);
  return { payload, commitment: toBase64(mac(key, body)) };
}

/**
 * Checks an opened payload against the commitment `msg` carried; throws FrankingError unless the commitment is
 * there, is 32 bytes, opens to the text under the key inside (compared in constant time), and the text is UTF-8.
 * It returns the text to show (all of it: a leading U+FEFF is text, not a byte-order mark) and what a report
 * reveals: the text's bytes as received (base64) and the key.
 * @param {Uint8Array} payload
 * @param {string|undefined|null} commitmentB64
 * @returns {{text: string, text_utf8: string, franking_key: string}}
 */
export function unfrank(payload, commitmentB64) {
  const commitment = fromBase64(commitmentB64);
  if (!commitment || commitment.length !== COMMITMENT_LEN || payload.length < KEY_LEN) throw new FrankingError();
  const key = payload.subarray(0, KEY_LEN);
  const body = payload.subarray(KEY_LEN);
  if (!constantTimeEqual(mac(key, body), commitment)) throw new FrankingError();
  const text = utf8Decode(body);
  if (text === null) throw new FrankingError();
  return { text, text_utf8: toBase64(body), franking_key: toBase64(key) };
}

/**
 * What a report can offer to reveal: every verified message of the peer's the client still holds, newest first.
 * The cap of MAX_EVIDENCE is on what is picked (the picker, and `evidence`), not on what can be reached. With a
 * `window`, a message sent (`at`, ms) before `window.now - window.ms` is left out: the server has cleared its
 * commitment (the report window, `jobs.report_window_days`) and would refuse the whole report as
 * `evidence_expired`.
 * @template {{seq: number, mine?: boolean, franking_key?: string|null, text?: string|null, at?: number}} M
 * @param {M[]} messages
 * @param {{now: number, ms: number}} [window]
 * @returns {M[]}
 */
export function revealable(messages, window) {
  const since = window ? window.now - window.ms : -Infinity;
  return messages.filter((m) => !m.mine && m.franking_key && m.text != null && !((m.at ?? Infinity) < since))
    .sort((a, b) => b.seq - a.seq);
}

/**
 * A report's `evidence` for the picked `seqs` (at most MAX_EVIDENCE of them): each message's bytes as they were
 * committed to, with the key found inside it. A message kept before the bytes were (web/storage.js keeps records
 * across versions) has only its shown text, which was decoded without a leading U+FEFF: its UTF-8 is the best left.
 * @param {{seq: number, mine?: boolean, franking_key?: string|null, text?: string|null, text_utf8?: string}[]} messages
 * @param {number[]} seqs
 * @returns {{seq: number, text_utf8: string, franking_key: string}[]}
 */
export function evidence(messages, seqs) {
  return seqs.map((seq) => messages.find((m) => !m.mine && m.seq === seq && m.franking_key))
    .filter(Boolean)
    .slice(0, MAX_EVIDENCE)
    .map((m) => ({ seq: m.seq, text_utf8: m.text_utf8 ?? toBase64(utf8Encode(m.text)), franking_key: m.franking_key }));
}

function mac(key, bytes) {
  return hmac(sha256, key, bytes);
}

/** Whether two byte strings are equal, in time that depends on their length only. */
function constantTimeEqual(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}
