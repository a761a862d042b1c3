// The SDK against the Rust reference client (client/examples/peer.rs through tests/browser/rust_peer.js): the
// same safety number, franked messages both ways, a contact, and a re-key by each side.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { closeAll, next, person, receives } from './harness.js';

process.env.BROWSER_TEST_URL ??= process.env.SDK_TEST_URL;
process.env.BROWSER_TEST_PEER ??= process.env.SDK_TEST_PEER;
const { needsPeer, startPeer } = await import('../../../tests/browser/rust_peer.js');

after(closeAll);

test('the SDK and the Rust client exchange franked E2E messages both ways and re-key', { skip: needsPeer }, async () => {
  const sdk = await person('sdkinterop');
  const matched = next(sdk, 'matched');
  await sdk.findMatch();
  const peer = startPeer('rustinterop');
  try {
    const { conversation: c } = await matched;
    const theirs = await peer.next((e) => e.event === 'matched', 'a match');
    assert.equal(theirs.initiator, false);
    assert.equal(theirs.peer, sdk.handle);
    assert.equal(c.safetyNumber, theirs.safety_number);

    // Listen before sending: the receipt can reach the SDK before the peer's printed line reaches this test.
    const delivered = next(sdk, 'delivered', ({ seq }) => seq === 1);
    await sdk.send('Merhaba Rust — ğüşıöç');
    assert.equal((await peer.next((e) => e.event === 'message', 'a message')).text, 'Merhaba Rust — ğüşıöç');
    await delivered;
    const back = receives(sdk, ['Selam SDK ✓']);
    peer.say('Selam SDK ✓');
    await back;

    // A contact, re-keyed by the Rust side (a new device of theirs): the SDK derives again and says so.
    const added = next(sdk, 'contactAdded');
    peer.say('/keep');
    await next(sdk, 'contactProposed');
    await sdk.proposeContact(c.id);
    await added;
    await peer.next((e) => e.event === 'contact_added', 'the contact');
    const changed = next(sdk, 'safetyNumberChanged');
    peer.say('/rekey');
    const rekeyed = await peer.next((e) => e.event === 'rekeyed', 'its re-key');
    assert.equal((await changed).safetyNumber, rekeyed.safety_number);
    const afterRekey = receives(sdk, ['after my new key']);
    peer.say('after my new key');
    await afterRekey;

    // And the SDK takes it over with a new key of its own: the Rust side derives the same number.
    await sdk.takeOver(c.id);
    const told = await peer.next((e) => e.event === 'contact_key', 'our new key');
    assert.equal(told.safety_number, c.safetyNumber);
    await sdk.send('after the SDK re-key', c.id);
    assert.equal((await peer.next((e) => e.event === 'message' && e.text === 'after the SDK re-key', 'the last message')).text, 'after the SDK re-key');
    assert.ok(!peer.events.some((e) => e.event === 'undecryptable' || e.event === 'error'), JSON.stringify(peer.events));
  } finally {
    peer.child.kill();
  }
});
