// The byte encodings the E2E layer reads and writes, in plain JavaScript: strict standard base64 (RFC 4648 §4,
// with padding, as the protocol uses) and strict UTF-8. Not `atob`/`btoa`/`TextDecoder`: React Native's Hermes
// lacks some of them (TextDecoder; atob before 0.74), and a decoder that is lenient anywhere (a dropped BOM, a
// replaced invalid byte) would show something else than what was committed to (docs/protocol.md section 9,
// "Franking" step 3). Nothing here is secret-dependent in a way that matters: it encodes ciphertext and text.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const VALUE = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

/**
 * Standard base64 with padding.
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function toBase64(bytes) {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += ALPHABET[n >> 18] + ALPHABET[(n >> 12) & 63] + ALPHABET[(n >> 6) & 63] + ALPHABET[n & 63];
  }
  if (i + 1 === bytes.length) {
    const n = bytes[i] << 16;
    out += `${ALPHABET[n >> 18]}${ALPHABET[(n >> 12) & 63]}==`;
  } else if (i + 2 === bytes.length) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += `${ALPHABET[n >> 18]}${ALPHABET[(n >> 12) & 63]}${ALPHABET[(n >> 6) & 63]}=`;
  }
  return out;
}

/**
 * Strict standard base64; null for anything else (URL-safe, missing padding, whitespace, stray characters, or
 * non-zero bits in the padding, so that one byte string has exactly one encoding).
 * @param {unknown} text
 * @returns {Uint8Array|null}
 */
export function fromBase64(text) {
  if (typeof text !== 'string' || text.length % 4 !== 0) return null;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let at = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = text.charCodeAt(i + j);
      const last = i + 4 === text.length;
      if (last && c === 61 /* = */ && j >= 4 - pad) {
        n <<= 6;
        continue;
      }
      const v = c < 128 ? VALUE[c] : -1;
      if (v < 0) return null;
      n = (n << 6) | v;
    }
    out[at++] = n >> 16;
    if (at < out.length) out[at++] = (n >> 8) & 255;
    if (at < out.length) out[at++] = n & 255;
    if (i + 4 === text.length && ((pad === 1 && (n & 255) !== 0) || (pad === 2 && (n & 0xffff) !== 0))) return null;
  }
  return out;
}

/**
 * UTF-8 of a string; a lone surrogate becomes U+FFFD, as `TextEncoder` does.
 * @param {string} text
 * @returns {Uint8Array}
 */
export function utf8Encode(text) {
  const out = new Uint8Array(text.length * 3);
  let at = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x80) {
      out[at++] = c;
    } else if (c < 0x800) {
      out[at++] = 0xc0 | (c >> 6);
      out[at++] = 0x80 | (c & 63);
    } else if (c < 0x10000) {
      out[at++] = 0xe0 | (c >> 12);
      out[at++] = 0x80 | ((c >> 6) & 63);
      out[at++] = 0x80 | (c & 63);
    } else {
      out[at++] = 0xf0 | (c >> 18);
      out[at++] = 0x80 | ((c >> 12) & 63);
      out[at++] = 0x80 | ((c >> 6) & 63);
      out[at++] = 0x80 | (c & 63);
    }
  }
  return out.slice(0, at);
}

/**
 * The text of UTF-8 bytes, all of them (a leading U+FEFF is text, not a byte-order mark); null unless they are
 * well-formed UTF-8 (no overlong forms, surrogates, values past U+10FFFF or truncated sequences).
 * @param {Uint8Array} bytes
 * @returns {string|null}
 */
export function utf8Decode(bytes) {
  let out = '';
  let chunk = [];
  for (let i = 0; i < bytes.length;) {
    const b = bytes[i];
    let c;
    let need;
    let min;
    if (b < 0x80) {
      c = b;
      need = 0;
      min = 0;
    } else if (b >= 0xc2 && b <= 0xdf) {
      c = b & 0x1f;
      need = 1;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      c = b & 0x0f;
      need = 2;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      c = b & 0x07;
      need = 3;
      min = 0x10000;
    } else {
      return null;
    }
    for (let j = 1; j <= need; j++) {
      const next = bytes[i + j];
      // `undefined` past the end: a truncated sequence.
      if (next === undefined || (next & 0xc0) !== 0x80) return null;
      c = (c << 6) | (next & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return null;
    i += need + 1;
    if (c < 0x10000) {
      chunk.push(c);
    } else {
      c -= 0x10000;
      chunk.push(0xd800 + (c >> 10), 0xdc00 + (c & 0x3ff));
    }
    // fromCharCode takes its arguments on the stack: flush in bounded chunks.
    if (chunk.length >= 4096) {
      out += String.fromCharCode(...chunk);
      chunk = [];
    }
  }
  return out + String.fromCharCode(...chunk);
}
