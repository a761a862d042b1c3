// End-to-end encryption, exactly the scheme of docs/protocol.md section 9 and client/src/e2e.rs: X25519 →
// HKDF-SHA256 → XChaCha20-Poly1305, all from the audited noble libraries bundled in ./vendor/noble.js, so every
// call is synchronous and nothing depends on WebCrypto (React Native has none; some browsers lack its X25519).
// The server only ever sees base64 ciphertext. Nothing here falls back to plaintext: every failure throws an
// E2eError and the caller refuses to send or shows "could not be decrypted".
//
// Randomness (key pairs, nonces) comes from `globalThis.crypto.getRandomValues`, which browsers and Node >= 20
// have; a React Native app must install a polyfill before importing the SDK (`import
// 'react-native-get-random-values'` as its first import). Without one, `generateIdentity` and `seal` throw
// E2eError('unsupported') rather than draw weak randomness.

import { fromBase64, toBase64, utf8Decode, utf8Encode } from './encoding.js';
import { hkdf, sha256, x25519, xchacha20poly1305 } from './vendor/noble.js';

export { fromBase64, toBase64 };

const HKDF_SALT = utf8Encode('tanis-e2e-v2');
const INFO_PREFIX = utf8Encode('tanis/v2/');
const AD_PREFIX = utf8Encode('tanis/v2');
const KEY_LEN = 32;
const NONCE_LEN = 24;
const NONCE_RANDOM_LEN = 16;
const TAG_LEN = 16;
const U64_MAX = (1n << 64n) - 1n;
/**
 * How far behind the highest counter opened a message may still arrive and be opened, once: a sliding window
 * like DTLS's (RFC 9147 section 4.5.1) and IPsec's, 64 counters wide. A message refused for now and sent again can
 * be overtaken by those sent after it, and two tabs sharing one conversation seal on two sockets: the server numbers
 * what it accepts in the order it accepts it, so counters may arrive out of order. The SDK never puts a frame on the
 * wire more than SEND_AHEAD counters past its oldest unaccepted one (conversation/outbox.js), so nothing it sends
 * can fall behind the window.
 */
export const RECEIVE_WINDOW = 64;
const WINDOW_MASK = (1n << BigInt(RECEIVE_WINDOW)) - 1n;

/** Coarse on purpose, as in the Rust client: why a ciphertext failed helps an attacker more than a user. */
export class E2eError extends Error {
  /** @param {'unsupported'|'invalid_public_key'|'malformed'|'decrypt'|'replay'} kind */
  constructor(kind) {
    super(`e2e: ${kind}`);
    this.name = 'E2eError';
    /** @type {'unsupported'|'invalid_public_key'|'malformed'|'decrypt'|'replay'} */
    this.kind = kind;
  }
}

/**
 * @typedef {{privateKey: Uint8Array, publicKey: Uint8Array}} Identity
 * An X25519 key pair, both halves 32 bytes. The private key is plain bytes: persist it only where the platform
 * keeps app data private (IndexedDB of the origin, the app's keychain or encrypted storage).
 */

/**
 * A fresh key pair for one `match.find` (or one `contact.key` takeover). Never reuse one across matches.
 * @returns {Identity}
 */
export function generateIdentity() {
  const privateKey = randomBytes(KEY_LEN);
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

/**
 * Keys the session of one match. Refuses a peer key that is not 32 bytes of base64, equals our own, or gives
 * an all-zero shared secret (a low-order point): E2eError('invalid_public_key'). An identity whose private key
 * is not 32 bytes (say, a WebCrypto CryptoKey kept by an older web client) gives E2eError('unsupported').
 * @param {Identity} identity
 * @param {string} peerKeyB64 `peer_public_key` from `match.found` / `hello.active_match` / `contact.key`
 * @param {number} matchId
 * @param {boolean} initiator the server's `initiator` flag
 * @param {{sent?: bigint, received?: bigint, window?: bigint}} [counters] persisted counters when restoring after a
 *   reload (`window`: the receive window's bitmap, Session.window)
 * @returns {Session}
 */
export function establish(identity, peerKeyB64, matchId, initiator, counters = {}) {
  if (!(identity?.privateKey instanceof Uint8Array) || identity.privateKey.length !== KEY_LEN) {
    throw new E2eError('unsupported');
  }
  const peer = fromBase64(peerKeyB64);
  if (!peer || peer.length !== KEY_LEN || equalBytes(peer, identity.publicKey)) {
    throw new E2eError('invalid_public_key');
  }
  let shared;
  try {
    shared = x25519.getSharedSecret(identity.privateKey, peer);
  } catch {
    // noble refuses a low-order point (an all-zero result) itself; either way the key is not usable.
    throw new E2eError('invalid_public_key');
  }
  if (shared.every((b) => b === 0)) throw new E2eError('invalid_public_key');

  // Both public keys as sent, the initiator's first: a session belongs to exactly that pair of keys.
  const [initiatorKey, responderKey] = initiator ? [identity.publicKey, peer] : [peer, identity.publicKey];
  const derive = (label) => {
    const info = concat(INFO_PREFIX, i64be(matchId), initiatorKey, responderKey, utf8Encode(label));
    return hkdf(sha256, shared, HKDF_SALT, info, KEY_LEN);
  };
  const i2r = derive('/i2r');
  const r2i = derive('/r2i');
  shared.fill(0);
  return new Session({
    matchId,
    ownPublic: identity.publicKey,
    peerPublic: peer,
    // Direction byte of the AD: 0 = initiator to responder, 1 = responder to initiator.
    send: initiator ? { key: i2r, dir: 0 } : { key: r2i, dir: 1 },
    recv: initiator ? { key: r2i, dir: 1 } : { key: i2r, dir: 0 },
    sent: counters.sent ?? 0n,
    received: counters.received ?? 0n,
    window: counters.window ?? 0n,
  });
}

/** The encrypted channel with one peer for one match. Counters are BigInt (u64 on the wire). */
export class Session {
  /**
   * @param {{matchId: number, ownPublic: Uint8Array, peerPublic: Uint8Array, send: {key: Uint8Array, dir: number},
   *   recv: {key: Uint8Array, dir: number}, sent: bigint, received: bigint, window?: bigint}} fields
   */
  constructor({ matchId, ownPublic, peerPublic, send, recv, sent, received, window = 0n }) {
    this.matchId = matchId;
    this.ownPublic = ownPublic;
    this.peerPublic = peerPublic;
    this.sendKey = send;
    this.recvKey = recv;
    /** Counter of the last message sealed; persist it before the frame leaves, never reuse a value. */
    this.sent = sent;
    /** The highest counter opened; a failure never moves it. */
    this.received = received;
    /**
     * The receive window below `received`: bit i set means counter `received - 1 - i` was opened. Persist it with
     * `received` (both or neither), or a message opened before a reload could be opened again after it.
     */
    this.window = window;
  }

  /**
   * @param {string|Uint8Array} plaintext a message's payload (franking.js: key ‖ text), or a bare text
   * @returns {{ciphertext: string, nonce: string}} base64 fields of `msg.send`
   */
  seal(plaintext) {
    if (this.sent >= U64_MAX) throw new E2eError('malformed');
    const counter = this.sent + 1n;
    const nonce = new Uint8Array(NONCE_LEN);
    nonce.set(randomBytes(NONCE_RANDOM_LEN));
    nonce.set(u64be(counter), NONCE_RANDOM_LEN);
    const ad = associatedData(this.matchId, this.sendKey.dir, counter);
    const bytes = typeof plaintext === 'string' ? utf8Encode(plaintext) : plaintext;
    const sealed = xchacha20poly1305(this.sendKey.key, nonce, ad).encrypt(bytes);
    this.sent = counter;
    return { ciphertext: toBase64(sealed), nonce: toBase64(nonce) };
  }

  /**
   * Decrypts a peer's message to its bytes; throws E2eError unless every check passed. A counter is opened at most
   * once: past the highest so far, or within RECEIVE_WINDOW below it and not opened before; anything else is a
   * `replay`. `seq` order is not required.
   * @param {string} ciphertextB64
   * @param {string} nonceB64
   * @returns {Uint8Array}
   */
  openBytes(ciphertextB64, nonceB64) {
    const ciphertext = fromBase64(ciphertextB64);
    const nonce = fromBase64(nonceB64);
    if (!ciphertext || !nonce || nonce.length !== NONCE_LEN || ciphertext.length < TAG_LEN) {
      throw new E2eError('malformed');
    }
    const counter = readU64be(nonce, NONCE_RANDOM_LEN);
    if (!this.fresh(counter)) throw new E2eError('replay');
    let plain;
    try {
      const ad = associatedData(this.matchId, this.recvKey.dir, counter);
      plain = xchacha20poly1305(this.recvKey.key, nonce, ad).decrypt(ciphertext);
    } catch {
      throw new E2eError('decrypt');
    }
    // Only an authentic message moves the window: the counter is authenticated through the AD.
    if (counter > this.received) {
      const shift = counter - this.received;
      this.window = shift > BigInt(RECEIVE_WINDOW) ? 0n : ((this.window << shift) | (1n << (shift - 1n))) & WINDOW_MASK;
      this.received = counter;
    } else {
      this.window |= 1n << (this.received - counter - 1n);
    }
    return plain;
  }

  /**
   * Opens a message this session's own side sealed (another client holding the same key pair: a browser tab on the
   * same storage). Counters are not checked nor moved: it only shows a copy of what this side wrote.
   * @param {string} ciphertextB64
   * @param {string} nonceB64
   * @returns {Uint8Array}
   */
  openSent(ciphertextB64, nonceB64) {
    const ciphertext = fromBase64(ciphertextB64);
    const nonce = fromBase64(nonceB64);
    if (!ciphertext || !nonce || nonce.length !== NONCE_LEN || ciphertext.length < TAG_LEN) throw new E2eError('malformed');
    try {
      const ad = associatedData(this.matchId, this.sendKey.dir, readU64be(nonce, NONCE_RANDOM_LEN));
      return xchacha20poly1305(this.sendKey.key, nonce, ad).decrypt(ciphertext);
    } catch {
      throw new E2eError('decrypt');
    }
  }

  /** Whether `counter` may still be opened: past the highest, or in the window and not seen. @param {bigint} counter */
  fresh(counter) {
    if (counter > this.received) return true;
    const behind = this.received - counter;
    // Counters start at 1: 0 is never sealed, and `received` itself was opened already.
    if (counter === 0n || behind === 0n) return false;
    return behind <= BigInt(RECEIVE_WINDOW) && (this.window & (1n << (behind - 1n))) === 0n;
  }

  /**
   * `openBytes` for a bare text (the E2E layer alone, as its test vectors use it).
   * @returns {string}
   */
  open(ciphertextB64, nonceB64) {
    const text = utf8Decode(this.openBytes(ciphertextB64, nonceB64));
    // Authentic but not text: as the Rust client, never shown as a string.
    if (text === null) throw new E2eError('malformed');
    return text;
  }

  /** @returns {string} */
  safetyNumber() {
    return safetyNumber(this.ownPublic, this.peerPublic);
  }
}

/**
 * Six groups of five digits: SHA-256 over both public keys, the bytewise smaller first; each 5-byte chunk of the
 * first 30 bytes as a 40-bit integer mod 100000. Test vector: [0x01;32], [0x02;32] → "65530 50779 08935 73050 68020 31794".
 * @param {Uint8Array} a
 * @param {Uint8Array} b
 * @returns {string}
 */
export function safetyNumber(a, b) {
  const [lo, hi] = compareBytes(a, b) <= 0 ? [a, b] : [b, a];
  const digest = sha256(concat(lo, hi));
  const groups = [];
  for (let i = 0; i < 30; i += 5) {
    let n = 0n;
    for (const byte of digest.subarray(i, i + 5)) n = (n << 8n) | BigInt(byte);
    groups.push(String(n % 100000n).padStart(5, '0'));
  }
  return groups.join(' ');
}

/**
 * `n` bytes from the platform's CSPRNG.
 * @param {number} n
 * @returns {Uint8Array}
 */
export function randomBytes(n) {
  const source = globalThis.crypto;
  if (typeof source?.getRandomValues !== 'function') throw new E2eError('unsupported');
  return source.getRandomValues(new Uint8Array(n));
}

/** 32 hex digits from the platform's CSPRNG: a `client_msg_id` or a request id. */
export function newId() {
  return Array.from(randomBytes(16), (b) => b.toString(16).padStart(2, '0')).join('');
}

function associatedData(matchId, dir, counter) {
  return concat(AD_PREFIX, i64be(matchId), Uint8Array.of(dir), u64be(counter));
}

/** Big-endian two's complement, as Rust's `i64::to_be_bytes` (no DataView BigInt methods: older Hermes lacks them). */
function i64be(n) {
  return u64be(BigInt.asUintN(64, BigInt(n)));
}

function u64be(n) {
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/**
 * The sender's counter a nonce carries (its last 8 bytes), or null when it is not a nonce of this scheme: the order
 * the sender wrote its messages in, whatever order they reach the peer in.
 * @param {string | Uint8Array} nonce base64 or bytes
 * @returns {bigint | null}
 */
export function counterOf(nonce) {
  const bytes = typeof nonce === 'string' ? fromBase64(nonce) : nonce;
  if (!bytes || bytes.length !== NONCE_LEN) return null;
  return readU64be(bytes, NONCE_RANDOM_LEN);
}

function readU64be(bytes, at) {
  let n = 0n;
  for (let i = at; i < at + 8; i++) n = (n << 8n) | BigInt(bytes[i]);
  return n;
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
