// The conformance corpus (conformance/README.md) on the TypeScript SDK, the reference every other client agrees
// with: each file of conformance/scenarios/ is one test (conformance-runner.js runs it), and the E2E vectors of
// conformance/vectors/e2e.json are checked against this SDK's crypto, both as noble computes them step by step
// (docs/protocol.md section 9) and as the SDK's `establish` and `seal` produce them.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';

import { establish, toBase64 } from '../../src/crypto/e2e.js';
import { frank } from '../../src/crypto/franking.js';
import { hkdf, hmac, sha256, x25519, xchacha20poly1305 } from '../../src/crypto/vendor/noble.js';
import { runScenario } from './conformance-runner.js';

const corpus = new URL('../../../../conformance/', import.meta.url);
const read = (/** @type {string} */ path) => JSON.parse(readFileSync(new URL(path, corpus), 'utf8'));

const scenarios = readdirSync(new URL('scenarios/', corpus)).filter((f) => f.endsWith('.json')).sort();

test('the corpus has its scenarios', () => {
  assert.ok(scenarios.length >= 48, `${scenarios.length} scenarios`);
});

for (const file of scenarios) {
  const scenario = read(`scenarios/${file}`);
  test(`${file}: ${scenario.name}`, () => runScenario(scenario));
}

test('vectors/e2e.json: the HKDF inputs, the keys and a sealed message are the SDK\'s bytes', (t) => {
  const v = read('vectors/e2e.json');
  const hex = (/** @type {Uint8Array} */ b) => Buffer.from(b).toString('hex');
  const bytes = (/** @type {string} */ h) => Uint8Array.from(Buffer.from(h, 'hex'));
  const ascii = (/** @type {string} */ s) => Uint8Array.from(Buffer.from(s, 'ascii'));
  const u64 = (/** @type {number} */ n) => {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(n));
    return out;
  };
  const cat = (/** @type {Uint8Array[]} */ ...parts) => Uint8Array.from(parts.flatMap((p) => [...p]));

  // Step by step, as docs/protocol.md section 9 says, with the primitives the SDK bundles.
  const initiator = { privateKey: bytes(v.initiator.secret_key_hex), publicKey: x25519.getPublicKey(bytes(v.initiator.secret_key_hex)) };
  const responder = { privateKey: bytes(v.responder.secret_key_hex), publicKey: x25519.getPublicKey(bytes(v.responder.secret_key_hex)) };
  assert.equal(hex(initiator.publicKey), v.initiator.public_key_hex);
  assert.equal(toBase64(initiator.publicKey), v.initiator.public_key_b64);
  assert.equal(hex(responder.publicKey), v.responder.public_key_hex);
  assert.equal(toBase64(responder.publicKey), v.responder.public_key_b64);
  const shared = x25519.getSharedSecret(initiator.privateKey, responder.publicKey);
  assert.equal(hex(shared), v.shared_secret_hex);
  const info = (/** @type {string} */ label) => cat(ascii('tanis/v2/'), u64(v.match_id), initiator.publicKey, responder.publicKey, ascii(label));
  assert.equal(info('/i2r').length, 85);
  assert.equal(hex(info('/i2r')), v.info_i2r_hex);
  assert.equal(hex(info('/r2i')), v.info_r2i_hex);
  const key = (/** @type {string} */ label) => hkdf(sha256, shared, ascii(v.hkdf_salt), info(label), 32);
  assert.equal(hex(key('/i2r')), v.k_i2r_hex);
  assert.equal(hex(key('/r2i')), v.k_r2i_hex);
  const m = v.message;
  const nonce = cat(bytes(m.nonce_random_hex), u64(m.counter));
  const ad = cat(ascii('tanis/v2'), u64(v.match_id), Uint8Array.of(0), u64(m.counter));
  assert.equal(hex(ad), m.ad_hex);
  assert.equal(toBase64(nonce), m.nonce);
  assert.equal(hex(cat(bytes(m.franking_key_hex), ascii(m.text))), m.plaintext_hex);
  assert.equal(toBase64(xchacha20poly1305(key('/i2r'), nonce, ad).encrypt(bytes(m.plaintext_hex))), m.ciphertext);
  assert.equal(toBase64(hmac(sha256, bytes(m.franking_key_hex), ascii(m.text))), m.commitment);

  // The SDK's own sessions: both sides derive those keys, in their directions.
  const sending = establish(initiator, v.responder.public_key_b64, v.match_id, true);
  const receiving = establish(responder, v.initiator.public_key_b64, v.match_id, false);
  assert.deepEqual([hex(sending.sendKey.key), hex(sending.recvKey.key)], [v.k_i2r_hex, v.k_r2i_hex]);
  assert.deepEqual([hex(receiving.sendKey.key), hex(receiving.recvKey.key)], [v.k_r2i_hex, v.k_i2r_hex]);

  // And its franking and sealing, their randomness pinned: the franking key first, then the nonce's random part.
  const draws = [bytes(m.franking_key_hex), bytes(m.nonce_random_hex)];
  t.mock.method(globalThis.crypto, 'getRandomValues', (/** @type {Uint8Array} */ into) => {
    const next = draws.shift() ?? assert.fail('a random draw the vector does not pin');
    assert.equal(into.length, next.length);
    into.set(next);
    return into;
  });
  const franked = frank(m.text);
  assert.equal(franked.commitment, m.commitment);
  assert.equal(hex(franked.payload), m.plaintext_hex);
  assert.deepEqual(sending.seal(franked.payload), { ciphertext: m.ciphertext, nonce: m.nonce });
  t.mock.restoreAll();
  assert.equal(hex(receiving.openBytes(m.ciphertext, m.nonce)), m.plaintext_hex, 'and the responder opens it');
});
