// The SDK's cryptography as the web client runs it: the modules the server serves at /app/sdk/crypto/, imported
// by a page in Chromium under the page's Content-Security-Policy, against the same modules in Node. The rules
// themselves (the protocol's vectors, replay, tampering, bad keys, franking refusals) are unit-tested in Node by
// sdk/typescript/test/crypto.test.js; this proves the served bundle works in a real browser, with no WebCrypto
// X25519 involved, and speaks the same wire format as Node and the Rust client (interop.test.js: the whole app).

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import * as e2e from '../../sdk/typescript/src/crypto/e2e.js';
import * as franking from '../../sdk/typescript/src/crypto/franking.js';
import { assertNoPageErrors, launch, person } from './harness.js';

let browser;
let p;
before(async () => {
  browser = await launch();
  p = await person(browser);
});
after(async () => {
  assertNoPageErrors(p);
  await browser?.close();
});

/** The SDK's modules in the page, imported from the server as the app imports them (the page's CSP applies). */
async function sdk() {
  return {
    e2e: await import('/app/sdk/crypto/e2e.js'),
    franking: await import('/app/sdk/crypto/franking.js'),
    noble: await import('/app/sdk/crypto/vendor/noble.js'),
  };
}

/** Runs `fn(modules, arg)` in the page. Playwright sends functions as source, so `sdk` is sent along as text. */
function inPage(fn, arg) {
  return p.page.evaluate(`(async () => (${fn})(await (${sdk})(), ${JSON.stringify(arg ?? null)}))()`);
}

// client/src/e2e.rs `messages_sealed_by_the_web_client_open_here_…`: match 4242, secrets [0x11; 32] (initiator)
// and [0x22; 32]. The Rust client sealed this message as the responder.
test('in Chromium, the served SDK opens a message the Rust client sealed, with the same keys and safety number', async () => {
  const result = await inPage(({ e2e: c, noble }) => {
    const identity = (fill) => {
      const privateKey = new Uint8Array(32).fill(fill);
      return { privateKey, publicKey: noble.x25519.getPublicKey(privateKey) };
    };
    const alice = identity(0x11);
    const bob = identity(0x22);
    const session = c.establish(alice, c.toBase64(bob.publicKey), 4242, true);
    return {
      keys: [c.toBase64(alice.publicKey), c.toBase64(bob.publicKey)],
      text: session.open('vFYq/pGSaGQOF+PcjsocHL9TafuzsscDJ+TBcEcaF+qNFv1MEqIOkO5PibX2LGhxvmTPnEOH8mQsZ0ETvQ==', 'qWsDSFL8rJnU4ZFaGmUJGQAAAAAAAAAB'),
      safetyNumber: session.safetyNumber(),
    };
  });
  assert.deepEqual(result.keys, ['e06Qm75//kTEZaIgA31gjuNYl9Me+XLwf3SJLLD3PxM=', 'D6poTtKIZ7l/Smot7l34zpdOdrcBjj8iocTPJnhXDyA=']);
  assert.equal(result.text, 'sealed by client/src/e2e.rs: ğüşıöç ✓');
  assert.equal(result.safetyNumber, '65214 51174 20574 11678 51691 30878');
});

test('a franked message sealed in Chromium opens and verifies in Node, and one sealed in Node opens in Chromium', async () => {
  const node = e2e.generateIdentity();
  const texts = ['\uFEFFmerhaba', 'önce\u0000sonra', 'görüşürüz 👋'];
  const fromPage = await inPage(({ e2e: c, franking: f }, { peerKey, texts: all }) => {
    const me = c.generateIdentity();
    const session = c.establish(me, peerKey, 77, true);
    const sealed = all.map((text) => {
      const { payload, commitment } = f.frank(text);
      return { ...session.seal(payload), commitment };
    });
    globalThis.tanisE2eTest = session;
    return { publicKey: c.toBase64(me.publicKey), sealed, safetyNumber: session.safetyNumber() };
  }, { peerKey: e2e.toBase64(node.publicKey), texts });

  const session = e2e.establish(node, fromPage.publicKey, 77, false);
  assert.equal(session.safetyNumber(), fromPage.safetyNumber);
  const opened = fromPage.sealed.map((m) => franking.unfrank(session.openBytes(m.ciphertext, m.nonce), m.commitment).text);
  assert.deepEqual(opened, texts, 'shown whole, a leading U+FEFF and a NUL included');

  const back = franking.frank('tamam ✓');
  const reply = { ...session.seal(back.payload), commitment: back.commitment };
  const inChromium = await inPage(({ franking: f }, m) => {
    const opened = f.unfrank(globalThis.tanisE2eTest.openBytes(m.ciphertext, m.nonce), m.commitment);
    return opened.text;
  }, reply);
  assert.equal(inChromium, 'tamam ✓');
});
