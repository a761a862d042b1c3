// Other people's words never become markup in the page. An alias (as far as the alias rules let one through),
// a stranger's message, a broadcast, an ad, and a moderator's notes on a ban and on its appeal all reach the page
// carrying markup and script, and each is shown as the literal text it is: nothing runs and no element is made
// from it. The app builds every element with the DOM (web/dom.js `h`), never from a string; this test keeps it so.
//
// The page's Content-Security-Policy would stop an injected `onerror` or inline script from running anyway, so
// "nothing ran" alone proves little: each page also records every element of the kinds the markup would create,
// from before the app's first line runs, and the test asserts there were none.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  PASSWORD, adminToken, api, assertNoPageErrors, launch, match, needsAdmin, newPhone, person, register, say, theirs,
} from './harness.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

/** Markup, script and an entity: rendered as text, all of it shows character for character. */
const MARKUP = '<img src=x onerror=window.__pwned=1><script>window.__pwned=1</script><u>u</u> &amp;';

/**
 * Runs in the page before the app: records each element the markup above would create (an <img>, an inline
 * <script>, a <u>), even one removed again at once. The app's own module script has a `src` and is not counted.
 */
function watchForMarkup() {
  window.__markup = [];
  new MutationObserver((records) => {
    for (const record of records) {
      for (const node of record.addedNodes) {
        if (node.nodeType !== Node.ELEMENT_NODE) continue;
        for (const el of [node, ...node.querySelectorAll('*')]) {
          const tag = el.tagName.toLowerCase();
          if (tag === 'img' || tag === 'u' || tag === 'iframe' || (tag === 'script' && !el.src)) {
            window.__markup.push(el.outerHTML);
          }
        }
      }
    }
  }).observe(document, { childList: true, subtree: true });
}

const visitor = () => person(browser, { init: watchForMarkup });

/** Nothing of the markup ran in this person's page, and no element was ever made from it. */
async function assertNothingRan(p) {
  const seen = await p.page.evaluate(() => ({
    pwned: window.__pwned,
    markup: window.__markup,
    images: document.querySelectorAll('img').length,
  }));
  assert.deepEqual(seen, { pwned: undefined, markup: [], images: 0 }, `on ${p.handle ?? 'a page'}`);
}

test('aliases, messages, broadcasts, ads and moderators\' notes carrying markup are shown as text', { skip: needsAdmin }, async () => {
  const token = await adminToken();
  const ayla = await visitor();
  const baran = await visitor();

  // Aliases: the rules (letters, digits, underscore) refuse markup at registration and on a rename, and the
  // form shows the refusal as text.
  const refused = await api('POST', '/v1/auth/register', {
    body: { phone: newPhone(), password: PASSWORD, alias: MARKUP, birth_year: 1995, accept_privacy_notice: true },
  });
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.equal(refused.body.error.code, 'invalid_alias');
  const { page } = ayla;
  await page.getByTestId('tab-register').click();
  await page.getByTestId('phone').fill(newPhone());
  await page.getByTestId('password').fill(PASSWORD);
  await page.getByTestId('alias').fill('<u>kedi</u>');
  await page.getByTestId('birth-year').fill('1995');
  await page.getByTestId('consent').check();
  await page.getByTestId('register-submit').click();
  await page.getByTestId('auth-error').filter({ hasText: /./ }).waitFor();
  await assertNothingRan(ayla);

  await page.reload();
  await register(ayla, 'ayla');
  await register(baran, 'baran');
  const renamed = await page.evaluate((alias) => window.tanis.app.api.updateMe({ alias }).then(() => 'ok', (e) => e.code), MARKUP);
  assert.equal(renamed, 'invalid_alias');

  // An ad, live for free users between matches.
  const ad = await api('POST', '/v1/admin/ads', {
    token, body: { title: `ad <img src=x onerror=window.__pwned=1>`, content: `ad ${MARKUP}`, target_group: 'all' },
  });
  assert.equal(ad.status, 201, JSON.stringify(ad.body));
  try {
    // A broadcast: live as a toast and a notification in the panel.
    const broadcast = `broadcast ${MARKUP}`;
    const sent = await api('POST', '/v1/admin/broadcasts', { token, body: { audience: 'all', tr: broadcast, en: broadcast } });
    assert.equal(sent.status, 200, JSON.stringify(sent.body));
    await page.getByTestId('unread').waitFor();
    await page.getByTestId('bell').click();
    const note = page.getByTestId('notification').filter({ hasText: broadcast });
    await note.waitFor();
    assert.equal(await note.locator('p').innerText(), broadcast);
    await page.getByTestId('panel').locator('header button').click();

    // The stranger's message, decrypted in the page.
    await match(ayla, baran);
    const message = `message ${MARKUP}`;
    await say(baran, message);
    await theirs(ayla, message).waitFor();
    assert.equal(await theirs(ayla, message).locator('.text').innerText(), message);

    // The match ends; back in the lobby, the ad.
    await page.getByTestId('leave').click();
    await page.getByTestId('ended-lobby').click();
    const shown = page.getByTestId('ad');
    await shown.waitFor();
    assert.equal(await shown.locator('strong').innerText(), ad.body.title);
    assert.equal(await shown.locator('.ad-body span').innerText(), ad.body.content);
    await assertNothingRan(ayla);

    // A ban with a moderator's note (never shown to the user), then an appeal rejected with a note the user sees.
    const found = await api('GET', `/v1/admin/users?handle=${encodeURIComponent(baran.handle)}`, { token });
    assert.equal(found.status, 200, JSON.stringify(found.body));
    const banNote = `ban note ${MARKUP}`;
    const banned = await api('POST', `/v1/admin/users/${found.body.id}/ban`, { token, body: { reason: 'harassment', note: banNote } });
    assert.equal(banned.status, 204, JSON.stringify(banned.body));
    const screen = baran.page.locator('[data-screen=banned]');
    await screen.waitFor();
    const details = screen.locator('form');
    await details.locator('input[name=phone]').fill(baran.phone);
    await details.locator('input[name=password]').fill(PASSWORD);
    await details.locator('button[type=submit]').click();
    await screen.locator('textarea[name=text]').fill(`appeal ${MARKUP}`);
    await screen.locator('input[name=phone]').fill(baran.phone);
    await screen.locator('input[name=password]').fill(PASSWORD);
    await screen.locator('button[type=submit]').click();
    await baran.page.getByTestId('appeal-status').waitFor();
    assert.ok(!(await screen.innerText()).includes('ban note'), 'the moderator\'s note on the ban stays with moderators');
    await assertNothingRan(baran);

    const appeals = await api('GET', '/v1/admin/appeals', { token });
    assert.equal(appeals.status, 200, JSON.stringify(appeals.body));
    const appeal = appeals.body.appeals.find((a) => a.handle === baran.handle);
    assert.equal(appeal.text, `appeal ${MARKUP}`, 'the appeal reached the moderator as typed');
    const decisionNote = `decision ${MARKUP}`;
    const decided = await api('POST', `/v1/admin/appeals/${appeal.id}/decision`, { token, body: { decision: 'reject', note: decisionNote } });
    assert.equal(decided.status, 204, JSON.stringify(decided.body));
    const again = await visitor();
    await again.page.getByTestId('phone').fill(baran.phone);
    await again.page.getByTestId('password').fill(PASSWORD);
    await again.page.getByTestId('login-submit').click();
    const status = again.page.getByTestId('appeal-status');
    await status.waitFor();
    assert.ok((await status.innerText()).endsWith(` — ${decisionNote}`), await status.innerText());
    await assertNothingRan(again);

    assertNoPageErrors(ayla, baran, again);
    await Promise.all([ayla.context.close(), baran.context.close(), again.context.close()]);
  } finally {
    // Later tests share this server: their lobbies must not show this ad.
    const off = await api('PATCH', `/v1/admin/ads/${ad.body.id}`, { token, body: { active: false } });
    assert.equal(off.status, 204, JSON.stringify(off.body));
  }
});
