// "Not as declared" (issue 64 point 4): the SDK's one-tap report carries no words and none of the peer's messages,
// even when some could be revealed, and the server refunds the match's unit once.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { closeAll, match, person, receives } from './harness.js';

after(closeAll);

test('a one-tap "not as declared" report reveals nothing and refunds the match once', async () => {
  const reporter = await person('sdknadr');
  const reported = await person('sdknadp');
  const [r] = await match(reporter, reported);
  const heard = receives(reporter, ['merhaba']);
  await reported.send('merhaba');
  await heard;
  assert.equal(reporter.revealable(r.id).length, 1, 'a message could be revealed, and is not');

  const before = (await reporter.me()).balances.bonus_text;
  assert.equal(await reporter.report(r.id, 'not_as_declared'), 0);
  assert.equal((await reporter.me()).balances.bonus_text, before + 1);
  await reporter.reportNotAsDeclared(r.id);
  assert.equal((await reporter.me()).balances.bonus_text, before + 1, 'once per match');
});
