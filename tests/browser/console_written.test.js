// What users wrote never breaks a moderator's page (docs/admin.md, "The console"): a message that is one very long
// line with no break in it wraps inside its report's box, and right-to-left aliases and messages are isolated
// from the console's words around them: each handle in a <bdi>, each message shown as sent in its own direction,
// its invisible characters' marks staying where they were in it. Measured in the page's layout.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  assertNoPageErrors, consoleAt, launch, match, needsAdmin, person, register, reportWithEvidence,
} from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/** One line of 1500 characters and not one place to break it. */
const LONG = 'a'.repeat(1500);
/** Two Hebrew words, a zero-width space between them: "שלום" first, and first to a right-to-left reader. */
const RTL = 'שלום\u200Bעולם';

test('a very long unbroken line wraps inside its report, and right-to-left aliases and messages cannot move the words around them', { skip: needsAdmin }, async () => {
  const reporter = await person(browser);
  const reported = await person(browser);
  await register(reporter, 'شادي');
  await register(reported, 'שרה');
  await match(reporter, reported);
  await reportWithEvidence(reporter, reported, [LONG, RTL]);

  const admin = await consoleAt(browser, process.env.BROWSER_TEST_ADMIN_PHONE, process.env.BROWSER_TEST_ADMIN_PASSWORD, '#/reports', { viewport: { width: 900, height: 760 } });
  const { page } = admin;
  const card = page.locator(`[data-testid=reported][data-handle="${reported.handle}"]`);
  await card.getByTestId('as-sent').nth(1).waitFor();

  // The long line: inside its report's box, many lines high, and the page scrolls only down.
  const long = await card.getByTestId('as-sent').filter({ hasText: LONG }).evaluate((shown) => {
    const box = shown.getBoundingClientRect();
    const report = shown.closest('[data-testid=report]').getBoundingClientRect();
    const line = parseFloat(getComputedStyle(shown).lineHeight);
    return {
      inside: box.left >= report.left - 0.5 && box.right <= report.right + 0.5,
      lines: Math.round(box.height / line),
      pageWide: document.documentElement.scrollWidth > document.documentElement.clientWidth,
    };
  });
  assert.ok(long.inside, 'the line stays inside its report');
  assert.ok(long.lines >= 5, `the line wrapped (${long.lines} lines)`);
  assert.equal(long.pageWide, false, 'the page does not scroll sideways');

  // Each handle the queue shows is isolated, in its own right-to-left direction, between the console's words.
  const handles = await card.evaluate((section, names) => names.map((name) => {
    const shown = [...section.querySelectorAll('bdi')].find((b) => b.textContent === name);
    if (!shown) return { name, shown: false };
    const box = shown.getBoundingClientRect();
    /** The box of the text right before or after the handle in its line. */
    const beside = (node) => {
      const range = document.createRange();
      range.selectNodeContents(node);
      return range.getBoundingClientRect();
    };
    const before = shown.previousSibling;
    const after = shown.nextSibling;
    return {
      name,
      shown: true,
      isolated: getComputedStyle(shown).unicodeBidi === 'isolate',
      rtl: shown.matches(':dir(rtl)'),
      inOrder: (!before || beside(before).right <= box.left + 0.5) && (!after || beside(after).left >= box.right - 0.5),
    };
  }), [reported.handle, reporter.handle]);
  for (const h of handles) assert.deepEqual(h, { name: h.name, shown: true, isolated: true, rtl: true, inOrder: true });

  // The right-to-left message reads right to left, the mark of its zero-width space between its words: the first
  // word on the right, the second on the left. Shown left to right, the mark would end up after the wrong word.
  const rtl = await card.getByTestId('as-sent').filter({ hasText: 'U+200B' }).evaluate((shown) => {
    const [first, mark, second] = [...shown.childNodes];
    const range = document.createRange();
    const x = (node) => {
      if (node.nodeType === Node.ELEMENT_NODE) return node.getBoundingClientRect();
      range.selectNodeContents(node);
      return range.getBoundingClientRect();
    };
    return {
      pieces: [first.textContent, mark.textContent, second.textContent],
      isolated: getComputedStyle(shown).unicodeBidi === 'isolate',
      order: x(first).left >= x(mark).right - 0.5 && x(mark).left >= x(second).right - 0.5,
    };
  });
  assert.deepEqual(rtl, { pieces: ['שלום', 'U+200B', 'עולם'], isolated: true, order: true });

  assertNoPageErrors(reporter, reported, admin);
  for (const p of [reporter, reported, admin]) await p.context.close();
});
