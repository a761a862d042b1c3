// Video that protects the viewer while the server stays blind (issue 61): two people in a video match, each camera
// Chromium's fake one playing a grey picture this file writes, and a stub classifier injected into each page as a
// deployer would (`window.tanisClassifier`) that flags a frame that is mostly red. The stranger's picture starts
// blurred by the server's policy and clears after `video_safety.blur_secs` (or at once when revealed); when the other
// side's picture turns red the viewer's own classifier blurs it again, and "Show" reveals it. Nothing of a frame or
// a verdict leaves a page before a report; a report with the snapshot box ticked reaches the moderators with its
// picture and verdict (read back through the admin API), one without it carries none (that one says a child is at
// risk, and waits in the moderators' child-safety lane).

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import {
  WAIT_MS, adminToken, api, assertNoPageErrors, baseUrl, launch, needsAdmin, person, register, screenshot,
} from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'tanis-video-safety-'));
const camera = join(dir, 'grey.y4m');
let browser;
before(async () => {
  writeFileSync(camera, greyPicture(320, 240));
  browser = await launch({ args: [`--use-file-for-fake-video-capture=${camera}`] });
});
after(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A Y4M clip of two mid-grey 4:2:0 frames (Chromium's fake camera loops it): a picture no classifier flags. */
function greyPicture(width, height) {
  const frame = Buffer.concat([Buffer.from('FRAME\n'), Buffer.alloc(width * height * 1.5, 128)]);
  return Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F10:1 Ip A1:1 C420jpeg\n`), frame, frame]);
}

/**
 * Runs in every page before the app: the classifier a deployer would load (the page ships none). It reads the
 * 224×224 canvas the page hands it and flags a frame whose pixels are mostly red, which only the picture this
 * test paints is.
 */
function stubClassifier() {
  window.tanisClassifier = async (frame) => {
    const { data } = frame.getContext('2d').getImageData(0, 0, frame.width, frame.height);
    let red = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] > 150 && data[i + 1] < 90 && data[i + 2] < 90) red++;
    return red / (data.length / 4) > 0.8 ? { label: 'Porn', score: 0.95 } : { label: 'Neutral', score: 0.97 };
  };
}

/** Every request body and every WebSocket frame the page sends, from now on. */
function watchTraffic(p) {
  const traffic = { requests: [], frames: [] };
  p.page.on('request', (r) => traffic.requests.push({ method: r.method(), url: r.url(), body: r.postDataBuffer() }));
  p.page.on('websocket', (ws) => ws.on('framesent', ({ payload }) => traffic.frames.push(String(payload))));
  return traffic;
}

const IMAGE_MAGIC = [Buffer.from([0xff, 0xd8, 0xff]), Buffer.from('\x89PNG', 'latin1'), Buffer.from('WEBPVP8')];
const IMAGE_BASE64 = ['/9j/', 'iVBORw0KGgo', 'UklGR'];
/** What a classifier's verdict, or a report's parts, would look like in a body or a frame. */
const CLASSIFIED = /Porn|Neutral|verdict|snapshot|data:image/;

/** Whether a body carries an image: its raw bytes, or base64 of them (as a JSON snapshot would). */
function carriesImage(body) {
  if (!body) return false;
  return IMAGE_MAGIC.some((magic) => body.includes(magic)) || IMAGE_BASE64.some((prefix) => body.includes(prefix));
}

/** Records, in the page, the stage's safety states and when the stranger's picture started playing. */
async function recordSafety(p) {
  await p.page.locator('.stage').waitFor();
  const playing = await p.page.evaluate(() => {
    const stage = document.querySelector('.stage');
    const video = stage.querySelector('video.remote');
    const log = (window.safetyLog = [{ state: stage.dataset.safety, at: performance.now() }]);
    new MutationObserver(() => log.push({ state: stage.dataset.safety, at: performance.now() }))
      .observe(stage, { attributeFilter: ['data-safety'] });
    video.addEventListener('playing', () => log.push({ playing: true, at: performance.now() }), { once: true });
    return video.readyState >= 2;
  });
  assert.equal(playing, false, 'recording started before the picture showed');
}

/** `{playingAt, clearAt}` from the page's record (ms, the page's clock). */
async function safetyTimes(p) {
  const log = await p.page.evaluate(() => window.safetyLog);
  return { playingAt: log.find((e) => e.playing)?.at, clearAt: log.find((e) => e.state === 'clear')?.at, log };
}

const remoteFilter = (p) => p.page.getByTestId('remote-video').evaluate((v) => getComputedStyle(v).filter);
const videoSafety = (p) => p.page.evaluate(() => window.tanis.conversation.record.video_safety);

/** Makes `p`'s camera show a red picture: a painted canvas replaces the fake camera's track in the live call. */
async function showRed(p) {
  await p.page.evaluate(async () => {
    const canvas = Object.assign(document.createElement('canvas'), { width: 320, height: 240 });
    const g = canvas.getContext('2d');
    // A canvas stream sends a frame when the canvas is drawn: drawn again ten times a second.
    const paint = () => {
      g.fillStyle = '#e00000';
      g.fillRect(0, 0, canvas.width, canvas.height);
    };
    paint();
    setInterval(paint, 100);
    const sender = window.tanis.call.pc.getSenders().find((s) => s.track?.kind === 'video');
    await sender.replaceTrack(canvas.captureStream(10).getVideoTracks()[0]);
  });
}

/** Fills in and sends the call's report dialog; resolves with the request's JSON body once the server answered. */
async function reportFromCall(p, { reason, details, snapshot, shot = null }) {
  await p.page.getByTestId('call-report').click();
  const dialog = p.page.locator('dialog[open]');
  const reasons = await dialog.getByTestId('report-reason').locator('option').evaluateAll((all) => all.map((o) => o.value));
  const underage = reasons.indexOf('underage');
  assert.deepEqual(reasons.slice(underage, underage + 2), ['underage', 'child_sexual_abuse'], reasons.join());
  await dialog.getByTestId('report-reason').selectOption(reason);
  await dialog.locator('textarea[name=details]').fill(details);
  const box = dialog.getByTestId('report-snapshot');
  assert.equal(await box.isChecked(), false, 'the snapshot box starts unticked');
  assert.equal(await dialog.getByTestId('snapshot-preview').locator('canvas').count(), 0, 'no still taken unasked');
  if (snapshot) {
    await box.check();
    await dialog.getByTestId('snapshot-preview').locator('canvas').waitFor();
  }
  if (shot) await screenshot(p.page, shot);
  const answered = p.page.waitForResponse((r) => r.url() === `${baseUrl}/v1/reports/call`);
  await dialog.getByTestId('report-submit').click();
  const response = await answered;
  assert.equal(response.status(), 204, await response.text());
  await p.page.getByText('Thank you. Your report was sent.').waitFor();
  return JSON.parse(response.request().postData());
}

const title = 'the stranger’s picture is blurred by policy, then by the viewer’s classifier, revealed, and reported';
test(title, { skip: needsAdmin }, async (t) => {
  const eda = await person(browser, { init: stubClassifier });
  const filiz = await person(browser, { init: stubClassifier });
  const traffic = new Map([[eda, watchTraffic(eda)], [filiz, watchTraffic(filiz)]]);
  await register(eda, 'eda');
  await register(filiz, 'filiz');

  await eda.page.getByTestId('find-video').click();
  await eda.page.getByTestId('waiting').waitFor();
  await filiz.page.getByTestId('find-video').click();
  await Promise.all([recordSafety(eda), recordSafety(filiz)]);

  // The server's policy for this match: how long the picture stays blurred (longer for a new account).
  const policy = await videoSafety(eda);
  assert.equal(typeof policy?.blur_secs, 'number', JSON.stringify(policy));
  assert.equal(typeof policy.caution, 'boolean');
  const blurMs = policy.blur_secs * 1000;
  t.diagnostic(`video_safety of the match: ${JSON.stringify(policy)}`);

  // Blurred before anything shows, and still when the stranger's picture plays.
  for (const p of [eda, filiz]) await p.page.locator('.stage[data-safety=policy]').waitFor();
  await Promise.all([eda, filiz].map((p) => p.page.waitForFunction(() => window.safetyLog.some((e) => e.playing), null, {
    timeout: 30_000,
  })));

  // Filiz does not wait: "Show" (from the keyboard) clears it at once, before her policy's seconds are up.
  await filiz.page.getByTestId('reveal').focus();
  await filiz.page.keyboard.press('Enter');
  await filiz.page.locator('.stage[data-safety=clear]').waitFor({ timeout: 1_000 });
  const revealedEarly = await safetyTimes(filiz);
  assert.ok(revealedEarly.clearAt - revealedEarly.playingAt < blurMs, JSON.stringify(revealedEarly.log));

  // Eda sees "Blurred for your safety — Show" over a blurred picture.
  const veil = eda.page.getByTestId('safety-veil');
  assert.equal(await eda.page.locator('.stage').getAttribute('data-safety'), 'policy');
  assert.equal(await veil.isVisible(), true);
  assert.match(await veil.textContent(), /Blurred for your safety\s*Show/);
  assert.match(await remoteFilter(eda), /blur\(/);
  await screenshot(eda.page, '15-video-blurred');

  // Eda waits: the blur lifts by itself blur_secs after her picture first played, not before.
  await eda.page.locator('.stage[data-safety=clear]').waitFor({ timeout: blurMs + WAIT_MS });
  const cleared = await safetyTimes(eda);
  assert.ok(cleared.playingAt !== undefined, JSON.stringify(cleared.log));
  const waited = cleared.clearAt - cleared.playingAt;
  const timeline = JSON.stringify(cleared.log);
  assert.ok(waited >= blurMs - 50 && waited < blurMs + 5_000, `cleared ${waited} ms after playing (${timeline})`);
  assert.equal(await veil.isVisible(), false);
  assert.equal(await remoteFilter(eda), 'none');

  // Filiz's picture turns red: Eda's own classifier flags it and her page blurs it again, saying why.
  await showRed(filiz);
  await eda.page.locator('.stage[data-safety=classifier]').waitFor({ timeout: WAIT_MS });
  assert.match(await veil.textContent(), /Your device flagged this picture\s*Show/);
  assert.match(await remoteFilter(eda), /blur\(/);
  assert.deepEqual(await eda.page.evaluate(() => window.tanis.call.verdict), { label: 'Porn', score: 0.95 });
  const filizSees = await filiz.page.locator('.stage').getAttribute('data-safety');
  assert.equal(filizSees, 'clear', 'Eda’s grey picture is not flagged');

  // Eda chooses to see it (from the keyboard): revealed, and it stays so.
  await eda.page.getByTestId('reveal').focus();
  await eda.page.keyboard.press('Enter');
  await eda.page.locator('.stage[data-safety=revealed]').waitFor();
  assert.equal(await veil.isVisible(), false);
  assert.equal(await remoteFilter(eda), 'none');

  // Up to here neither page sent a picture, or anything its classifier said, anywhere.
  for (const [p, { requests, frames }] of traffic) {
    assert.ok(frames.length > 0, `${p.handle}: the socket was watched`);
    for (const r of requests) {
      assert.equal(carriesImage(r.body), false, `${p.handle}: ${r.method} ${r.url} carried an image`);
      assert.doesNotMatch(r.body?.toString('utf8') ?? '', CLASSIFIED, `${p.handle}: ${r.method} ${r.url}`);
    }
    for (const frame of frames) assert.doesNotMatch(frame, CLASSIFIED, `${p.handle}: ${frame.slice(0, 200)}`);
  }
  const before = new Map([...traffic].map(([p, t]) => [p, t.requests.length]));

  // Eda reports Filiz with the snapshot ticked; Filiz reports Eda without it, for a risk to a child.
  const withSnapshot = await reportFromCall(eda, {
    reason: 'nudity', details: 'turned the camera', snapshot: true, shot: '16-video-report',
  });
  const withoutSnapshot = await reportFromCall(filiz, {
    reason: 'child_sexual_abuse', details: 'asked a child to undress', snapshot: false,
  });
  assert.equal(withSnapshot.reason_code, 'nudity');
  assert.equal(withoutSnapshot.reason_code, 'child_sexual_abuse');
  assert.deepEqual(withSnapshot.verdict, { label: 'Porn', score: 0.95 });
  assert.equal(withSnapshot.snapshot.content_type, 'image/jpeg');
  const sent = Buffer.from(withSnapshot.snapshot.data, 'base64');
  assert.ok(sent.subarray(0, 3).equals(IMAGE_MAGIC[0]), 'a JPEG');
  assert.ok(sent.length > 0 && sent.length < 200 * 1024, `${sent.length} bytes`);
  assert.equal(withoutSnapshot.snapshot, undefined, 'no snapshot unless ticked');
  assert.deepEqual(withoutSnapshot.verdict, { label: 'Neutral', score: 0.97 }, 'Filiz’s classifier’s last word');

  // The one request that ever carried an image is Eda's report.
  const imageRequests = [...traffic].flatMap(([p, t]) => t.requests.filter((r) => carriesImage(r.body))
    .map((r) => [p, r]));
  const reportUrl = `${baseUrl}/v1/reports/call`;
  assert.deepEqual(imageRequests.map(([p, r]) => [p.handle, r.method, r.url]), [[eda.handle, 'POST', reportUrl]]);
  assert.ok(traffic.get(eda).requests.indexOf(imageRequests[0][1]) >= before.get(eda));

  // Through the moderators' door: the admin sees both reports, the call's parts as the reporters sent them.
  const token = await adminToken();
  const queue = await api('GET', '/v1/admin/reports?limit=100', { token });
  assert.equal(queue.status, 200, JSON.stringify(queue.body));
  const reportOf = (reported, reporter) => {
    const user = queue.body.users.find((u) => u.handle === reported.handle);
    assert.ok(user, `${reported.handle} is in the queue: ${JSON.stringify(queue.body.users.map((u) => u.handle))}`);
    const report = user.reports.find((r) => r.reporter === reporter.handle);
    assert.ok(report, `${reporter.handle}'s report of ${reported.handle}: ${JSON.stringify(user.reports)}`);
    return report;
  };
  const ofFiliz = reportOf(filiz, eda);
  assert.equal(ofFiliz.reason, 'nudity');
  assert.deepEqual(ofFiliz.call.verdict, { label: 'Porn', score: 0.95 });
  assert.deepEqual(ofFiliz.call.snapshot, { content_type: 'image/jpeg', bytes: sent.length });
  assert.equal(ofFiliz.call.verifiable, false);
  const ofEda = reportOf(eda, filiz);
  assert.equal(ofEda.reason, 'child_sexual_abuse');
  assert.equal(ofEda.call.snapshot, null);
  assert.deepEqual(ofEda.call.verdict, { label: 'Neutral', score: 0.97 });
  // A risk to a child waits in the lane ahead of the queue too; the nudity report about Filiz does not.
  const lane = queue.body.child_safety.filter((u) => [eda.handle, filiz.handle].includes(u.handle));
  assert.deepEqual(lane.map((u) => [u.handle, u.reports.map((r) => r.reason)]), [[eda.handle, ['child_sexual_abuse']]]);

  // The stored picture is the one sent, and it is the stranger's red picture, unblurred.
  const image = await fetch(`${baseUrl}/v1/admin/reports/${ofFiliz.id}/snapshot`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(image.status, 200);
  assert.equal(image.headers.get('content-type'), 'image/jpeg');
  assert.match(image.headers.get('cache-control') ?? '', /no-store/);
  const stored = Buffer.from(await image.arrayBuffer());
  assert.ok(stored.equals(sent), 'the bytes the reporter sent');
  const blank = await browser.newPage();
  const redShare = await blank.evaluate(async (base64) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/jpeg' }));
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const g = canvas.getContext('2d');
    g.drawImage(bitmap, 0, 0);
    const { data } = g.getImageData(0, 0, bitmap.width, bitmap.height);
    let red = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] > 150 && data[i + 1] < 90 && data[i + 2] < 90) red++;
    return red / (data.length / 4);
  }, stored.toString('base64'));
  await blank.close();
  assert.ok(redShare > 0.8, `the snapshot is ${Math.round(redShare * 100)} % red`);

  assertNoPageErrors(eda, filiz);
  await Promise.all([eda.context.close(), filiz.context.close()]);
});
