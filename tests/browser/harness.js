// What every browser test shares: Debian's Chromium through playwright-core (never a downloaded browser), one
// fresh browser context per simulated person, the server's address, and helpers that read like the steps a
// person takes. scripts/browser-test starts the server and sets the environment:
//
//   BROWSER_TEST_URL          the running `tanis serve` (default http://127.0.0.1:8080)
//   BROWSER_TEST_CHROMIUM     the browser (default /usr/bin/chromium)
//   BROWSER_TEST_PEER         the Rust peer (client/examples/peer.rs, rust_peer.js), for the interop and contacts tests
//   BROWSER_TEST_ADMIN_PHONE / BROWSER_TEST_ADMIN_PASSWORD   an admin account, for the ban test
//   BROWSER_TEST_SCREENSHOTS  a directory to write the screens to (docs/screenshots); unset: none written
//   BROWSER_TEST_SERVER_LOG   the server's log, where the development SMS sender writes each code
//   BROWSER_TEST_TURN_SPKI    base64 SHA-256 of the embedded TURN server's TLS key (its certificate is
//                             self-signed): Chromium trusts that one key and no other unknown certificate
//   BROWSER_TEST_VIDEO_WAIVER the server's age_assurance.waiver, which the console's dashboard shows
//
// Every wait is on an event or a condition with a timeout; none is a fixed sleep.

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { mkdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';

import { chromium } from 'playwright-core';

export const baseUrl = (process.env.BROWSER_TEST_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
export const PASSWORD = 'correct horse battery 42';
/** Longest wait for anything the UI should show. */
export const WAIT_MS = 15_000;

/** Chromium for one test file; `args` are added to the switches every test uses (a fake camera's file, say). */
export async function launch({ args = [] } = {}) {
  return chromium.launch({
    executablePath: process.env.BROWSER_TEST_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      // Chromium's own background traffic goes nowhere on a closed network; keep it quiet.
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
      // A synthetic camera and microphone, granted without a prompt, for the video test.
      '--use-fake-device-for-media-stream',
      '--use-fake-ui-for-media-stream',
      // A page fulfilled by the test (BROWSER_TEST_WEB_DIR) has no address space of its own and would be
      // refused its WebSocket to the loopback server; pages the server itself serves need no exemption.
      ...(process.env.BROWSER_TEST_WEB_DIR ? ['--disable-features=LocalNetworkAccessChecks'] : []),
      ...(process.env.BROWSER_TEST_TURN_SPKI
        ? [`--ignore-certificate-errors-spki-list=${process.env.BROWSER_TEST_TURN_SPKI}`]
        : []),
      ...args,
    ],
  });
}

/**
 * A person: their own context (storage, cookies), a page on the app, and the errors the page threw. `init` runs in
 * every page of the context before the app's own code (playwright's `addInitScript`).
 */
export async function person(browser, { viewport = { width: 1100, height: 760 }, init = null } = {}) {
  const context = await browser.newContext({ locale: 'en-US', viewport, permissions: ['camera', 'microphone'] });
  context.setDefaultTimeout(WAIT_MS);
  if (init) await context.addInitScript(init);
  if (process.env.BROWSER_TEST_WEB_DIR) await serveFromDisk(context, process.env.BROWSER_TEST_WEB_DIR);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  // Console errors count too, except the browser's own notes on answers the app expects and handles (a 403 for a
  // banned account, a WebSocket cut by a reload).
  page.on('console', (m) => m.type() === 'error' && !EXPECTED_CONSOLE.test(m.text()) && errors.push(m.text()));
  await page.goto(`${baseUrl}/`);
  return { context, page, errors };
}

const EXPECTED_CONSOLE = /^Failed to load resource|^WebSocket connection to .* failed/;

const phones = new Set();
/** A valid Turkish mobile number no other test of this run uses (random: the test files run as processes). */
export function newPhone() {
  let phone;
  do phone = `+90532${String(randomInt(10_000_000)).padStart(7, '0')}`;
  while (phones.has(phone));
  phones.add(phone);
  return phone;
}

/**
 * For working on web/ without rebuilding the server: its pages and modules come from this directory (and the SDK's
 * from ../sdk/typescript/src) instead of the copy compiled into the binary (everything else still goes to the server). scripts/browser-test never sets
 * it: the tests must run against what the binary serves.
 */
async function serveFromDisk(context, dir) {
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.svg': 'image/svg+xml' };
  await context.route((url) => url.origin === baseUrl && (url.pathname === '/' || url.pathname.startsWith('/app/')), async (route) => {
    const path = new URL(route.request().url()).pathname;
    const file = path === '/' ? 'index.html' : path.slice('/app/'.length);
    // The SDK's modules, at /app/sdk/, from the SDK beside web/ (src/api/web.rs serves them from there too).
    const onDisk = file.startsWith('sdk/') ? join(dir, '..', 'sdk', 'typescript', 'src', file.slice('sdk/'.length)) : join(dir, file);
    try {
      const body = await readFile(onDisk);
      await route.fulfill({ body, contentType: types[extname(file)] ?? 'application/octet-stream' });
    } catch {
      await route.fulfill({ status: 404, body: '' });
    }
  });
}

/** Registers through the form (with consent) and waits for the lobby; returns the credentials and handle. */
export async function register(p, alias, { shot = null } = {}) {
  const phone = newPhone();
  const { page } = p;
  await page.getByTestId('tab-register').click();
  await page.getByTestId('phone').fill(phone);
  await page.getByTestId('password').fill(PASSWORD);
  await page.getByTestId('alias').fill(alias);
  await page.getByTestId('birth-year').fill('1995');
  await page.getByTestId('consent').check();
  if (shot) await screenshot(page, shot);
  await page.getByTestId('register-submit').click();
  const handle = await page.getByTestId('my-handle').textContent();
  assert.match(handle, new RegExp(`^${alias}#\\d{4}$`));
  await page.locator('[data-testid=connection][data-state=online]').waitFor();
  return Object.assign(p, { phone, handle });
}

/** Both people ask for a match of `kind`, the first one waiting first; resolves once both are in it. */
export async function match(first, second, kind = 'text') {
  await first.page.getByTestId(`find-${kind}`).click();
  await first.page.getByTestId('waiting').waitFor();
  await second.page.getByTestId(`find-${kind}`).click();
  for (const p of [first, second]) await p.page.locator('[data-screen=chat]').waitFor();
  assert.equal(await first.page.getByTestId('peer-handle').textContent(), second.handle);
  assert.equal(await second.page.getByTestId('peer-handle').textContent(), first.handle);
}

/** Types and sends `text`, and waits until the server has accepted it (a `seq`, no longer "sending"). */
export async function say(p, text) {
  await p.page.getByTestId('composer').fill(text);
  await p.page.getByTestId('send').click();
  await mine(p, text).and(p.page.locator('[data-seq]:not([data-status=sending])')).waitFor();
}

/**
 * `reported` writes each of `texts` to `reporter` (the two matched), and `reporter` reports them for harassment with
 * every one of those messages as evidence; resolves once the report is sent.
 */
export async function reportWithEvidence(reporter, reported, texts) {
  for (const text of texts) await say(reported, text);
  const { page } = reporter;
  await page.locator('.message.theirs[data-seq]').nth(texts.length - 1).waitFor();
  await page.getByTestId('report').click();
  await page.getByTestId('report-reason').selectOption('harassment');
  const boxes = page.getByTestId('report-evidence');
  await boxes.nth(texts.length - 1).waitFor();
  for (const box of await boxes.all()) await box.check();
  await page.getByTestId('report-submit').click();
  await page.getByText('Your report was sent.').waitFor();
}

/**
 * A new tab of its own on the moderators' console at `address` (`#/reports/12`: a link someone pasted; empty: the
 * console's own address), signed in there with `phone` and `password`.
 */
export async function consoleAt(browser, phone, password, address = '', { viewport } = {}) {
  const staff = await person(browser, { viewport });
  await staff.page.goto(`${baseUrl}/admin/${address}`);
  await staff.page.getByTestId('phone').fill(phone);
  await staff.page.getByTestId('password').fill(password);
  await staff.page.getByTestId('sign-in').click();
  return staff;
}

/** Our own message bubble with this text. */
export const mine = (p, text) => p.page.locator('.message.mine', { has: p.page.getByText(text, { exact: true }) });
/** The stranger's message bubble with this text. */
export const theirs = (p, text) => p.page.locator('.message.theirs', { has: p.page.getByText(text, { exact: true }) });

/** The transcript as shown: `[{seq, mine, text}]` in screen order. */
export function transcript(p) {
  return p.page.$$eval('[data-testid=message]', (items) => items.map((li) => ({
    seq: Number(li.dataset.seq),
    mine: li.classList.contains('mine'),
    text: li.querySelector('.text').textContent,
  })));
}

/** Writes `docs/screenshots/<name>.png` when the run asked for screenshots. */
export async function screenshot(page, name) {
  const dir = process.env.BROWSER_TEST_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, `${name}.png`) });
}

/** A REST call outside the browser (the admin's side of the ban test). */
export async function api(method, path, { body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** An admin's access token (BROWSER_TEST_ADMIN_PHONE / _PASSWORD), as a moderator's tools would hold it. */
export async function adminToken() {
  const body = { phone: process.env.BROWSER_TEST_ADMIN_PHONE, password: process.env.BROWSER_TEST_ADMIN_PASSWORD };
  const login = await api('POST', '/v1/auth/login', { body });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  return login.body.tokens.access_token;
}

/** Premium for `p` (30 days) through the admin API, as support would grant it, then a reload so the page reads it. */
export async function grantPremium(p) {
  const token = await adminToken();
  const found = await api('GET', `/v1/admin/users?handle=${encodeURIComponent(p.handle)}`, { token });
  assert.equal(found.status, 200, JSON.stringify(found.body));
  const granted = await api('PUT', `/v1/admin/users/${found.body.id}/subscription`, {
    token, body: { plan: 'premium_support', days: 30 },
  });
  assert.equal(granted.status, 204, JSON.stringify(granted.body));
  await p.page.reload();
  await p.page.getByTestId('premium').waitFor();
}

/** Why a test that needs the admin cannot run, or false. */
export const needsAdmin = !process.env.BROWSER_TEST_ADMIN_PHONE && 'BROWSER_TEST_ADMIN_PHONE is not set';

/** Where the server's log ends now: `smsCode` reads only what is written after it. */
export function logMark() {
  return statSync(process.env.BROWSER_TEST_SERVER_LOG).size;
}

/**
 * The code the development SMS sender logged for `purpose` (verify, change, reset) to `phone` after `mark`: it
 * logs the last two digits of the number, never the number. Polls the log until the line is there.
 */
export async function smsCode(phone, purpose, mark) {
  const tail = phone.slice(-2);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const log = (await readFile(process.env.BROWSER_TEST_SERVER_LOG)).subarray(mark).toString('utf8');
    const line = log.split('\n').findLast((l) => SMS_LINE.test(l) && l.includes(`purpose="${purpose}"`) && l.includes(`phone_ends_with="${tail}"`));
    if (line) return line.match(SMS_LINE)[1];
    if (Date.now() > deadline) throw new Error(`no ${purpose} code for …${tail} in the server log`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const SMS_LINE = /development SMS sender.* code="(\d{6})"/;

/** Fails the test if the page logged an error or threw. */
export function assertNoPageErrors(...people) {
  for (const p of people) assert.deepEqual(p.errors, [], `errors on ${p.handle ?? 'a page'}`);
}

/**
 * The selected candidate pair of the page's call once its connectivity check has succeeded, read from getStats()
 * rather than from the app: both candidates' types, the transport between this browser and its relay (`udp`,
 * `tcp` or `tls`), the pair's state and bytes. Waits for that state: Chrome marks the pair `in-progress` at each
 * consent check it sends (every few seconds) until the answer comes, so one read could see either.
 * The wait is one `page.evaluate` of a function that loops in the page: `page.waitForFunction` would not await an
 * async predicate (its Promise is truthy), resolve at the first poll and hand back null.
 */
export async function succeededPair(page, { timeout = WAIT_MS } = {}) {
  return page.evaluate(waitForSucceededPair, { timeout, pollMs: 100 });
}

/** Runs in the page: polls `window.tanis.call`'s stats until its selected pair has succeeded; throws after `timeout`. */
async function waitForSucceededPair({ timeout, pollMs }) {
  const deadline = Date.now() + timeout;
  let last = 'no call';
  for (;;) {
    const pc = window.tanis.call?.pc;
    if (pc) {
      const stats = await pc.getStats();
      let pair = null;
      stats.forEach((r) => r.type === 'transport' && r.selectedCandidatePairId && (pair = stats.get(r.selectedCandidatePairId)));
      last = pair ? `the selected pair is ${pair.state}` : 'no selected pair';
      if (pair?.state === 'succeeded') {
        const local = stats.get(pair.localCandidateId);
        const remote = stats.get(pair.remoteCandidateId);
        return {
          state: pair.state,
          local: local?.candidateType,
          remote: remote?.candidateType,
          relayProtocol: local?.relayProtocol,
          bytes: pair.bytesReceived,
        };
      }
    }
    if (Date.now() >= deadline) throw new Error(`no succeeded candidate pair within ${timeout} ms: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}
