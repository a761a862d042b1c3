// Keeping in touch (contact.propose, docs/protocol.md section 9 "Contacts") in the web client: two browsers
// become contacts and the conversation outlives the match, waits for the one who was away and ends for both;
// a browser and the Rust client become contacts and keep reading each other through two key changes (the Rust
// side's new key, then a fresh browser taking the conversation over); a message to an ended contact is refused
// and shown as not sent; a contact whose key pair an older page kept as a WebCrypto CryptoKey is taken over.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import { PASSWORD, assertNoPageErrors, launch, match, mine, person, register, say, screenshot, theirs } from './harness.js';
import { asOldPage } from './old_page.js';
import { needsPeer, startPeer } from './rust_peer.js';

let browser;
before(async () => (browser = await launch()));
after(async () => browser?.close());

test('two people keep in touch: the contact outlives the match, waits for the one away and ends for both', async () => {
  const eda = await person(browser);
  const fuat = await person(browser);
  await register(eda, 'eda');
  await register(fuat, 'fuat');
  await match(eda, fuat);
  const safety = await eda.page.getByTestId('safety-number').textContent();
  await say(eda, 'Merhaba!');
  await theirs(fuat, 'Merhaba!').waitFor();

  // Eda offers to keep in touch and waits; Fuat sees the offer and accepts it.
  await eda.page.getByTestId('keep').click();
  assert.match(await eda.page.getByTestId('keep-waiting').textContent(), new RegExp(`Waiting for ${fuat.handle} to accept`));
  assert.equal(await fuat.page.getByTestId('keep-asked').textContent(), `${eda.handle} wants to keep in touch.`);
  await fuat.page.getByTestId('keep-accept').click();

  // Both are told, on the same conversation (the match's messages and safety number), now a contact's.
  for (const p of [eda, fuat]) {
    await p.page.locator('[data-screen=contact]').waitFor();
    assert.match(await p.page.getByTestId('contact-added').textContent(), /kept in touch/);
    assert.equal(await p.page.getByTestId('safety-number').textContent(), safety);
  }
  await theirs(fuat, 'Merhaba!').waitFor();

  // Each sees the other in the contacts list, by handle only.
  for (const [p, other] of [[eda, fuat], [fuat, eda]]) {
    await p.page.getByTestId('contacts').click();
    await p.page.locator('[data-screen=contacts]').waitFor();
    assert.deepEqual(await p.page.getByTestId('contact-handle').allTextContents(), [other.handle]);
  }
  // The match is over: both may look for someone new (the server queues them again).
  for (const p of [eda, fuat]) {
    await p.page.getByTestId('contacts-back').click();
    await canFindAgain(p);
  }

  // They write to each other after the match, in the contact conversation.
  for (const p of [eda, fuat]) await openContact(p);
  await say(eda, 'Hâlâ buradayım');
  await theirs(fuat, 'Hâlâ buradayım').waitFor();
  await mine(eda, 'Hâlâ buradayım').and(eda.page.locator('[data-status=delivered]')).waitFor();
  await say(fuat, 'Ben de!');
  await theirs(eda, 'Ben de!').waitFor();
  await screenshot(eda.page, '12-contact-chat');

  // Fuat closes the page; Eda writes; Fuat comes back, is shown one unread message, and reads it.
  await fuat.page.goto('about:blank');
  await say(eda, 'Sen yokken yazdım');
  await fuat.page.goto(eda.page.url());
  await fuat.page.locator('[data-testid=connection][data-state=online]').waitFor();
  assert.equal(await fuat.page.getByTestId('contacts-unread').textContent(), '1');
  await fuat.page.getByTestId('contacts').click();
  assert.equal(await fuat.page.getByTestId('contact-unread').textContent(), '1');
  await screenshot(fuat.page, '11-contacts');
  await fuat.page.getByTestId('contact').click();
  await theirs(fuat, 'Sen yokken yazdım').waitFor();
  await fuat.page.getByTestId('contacts-unread').waitFor({ state: 'detached' });
  await mine(eda, 'Sen yokken yazdım').and(eda.page.locator('[data-status=delivered]')).waitFor();
  // The reloaded page kept the keys: it can still write and be read.
  await say(fuat, 'Okudum');
  await theirs(eda, 'Okudum').waitFor();
  // A contact can be reported like the stranger they were (the report names the contact's match).
  await fuat.page.getByTestId('report').click();
  await fuat.page.getByTestId('report-reason').selectOption('spam');
  await fuat.page.getByTestId('report-submit').click();
  await fuat.page.getByText('Your report was sent.').waitFor();

  // Eda ends the contact; Fuat sees it ended and can no longer write.
  await eda.page.getByTestId('end-contact').click();
  await eda.page.getByTestId('end-contact-confirm').click();
  assert.match(await eda.page.getByTestId('contact-ended').textContent(), /You ended this contact/);
  assert.match(await fuat.page.getByTestId('contact-ended').textContent(), /This contact has ended/);
  for (const p of [eda, fuat]) await p.page.getByTestId('composer').waitFor({ state: 'hidden' });
  await fuat.page.getByTestId('ended-contacts').click();
  await fuat.page.locator('[data-testid=contact][data-state=ended]').waitFor();

  assertNoPageErrors(eda, fuat);
  await Promise.all([eda.context.close(), fuat.context.close()]);
});

test('a message written to a contact that ended meanwhile is refused and shown as not sent', async () => {
  const gul = await person(browser);
  const hakan = await person(browser);
  await register(gul, 'gul');
  await register(hakan, 'hakan');
  await keepInTouch(gul, hakan);
  for (const p of [gul, hakan]) await openContact(p);

  // Hakan is offline (as on a train) and writes; meanwhile Gül ends the contact.
  await hakan.page.evaluate(() => window.tanis.app.socket.stop());
  await hakan.page.getByTestId('composer').fill('Tünelden çıkınca gider');
  await hakan.page.getByTestId('send').click();
  await mine(hakan, 'Tünelden çıkınca gider').and(hakan.page.locator('[data-status=sending]')).waitFor();
  await gul.page.getByTestId('end-contact').click();
  await gul.page.getByTestId('end-contact-confirm').click();
  await gul.page.getByTestId('contact-ended').waitFor();

  // Back online, the message goes out, the server refuses it, and it is shown as not sent; the contact as ended.
  await hakan.page.evaluate(() => window.tanis.app.socket.start());
  const failed = mine(hakan, 'Tünelden çıkınca gider').and(hakan.page.locator('[data-status=failed]'));
  await failed.waitFor();
  assert.equal(await failed.locator('.mark').getAttribute('title'), 'Not sent');
  assert.match(await hakan.page.getByTestId('contact-ended').textContent(), /This contact has ended/);
  await hakan.page.getByTestId('composer').waitFor({ state: 'hidden' });
  assert.equal(await theirs(gul, 'Tünelden çıkınca gider').count(), 0);

  assertNoPageErrors(gul, hakan);
  await Promise.all([gul.context.close(), hakan.context.close()]);
});

for (const browserProposes of [true, false]) {
  const first = browserProposes ? 'the browser' : 'the Rust client';
  test(`the browser and the Rust client keep in touch (${first} proposes) and read each other through two key changes`, { skip: needsPeer }, async () => {
    const web = await person(browser);
    await register(web, browserProposes ? 'webkeeps' : 'webaccepts');
    await web.page.getByTestId('find-text').click();
    await web.page.getByTestId('waiting').waitFor();
    const peer = startPeer(browserProposes ? 'rustaccepts' : 'rustkeeps');
    let fresh = null;
    try {
      const matched = await peer.next((e) => e.event === 'matched', 'a match');
      await web.page.locator('[data-screen=chat]').waitFor();

      if (browserProposes) {
        await web.page.getByTestId('keep').click();
        await web.page.getByTestId('keep-waiting').waitFor();
        await peer.next((e) => e.event === 'contact_proposed', 'the proposal');
        peer.say('/keep');
      } else {
        peer.say('/keep');
        await web.page.getByTestId('keep-asked').waitFor();
        await web.page.getByTestId('keep-accept').click();
      }
      const added = await peer.next((e) => e.event === 'contact_added', 'the contact');
      assert.equal(added.peer, web.handle);
      assert.equal(added.match_id, matched.match_id);
      await web.page.locator('[data-screen=contact]').waitFor();
      assert.equal(await web.page.getByTestId('safety-number').textContent(), matched.safety_number);

      // Both ways after contact.added, with the match's keys.
      await exchange(web, peer, 'Kişi olduk, merhaba Rust', 'Merhaba tarayıcı, kişi olarak');

      // The Rust client takes the conversation over with a new key: the browser re-derives, shows that the
      // safety number changed (to the one the Rust side shows), and both still read each other.
      peer.say('/rekey');
      const rekeyed = await peer.next((e) => e.event === 'rekeyed', 'its new key');
      assert.notEqual(rekeyed.safety_number, matched.safety_number);
      assert.match(await web.page.getByTestId('safety-changed').textContent(), /now writes from another device/);
      assert.equal(await web.page.getByTestId('safety-number').textContent(), rekeyed.safety_number);
      await exchange(web, peer, 'Yeni anahtarına yazıyorum', 'Yeni anahtarımla yazıyorum');

      // A fresh browser of the same person (nothing stored) cannot read the conversation, takes it over with a
      // new key, and the Rust client reads it (contact_key, then the message, never undecryptable).
      fresh = await person(browser);
      await fresh.page.getByTestId('phone').fill(web.phone);
      await fresh.page.getByTestId('password').fill(PASSWORD);
      await fresh.page.getByTestId('login-submit').click();
      await fresh.page.locator('[data-testid=connection][data-state=online]').waitFor();
      await openContact(fresh);
      await fresh.page.getByTestId('no-key').waitFor();
      await fresh.page.locator('[data-status=undecryptable]').first().waitFor();
      assert.equal(await theirs(fresh, 'Yeni anahtarımla yazıyorum').count(), 0);
      await fresh.page.getByTestId('take-over').click();
      const taken = await peer.next((e) => e.event === 'contact_key', 'the browser’s new key');
      assert.match(await fresh.page.getByTestId('safety-changed').textContent(), /This device now holds the conversation/);
      assert.equal(await fresh.page.getByTestId('safety-number').textContent(), taken.safety_number);
      // The browser that held the key is told at once that another session of the same person took it over
      // (`contact.key` with `mine: true`): no silent takeover. It drops its key and can take the conversation back.
      await web.page.getByTestId('no-key').waitFor();
      assert.match(await web.page.getByTestId('safety-changed').textContent(), /Another of your sessions took the conversation/);
      await exchange(fresh, peer, 'Bu cihazdan yazıyorum', 'Yeni cihazına da yazıyorum');
      // The browser that held the old key reads nothing new: one device at a time holds a contact.
      await web.page.locator('.message.theirs[data-status=undecryptable]').last().waitFor();
      assert.equal(await theirs(web, 'Yeni cihazına da yazıyorum').count(), 0);

      assert.ok(!peer.events.some((e) => e.event === 'undecryptable' || e.event === 'error'), JSON.stringify(peer.events));
      assertNoPageErrors(web, fresh);
    } finally {
      peer.child.kill();
      await Promise.all([web.context.close(), fresh?.context.close()]);
    }
  });
}

/** The browser writes `toRust` and the Rust client reads it; the Rust client writes `toBrowser` and the page shows it. */
async function exchange(p, peer, toRust, toBrowser) {
  await p.page.getByTestId('composer').fill(toRust);
  await p.page.getByTestId('send').click();
  await peer.next((e) => e.event === 'message' && e.text === toRust, `“${toRust}”`);
  peer.say(toBrowser);
  await theirs(p, toBrowser).waitFor();
}

/** `first` and `second` match, `first` proposes, `second` accepts: both are on the contact's screen. */
async function keepInTouch(first, second) {
  await match(first, second);
  await first.page.getByTestId('keep').click();
  await second.page.getByTestId('keep-accept').click();
  for (const p of [first, second]) await p.page.locator('[data-screen=contact]').waitFor();
}

/** From anywhere: the contacts list, then the one contact in it. */
async function openContact(p) {
  await p.page.getByTestId('contacts').click();
  await p.page.getByTestId('contact').click();
  await p.page.locator('[data-screen=contact]').waitFor();
}

/** Asks for a text match and sees the server queue it (no `already_in_match`), then cancels. */
async function canFindAgain(p) {
  await p.page.locator('[data-screen=lobby]').waitFor();
  const answer = p.page.evaluate(() => new Promise((resolve) => {
    window.tanis.app.socket.addEventListener('frame', ({ detail }) => {
      if (detail.type === 'match.queued' || detail.type === 'error') resolve(detail.type);
    });
  }));
  await p.page.getByTestId('find-text').click();
  assert.equal(await answer, 'match.queued');
  await p.page.getByTestId('cancel-find').click();
  await p.page.locator('[data-screen=lobby]').waitFor();
}

test('a contact whose key pair the WebCrypto version of the page kept is taken over with a fresh key after the upgrade', async () => {
  const ilke = await person(browser);
  const jale = await person(browser);
  await register(ilke, 'ilke');
  await register(jale, 'jale');
  await keepInTouch(ilke, jale);
  await say(ilke, 'Eski sürümden merhaba');
  await theirs(jale, 'Eski sürümden merhaba').waitFor();
  // Delivered: the page has nothing left to save that could overwrite the record edited below.
  await mine(ilke, 'Eski sürümden merhaba').and(ilke.page.locator('[data-status=delivered]')).waitFor();

  // What the page before the SDK kept: the same record in its own store, its private key a non-extractable
  // WebCrypto CryptoKey (old_page.js); the new page carries it over without a key (web/upgrade.js).
  await ilke.page.goto(await asOldPage(ilke, { cryptoKey: true }));
  await openContact(ilke);

  // The history stays; the old key cannot be used, so the page offers to take the conversation over.
  await mine(ilke, 'Eski sürümden merhaba').waitFor();
  await ilke.page.getByTestId('no-key').waitFor();
  await ilke.page.getByTestId('take-over').click();
  await ilke.page.getByTestId('no-key').waitFor({ state: 'detached' });
  await jale.page.getByTestId('safety-changed').waitFor();
  assert.equal(await ilke.page.getByTestId('safety-number').textContent(), await jale.page.getByTestId('safety-number').textContent());
  await say(ilke, 'Yeni anahtarla');
  await theirs(jale, 'Yeni anahtarla').waitFor();
  await say(jale, 'Okudum');
  await theirs(ilke, 'Okudum').waitFor();

  assertNoPageErrors(ilke, jale);
  await Promise.all([ilke.context.close(), jale.context.close()]);
});
