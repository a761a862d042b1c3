// Keeping in touch, then a takeover: a new device of one side signs in, takes the contact conversation over with
// a new key; the contact is told (safety number changed), the old device is told (taken over), and the two go
// on talking end to end. A device away during the takeover is told when it comes back (`GET /v1/contacts` names
// its side's key and the session that published it).

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { PASSWORD, api, closeAll, connectedOnce, device, match, next, person, receives } from './harness.js';

after(closeAll);

test('a contact survives a takeover by a new device, with the safety-number-changed notice', async () => {
  const ali = await person('sdkali');
  const zeynep = await person('sdkzeynep');
  const [a, z] = await match(ali, zeynep);
  const aliAdded = next(ali, 'contactAdded');
  const zeynepAdded = next(zeynep, 'contactAdded');
  const proposed = next(zeynep, 'contactProposed');
  await ali.proposeContact(a.id);
  await proposed;
  await zeynep.proposeContact(z.id);
  await Promise.all([aliAdded, zeynepAdded]);
  assert.ok(a.isContact && z.isContact);
  const before = a.safetyNumber;
  const heard = receives(zeynep, ['still there?']);
  await ali.send('still there?', a.id);
  await heard;

  // Zeynep's new phone: a sign-in on a new storage. It lists the contact but holds no key for it.
  const phone = device();
  const connected = connectedOnce(phone);
  const listed = next(phone, 'contactAdded', ({ matchId }) => matchId === a.id);
  await phone.login(zeynep.phone, PASSWORD);
  await connected;
  const { conversation: onPhone } = await listed;
  assert.equal(onPhone.safetyNumber, null);
  await assert.rejects(phone.send('no key yet', a.id), (e) => e.code === 'e2e');

  const changed = next(ali, 'safetyNumberChanged', ({ matchId }) => matchId === a.id);
  const takenOver = next(zeynep, 'takenOver', ({ matchId }) => matchId === a.id);
  const mine = next(phone, 'safetyNumberChanged', ({ matchId }) => matchId === a.id);
  await phone.takeOver(a.id);
  const notice = await changed;
  assert.equal(notice.by, 'theirs');
  assert.notEqual(notice.safetyNumber, before);
  assert.equal((await mine).safetyNumber, notice.safetyNumber);
  assert.equal(onPhone.safetyNumber, a.safetyNumber);
  await takenOver;
  assert.equal(z.safetyNumber, null, 'the old device reads nothing new');

  const toPhone = receives(phone, ['welcome, new phone']);
  await ali.send('welcome, new phone', a.id);
  await toPhone;
  const toAli = receives(ali, ['typed on the new phone']);
  await phone.send('typed on the new phone', a.id);
  await toAli;
  // The old device sees the contact's message as undecryptable, never as text.
  assert.ok(!z.messages.some((m) => m.text === 'welcome, new phone'));
});

test('a device away during a takeover learns of it when it comes back, and the contact reads the new device', async () => {
  const ali = await person('sdkaway');
  const zeynep = await person('sdkgone');
  const [a, z] = await match(ali, zeynep);
  const added = Promise.all([next(ali, 'contactAdded'), next(zeynep, 'contactAdded')]);
  const proposed = next(zeynep, 'contactProposed');
  await ali.proposeContact(a.id);
  await proposed;
  await zeynep.proposeContact(z.id);
  await added;

  // Zeynep's phone goes to the background; meanwhile her tablet signs in and takes the conversation over.
  zeynep.pause();
  const tablet = device();
  const connected = connectedOnce(tablet);
  const listed = next(tablet, 'contactAdded', ({ matchId }) => matchId === a.id);
  await tablet.login(zeynep.phone, PASSWORD);
  await connected;
  await listed;
  const changed = next(ali, 'safetyNumberChanged', ({ matchId }) => matchId === a.id);
  await tablet.takeOver(a.id);
  await changed;
  const sessions = await api('GET', '/v1/me/sessions', { token: await tablet.api.accessToken() });
  assert.equal(sessions.status, 200);
  const tabletSession = sessions.body.find((s) => s.current).id;

  // Back, the phone missed the `contact.key`; the contacts list tells it, naming the tablet's session.
  const takenOver = next(zeynep, 'takenOver', ({ matchId }) => matchId === a.id);
  zeynep.resume();
  assert.equal((await takenOver).sessionId, tabletSession);
  assert.equal(z.safetyNumber, null, 'the phone reads nothing new');

  const toAli = receives(ali, ['typed on the tablet']);
  await tablet.send('typed on the tablet', a.id);
  await toAli;
});
