// The browser's end-to-end encryption against the Rust reference client (client/, through
// client/examples/peer.rs): the same keys, safety number and ciphertexts, both ways, with the browser as the
// initiator and as the responder of the match.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';

import { PASSWORD, WAIT_MS, assertNoPageErrors, baseUrl, launch, mine, newPhone, person, register, theirs } from './harness.js';

const PEER = process.env.BROWSER_TEST_PEER;

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/** The Rust peer as a process: its JSON events, and a way to make it say something. */
function startPeer(alias) {
  const child = spawn(PEER, ['--url', baseUrl, '--phone', newPhone(), '--password', PASSWORD, '--alias', alias], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events = [];
  const waiters = new Set();
  createInterface({ input: child.stdout }).on('line', (line) => {
    const event = JSON.parse(line);
    events.push(event);
    for (const waiter of waiters) waiter();
  });
  return {
    child,
    events,
    /** The first event (seen or to come) for which `wanted` holds. */
    next(wanted, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = events.find(wanted);
          if (!found) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(found);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the Rust peer never reported ${what}; it said: ${JSON.stringify(events)}`));
        }, WAIT_MS);
        waiters.add(check);
        check();
      });
    },
    say(text) {
      child.stdin.write(`${text}\n`);
    },
    /** Closing its stdin makes it leave the match and exit. */
    async quit() {
      child.stdin.end();
      await new Promise((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', resolve)));
    },
  };
}

for (const browserFirst of [true, false]) {
  const role = browserFirst ? 'initiator' : 'responder';
  test(`the browser (${role}) and the Rust client read each other's messages both ways`, { skip: !PEER && 'BROWSER_TEST_PEER is not set' }, async () => {
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
