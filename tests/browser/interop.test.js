// The browser's end-to-end encryption against the Rust reference client (client/, through
// client/examples/peer.rs): the same keys, safety number and ciphertexts, both ways, with the browser as the
// initiator and as the responder of the match.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoPageErrors, launch, mine, person, register, theirs } from './harness.js';
import { needsPeer, startPeer } from './rust_peer.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

for (const browserFirst of [true, false]) {
  const role = browserFirst ? 'initiator' : 'responder';
  test(`the browser (${role}) and the Rust client read each other's messages both ways`, { skip: needsPeer }, async () => {
    const web = await person(browser);
    await register(web, browserFirst ? 'webfirst' : 'websecond');
    // Whoever waited longer is the initiator (it sets the key directions; protocol section 9). The peer asks
    // for a match as soon as it is signed in.
    if (browserFirst) {
      await web.page.getByTestId('find-text').click();
      await web.page.getByTestId('waiting').waitFor();
    }
    const peer = startPeer(browserFirst ? 'rustsecond' : 'rustfirst');
    try {
      await peer.next((e) => e.event === 'queued', 'queued');
      if (!browserFirst) await web.page.getByTestId('find-text').click();
      const matched = await peer.next((e) => e.event === 'matched', 'a match');
      await web.page.locator('[data-screen=chat]').waitFor();
      assert.equal(matched.initiator, !browserFirst);
      assert.equal(matched.peer, web.handle);
      // The same safety number from WebCrypto + SHA-256 in the page and from the Rust crate.
      assert.equal(await web.page.getByTestId('safety-number').textContent(), matched.safety_number);

      const toRust = `Merhaba Rust — ğüşıöç İĞ, ${role}`;
      await web.page.getByTestId('composer').fill(toRust);
      await web.page.getByTestId('send').click();
      const received = await peer.next((e) => e.event === 'message', 'a message');
      assert.equal(received.text, toRust);
      // The peer acknowledged it: the browser marks it delivered.
      await mine(web, toRust).and(web.page.locator('[data-status=delivered]')).waitFor();

      const toBrowser = `Selam tarayıcı, ünicode ✓ — ${role}`;
      peer.say(toBrowser);
      await theirs(web, toBrowser).waitFor();
      await peer.next((e) => e.event === 'delivered', 'its message delivered');
      assert.ok(!peer.events.some((e) => e.event === 'undecryptable' || e.event === 'error'), JSON.stringify(peer.events));
      assert.equal(await web.page.locator('[data-status=undecryptable]').count(), 0);

      await peer.quit();
      await web.page.getByTestId('ended').waitFor();
      assertNoPageErrors(web);
    } finally {
      peer.child.kill();
      await web.context.close();
    }
  });
}
