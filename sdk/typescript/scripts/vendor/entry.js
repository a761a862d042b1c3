// What src/crypto/e2e.js and src/crypto/franking.js use from the audited @noble packages, and nothing else:
// build.mjs bundles this file into src/crypto/vendor/noble.js.
import { pow } from '@noble/curves/abstract/modular.js';
import { montgomery } from '@noble/curves/abstract/montgomery.js';

export { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
export { hkdf } from '@noble/hashes/hkdf.js';
export { hmac } from '@noble/hashes/hmac.js';
export { sha256 } from '@noble/hashes/sha2.js';

// X25519 (RFC 7748) as noble's `x25519` of '@noble/curves/ed25519.js' builds it, through noble's own Montgomery
// ladder, without its faster fixed-base step: that step computes a public key on the Edwards form of the curve,
// and brings all of noble's Edwards arithmetic with it (point tables, multi-scalar multiplication: 6.6 KiB of the
// SDK's 33 KiB gzipped) for one key pair per match. The ladder is the one every shared secret already goes
// through; a public key is the same scalar multiplication of the base point (u = 9). VENDORED.md says more.
/** Curve25519's field prime, 2^255 - 19 (RFC 7748 section 4.1). */
const P = 2n ** 255n - 19n;
export const x25519 = /* @__PURE__ */ montgomery({
  P,
  type: 'x25519',
  // z^(p-2) = 1/z (Fermat), for the ladder's last step; the exponent is public, so its control flow is too.
  powPminus2: (z) => pow(z, P - 2n, P),
  // decodeScalar25519 (RFC 7748 section 5): clear the three low bits and the top bit, set the second-highest.
  adjustScalarBytes: (bytes) => {
    bytes[0] &= 248;
    bytes[31] &= 127;
    bytes[31] |= 64;
    return bytes;
  },
});
