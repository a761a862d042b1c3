// Franked messages as report evidence (docs/protocol.md section 9, "Franking"), across the two clients: the
// browser reports the Rust peer revealing two picked messages, even after a reload, and a moderator sees both
// verified; a tampered reveal from the browser is refused, said so, and stores nothing; the Rust peer reads the
// browser's franked messages, reports one (verified) and a forged one is refused with the queue unchanged; of 25
// messages the oldest can be picked (20 at most at once), and its leading U+FEFF is shown and revealed.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { adminToken, api, assertNoPageErrors, launch, needsAdmin, person, register, say, screenshot, theirs } from './harness.js';
import { needsPeer, startPeer } from './rust_peer.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

const skip = needsPeer || needsAdmin;

/** The moderator's view of the open reports about `handle` (GET /v1/admin/reports), or null when there are none. */
async function reportsAbout(handle) {
  const queue = await api('GET', '/v1/admin/reports?limit=100', { token: await adminToken() });
  assert.equal(queue.status, 200, JSON.stringify(queue.body));
  return queue.body.users.find((u) => u.handle === handle) ?? null;
}

/** A browser user in a text match with a fresh Rust peer; the peer's handle is its `ready` event's. */
async function browserAndPeer(alias, peerAlias) {
  const web = await person(browser);
  await register(web, alias);
  const peer = startPeer(peerAlias);
  const { handle } = await peer.next((e) => e.event === 'ready', 'ready');
  await peer.next((e) => e.event === 'queued', 'queued');
  await web.page.getByTestId('find-text').click();
  await peer.next((e) => e.event === 'matched', 'a match');
  await web.page.locator('[data-screen=chat]').waitFor();
  return { web, peer, peerHandle: handle };
}

/** The Rust peer says `text`; resolves with its seq once the browser shows it (verified: shown as text). */
async function peerSays(web, peer, text) {
  peer.say(text);
  const bubble = theirs(web, text);
  await bubble.waitFor();
  return Number(await bubble.getAttribute('data-seq'));
}

/** Opens the report dialog, picks the messages with these seqs, and sends it. */
async function reportPicking(web, seqs, { shot = null } = {}) {
  const { page } = web;
  await page.getByTestId('report').click();
  await page.getByTestId('report-reason').selectOption('harassment');
  for (const seq of seqs) await page.locator(`[data-testid=report-evidence][data-seq="${seq}"]`).check();
  if (shot) await screenshot(page, shot);
  await page.getByTestId('report-submit').click();
}

test('the browser reveals two picked messages of the Rust peer, after a reload, and a moderator sees both verified', { skip }, async () => {
  const { web, peer, peerHandle } = await browserAndPeer('evidenceweb', 'evidencerust');
  try {
    const texts = ['ilk mesaj', 'sen kimsin ki ğüşıöç', 'üçüncü ✓'];
    const seqs = [];
    for (const text of texts) seqs.push(await peerSays(web, peer, text));

    // The franking keys live in the stored conversation: a reload still reveals.
    await web.page.reload();
    await theirs(web, texts[2]).waitFor();
    await web.page.getByTestId('report').click();
    // Newest first, none picked; the help says what moderators will see.
    const offered = web.page.getByTestId('report-evidence');
    assert.deepEqual(await offered.evaluateAll((boxes) => boxes.map((b) => [Number(b.dataset.seq), b.checked])),
      [[seqs[2], false], [seqs[1], false], [seqs[0], false]]);
    assert.match(await web.page.getByTestId('report-picker').textContent(), /shown to moderators/);
    await web.page.getByTestId('report-cancel').click();

    await reportPicking(web, [seqs[1], seqs[2]], { shot: '13-report-evidence' });
    await web.page.getByText('Your report was sent.').waitFor();

    const reported = await reportsAbout(peerHandle);
    assert.equal(reported?.reports.length, 1, JSON.stringify(reported));
    const evidence = reported.reports[0].evidence.map(({ seq, text, verdict }) => ({ seq, text, verdict }));
    assert.deepEqual(evidence.sort((a, b) => a.seq - b.seq), [
      { seq: seqs[1], text: texts[1], verdict: 'verified' },
      { seq: seqs[2], text: texts[2], verdict: 'verified' },
    ]);
    assertNoPageErrors(web);
  } finally {
    peer.child.kill();
    await web.context.close();
  }
});

test('a reveal altered in the browser is refused, the user is told, and nothing is stored', { skip }, async () => {
  const { web, peer, peerHandle } = await browserAndPeer('forgerweb', 'honestrust');
  try {
    const seq = await peerSays(web, peer, 'yarın görüşürüz');
    // A tampered client: the kept bytes are not what the peer sent (the key is the real one).
    await web.page.evaluate((s) => {
      const forged = String.fromCharCode(...new TextEncoder().encode('para gönder'));
      Object.assign(window.tanis.conversation.messages.find((m) => m.seq === s), { text: 'para gönder', text_utf8: btoa(forged) });
    }, seq);
    await reportPicking(web, [seq]);
    await web.page.getByText('A picked message is not what they sent, so the report was not sent.').waitFor();
    assert.equal(await reportsAbout(peerHandle), null, 'no report stored');
    assertNoPageErrors(web);
  } finally {
    peer.child.kill();
    await web.context.close();
  }
});

test('the Rust peer verifies the browser\'s franked messages and reports one; its forged reveal is refused', { skip }, async () => {
  const { web, peer } = await browserAndPeer('reportedweb', 'reporterrust');
  try {
    const texts = ['selam, nasılsın?', 'bunu kimseye söyleme'];
    const seqs = [];
    for (const text of texts) {
      await say(web, text);
      // The peer's `message` event comes only once the commitment opened (client/src/franking.rs).
      seqs.push((await peer.next((e) => e.event === 'message' && e.text === text, `"${text}" read`)).seq);
    }
    assert.ok(!peer.events.some((e) => e.event === 'undecryptable'), JSON.stringify(peer.events));

    peer.say(`/report ${seqs[0]}`);
    await peer.next((e) => e.id === 'report' && (e.event === 'ok' || e.event === 'error'), 'the report answered');
    assert.ok(peer.events.some((e) => e.event === 'ok' && e.id === 'report'), JSON.stringify(peer.events));
    const before = await reportsAbout(web.handle);
    assert.deepEqual(before.reports[0].evidence.map(({ seq, text, verdict }) => ({ seq, text, verdict })),
      [{ seq: seqs[0], text: texts[0], verdict: 'verified' }]);

    peer.say(`/forge ${seqs[1]}`);
    const refused = await peer.next((e) => e.id === 'forge' && (e.event === 'ok' || e.event === 'error'), 'the forgery answered');
    assert.equal(refused.code, 'evidence_forged', JSON.stringify(refused));
    assert.deepEqual(await reportsAbout(web.handle), before, 'the queue is unchanged');
    assertNoPageErrors(web);
  } finally {
    peer.child.kill();
    await web.context.close();
  }
});

test('the 25th-newest message can be picked and reported, 20 at most at once, and a leading U+FEFF is shown and revealed', { skip }, async () => {
  const { web, peer, peerHandle } = await browserAndPeer('manyweb', 'manyrust');
  try {
    // The oldest of 25 begins with U+FEFF, which a default TextDecoder would drop (then it could not be revealed).
    const texts = ['\uFEFFbom ile başlar', ...Array.from({ length: 24 }, (_, i) => `mesaj ${i + 2}`)];
    const seqs = [];
    for (const text of texts) seqs.push(await peerSays(web, peer, text));
    const shown = await web.page.locator(`.message[data-seq="${seqs[0]}"]`).textContent();
    assert.ok(shown.includes(texts[0]), `shown whole: ${JSON.stringify(shown)}`);

    const { page } = web;
    await page.getByTestId('report').click();
    await page.getByTestId('report-reason').selectOption('harassment');
    const offered = page.getByTestId('report-evidence');
    assert.deepEqual(await offered.evaluateAll((boxes) => boxes.map((b) => Number(b.dataset.seq))), [...seqs].reverse(),
      'every message, newest first');
    // The 19 newest and the oldest: 20, the most one report reveals; the rest cannot be picked until one is unpicked.
    const picked = [...seqs.slice(-19), seqs[0]];
    for (const seq of picked) await page.locator(`[data-testid=report-evidence][data-seq="${seq}"]`).check();
    for (const seq of seqs.slice(1, 6)) assert.ok(await page.locator(`[data-testid=report-evidence][data-seq="${seq}"]`).isDisabled(), `seq ${seq}`);
    assert.equal(await page.getByTestId('report-evidence-count').textContent(), '20 picked, at most 20.');
    await page.locator(`[data-testid=report-evidence][data-seq="${seqs[24]}"]`).uncheck();
    assert.ok(await page.locator(`[data-testid=report-evidence][data-seq="${seqs[1]}"]`).isEnabled(), 'one unpicked frees a place');
    await page.locator(`[data-testid=report-evidence][data-seq="${seqs[24]}"]`).check();
    await page.getByTestId('report-submit').click();
    await page.getByText('Your report was sent.').waitFor();

    const reported = await reportsAbout(peerHandle);
    const evidence = reported.reports[0].evidence;
    assert.deepEqual(evidence.map((e) => e.seq).sort((a, b) => a - b), picked.sort((a, b) => a - b));
    assert.ok(evidence.every((e) => e.verdict === 'verified'));
    assert.equal(evidence.find((e) => e.seq === seqs[0]).text, texts[0], 'the moderator sees the U+FEFF too');
    assertNoPageErrors(web);
  } finally {
    peer.child.kill();
    await web.context.close();
  }
});
