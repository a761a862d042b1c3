// Text chat between two browsers: registration, matching, messages both ways with the typing indicator and
// sent/delivered marks; then a reload and a dropped connection mid-conversation, after which every message is
// on screen exactly once, in order, none missing.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoPageErrors, launch, match, mine, person, register, say, screenshot, theirs, transcript } from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('two strangers register, match, see each other typing and exchange messages both ways with delivery marks', async () => {
  const ayse = await person(browser);
  const bora = await person(browser);
  await register(ayse, 'ayse', { shot: '01-register' });
  await register(bora, 'bora');
  await screenshot(ayse.page, '02-lobby');

  await ayse.page.getByTestId('find-text').click();
  await ayse.page.getByTestId('waiting').waitFor();
  await screenshot(ayse.page, '03-waiting');
  await bora.page.getByTestId('find-text').click();
  for (const p of [ayse, bora]) await p.page.locator('[data-screen=chat]').waitFor();
  assert.equal(await ayse.page.getByTestId('peer-handle').textContent(), bora.handle);
  assert.equal(await bora.page.getByTestId('peer-handle').textContent(), ayse.handle);
  // Both sides derive the same safety number from the two public keys.
  const safety = await ayse.page.getByTestId('safety-number').textContent();
  assert.match(safety, /^\d{5}( \d{5}){5}$/);
  assert.equal(await bora.page.getByTestId('safety-number').textContent(), safety);
  // A match costs one text unit.
  await ayse.page.locator('[data-testid=text-left]', { hasText: '9' }).waitFor();

  // Typing shows on the other side, and goes away when the message arrives.
  await bora.page.getByTestId('composer').pressSequentially('Mer');
  await ayse.page.getByTestId('typing').waitFor({ state: 'visible' });

  await say(ayse, 'Merhaba! Nasılsın?');
  await theirs(bora, 'Merhaba! Nasılsın?').waitFor();
  await mine(ayse, 'Merhaba! Nasılsın?').and(ayse.page.locator('[data-status=delivered]')).waitFor();

  await say(bora, 'İyiyim, sen? Çok güzel bir gün.');
  await theirs(ayse, 'İyiyim, sen? Çok güzel bir gün.').waitFor();
  await mine(bora, 'İyiyim, sen? Çok güzel bir gün.').and(bora.page.locator('[data-status=delivered]')).waitFor();
  await ayse.page.getByTestId('typing').waitFor({ state: 'hidden' });

  await say(ayse, 'Ben de iyiyim. Nereden yazıyorsun?');
  await theirs(bora, 'Ben de iyiyim. Nereden yazıyorsun?').waitFor();
  await screenshot(ayse.page, '04-chat');
  // The same conversation on a phone-sized screen.
  await bora.page.setViewportSize({ width: 390, height: 760 });
  await screenshot(bora.page, '08-chat-phone');

  // Leaving ends it for both; the other side is offered the next match.
  await ayse.page.getByTestId('leave').click();
  await bora.page.getByTestId('ended').waitFor();
  assert.match(await bora.page.getByTestId('ended').textContent(), /The stranger left/);
  assertNoPageErrors(ayse, bora);
  await Promise.all([ayse.context.close(), bora.context.close()]);
});

test('a reload and a dropped connection mid-conversation lose nothing and show nothing twice', async () => {
  const cem = await person(browser);
  const deniz = await person(browser);
  await register(cem, 'cem');
  await register(deniz, 'deniz');
  await match(cem, deniz);
  const sent = [];
  const exchange = async (from, text) => {
    await say(from, text);
    sent.push({ mine: from === cem, text });
  };
  await exchange(cem, 'one 👋 (four UTF-8 bytes)');
  await exchange(deniz, 'two');
  await theirs(cem, 'two').waitFor();

  // Deniz reloads while Cem keeps writing: some messages arrive live before the page goes, the rest are stored
  // and come back through `resume`.
  const reloading = deniz.page.reload();
  for (const text of ['three', 'four', 'five']) await exchange(cem, text);
  await reloading;
  await deniz.page.locator('[data-testid=connection][data-state=online]').waitFor();
  await theirs(deniz, 'five').waitFor();
  // The reloaded page goes on with the same keys and counters: it can still send and be read.
  await exchange(deniz, 'six, after the reload');
  await theirs(cem, 'six, after the reload').waitFor();

  // Cem's connection drops (as on a train) while Deniz writes, and Cem writes while offline: the message waits,
  // goes out after the reconnect, and arrives once.
  await cem.page.evaluate(() => window.tanis.app.socket.drop());
  await cem.page.getByTestId('composer').fill('seven, written offline');
  await cem.page.getByTestId('send').click();
  sent.push({ mine: true, text: 'seven, written offline' });
  await exchange(deniz, 'eight');
  await theirs(cem, 'eight').waitFor();
  await theirs(deniz, 'seven, written offline').waitFor();
  await mine(cem, 'seven, written offline').and(cem.page.locator('[data-status=delivered]')).waitFor();

  // The two transcripts: every message once, in one order, with the seqs 1..n and nothing else.
  const expected = (forCem) => sent.map((m) => ({ mine: m.mine === forCem, text: m.text }));
  for (const [p, forCem] of [[cem, true], [deniz, false]]) {
    const shown = await transcript(p);
    assert.deepEqual(shown.map(({ mine: m, text }) => ({ mine: m, text })).sort(byText), expected(forCem).sort(byText));
    assert.deepEqual(shown.map((m) => m.seq), shown.map((_, i) => i + 1), 'seqs are 1..n in order');
  }
  // The conversation itself is in send order except for the offline message, which took its place on arrival.
  assert.deepEqual((await transcript(deniz)).slice(0, 6).map((m) => m.text), sent.slice(0, 6).map((m) => m.text));
  assertNoPageErrors(cem, deniz);
  await Promise.all([cem.context.close(), deniz.context.close()]);
});

function byText(a, b) {
  return a.text.localeCompare(b.text);
}
