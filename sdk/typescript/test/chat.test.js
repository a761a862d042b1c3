// Two SDK clients register, match and talk end to end both ways; the safety numbers agree; delivery receipts
// come back; a report reveals a franked message that the server verifies and a moderator sees.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { adminToken, api, closeAll, match, needsAdmin, next, person, receives } from './harness.js';

after(closeAll);

test('two clients match and read each other end to end, with equal safety numbers and receipts', async () => {
  const ayse = await person('sdkayse');
  const mehmet = await person('sdkmehmet');
  // Languages and topics are profile settings the server matches on: findMatch sets them first.
  const [a, m] = await match(ayse, mehmet, { languages: ['tr', 'en'], topics: ['music', 'chess'], interests: 'prefer' });
  assert.deepEqual(a.record.shared_languages, ['en', 'tr']);
  assert.deepEqual(m.record.shared_interests.sort(), ['chess', 'music']);
  assert.equal(a.record.peer, mehmet.handle);
  assert.equal(m.record.peer, ayse.handle);
  assert.equal(a.record.initiator, !m.record.initiator);
  assert.match(a.safetyNumber, /^\d{5}( \d{5}){5}$/);
  assert.equal(a.safetyNumber, m.safetyNumber);

  const toMehmet = ['merhaba', 'ğüşıöç İĞ — ünicode ✓', '\uFEFFa leading BOM is text'];
  const heard = receives(mehmet, toMehmet);
  const delivered = next(ayse, 'delivered', ({ seq }) => seq === 3);
  for (const text of toMehmet) await ayse.send(text);
  const got = await heard;
  assert.deepEqual(got.map((message) => message.text), toMehmet);
  await delivered;
  assert.ok(a.messages.every((message) => message.status === 'delivered'), JSON.stringify(a.messages));

  const toAyse = 'selam, nasılsın?';
  const back = receives(ayse, [toAyse]);
  await mehmet.send(toAyse);
  const [message] = await back;
  assert.equal(message.seq, 4);
  assert.equal(message.text, toAyse);
});

test('a report reveals franked messages that the server verifies and a moderator reads', async () => {
  const reporter = await person('sdkreporter');
  const offender = await person('sdkoffender');
  const [r] = await match(reporter, offender);
  const insults = ['first insult', 'second insult'];
  const heard = receives(reporter, insults);
  for (const text of insults) await offender.send(text);
  await heard;
  // Our own messages are never revealable; the peer's verified ones are, newest first.
  await reporter.send('stop it');
  assert.deepEqual(reporter.revealable(r.id).map((message) => message.text), ['second insult', 'first insult']);

  const revealed = await reporter.report(r.id, 'harassment', { details: 'insults' });
  assert.equal(revealed, 2);

  if (needsAdmin) return;
  const token = await adminToken();
  const queue = await api('GET', '/v1/admin/reports?limit=100', { token });
  assert.equal(queue.status, 200, JSON.stringify(queue.body));
  const user = queue.body.users.find((u) => u.handle === offender.handle);
  assert.ok(user, `the offender ${offender.handle} is in the report queue`);
  const evidence = user.reports.flatMap((report) => report.evidence);
  assert.deepEqual(evidence.map((e) => [e.text, e.verdict]).sort(), [['first insult', 'verified'], ['second insult', 'verified']]);
});

test('a report whose evidence is altered is refused and nothing is stored', async () => {
  const reporter = await person('sdkliar');
  const peer = await person('sdkinnocent');
  const [r] = await match(reporter, peer);
  const heard = receives(reporter, ['hello there']);
  await peer.send('hello there');
  const [message] = await heard;
  // A reporter lying about what was said: the commitment does not open, the server refuses.
  message.text_utf8 = Buffer.from('something else').toString('base64');
  await assert.rejects(reporter.report(r.id, 'harassment'), (e) => e.code === 'evidence_forged');
});

/** The longest text a message carries under the server's default max_message_bytes (16 KiB): less key and tag. */
const LONGEST_TEXT = 16 * 1024 - 32 - 16;

test('a BOM, a NUL, 5 000 control characters and a longest text of quotes each reach the moderator exactly as sent', async () => {
  const reporter = await person('sdkzorokur');
  const sender = await person('sdkzoryazar');
  const [r] = await match(reporter, sender);
  const texts = ['\uFEFFmerhaba, ben buradayım', 'önce\u0000sonra\u0000', '\u0001'.repeat(5000), '"'.repeat(LONGEST_TEXT)];
  const heard = receives(reporter, texts);
  for (const text of texts) await sender.send(text);
  assert.deepEqual((await heard).map((message) => message.text), texts, 'each shown exactly as sent');
  // One report each, so that each reveal stands on its own (a report of all four is one frame too).
  for (const message of reporter.revealable(r.id)) {
    assert.equal(await reporter.report(r.id, 'harassment', { seqs: [message.seq] }), 1);
  }

  if (needsAdmin) return;
  const token = await adminToken();
  const queue = await api('GET', '/v1/admin/reports?limit=100', { token });
  assert.equal(queue.status, 200, JSON.stringify(queue.body));
  const user = queue.body.users.find((u) => u.handle === sender.handle);
  assert.ok(user, `the sender ${sender.handle} is in the report queue`);
  const evidence = user.reports.flatMap((report) => report.evidence).sort((a, b) => a.seq - b.seq);
  assert.deepEqual(evidence.map((e) => e.verdict), ['verified', 'verified', 'verified', 'verified']);
  assert.ok(evidence.every((e, i) => e.text === texts[i]), 'the moderator reads exactly the bytes sent');
});
