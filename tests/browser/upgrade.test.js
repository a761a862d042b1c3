// A browser that had the page before the SDK open (its own IndexedDB stores, the tokens in localStorage) loads
// the page built on the SDK: web/upgrade.js carries the records over once. A match whose key pair was kept as
// bytes goes on where it stopped (still signed in; the history, the counters, the highest seq and an unsent
// message all carried over); one whose key pair was a WebCrypto CryptoKey cannot be carried and is ended cleanly.
// (A contact in that case is taken over with a fresh key: contacts.test.js.)

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { assertNoPageErrors, launch, match, mine, person, register, say, theirs, transcript } from './harness.js';
import { asOldPage } from './old_page.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('a match the old page stored goes on after the upgrade: signed in, history, counters, highest seq and outbox carried over', async () => {
  const ada = await person(browser);
  const baris = await person(browser);
  await register(ada, 'ada');
  await register(baris, 'baris');
  await match(ada, baris);
  await say(ada, 'bir');
  await theirs(baris, 'bir').waitFor();
  await say(baris, 'iki');
  await theirs(ada, 'iki').waitFor();
  await mine(baris, 'iki').and(baris.page.locator('[data-status=delivered]')).waitFor();

  // Ada's browser as the old page left it, with a message it sealed while offline; Barış writes meanwhile.
  const back = await asOldPage(ada, { unsent: 'üç, yazıldı ama gitmedi' });
  await say(baris, 'dört, sen yokken');
  await ada.page.goto(back);

  // Still signed in (the tokens were carried over), in the same conversation.
  await ada.page.locator('[data-testid=connection][data-state=online]').waitFor();
  await ada.page.locator('[data-screen=chat]').waitFor();
  // What came while away arrives after `iki`; then the unsent message leaves as it was sealed (after `resume.done`)
  // and arrives once.
  await theirs(baris, 'üç, yazıldı ama gitmedi').waitFor();
  await theirs(ada, 'dört, sen yokken').waitFor();
  // The counters went on: new messages open on both sides (a reused counter would be refused as a replay).
  await say(ada, 'beş, yeni sayfadan');
  await theirs(baris, 'beş, yeni sayfadan').waitFor();
  await say(baris, 'altı');
  await theirs(ada, 'altı').waitFor();

  const expected = ['bir', 'iki', 'dört, sen yokken', 'üç, yazıldı ama gitmedi', 'beş, yeni sayfadan', 'altı'];
  for (const p of [ada, baris]) {
    const shown = await transcript(p);
    assert.deepEqual(shown.map((m) => m.text), expected, `${p.handle}'s transcript`);
    assert.deepEqual(shown.map((m) => m.seq), [1, 2, 3, 4, 5, 6], `${p.handle}'s seqs`);
  }
  // Carried over once: the old database and the tokens in localStorage are gone.
  const left = await ada.page.evaluate(async () => ({
    databases: (await indexedDB.databases()).map((d) => d.name),
    tokens: localStorage.getItem('tanis.tokens'),
  }));
  assert.deepEqual(left, { databases: ['tanis-sdk'], tokens: null });
  assertNoPageErrors(ada, baris);
  await Promise.all([ada.context.close(), baris.context.close()]);
});

test('a match whose key pair the old page kept as a WebCrypto CryptoKey is ended cleanly after the upgrade', async () => {
  const cem = await person(browser);
  const dila = await person(browser);
  await register(cem, 'cem');
  await register(dila, 'dila');
  await match(cem, dila);
  await say(cem, 'Eski anahtarla');
  await theirs(dila, 'Eski anahtarla').waitFor();
  await mine(cem, 'Eski anahtarla').and(cem.page.locator('[data-status=delivered]')).waitFor();

  await cem.page.goto(await asOldPage(cem, { cryptoKey: true }));

  // The history stays readable; the chat says why it cannot go on, and the match ends for both.
  await cem.page.locator('[data-screen=chat]').waitFor();
  await mine(cem, 'Eski anahtarla').waitFor();
  await cem.page.getByTestId('e2e-error').waitFor();
  await cem.page.getByTestId('ended').waitFor();
  await cem.page.getByTestId('composer').waitFor({ state: 'hidden' });
  assert.match(await dila.page.getByTestId('ended').textContent(), /The stranger left/);
  assertNoPageErrors(cem, dila);
  await Promise.all([cem.context.close(), dila.context.close()]);
});
