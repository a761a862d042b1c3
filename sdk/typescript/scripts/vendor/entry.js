// What src/crypto/e2e.js and src/crypto/franking.js use from the audited @noble packages, and nothing else:
// build.mjs bundles this file into src/crypto/vendor/noble.js.
export { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
export { x25519 } from '@noble/curves/ed25519.js';
export { hkdf } from '@noble/hashes/hkdf.js';
export { hmac } from '@noble/hashes/hmac.js';
export { sha256 } from '@noble/hashes/sha2.js';
