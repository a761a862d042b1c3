// Age assurance (issue 64 point 5) through the SDK, on a server that asks an assured age for video finds
// (scripts/sdk-test starts it so, asking the stand-in in yoti.js): a video find is refused with
// age_assurance_required, startAgeAssurance() answers the provider's page, checkAgeAssurance() reads the result,
// and the same find is then admitted. A text find was never asked for it.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { closeAll, person } from './harness.js';
import { startYoti } from './yoti.js';

let yoti;
before(async () => (yoti = await startYoti()));
after(async () => {
  closeAll();
  await yoti?.close();
});

test('a video find is refused until the provider assures the age, then admitted', async () => {
  const ayla = await person('sdkage');
  assert.deepEqual((await ayla.me()).age_assurance, { required_for: 'video', offered: true, assured: false, latest: null });
  await assert.rejects(ayla.findMatch({ kind: 'video' }), (e) => e.code === 'age_assurance_required');

  const started = await ayla.startAgeAssurance();
  assert.equal(started.status, 'pending');
  const page = new URL(started.url);
  assert.equal(page.searchParams.get('sessionId'), started.reference);
  assert.equal(page.searchParams.get('sdkId'), 'sdk-test-yoti-sdk-id');
  const early = await ayla.checkAgeAssurance();
  assert.equal(early.assured, false);
  assert.equal(early.latest.status, 'pending', 'not finished at the provider yet');

  yoti.finish(started.reference, 18, 'DOC_SCAN');
  const checked = await ayla.checkAgeAssurance();
  assert.equal(checked.assured, true);
  assert.equal(checked.latest.status, 'assured');
  assert.equal(checked.latest.method, 'doc_scan');
  // findMatch resolves with `match.queued`: admitted.
  await ayla.findMatch({ kind: 'video' });
  await ayla.cancelFind();
  assert.deepEqual(yoti.rejected, [], 'every request was one Yoti takes');
});

test('a text find is not asked for an assured age', async () => {
  const deniz = await person('sdknoage');
  await deniz.findMatch();
  await deniz.cancelFind();
});
