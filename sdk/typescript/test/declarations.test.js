// "Not as declared" (issue 64 point 4): the SDK's one-tap report carries no words and none of the peer's messages,
// even when some could be revealed. It refunds the match's unit only to a premium reporter whose own find asked for
// genders (`seeking`: the conversation is `filtered`), once, to the balance the unit was paid from; a plain find's
// match refunds nothing.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { closeAll, grantPremium, match, needsAdmin, next, person, receives } from './harness.js';

after(closeAll);

test('a one-tap "not as declared" report reveals nothing and refunds nothing for a plain find\'s match', async () => {
  const reporter = await person('sdknadr');
  const reported = await person('sdknadp');
  const [r] = await match(reporter, reported);
  assert.equal(r.filtered, false);
  const heard = receives(reporter, ['merhaba']);
  await reported.send('merhaba');
  await heard;
  assert.equal(reporter.revealable(r.id).length, 1, 'a message could be revealed, and is not');

  const before = (await reporter.me()).balances;
  assert.equal(await reporter.report(r.id, 'not_as_declared'), 0);
  assert.deepEqual((await reporter.me()).balances, before);
});

test('in a premium match filtered by gender it refunds the unit once, to the daily balance it was paid from', { skip: needsAdmin }, async () => {
  const seeker = await person('sdknads');
  const woman = await person('sdknadw');
  await grantPremium(seeker.handle);
  await woman.declareGender('woman', { consent: true });
  const womanMatched = next(woman, 'matched');
  const seekerMatched = next(seeker, 'matched');
  await woman.findMatch();
  await seeker.findMatch({ seeking: { genders: ['woman'] } });
  const [{ conversation: s }, { conversation: w }] = await Promise.all([seekerMatched, womanMatched]);
  assert.equal(s.id, w.id);
  assert.equal(s.filtered, true, 'the seeker asked for a gender');
  assert.equal(w.filtered, false, 'she did not');

  const before = (await seeker.me()).balances;
  await seeker.reportNotAsDeclared(s.id);
  const after = (await seeker.me()).balances;
  assert.deepEqual([after.daily_text, after.bonus_text], [before.daily_text + 1, before.bonus_text]);
  await seeker.reportNotAsDeclared(s.id);
  assert.deepEqual((await seeker.me()).balances, after, 'once per match');
});
