// Message franking, exactly the scheme of docs/protocol.md section 9 "Franking" and client/src/franking.rs: every
// message sealed as `franking_key (32 random bytes) ‖ text`, with `HMAC-SHA256(franking_key, text)` sent beside
// it as its commitment; every received message checked against its commitment before it is shown. A report can
// then reveal (seq, the text's bytes exactly as received, key) and the server, which bound the commitment at send
// time, verifies it. The bytes, never the shown string encoded again: a decoder that drops a leading U+FEFF, or a
// JSON string of escapes, would reveal something else than what was committed to.
// HMAC and not the AEAD's tag: XChaCha20-Poly1305 is not committing, HMAC-SHA256 is (protocol.md explains).

import { fromBase64, toBase64 } from './e2e.js';

export const KEY_LEN = 32;
/** The most messages one report may reveal (protocol section 5, `report`). */
export const MAX_EVIDENCE = 20;
const COMMITMENT_LEN = 32;
const HMAC = { name: 'HMAC', hash: 'SHA-256' };
const utf8 = new TextEncoder();

/** A message that cannot be verified: never shown as text, never revealable. */
export class FrankingError extends Error {
  constructor() {
    super('franking: the commitment does not open');
  }
}

/** `HMAC-SHA256(key, text)` (a string, or its bytes), base64. Test vector: key [0x01; 32], "merhaba" → "AeLncy8vPRZ3B3fFPg70IbOrs9MhP/PgLeZxwDKHXl4=". */
export async function commit(key, text) {
  const mac = await crypto.subtle.importKey('raw', key, HMAC, false, ['sign']);
  const bytes = typeof text === 'string' ? utf8.encode(text) : text;
  return toBase64(new Uint8Array(await crypto.subtle.sign('HMAC', mac, bytes)));
}

/**
 * A fresh key for `text`: what to seal (key ‖ text) and the commitment for `msg.send`.
 * @returns {Promise<{payload: Uint8Array, commitment: string}>}
 */
export async function frank(text) {
  const key = crypto.getRandomValues(new Uint8Array(KEY_LEN));
  const body = utf8.encode(text);
  const payload = new Uint8Array(KEY_LEN + body.length);
  payload.set(key);
  payload.set(body, KEY_LEN);
  return { payload, commitment: await commit(key, text) };
}

/**
 * Checks an opened payload against the commitment `msg` carried; throws FrankingError unless the commitment is
 * there, is 32 bytes, opens to the text under the key inside (WebCrypto's verify: a constant-time comparison),
 * and the text is UTF-8. It returns the text to show (all of it: a leading U+FEFF is text, not a byte-order mark)
 * and what a report reveals: the text's bytes as received (base64) and the key.
 * @returns {Promise<{text: string, text_utf8: string, franking_key: string}>}
 */
export async function unfrank(payload, commitmentB64) {
  const commitment = fromBase64(commitmentB64);
  if (!commitment || commitment.length !== COMMITMENT_LEN || payload.length < KEY_LEN) throw new FrankingError();
  const key = payload.subarray(0, KEY_LEN);
  const body = payload.subarray(KEY_LEN);
  const mac = await crypto.subtle.importKey('raw', key, HMAC, false, ['verify']);
  if (!(await crypto.subtle.verify('HMAC', mac, commitment, body))) throw new FrankingError();
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    throw new FrankingError();
  }
  return { text, text_utf8: toBase64(body), franking_key: toBase64(key) };
}

/**
 * What a report can offer to reveal: every verified message of the peer's the client still holds, newest first.
 * The cap of MAX_EVIDENCE is on what is picked (the picker, and `evidence`), not on what can be reached.
 */
export function revealable(messages) {
  return messages.filter((m) => !m.mine && m.franking_key && m.text != null)
    .sort((a, b) => b.seq - a.seq);
}

/**
 * A report's `evidence` for the picked `seqs` (at most MAX_EVIDENCE of them): each message's bytes as they were
 * committed to, with the key found inside it. A message kept before the bytes were (web/storage.js keeps records
 * across versions) has only its shown text, which was decoded without a leading U+FEFF: its UTF-8 is the best left.
 */
export function evidence(messages, seqs) {
  return seqs.map((seq) => messages.find((m) => !m.mine && m.seq === seq && m.franking_key))
    .filter(Boolean)
    .slice(0, MAX_EVIDENCE)
    .map((m) => ({ seq: m.seq, text_utf8: m.text_utf8 ?? toBase64(utf8.encode(m.text)), franking_key: m.franking_key }));
}
