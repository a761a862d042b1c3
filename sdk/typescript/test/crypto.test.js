// The SDK's cryptography (src/crypto) on its own, in Node: the known answers of docs/protocol.md section 9 and
// of the Rust client (client/src/e2e.rs, client/src/franking.rs), messages sealed by the Rust client and by the
// old WebCrypto web client opening here, and the refusals a server-in-the-middle or a lying sender would probe.
//   node --test sdk/typescript/test/crypto.test.js

import assert from 'node:assert/strict';
import { createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes as nodeRandom } from 'node:crypto';
import { test } from 'node:test';

import * as e2e from '../src/crypto/e2e.js';
import { fromBase64, toBase64, utf8Decode, utf8Encode } from '../src/crypto/encoding.js';
import * as franking from '../src/crypto/franking.js';
import { hkdf, sha256, x25519 } from '../src/crypto/vendor/noble.js';

const bytes = (n, fill) => new Uint8Array(n).fill(fill);

function pair(matchId = 42) {
  const alice = e2e.generateIdentity();
  const bob = e2e.generateIdentity();
  return {
    alice: e2e.establish(alice, e2e.toBase64(bob.publicKey), matchId, true),
    bob: e2e.establish(bob, e2e.toBase64(alice.publicKey), matchId, false),
    keys: { alice, bob },
  };
}

/** A fixed key pair: X25519 secret `[fill; 32]`, as the Rust tests' `StaticSecret::from([fill; 32])`. */
function fixedIdentity(fill) {
  const privateKey = bytes(32, fill);
  return { privateKey, publicKey: x25519.getPublicKey(privateKey) };
}

const kind = (error) => (e) => e instanceof e2e.E2eError && e.kind === error;

test('a fresh identity is 32 random bytes and its X25519 public key', () => {
  const a = e2e.generateIdentity();
  const b = e2e.generateIdentity();
  assert.equal(a.privateKey.length, 32);
  assert.equal(a.publicKey.length, 32);
  assert.deepEqual(a.publicKey, x25519.getPublicKey(a.privateKey));
  assert.notDeepEqual(a.privateKey, b.privateKey);
});

test('the safety number matches the protocol test vector and does not depend on argument order', () => {
  const expected = '65530 50779 08935 73050 68020 31794';
  assert.equal(e2e.safetyNumber(bytes(32, 1), bytes(32, 2)), expected);
  assert.equal(e2e.safetyNumber(bytes(32, 2), bytes(32, 1)), expected);
});

// client/src/e2e.rs `messages_sealed_by_the_web_client_open_here_…` and the old tests/browser/e2e.test.js:
// match 4242, secrets [0x11; 32] (initiator) and [0x22; 32]. Together they pin X25519, the HKDF inputs
// (salt, info with both keys), the AEAD's nonce and associated data, in both directions.
test('a message sealed by the Rust client opens here, with the same keys and safety number', () => {
  const alice = fixedIdentity(0x11);
  const bob = fixedIdentity(0x22);
  assert.equal(e2e.toBase64(alice.publicKey), 'e06Qm75//kTEZaIgA31gjuNYl9Me+XLwf3SJLLD3PxM=');
  assert.equal(e2e.toBase64(bob.publicKey), 'D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA=');
  const session = e2e.establish(alice, e2e.toBase64(bob.publicKey), 4242, true);
  const text = session.open(
    'vFYq/pGSaGQOF+PcjsocHL9TafuzsscDJ+TBcEcaF+qNFv1MEqIOkO5PibX2LGhxvmTPnEOH8mQsZ0ETvQ==',
    'qWsDSFL8rJnU4ZFaGmUJGQAAAAAAAAAB',
  );
  assert.equal(text, 'sealed by client/src/e2e.rs: ğüşıöç ✓');
  assert.equal(session.safetyNumber(), '65214 51174 20574 11678 51691 30878');
});

test('a message the WebCrypto web client sealed (the Rust test vector) opens here as the responder', () => {
  const alice = fixedIdentity(0x11);
  const bob = e2e.establish(fixedIdentity(0x22), e2e.toBase64(alice.publicKey), 4242, false);
  const text = bob.open(
    'REl+jiP0/ZshwVfByDmi4UabWbrf0HsTbDxKOf6sOylRU+87g1KR4ga0TpdLy1Lt6Z9Ejk/F',
    'tiLegx2fw3R8qnd5fmjbmwAAAAAAAAAB',
  );
  assert.equal(text, 'sealed by web/e2e.js: ğüşıöç ✓');
  assert.equal(bob.safetyNumber(), '65214 51174 20574 11678 51691 30878');
});

test("the bundled HKDF, HMAC and SHA-256 agree with Node's own (OpenSSL) on the protocol's inputs", () => {
  const ikm = nodeRandom(32);
  const salt = utf8Encode('tanis-e2e-v2');
  const info = nodeRandom(79);
  assert.deepEqual(hkdf(sha256, ikm, salt, info, 32), new Uint8Array(hkdfSync('sha256', ikm, salt, info, 32)));
  assert.equal(franking.commit(bytes(32, 7), 'x'), createHmac('sha256', bytes(32, 7)).update('x').digest('base64'));
});

test("the bundled X25519 gives RFC 7748's answers and agrees with Node's own (OpenSSL)", () => {
  const hex = (/** @type {string} */ h) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
  // RFC 7748 section 6.1: Alice's and Bob's key pairs and their shared secret.
  const alice = hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a');
  const bob = hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb');
  const alicePublic = hex('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
  const bobPublic = hex('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
  assert.deepEqual(x25519.getPublicKey(alice), alicePublic);
  assert.deepEqual(x25519.getPublicKey(bob), bobPublic);
  const shared = hex('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  assert.deepEqual(x25519.getSharedSecret(alice, bobPublic), shared);
  assert.deepEqual(x25519.getSharedSecret(bob, alicePublic), shared);
  // RFC 7748 section 5.2: one scalar multiplication of a given u-coordinate.
  const scalar = hex('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4');
  const u = hex('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c');
  assert.deepEqual(x25519.getSharedSecret(scalar, u), hex('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552'));
  // Random key pairs against OpenSSL's X25519, public keys and shared secrets both.
  const raw = (/** @type {any} */ key, /** @type {'d' | 'x'} */ part) => new Uint8Array(Buffer.from(key.export({ format: 'jwk' })[part], 'base64url'));
  for (let i = 0; i < 8; i++) {
    const theirs = generateKeyPairSync('x25519');
    const mine = e2e.generateIdentity();
    assert.deepEqual(x25519.getPublicKey(raw(theirs.privateKey, 'd')), raw(theirs.publicKey, 'x'));
    const myPublic = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(mine.publicKey).toString('base64url') }, format: 'jwk' });
    const myPrivate = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(mine.publicKey).toString('base64url'), d: Buffer.from(mine.privateKey).toString('base64url') }, format: 'jwk' });
    assert.deepEqual(new Uint8Array(diffieHellman({ privateKey: myPrivate, publicKey: theirs.publicKey })), x25519.getSharedSecret(mine.privateKey, raw(theirs.publicKey, 'x')));
    assert.deepEqual(new Uint8Array(diffieHellman({ privateKey: theirs.privateKey, publicKey: myPublic })), x25519.getSharedSecret(raw(theirs.privateKey, 'd'), mine.publicKey));
  }
});

test('both sides exchange messages both ways, and agree on the safety number', () => {
  const { alice, bob } = pair();
  for (const text of ['merhaba', 'ğüşıöç İĞ 👋', 'x'.repeat(5000)]) {
    const toBob = alice.seal(text);
    assert.equal(bob.open(toBob.ciphertext, toBob.nonce), text);
    const toAlice = bob.seal(`${text}!`);
    assert.equal(alice.open(toAlice.ciphertext, toAlice.nonce), `${text}!`);
  }
  assert.equal(alice.safetyNumber(), bob.safetyNumber());
  assert.equal(alice.sent, 3n);
  assert.equal(alice.received, 3n);
});

test('the wire format is what the protocol says: a 24-byte nonce ending in the counter, ciphertext plus a 16-byte tag', () => {
  const { alice } = pair();
  const first = alice.seal('one');
  const second = alice.seal('four');
  const nonce = e2e.fromBase64(second.nonce);
  assert.equal(second.nonce.length, 32);
  assert.equal(nonce.length, 24);
  assert.equal(new DataView(nonce.buffer).getBigUint64(16), 2n);
  assert.equal(e2e.fromBase64(second.ciphertext).length, 4 + 16);
  assert.notDeepEqual(e2e.fromBase64(first.nonce).subarray(0, 16), nonce.subarray(0, 16), 'random nonce prefixes');
});

test('a replayed, reflected, moved or tampered message is refused, and a failure does not move the counter', () => {
  const { alice, bob, keys } = pair(7);
  const sealed = alice.seal('the owl flies at midnight');
  // Reflected to its sender: the other direction's key cannot open it.
  assert.throws(() => alice.open(sealed.ciphertext, sealed.nonce), kind('decrypt'));
  // Moved to another match with the same keys: the match id is in the key derivation and the AD.
  const elsewhere = e2e.establish(keys.bob, e2e.toBase64(keys.alice.publicKey), 8, false);
  assert.throws(() => elsewhere.open(sealed.ciphertext, sealed.nonce), kind('decrypt'));
  // Tampered ciphertext, then a tampered counter: both fail, and the genuine message still opens afterwards.
  const ct = e2e.fromBase64(sealed.ciphertext);
  ct[3] ^= 1;
  assert.throws(() => bob.open(e2e.toBase64(ct), sealed.nonce), kind('decrypt'));
  const nonce = e2e.fromBase64(sealed.nonce);
  nonce[23] = 9;
  assert.throws(() => bob.open(sealed.ciphertext, e2e.toBase64(nonce)), kind('decrypt'));
  assert.equal(bob.received, 0n);
  assert.equal(bob.open(sealed.ciphertext, sealed.nonce), 'the owl flies at midnight');
  // Replayed: refused.
  assert.throws(() => bob.open(sealed.ciphertext, sealed.nonce), kind('replay'));
  // Overtaken by a later one: still opened, once.
  const first = alice.seal('one');
  const second = alice.seal('two');
  assert.equal(bob.open(second.ciphertext, second.nonce), 'two');
  assert.equal(bob.open(first.ciphertext, first.nonce), 'one');
  assert.throws(() => bob.open(first.ciphertext, first.nonce), kind('replay'));
  assert.throws(() => bob.open(second.ciphertext, second.nonce), kind('replay'));
});

test('the receive window opens each counter once, up to RECEIVE_WINDOW behind the highest, and survives a reload', () => {
  const { alice, bob, keys } = pair(11);
  const sealed = Array.from({ length: e2e.RECEIVE_WINDOW + 3 }, (_, i) => alice.seal(`m${i + 1}`));
  const open = (session, n) => session.open(sealed[n - 1].ciphertext, sealed[n - 1].nonce);
  // The newest first, then every other one backwards: each opens once.
  assert.equal(open(bob, e2e.RECEIVE_WINDOW + 1), `m${e2e.RECEIVE_WINDOW + 1}`);
  for (let n = e2e.RECEIVE_WINDOW; n >= 1; n -= 2) assert.equal(open(bob, n), `m${n}`);
  for (let n = e2e.RECEIVE_WINDOW; n >= 1; n -= 2) assert.throws(() => open(bob, n), kind('replay'), `m${n} again`);
  // Restored from its persisted counters (a reload): what was opened stays opened, the rest still opens.
  const restored = e2e.establish(keys.bob, e2e.toBase64(keys.alice.publicKey), 11, false, { received: bob.received, window: bob.window });
  assert.throws(() => open(restored, e2e.RECEIVE_WINDOW), kind('replay'));
  assert.equal(open(restored, e2e.RECEIVE_WINDOW - 1), `m${e2e.RECEIVE_WINDOW - 1}`);
  // Two past the highest: counter 1 is now RECEIVE_WINDOW + 2 behind, out of the window; 3 is at its edge.
  assert.equal(open(restored, e2e.RECEIVE_WINDOW + 3), `m${e2e.RECEIVE_WINDOW + 3}`);
  assert.throws(() => open(restored, 1), kind('replay'), 'behind the window');
  assert.equal(open(restored, 3), 'm3', 'RECEIVE_WINDOW behind: the last counter the window holds');
  assert.equal(open(restored, e2e.RECEIVE_WINDOW + 2), `m${e2e.RECEIVE_WINDOW + 2}`);
  // A jump past the whole window forgets it: nothing behind it opens.
  const far = alice.seal('far');
  alice.sent += 200n;
  const farther = alice.seal('farther');
  assert.equal(restored.open(farther.ciphertext, farther.nonce), 'farther');
  assert.throws(() => restored.open(far.ciphertext, far.nonce), kind('replay'));
});

test('counterOf reads the order a sender wrote in from the nonce', () => {
  const { alice } = pair(12);
  alice.seal('one');
  assert.equal(e2e.counterOf(alice.seal('two').nonce), 2n);
  assert.equal(e2e.counterOf('%%%'), null);
});

test('malformed fields are refused before decrypting: not base64, a short nonce, a ciphertext shorter than a tag', () => {
  const { alice, bob } = pair(9);
  const sealed = alice.seal('merhaba');
  for (const [ct, nonce] of [['%%%', sealed.nonce], [sealed.ciphertext, '%%%'], [sealed.ciphertext, e2e.toBase64(bytes(12, 0))],
    [e2e.toBase64(bytes(15, 0)), sealed.nonce], [undefined, sealed.nonce]]) {
    assert.throws(() => bob.open(ct, nonce), kind('malformed'), `${ct} ${nonce}`);
  }
  assert.equal(bob.open(sealed.ciphertext, sealed.nonce), 'merhaba');
  // Authentic, but not UTF-8: never shown as a string.
  const notText = alice.seal(Uint8Array.of(0xff, 0xfe));
  assert.throws(() => bob.open(notText.ciphertext, notText.nonce), kind('malformed'));
});

test('bad peer keys are refused: not 32 bytes of base64, our own key, all zero or a low-order point', () => {
  const me = e2e.generateIdentity();
  const orderEight = Uint8Array.from([
    0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
    0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
  ]);
  const one = bytes(32, 0);
  one[0] = 1;
  for (const bad of [e2e.toBase64(bytes(31, 7)), 'not base64!', e2e.toBase64(me.publicKey), e2e.toBase64(bytes(32, 0)),
    e2e.toBase64(one), e2e.toBase64(orderEight), undefined]) {
    assert.throws(() => e2e.establish(me, bad, 1, true), kind('invalid_public_key'), String(bad));
  }
});

test('an identity whose private key is not 32 bytes (a CryptoKey of the old web client) is unsupported', () => {
  const peer = e2e.toBase64(e2e.generateIdentity().publicKey);
  const me = e2e.generateIdentity();
  for (const privateKey of [{ type: 'private' }, me.privateKey.subarray(0, 31), undefined]) {
    assert.throws(() => e2e.establish({ privateKey, publicKey: me.publicKey }, peer, 1, true), kind('unsupported'));
  }
});

test('a session is bound to both public keys as sent, not only to their shared secret', () => {
  const alice = e2e.generateIdentity();
  const bob = e2e.generateIdentity();
  // X25519 ignores a key's top bit: this other encoding of alice's key gives bob the same shared secret.
  const otherEncoding = alice.publicKey.slice();
  otherEncoding[31] ^= 0x80;
  const sender = e2e.establish(alice, e2e.toBase64(bob.publicKey), 3, true);
  const here = e2e.establish(bob, e2e.toBase64(alice.publicKey), 3, false);
  const other = e2e.establish(bob, e2e.toBase64(otherEncoding), 3, false);
  const sealed = sender.seal('merhaba');
  assert.throws(() => other.open(sealed.ciphertext, sealed.nonce), kind('decrypt'));
  assert.equal(here.open(sealed.ciphertext, sealed.nonce), 'merhaba');
});

test('counters restored after a reload continue where they stopped', () => {
  const { alice, bob, keys } = pair(11);
  for (const text of ['a', 'b', 'c']) {
    const s = alice.seal(text);
    bob.open(s.ciphertext, s.nonce);
  }
  const reloaded = e2e.establish(keys.alice, e2e.toBase64(keys.bob.publicKey), 11, true, { sent: alice.sent, received: alice.received });
  const next = reloaded.seal('d');
  assert.equal(e2e.fromBase64(next.nonce)[23], 4);
  assert.equal(bob.open(next.ciphertext, next.nonce), 'd');
});

test('a negative or large match id is encoded as the i64 the server sends', () => {
  for (const matchId of [-1, 2 ** 53 - 1]) {
    const { alice, bob } = pair(matchId);
    const s = alice.seal('x');
    assert.equal(bob.open(s.ciphertext, s.nonce), 'x');
  }
});

test('only strict standard base64 with padding is read, and it round-trips every length', () => {
  assert.deepEqual(e2e.fromBase64('AAEC'), Uint8Array.from([0, 1, 2]));
  assert.deepEqual(e2e.fromBase64(''), new Uint8Array(0));
  for (const bad of ['AAE', 'AA-_', 'AAEC\n', null, 'A===', '====', 'AB==', 'AAB=', 'A=AA', ' AAA']) {
    assert.equal(e2e.fromBase64(bad), null, String(bad));
  }
  for (let n = 0; n < 70; n++) {
    const data = nodeRandom(n);
    const text = toBase64(data);
    assert.equal(text, Buffer.from(data).toString('base64'));
    assert.deepEqual(fromBase64(text), new Uint8Array(data));
  }
});

test('UTF-8 is encoded like TextEncoder and decoded strictly, keeping a leading BOM and NULs', () => {
  for (const text of ['', '\uFEFFmerhaba', 'önce\u0000sonra', 'ğüşıöç İĞ 👋', '\uD800 lone', 'x'.repeat(20000) + '😀']) {
    const encoded = utf8Encode(text);
    assert.deepEqual(encoded, new TextEncoder().encode(text), text.slice(0, 20));
    assert.equal(utf8Decode(encoded), new TextDecoder('utf-8', { ignoreBOM: true }).decode(encoded));
  }
  // Overlong, a surrogate, past U+10FFFF, truncated, a stray continuation byte.
  for (const bad of [[0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xff]]) {
    assert.equal(utf8Decode(Uint8Array.from(bad)), null, String(bad));
  }
});

test('the franking commitment matches the protocol test vector', () => {
  assert.equal(franking.commit(bytes(32, 1), 'merhaba'), 'AeLncy8vPRZ3B3fFPg70IbOrs9MhP/PgLeZxwDKHXl4=');
  assert.equal(franking.commit(bytes(32, 1), utf8Encode('merhaba')), 'AeLncy8vPRZ3B3fFPg70IbOrs9MhP/PgLeZxwDKHXl4=');
});

test('a franked message opens through the E2E session and reveals the key sealed inside it', () => {
  const { alice, bob } = pair(5);
  const { payload, commitment } = franking.frank('görüşürüz 👋');
  const sealed = alice.seal(payload);
  const opened = franking.unfrank(bob.openBytes(sealed.ciphertext, sealed.nonce), commitment);
  assert.equal(opened.text, 'görüşürüz 👋');
  assert.deepEqual(e2e.fromBase64(opened.franking_key), payload.subarray(0, franking.KEY_LEN));
  assert.equal(franking.commit(e2e.fromBase64(opened.franking_key), opened.text), commitment);
});

test('a message whose commitment does not open is refused', () => {
  const { payload, commitment } = franking.frank('merhaba');
  const { commitment: another } = franking.frank('merhaba');
  const altered = payload.slice();
  altered[altered.length - 1] ^= 1;
  const notText = Uint8Array.from([...payload.subarray(0, 32), 0xff]);
  const cases = [
    [payload, another, "another key's commitment"],
    [payload, undefined, 'no commitment'],
    [payload, 'AAAA', 'a short commitment'],
    [payload, 'not base64!', 'not base64'],
    [altered, commitment, 'an altered text'],
    [payload.subarray(0, 31), commitment, 'no room for a key'],
    [notText, franking.commit(notText.subarray(0, 32), notText.subarray(32)), 'authentic but not UTF-8'],
  ];
  for (const [data, c, why] of cases) assert.throws(() => franking.unfrank(data, c), franking.FrankingError, why);
});

test("a report offers every verified message of the peer's, newest first, and reveals at most 20, as received", () => {
  const messages = [
    { seq: 1, mine: true, text: 'mine', franking_key: null },
    { seq: 2, mine: false, text: null, status: 'unverified' },
    ...Array.from({ length: 28 }, (_, i) => ({ seq: i + 3, mine: false, text: `t${i + 3}`, text_utf8: `b${i + 3}`, franking_key: `k${i + 3}` })),
  ];
  const offered = franking.revealable(messages);
  assert.equal(offered.length, 28, 'the 25th newest and older are offered too');
  assert.deepEqual(offered.slice(0, 2).map((m) => m.seq), [30, 29]);
  assert.equal(offered[24].seq, 6);
  assert.deepEqual(franking.evidence(messages, [6, 1, 2, 99, 3]), [
    { seq: 6, text_utf8: 'b6', franking_key: 'k6' },
    { seq: 3, text_utf8: 'b3', franking_key: 'k3' },
  ]);
  assert.equal(franking.evidence(messages, offered.map((m) => m.seq)).length, franking.MAX_EVIDENCE, 'the cap is on what is sent');
  // A message kept before its bytes were: its text's UTF-8.
  // Past the report window the server no longer verifies a message: it is not offered.
  const day = 24 * 3600 * 1000;
  const dated = [
    { seq: 1, mine: false, text: 'eski', franking_key: 'k1', at: 0 },
    { seq: 2, mine: false, text: 'yeni', franking_key: 'k2', at: 31 * day },
  ];
  assert.deepEqual(franking.revealable(dated, { now: 32 * day, ms: 30 * day }).map((m) => m.seq), [2]);
  assert.deepEqual(franking.revealable(dated, { now: 30 * day, ms: 30 * day }).map((m) => m.seq), [2, 1]);
  const legacy = [{ seq: 7, mine: false, text: 'eski ğ', franking_key: 'k7' }];
  assert.deepEqual(franking.evidence(legacy, [7]), [{ seq: 7, text_utf8: e2e.toBase64(new TextEncoder().encode('eski ğ')), franking_key: 'k7' }]);
});

/** The largest text a ciphertext of the hub's default max_message_bytes (16 KiB) carries: less the key and the tag. */
const MAX_TEXT = 16 * 1024 - franking.KEY_LEN - 16;

test('a BOM, a NUL, 5 000 control characters and a longest text of quotes are shown whole and reveal the bytes committed to', () => {
  const { alice, bob } = pair(6);
  for (const text of ['\uFEFFmerhaba', 'önce\u0000sonra', '\u0001'.repeat(5000), '"'.repeat(MAX_TEXT)]) {
    const { payload, commitment } = franking.frank(text);
    const sealed = alice.seal(payload);
    const received = bob.openBytes(sealed.ciphertext, sealed.nonce);
    const opened = franking.unfrank(received, commitment);
    assert.equal(opened.text, text, 'shown whole: a leading U+FEFF is text');
    const [reveal] = franking.evidence([{ seq: 1, mine: false, ...opened }], [1]);
    const revealed = e2e.fromBase64(reveal.text_utf8);
    assert.deepEqual(revealed, received.subarray(franking.KEY_LEN), 'the bytes as received');
    assert.equal(franking.commit(e2e.fromBase64(reveal.franking_key), revealed), commitment, 'they open the commitment');
    assert.ok(JSON.stringify(reveal).length < Math.ceil(revealed.length / 3) * 4 + 100, 'nothing for JSON to escape');
  }
});

test('without a CSPRNG nothing is generated or sealed: E2eError("unsupported"), never weak randomness', (t) => {
  const { alice } = pair(12);
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true });
  t.after(() => Object.defineProperty(globalThis, 'crypto', saved));
  assert.throws(() => e2e.generateIdentity(), kind('unsupported'));
  assert.throws(() => alice.seal('x'), kind('unsupported'));
  assert.equal(alice.sent, 0n, 'nothing sealed, nothing counted');
  assert.throws(() => franking.frank('x'), kind('unsupported'));
});
