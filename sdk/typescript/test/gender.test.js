// Whom you want to meet (issue 64): the SDK declares and withdraws a gender with its own consent, and a premium
// find asks for genders; the server refuses a free account's wish with premium_required and a woman asking for
// women never meets a man.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { closeAll, grantPremium, needsAdmin, next, person } from './harness.js';

after(closeAll);

test('a declared gender needs consent, is the owner\'s to read and goes on withdrawal', async () => {
  const ayse = await person('sdkgender');
  await assert.rejects(ayse.declareGender('woman', { consent: false }), (e) => e.code === 'consent_required');
  assert.equal((await ayse.declareGender('woman', { consent: true })).gender, 'woman');
  assert.equal((await ayse.me()).gender, 'woman');
  assert.equal((await ayse.withdrawGender()).gender, null);
});

test('a free account asking for a gender is refused; a premium one meets only whom it asks for', { skip: needsAdmin }, async () => {
  const free = await person('sdkfree');
  await assert.rejects(free.findMatch({ seeking: { genders: ['woman'] } }), (e) => e.code === 'premium_required');

  const [seeker, man, woman] = [await person('sdkseeker'), await person('sdkman'), await person('sdkwoman')];
  await grantPremium(seeker.handle);
  await seeker.declareGender('woman', { consent: true });
  await man.declareGender('man', { consent: true });
  await woman.declareGender('woman', { consent: true });
  // The man and the woman share no language: they never meet each other while they wait.
  await man.updateProfile({ languages: ['de'] });
  await woman.updateProfile({ languages: ['tr'] });
  const manMatched = [];
  man.on('matched', (m) => manMatched.push(m));
  await man.findMatch();
  const seekerMatched = next(seeker, 'matched');
  await seeker.findMatch({ seeking: { genders: ['woman'], mode: 'only' } });
  const womanMatched = next(woman, 'matched');
  await woman.findMatch();
  const [a, b] = await Promise.all([seekerMatched, womanMatched]);
  assert.equal(a.conversation.id, b.conversation.id);
  assert.equal(a.conversation.record.peer, woman.handle);
  assert.deepEqual(manMatched, [], 'the man who waited longer is not what she asked for');
  await man.cancelFind();
});
