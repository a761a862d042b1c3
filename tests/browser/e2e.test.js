// web/e2e.js and web/franking.js on their own, in Node (same WebCrypto API as the browser, same vendored
// XChaCha20-Poly1305): the protocol's safety-number and franking test vectors and the rules of docs/protocol.md
// section 9 that a server-in-the-middle, or a lying sender, would probe. The browser ↔ Rust interop test (interop.test.js) proves the wire format against client/.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as e2e from '../../web/e2e.js';
import * as franking from '../../web/franking.js';

const bytes = (n, fill) => new Uint8Array(n).fill(fill);

async function pair(matchId = 42) {
  const alice = await e2e.generateIdentity();
  const bob = await e2e.generateIdentity();
  return {
    alice: await e2e.establish(alice, e2e.toBase64(bob.publicKey), matchId, true),
    bob: await e2e.establish(bob, e2e.toBase64(alice.publicKey), matchId, false),
    keys: { alice, bob },
  };
}

const kind = (error) => (e) => e instanceof e2e.E2eError && e.kind === error;

test('the safety number matches the protocol test vector and does not depend on argument order', async () => {
  const expected = '65530 50779 08935 73050 68020 31794';
  assert.equal(await e2e.safetyNumber(bytes(32, 1), bytes(32, 2)), expected);
  assert.equal(await e2e.safetyNumber(bytes(32, 2), bytes(32, 1)), expected);
});

test('both sides exchange messages both ways, and agree on the safety number', async () => {
  const { alice, bob } = await pair();
  for (const text of ['merhaba', 'ğüşıöç İĞ 👋', 'x'.repeat(5000)]) {
    const toBob = alice.seal(text);
    assert.equal(bob.open(toBob.ciphertext, toBob.nonce), text);
    const toAlice = bob.seal(`${text}!`);
    assert.equal(alice.open(toAlice.ciphertext, toAlice.nonce), `${text}!`);
  }
  assert.equal(await alice.safetyNumber(), await bob.safetyNumber());
});

test('the wire format is what the protocol says: a 24-byte nonce ending in the counter, ciphertext plus a 16-byte tag', async () => {
  const { alice } = await pair();
  alice.seal('one');
  const second = alice.seal('four');
  const nonce = e2e.fromBase64(second.nonce);
  assert.equal(second.nonce.length, 32);
  assert.equal(nonce.length, 24);
  assert.equal(new DataView(nonce.buffer).getBigUint64(16), 2n);
  assert.equal(e2e.fromBase64(second.ciphertext).length, 4 + 16);
});

test('a replayed, reflected, moved or tampered message is refused, and a failure does not move the counter', async () => {
  const { alice, bob, keys } = await pair(7);
  const sealed = alice.seal('the owl flies at midnight');
  // Reflected to its sender: the other direction's key cannot open it.
  assert.throws(() => alice.open(sealed.ciphertext, sealed.nonce), kind('decrypt'));
  // Moved to another match with the same keys: the match id is in the key derivation and the AD.
  const elsewhere = await e2e.establish(keys.bob, e2e.toBase64(keys.alice.publicKey), 8, false);
  assert.throws(() => elsewhere.open(sealed.ciphertext, sealed.nonce), kind('decrypt'));
  // Tampered ciphertext, then a tampered counter: both fail, and the genuine message still opens afterwards.
  const ct = e2e.fromBase64(sealed.ciphertext);
  ct[3] ^= 1;
  assert.throws(() => bob.open(e2e.toBase64(ct), sealed.nonce), kind('decrypt'));
  const nonce = e2e.fromBase64(sealed.nonce);
  nonce[23] = 9;
  assert.throws(() => bob.open(sealed.ciphertext, e2e.toBase64(nonce)), kind('decrypt'));
  assert.equal(bob.open(sealed.ciphertext, sealed.nonce), 'the owl flies at midnight');
  // Replayed, or older than the last one opened.
  assert.throws(() => bob.open(sealed.ciphertext, sealed.nonce), kind('replay'));
  const first = alice.seal('one');
  const second = alice.seal('two');
  assert.equal(bob.open(second.ciphertext, second.nonce), 'two');
  assert.throws(() => bob.open(first.ciphertext, first.nonce), kind('replay'));
});

test('bad peer keys are refused: not 32 bytes of base64, our own key, all zero or a low-order point', async () => {
  const me = await e2e.generateIdentity();
  const orderEight = Uint8Array.from([
    0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4, 0x6a,
    0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49, 0xb8, 0x00,
  ]);
  const one = bytes(32, 0);
  one[0] = 1;
  for (const bad of [e2e.toBase64(bytes(31, 7)), 'not base64!', e2e.toBase64(me.publicKey), e2e.toBase64(bytes(32, 0)),
    e2e.toBase64(one), e2e.toBase64(orderEight)]) {
    await assert.rejects(e2e.establish(me, bad, 1, true), kind('invalid_public_key'), bad);
  }
});

test('only strict standard base64 with padding is read', () => {
  assert.deepEqual(e2e.fromBase64('AAEC'), Uint8Array.from([0, 1, 2]));
  for (const bad of ['AAE', 'AA-_', 'AAEC\n', null, 'A===']) assert.equal(e2e.fromBase64(bad), null, String(bad));
});

test('counters restored after a reload continue where they stopped', async () => {
  const { alice, bob, keys } = await pair(11);
  for (const text of ['a', 'b', 'c']) {
    const s = alice.seal(text);
    bob.open(s.ciphertext, s.nonce);
  }
  const reloaded = await e2e.establish(keys.alice, e2e.toBase64(keys.bob.publicKey), 11, true, { sent: alice.sent, received: alice.received });
  const next = reloaded.seal('d');
  assert.equal(bob.open(next.ciphertext, next.nonce), 'd');
});

/** A fixed key pair: X25519 secret `[fill; 32]`, imported as PKCS#8 (WebCrypto has no raw private import). */
async function fixedIdentity(fill) {
  const der = new Uint8Array(48);
  der.set([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);
  der.fill(fill, 16);
  const privateKey = await crypto.subtle.importKey('pkcs8', der, { name: 'X25519' }, true, ['deriveBits']);
  const { x } = await crypto.subtle.exportKey('jwk', privateKey);
  return { privateKey, publicKey: new Uint8Array(Buffer.from(x, 'base64url')) };
}

// The same known answers as client/src/e2e.rs (`messages_sealed_by_the_web_client_open_here_…`): match 4242,
// secrets [0x11; 32] (initiator) and [0x22; 32]. The Rust client sealed this message as the responder.
test('a message sealed by the Rust client opens here, with the same keys and safety number', async () => {
  const alice = await fixedIdentity(0x11);
  const bob = await fixedIdentity(0x22);
  assert.equal(e2e.toBase64(alice.publicKey), 'e06Qm75//kTEZaIgA31gjuNYl9Me+XLwf3SJLLD3PxM=');
  assert.equal(e2e.toBase64(bob.publicKey), 'D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA=');
  const session = await e2e.establish(alice, e2e.toBase64(bob.publicKey), 4242, true);
  const text = session.open(
    'vFYq/pGSaGQOF+PcjsocHL9TafuzsscDJ+TBcEcaF+qNFv1MEqIOkO5PibX2LGhxvmTPnEOH8mQsZ0ETvQ==',
    'qWsDSFL8rJnU4ZFaGmUJGQAAAAAAAAAB',
  );
  assert.equal(text, 'sealed by client/src/e2e.rs: ğüşıöç ✓');
  assert.equal(await session.safetyNumber(), '65214 51174 20574 11678 51691 30878');
});

test('a session is bound to both public keys as sent, not only to their shared secret', async () => {
  const alice = await e2e.generateIdentity();
  const bob = await e2e.generateIdentity();
  // X25519 ignores a key's top bit: this other encoding of alice's key gives bob the same shared secret.
  const otherEncoding = alice.publicKey.slice();
  otherEncoding[31] ^= 0x80;
  const sender = await e2e.establish(alice, e2e.toBase64(bob.publicKey), 3, true);
  const here = await e2e.establish(bob, e2e.toBase64(alice.publicKey), 3, false);
  const other = await e2e.establish(bob, e2e.toBase64(otherEncoding), 3, false);
  const sealed = sender.seal('merhaba');
  assert.throws(() => other.open(sealed.ciphertext, sealed.nonce), kind('decrypt'));
  assert.equal(here.open(sealed.ciphertext, sealed.nonce), 'merhaba');
});

test('the franking commitment matches the protocol test vector', async () => {
  assert.equal(await franking.commit(bytes(32, 1), 'merhaba'), 'AeLncy8vPRZ3B3fFPg70IbOrs9MhP/PgLeZxwDKHXl4=');
});

test('a franked message opens through the E2E session and reveals the key sealed inside it', async () => {
  const { alice, bob } = await pair(5);
  const { payload, commitment } = await franking.frank('görüşürüz 👋');
  const sealed = alice.seal(payload);
  const opened = await franking.unfrank(bob.openBytes(sealed.ciphertext, sealed.nonce), commitment);
  assert.equal(opened.text, 'görüşürüz 👋');
  assert.deepEqual(e2e.fromBase64(opened.franking_key), payload.subarray(0, franking.KEY_LEN));
  assert.equal(await franking.commit(e2e.fromBase64(opened.franking_key), opened.text), commitment);
});

test('a message whose commitment does not open is refused', async () => {
  const { payload, commitment } = await franking.frank('merhaba');
  const { commitment: another } = await franking.frank('merhaba');
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
    [notText, await franking.commit(notText.subarray(0, 32), notText.subarray(32)), 'authentic but not UTF-8'],
  ];
  for (const [bytes, c, why] of cases) await assert.rejects(franking.unfrank(bytes, c), franking.FrankingError, why);
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
  const legacy = [{ seq: 7, mine: false, text: 'eski ğ', franking_key: 'k7' }];
  assert.deepEqual(franking.evidence(legacy, [7]), [{ seq: 7, text_utf8: e2e.toBase64(new TextEncoder().encode('eski ğ')), franking_key: 'k7' }]);
});

/** The largest text a ciphertext of the hub's default max_message_bytes (16 KiB) carries: less the key and the tag. */
const MAX_TEXT = 16 * 1024 - franking.KEY_LEN - 16;

test('a BOM, a NUL, 5 000 control characters and a longest text of quotes are shown whole and reveal the bytes committed to', async () => {
  const { alice, bob } = await pair(6);
  for (const text of ['\uFEFFmerhaba', 'önce\u0000sonra', '\u0001'.repeat(5000), '"'.repeat(MAX_TEXT)]) {
    const { payload, commitment } = await franking.frank(text);
    const sealed = alice.seal(payload);
    const received = bob.openBytes(sealed.ciphertext, sealed.nonce);
    const opened = await franking.unfrank(received, commitment);
    assert.equal(opened.text, text, 'shown whole: a leading U+FEFF is text');
    const [reveal] = franking.evidence([{ seq: 1, mine: false, ...opened }], [1]);
    const revealed = e2e.fromBase64(reveal.text_utf8);
    assert.deepEqual(revealed, received.subarray(franking.KEY_LEN), 'the bytes as received');
    assert.equal(await franking.commit(e2e.fromBase64(reveal.franking_key), revealed), commitment, 'they open the commitment');
    assert.ok(JSON.stringify(reveal).length < Math.ceil(revealed.length / 3) * 4 + 100, 'nothing for JSON to escape');
  }
});
