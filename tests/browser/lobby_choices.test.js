// The matching choices: interests and languages picked on the account screen (kept by the server, so a reload
// shows them again, labelled in the UI's language), the picker's limits and the server's refusal, the lobby's
// "interests" mode (remembered across reloads, sent with `match.find`), and the chat showing what `match.found`
// says the two share.

import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';

import { WAIT_MS, assertNoPageErrors, launch, person, register, screenshot } from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/** The profile as the server has it. */
const profile = (p) => p.page.evaluate(async () => {
  const { interests, languages } = await window.tanis.app.api.me();
  return { interests, languages };
});

/** The chips of a picker's "chosen" row, as their values. */
const chosen = (p, kind) => p.page.getByTestId(`chosen-${kind}`).evaluateAll((chips) => chips.map((c) => c.dataset.value));

const interestChip = (p, id) => p.page.locator(`[data-testid=interest][data-value="${id}"]`);
const languageChip = (p, code) => p.page.locator(`[data-testid=language][data-value="${code}"]`);

/** Opens the account screen and waits for the vocabulary's chips. */
async function openProfile(p) {
  await p.page.getByTestId('account').click();
  await p.page.getByTestId('interest').first().waitFor();
}

/** Saves a card and waits until the server has it (the card has nothing left to save). */
async function save(p, field) {
  await p.page.getByTestId(`${field}-save`).click();
  await p.page.locator(`[data-testid=${field}-card][aria-busy=false][data-dirty=false]`).waitFor();
  assert.equal(await p.page.getByTestId(`${field}-error`).textContent(), '');
}

/** Picks these interests on the account screen, saves them, and goes back to the lobby. */
async function chooseInterests(p, ids) {
  await openProfile(p);
  for (const id of ids) await interestChip(p, id).click();
  await save(p, 'interests');
  await p.page.getByTestId('account-back').click();
  await p.page.getByTestId('interests-mode').waitFor();
}

test('the page offers exactly the language codes the server takes', async () => {
  const { CODES, COMMON } = await import('../../web/languages.js');
  const rust = await readFile(new URL('../../src/domain/languages.rs', import.meta.url), 'utf8');
  const server = rust.match(/pub const CODES: \[&str; \d+\] = \[([^\]]*)\]/)[1].match(/"[a-z]{2}"/g).map((c) => c.slice(1, -1));
  assert.deepEqual(CODES, server);
  for (const code of COMMON) assert.ok(CODES.includes(code), code);
});

test('a person picks interests and languages, finds them kept after a reload, and sees them in Turkish and English', async () => {
  const lale = await person(browser);
  await register(lale, 'lale');
  const { page } = lale;

  // Without interests, only "off" can be chosen in the lobby, and the hint says where to add some.
  assert.ok(await page.getByTestId('interests-off').isChecked());
  assert.ok(await page.getByTestId('interests-prefer').isDisabled());
  assert.ok(await page.getByTestId('interests-only').isDisabled());
  await page.getByTestId('interests-choose').click();
  await page.getByTestId('interest').first().waitFor();

  // The search ignores case and accents, and looks in both languages.
  await page.getByTestId('interest-search').fill('muz');
  // The list is drawn again on input; wait for that drawing (a render may be pending from the vocabulary's load).
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="interest"]').length === 3, null, { timeout: WAIT_MS });
  assert.deepEqual(await page.getByTestId('interest').evaluateAll((cs) => cs.map((c) => c.dataset.value)),
    ['music', 'classical_music', 'turkish_music']);
  await interestChip(lale, 'music').click();
  await page.getByTestId('interest-search').fill('satranç');
  await interestChip(lale, 'chess').click();
  await page.getByTestId('interest-search').fill('');
  await interestChip(lale, 'books').click();
  assert.equal(await page.getByTestId('interests-count').textContent(), '3 of 10');
  assert.deepEqual(await chosen(lale, 'interest'), ['music', 'chess', 'books']);
  await page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(page, '10-interests');
  await save(lale, 'interests');
  await page.getByText('Saved.').first().waitFor();

  // Languages start as the notification language; up to three, the third from the full list.
  assert.deepEqual(await chosen(lale, 'language'), ['en']);
  await languageChip(lale, 'tr').click();
  await page.getByTestId('other-language').selectOption('ja');
  assert.equal(await page.getByTestId('languages-count').textContent(), '3 of 3');
  assert.ok(await languageChip(lale, 'de').isDisabled(), 'a fourth language cannot be picked');
  assert.ok(await page.getByTestId('other-language').isDisabled());
  await page.getByTestId('languages-limit').waitFor();
  await save(lale, 'languages');
  assert.deepEqual(await profile(lale), { interests: ['music', 'books', 'chess'], languages: ['en', 'ja', 'tr'] });

  // The lobby offers the modes now; the choice is remembered across a reload, and so is the profile.
  await page.getByTestId('account-back').click();
  await page.getByTestId('interests-prefer').check();
  await page.getByTestId('my-interests').filter({ hasText: 'Music, Books, Chess' }).waitFor();
  await page.reload();
  await page.locator('[data-testid=connection][data-state=online]').waitFor();
  assert.ok(await page.getByTestId('interests-prefer').isChecked());
  await openProfile(lale);
  assert.deepEqual(await chosen(lale, 'interest'), ['music', 'books', 'chess']);
  assert.deepEqual((await chosen(lale, 'language')).sort(), ['en', 'ja', 'tr']);
  assert.equal(await interestChip(lale, 'books').getAttribute('aria-pressed'), 'true');

  // The labels follow the UI's language, the vocabulary's and the languages' alike.
  await page.getByTestId('lang').click();
  await page.getByTestId('chosen-interest').filter({ hasText: 'Kitaplar' }).waitFor();
  await page.getByTestId('chosen-interest').filter({ hasText: 'Satranç' }).waitFor();
  await page.getByTestId('chosen-language').filter({ hasText: 'Türkçe' }).waitFor();
  await page.getByTestId('chosen-language').filter({ hasText: 'Japonca' }).waitFor();
  await page.getByTestId('interests-count').filter({ hasText: '3 / 10' }).waitFor();
  await page.getByTestId('lang').click();
  await page.getByTestId('chosen-interest').filter({ hasText: 'Books' }).waitFor();
  await page.getByTestId('chosen-language').filter({ hasText: 'Japanese' }).waitFor();
  assertNoPageErrors(lale);
  await lale.context.close();
});

test('the picker stops at ten interests, saves no empty language list, and shows the server refusing what it cannot know', async () => {
  const mert = await person(browser);
  // A page whose copy of the vocabulary is not the server's (a tab left open across a release): it offers a topic
  // the server does not know, which only the server can refuse.
  await mert.page.route('**/v1/interests', async (route) => {
    const response = await route.fetch();
    const body = await response.json();
    body.topics.push({ id: 'retired_topic', tr: 'Eski konu', en: 'Old topic' });
    await route.fulfill({ response, json: body });
  });
  await register(mert, 'mert');
  const { page } = mert;
  await openProfile(mert);

  const ids = await page.getByTestId('interest').evaluateAll((cs) => cs.map((c) => c.dataset.value));
  for (const id of ids.slice(0, 10)) await interestChip(mert, id).click();
  assert.equal(await page.getByTestId('interests-count').textContent(), '10 of 10');
  await page.getByTestId('interests-limit').waitFor();
  // The eleventh cannot be pressed, not even by a script.
  assert.ok(await interestChip(mert, ids[10]).isDisabled());
  await page.evaluate((id) => document.querySelector(`[data-testid=interest][data-value="${id}"]`).click(), ids[10]);
  await interestChip(mert, ids[10]).click({ force: true });
  assert.equal(await page.getByTestId('interests-count').textContent(), '10 of 10');
  assert.equal(await interestChip(mert, ids[10]).getAttribute('aria-pressed'), 'false');
  await save(mert, 'interests');
  assert.deepEqual((await profile(mert)).interests.sort(), ids.slice(0, 10).sort());

  // The stale topic: the server refuses the list, the card says so, and keeps the draft to change.
  await page.getByTestId('chosen-interest').first().click();
  await page.getByTestId('interest-search').fill('old topic');
  await interestChip(mert, 'retired_topic').click();
  await page.getByTestId('interests-save').click();
  await page.getByTestId('interests-error')
    .filter({ hasText: 'The server did not accept these interests; reload the page and choose again.' }).waitFor();
  assert.ok(await page.getByTestId('interests-save').isEnabled());
  assert.equal(await interestChip(mert, 'retired_topic').getAttribute('aria-pressed'), 'true');
  assert.deepEqual((await profile(mert)).interests.sort(), ids.slice(0, 10).sort());

  // No language at all cannot be saved.
  await page.getByTestId('chosen-language').click();
  await page.getByTestId('languages-none').waitFor();
  assert.ok(await page.getByTestId('languages-save').isDisabled());
  assert.deepEqual((await profile(mert)).languages, ['en']);
  assertNoPageErrors(mert);
  await mert.context.close();
});

test('two people sharing an interest ask for "interests only", are matched, and each sees what they share', async () => {
  const nil = await person(browser);
  const oya = await person(browser);
  await register(nil, 'nil');
  await register(oya, 'oya');
  await chooseInterests(nil, ['music', 'books']);
  await chooseInterests(oya, ['books', 'travel']);

  // What the page sends: the mode rides on match.find.
  const finds = [];
  nil.page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => String(payload).includes('"match.find"') && finds.push(JSON.parse(payload))));
  await nil.page.reload();
  await nil.page.locator('[data-testid=connection][data-state=online]').waitFor();

  for (const p of [nil, oya]) await p.page.getByTestId('interests-only').check();
  await nil.page.getByTestId('find-text').click();
  await nil.page.getByTestId('waiting-for').filter({ hasText: 'interests only' }).waitFor();
  await oya.page.getByTestId('find-text').click();
  for (const p of [nil, oya]) await p.page.locator('[data-screen=chat]').waitFor();
  assert.equal(finds.length, 1);
  assert.equal(finds[0].interests, 'only');

  // Each sees the one interest they share (not the other's others) and the language both speak.
  for (const p of [nil, oya]) {
    assert.deepEqual(await p.page.getByTestId('shared-interest').allTextContents(), ['Books']);
    assert.deepEqual(await p.page.getByTestId('shared-language').allTextContents(), ['English']);
  }
  await nil.page.getByTestId('lang').click();
  await nil.page.getByTestId('shared-interest').filter({ hasText: 'Kitaplar' }).waitFor();
  await nil.page.getByTestId('shared-language').filter({ hasText: 'İngilizce' }).waitFor();

  // After a reload the chat still names them (hello.active_match carries them again).
  await oya.page.reload();
  await oya.page.getByTestId('shared-interest').filter({ hasText: 'Books' }).waitFor();
  assertNoPageErrors(nil, oya);
  await Promise.all([nil.context.close(), oya.context.close()]);
});
