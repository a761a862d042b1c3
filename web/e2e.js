// End-to-end encryption, exactly the scheme of docs/protocol.md section 9 and client/src/e2e.rs:
// X25519 (WebCrypto) → HKDF-SHA256 (WebCrypto) → XChaCha20-Poly1305 (vendored @noble/ciphers, which WebCrypto
// lacks). The server only ever sees base64 ciphertext. Nothing here falls back to plaintext: every failure
// throws an E2eError and the caller refuses to send or shows "could not be decrypted".

import { xchacha20poly1305 } from './vendor/noble-ciphers/chacha.js';

const utf8 = new TextEncoder();
const HKDF_SALT = utf8.encode('tanis-e2e-v2');
const INFO_PREFIX = utf8.encode('tanis/v2/');
const AD_PREFIX = utf8.encode('tanis/v2');
const NONCE_LEN = 24;
const NONCE_RANDOM_LEN = 16;
const TAG_LEN = 16;
const U64_MAX = (1n << 64n) - 1n;

/** Coarse on purpose, as in the Rust client: why a ciphertext failed helps an attacker more than a user. */
export class E2eError extends Error {
  /** @param {'unsupported'|'invalid_public_key'|'malformed'|'decrypt'|'replay'} kind */
  constructor(kind) {
    super(`e2e: ${kind}`);
    this.kind = kind;
  }
}

/** Whether this browser has every primitive we need (X25519 in WebCrypto arrived late in some browsers). */
export async function supported() {
  try {
    await generateIdentity();
    return true;
  } catch {
    return false;
  }
}

/**
 * A fresh key pair for one `match.find`. The private key is a non-extractable CryptoKey: it can be stored in
 * IndexedDB (structured clone) for a reload, but no script can read its bytes.
 * @returns {Promise<{privateKey: CryptoKey, publicKey: Uint8Array}>}
 */
export async function generateIdentity() {
  let pair;
  try {
    pair = await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits']);
  } catch {
    throw new E2eError('unsupported');
  }
  const publicKey = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  return { privateKey: pair.privateKey, publicKey };
}

/**
 * Keys the session of one match. Refuses a peer key that is not 32 bytes of base64, equals our own, or gives
 * an all-zero shared secret (a low-order point).
 * @param {{privateKey: CryptoKey, publicKey: Uint8Array}} identity
 * @param {string} peerKeyB64 `peer_public_key` from `match.found` / `hello.active_match`
 * @param {number} matchId
 * @param {boolean} initiator the server's `initiator` flag
 * @param {{sent?: bigint, received?: bigint}} counters persisted counters when restoring after a reload
 */
export async function establish(identity, peerKeyB64, matchId, initiator, counters = {}) {
  const peer = fromBase64(peerKeyB64);
  if (!peer || peer.length !== 32 || equalBytes(peer, identity.publicKey)) {
    throw new E2eError('invalid_public_key');
  }
  let shared;
  try {
    const peerKey = await crypto.subtle.importKey('raw', peer, { name: 'X25519' }, false, []);
    shared = new Uint8Array(await crypto.subtle.deriveBits({ name: 'X25519', public: peerKey }, identity.privateKey, 256));
  } catch {
    // WebCrypto itself refuses some low-order points; either way the key is not usable.
    throw new E2eError('invalid_public_key');
  }
  if (shared.every((b) => b === 0)) throw new E2eError('invalid_public_key');

  const ikm = await crypto.subtle.importKey('raw', shared, 'HKDF', false, ['deriveBits']);
  shared.fill(0);
  // Both public keys as sent, the initiator's first: a session belongs to exactly that pair of keys.
  const [initiatorKey, responderKey] = initiator ? [identity.publicKey, peer] : [peer, identity.publicKey];
  const derive = async (label) => {
    const info = concat(INFO_PREFIX, i64be(matchId), initiatorKey, responderKey, utf8.encode(label));
    const bits = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: HKDF_SALT, info }, ikm, 256);
    return new Uint8Array(bits);
  };
  const i2r = await derive('/i2r');
  const r2i = await derive('/r2i');
  return new Session({
    matchId,
    ownPublic: identity.publicKey,
    peerPublic: peer,
    // Direction byte of the AD: 0 = initiator to responder, 1 = responder to initiator.
    send: initiator ? { key: i2r, dir: 0 } : { key: r2i, dir: 1 },
    recv: initiator ? { key: r2i, dir: 1 } : { key: i2r, dir: 0 },
    sent: counters.sent ?? 0n,
    received: counters.received ?? 0n,
  });
}

/** The encrypted channel with one peer for one match. Counters are BigInt (u64 on the wire). */
export class Session {
  constructor({ matchId, ownPublic, peerPublic, send, recv, sent, received }) {
    this.matchId = matchId;
    this.ownPublic = ownPublic;
    this.peerPublic = peerPublic;
    this.sendKey = send;
    this.recvKey = recv;
    /** Counter of the last message sealed; persist it before the frame leaves, never reuse a value. */
    this.sent = sent;
    /** Counter of the last message opened; a failure never moves it. */
    this.received = received;
  }

  /**
   * @param {string|Uint8Array} plaintext a message's payload (franking.js: key ‖ text), or a bare text
   * @returns {{ciphertext: string, nonce: string}} base64 fields of `msg.send`
   */
  seal(plaintext) {
    if (this.sent >= U64_MAX) throw new E2eError('malformed');
    const counter = this.sent + 1n;
    const nonce = new Uint8Array(NONCE_LEN);
    crypto.getRandomValues(nonce.subarray(0, NONCE_RANDOM_LEN));
    new DataView(nonce.buffer).setBigUint64(NONCE_RANDOM_LEN, counter);
    const ad = associatedData(this.matchId, this.sendKey.dir, counter);
    const sealed = xchacha20poly1305(this.sendKey.key, nonce, ad).encrypt(typeof plaintext === 'string' ? utf8.encode(plaintext) : plaintext);
    this.sent = counter;
    return { ciphertext: toBase64(sealed), nonce: toBase64(nonce) };
  }

  /** Decrypts a peer's message to its bytes; throws E2eError unless every check passed. Call in `seq` order. */
  openBytes(ciphertextB64, nonceB64) {
    const ciphertext = fromBase64(ciphertextB64);
    const nonce = fromBase64(nonceB64);
    if (!ciphertext || !nonce || nonce.length !== NONCE_LEN || ciphertext.length < TAG_LEN) {
      throw new E2eError('malformed');
    }
    const counter = new DataView(nonce.buffer, nonce.byteOffset).getBigUint64(NONCE_RANDOM_LEN);
    if (counter <= this.received) throw new E2eError('replay');
    let plain;
    try {
      const ad = associatedData(this.matchId, this.recvKey.dir, counter);
      plain = xchacha20poly1305(this.recvKey.key, nonce, ad).decrypt(ciphertext);
    } catch {
      throw new E2eError('decrypt');
    }
    this.received = counter;
    return plain;
  }

  /** `openBytes` for a bare text (the E2E layer alone, as its test vectors use it). */
  open(ciphertextB64, nonceB64) {
    const plain = this.openBytes(ciphertextB64, nonceB64);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(plain);
    } catch {
      // Authentic but not text: as the Rust client, never shown as a string.
      throw new E2eError('malformed');
    }
  }

  safetyNumber() {
    return safetyNumber(this.ownPublic, this.peerPublic);
  }
}

/**
 * Six groups of five digits: SHA-256 over both public keys, the bytewise smaller first; each 5-byte chunk of the
 * first 30 bytes as a 40-bit integer mod 100000. Test vector: [0x01;32], [0x02;32] → "65530 50779 08935 73050 68020 31794".
 */
export async function safetyNumber(a, b) {
  const [lo, hi] = compareBytes(a, b) <= 0 ? [a, b] : [b, a];
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', concat(lo, hi)));
  const groups = [];
  for (let i = 0; i < 30; i += 5) {
    let n = 0n;
    for (const byte of digest.subarray(i, i + 5)) n = (n << 8n) | BigInt(byte);
    groups.push(String(n % 100000n).padStart(5, '0'));
  }
  return groups.join(' ');
}

function associatedData(matchId, dir, counter) {
  const ad = new Uint8Array(AD_PREFIX.length + 8 + 1 + 8);
  ad.set(AD_PREFIX);
  const view = new DataView(ad.buffer);
  view.setBigInt64(AD_PREFIX.length, BigInt(matchId));
  ad[AD_PREFIX.length + 8] = dir;
  view.setBigUint64(AD_PREFIX.length + 9, counter);
  return ad;
}

function i64be(n) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigInt64(0, BigInt(n));
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

function equalBytes(a, b) {
  return a.length === b.length && compareBytes(a, b) === 0;
}

/** Standard base64 with padding (RFC 4648 §4), as the protocol uses. */
export function toBase64(bytes) {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

/** Strict standard base64; null for anything else (URL-safe, missing padding, stray characters). */
export function fromBase64(text) {
  if (typeof text !== 'string' || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
