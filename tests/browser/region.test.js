// Region for premium (issue 29, point 3): a free user is told what premium adds and keeps "nearby"; a premium user
// chooses their country (remembered across reloads, shown while waiting, sent as `region` with `match.find`), is
// not paired with the foreign stranger waiting when they ask, and is paired with the next newcomer of their
// country. The foreign stranger is the Rust peer with a German number; the premium is granted by the admin, as
// support would.

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, test } from 'node:test';

import { assertNoPageErrors, grantPremium, launch, needsAdmin, person, register } from './harness.js';
import { needsPeer, startPeer } from './rust_peer.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('a premium user restricted to their country is never given the foreign stranger who waits', { skip: needsAdmin || needsPeer }, async () => {
  const [premium, free, later] = [await person(browser), await person(browser), await person(browser)];
  try {
    await register(premium, 'bolgeci');
    await register(free, 'bedava');
    await register(later, 'sonraki');
    // Free: premium's choice is described, not offered; nearby stays.
    await free.page.getByTestId('region-premium-only').waitFor();
    assert.equal(await free.page.getByTestId('region').count(), 0);
    await free.page.getByTestId('nearby').waitFor();

    await grantPremium(premium);
    // Without a shared location only the country can be chosen; the choice survives a reload.
    assert.ok(await premium.page.getByTestId('region-radius').isDisabled());
    await premium.page.getByTestId('region-country').check();
    await premium.page.reload();
    assert.ok(await premium.page.getByTestId('region-country').isChecked());

    const foreign = startPeer('yabanci', { phone: `+49151${String(randomInt(100_000_000)).padStart(8, '0')}` });
    try {
      await foreign.next((e) => e.event === 'queued', 'queued');
      // The premium user asks while the German stranger waits: a newcomer is paired with the longest-waiting
      // compatible waiter at once, so had the restriction not held, these two would be matched now.
      await premium.page.getByTestId('find-text').click();
      await premium.page.getByTestId('waiting').waitFor();
      assert.match(await premium.page.getByTestId('waiting-for').textContent(), /my country only|yalnızca ülkem/);
      // A free Turkish newcomer: the German stranger, waiting longest, is theirs.
      await free.page.getByTestId('find-text').click();
      const matched = await foreign.next((e) => e.event === 'matched', 'a match');
      assert.equal(matched.peer, free.handle);
      await free.page.locator('[data-screen=chat]').waitFor();
      // The next Turkish newcomer is the premium user's.
      await later.page.getByTestId('find-text').click();
      for (const p of [premium, later]) await p.page.locator('[data-screen=chat]').waitFor();
      assert.equal(await premium.page.getByTestId('peer-handle').textContent(), later.handle);
    } finally {
      foreign.child.kill();
    }
    assertNoPageErrors(premium, free, later);
  } finally {
    for (const p of [premium, free, later]) await p.context.close();
  }
});
