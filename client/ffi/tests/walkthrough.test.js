// The apps on the client core, client/ffi/kotlin/Chat.kt and client/ffi/python/chat.py (the walkthrough of
// docs/sdk-native.md, one line protocol), each against a real server of its own, with a TypeScript SDK client as the
// stranger: it registers, is matched, exchanges end-to-end encrypted messages both ways past the server's rate limit,
// survives the server's kill -9 and comes back with nothing lost or repeated, reveals the stranger's messages in a
// report the server verifies, and leaves. scripts/native-test runs it with the paths of what it built:
//
//   NATIVE_TEST_BIN   the tanis binary
//   NATIVE_TEST_APPS  the apps, as JSON: {"kotlin": [argv...], "python": [argv...]}, each the command line that runs
//                     the app, to which the server's base URL is appended; one test per app, the same scenario
//
// Nothing waits a fixed time: every step waits for a line of the app or an event of the SDK, with a timeout.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';

import WebSocket from '../../../sdk/typescript/node_modules/ws/index.js';
import { Client, MemoryStorage } from '../../../sdk/typescript/src/index.js';

const WAIT_MS = 20_000;
// One word: the app's commands are split at spaces.
const PASSWORD = 'correct-horse-battery-42';
const dir = mkdtempSync(join(tmpdir(), 'tanis-native-'));
const cleanup = [];
after(() => {
  for (const stop of cleanup.reverse()) stop();
  rmSync(dir, { recursive: true, force: true });
});

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const phone = () => `+90533${String(randomInt(10_000_000)).padStart(7, '0')}`;

/** `tanis serve` on SQLite under `data`, on `port`: the same data when started again. */
async function serve(port, data) {
  const env = {
    ...process.env, TANIS_LISTEN: `127.0.0.1:${port}`, TANIS_DATA_DIR: data, TANIS_AUTH__BCRYPT_COST: '4',
    TANIS_VIDEO__TURN_LISTEN: '127.0.0.1:0', TANIS_LOG: 'warn',
  };
  const server = spawn(process.env.NATIVE_TEST_BIN, ['serve'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  cleanup.push(() => server.kill('SIGKILL'));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) return server;
    assert.ok(i < 300 && server.exitCode === null, 'the server did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 100)); // polling readiness, not synchronising the test
  }
}

/** An app, run by `argv` with `base` appended: `send(line)` to its stdin, `expect(pattern)` its next stdout line
 * matching. */
function startApp(argv, base) {
  const child = spawn(argv[0], [...argv.slice(1), base], { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanup.push(() => child.kill('SIGKILL'));
  const lines = [];
  const waiters = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const w of [...waiters]) w();
  });
  let read = 0;
  return {
    send: (line) => child.stdin.write(`${line}\n`),
    /** The next line matching `pattern` (lines before it are passed over, and kept in `seen`). */
    expect(pattern) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the app never printed ${pattern}; it printed:\n${lines.join('\n')}`)), WAIT_MS);
        const check = () => {
          while (read < lines.length) {
            const m = lines[read++].match(pattern);
            if (m) {
              clearTimeout(timer);
              waiters.splice(waiters.indexOf(check), 1);
              return resolve(m);
            }
          }
        };
        waiters.push(check);
        check();
      });
    },
    lines,
    child,
  };
}

function sdkEvent(client, name, wanted = () => true) {
  return client.events.once(name, wanted, WAIT_MS);
}

/** Resolves with the stranger's next `texts.length` messages, in the order shown. */
function messages(client, count) {
  const seen = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got only ${seen.map((m) => m.text).join(', ')}`)), WAIT_MS);
    const off = client.on('message', ({ message }) => {
      if (message.mine) return;
      seen.push(message);
      if (seen.length === count) {
        clearTimeout(timer);
        off();
        resolve(seen);
      }
    });
  });
}

const apps = JSON.parse(process.env.NATIVE_TEST_APPS);
const titles = { kotlin: 'Kotlin', python: 'Python' };

for (const [name, argv] of Object.entries(apps)) {
  const app = titles[name] ?? name;
  test(`the ${app} app chats with a TypeScript client through a kill -9 of the server, and reports`, (t) =>
    walkthrough(t, name, argv));
}

/** The scenario, for the app `name` run by `argv`. */
async function walkthrough(t, name, argv) {
  // Its server, app and stranger stop when it ends (the tests run one after the other), and its server is its own
  // (port, data): each app's run is independent of the other's.
  t.after(() => {
    for (const stop of cleanup.splice(0).reverse()) stop();
  });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const data = join(dir, name, 'data');
  let server = await serve(port, data);

  const app = startApp(argv, base);
  app.send(`register ${phone()} ${PASSWORD} ${name}ci`);
  await app.expect(/^signed_in /);
  await app.expect(/^hello /);

  const stranger = new Client({ baseUrl: base, WebSocket, storage: new MemoryStorage() });
  cleanup.push(() => stranger.close());
  const strangerHello = sdkEvent(stranger, 'hello');
  await stranger.register({ phone: phone(), password: PASSWORD, alias: 'tsyabanci', birthYear: 1995, acceptPrivacyNotice: true });
  await strangerHello;

  // Matched: the app waits, the stranger finds.
  const strangerMatched = sdkEvent(stranger, 'matched');
  app.send('find text');
  await stranger.findMatch();
  const [, matchId] = await app.expect(/^matched (\d+) /);
  const { conversation } = await strangerMatched;
  assert.equal(String(conversation.id), matchId);

  // Fifteen messages at once: past the server's ten a second, so some are refused for now and sent again by the
  // core's outbox; the stranger reads every one, once, in the order written.
  const fifteen = messages(stranger, 15);
  for (let i = 1; i <= 15; i++) app.send(`send ${name} ${i}`);
  assert.deepEqual((await fifteen).map((m) => m.text), Array.from({ length: 15 }, (_, i) => `${name} ${i + 1}`));
  for (let i = 1; i <= 15; i++) await app.expect(new RegExp(`^sent ${matchId} \\S+ \\d+$`));

  // And the other way.
  await conversation.send(`selam ${name}`);
  await conversation.send('nasılsın?');
  const [, seqA] = await app.expect(new RegExp(`^message ${matchId} (\\d+) selam ${name}$`));
  const [, seqB] = await app.expect(new RegExp(`^message ${matchId} (\\d+) nasılsın\\?$`));

  // The server is killed (no goodbye to any socket) and started again on the same data. Both sides write while it is
  // down; both come back, resume, and read what the other wrote, once.
  server.kill('SIGKILL');
  await new Promise((resolve) => server.once('exit', resolve));
  app.send('send written while the server was down');
  const afterRestart = messages(stranger, 1);
  await conversation.send('ben de yazdım');
  server = await serve(port, data);
  assert.deepEqual((await afterRestart).map((m) => m.text), ['written while the server was down']);
  await app.expect(new RegExp(`^message ${matchId} \\d+ ben de yazdım$`));

  // A report revealing two of the stranger's messages: the server checks them against their franking commitments
  // and answers ok only if they verify.
  app.send(`report harassment ${seqA},${seqB}`);
  await app.expect(/^reported$/);

  const strangerEnded = sdkEvent(stranger, 'ended');
  app.send('leave');
  await app.expect(new RegExp(`^ended ${matchId} `));
  await strangerEnded;
  assert.ok(!app.lines.some((l) => /^(unreadable|failed|closed|error) /.test(l)), app.lines.join('\n'));
  app.send('quit');
}

// A video call's signalling between the two apps, through the server: the offer, the answer and a candidate each
// way the server lets through (relay candidates only: it drops the rest, and the addresses in them, so neither side
// learns the other's), the caller's call connected, and a hang-up, then the match ends for both.
if (apps.kotlin && apps.python) {
  test('the Kotlin and Python apps signal a video call to each other through the server', async (t) => {
    t.after(() => {
      for (const stop of cleanup.splice(0).reverse()) stop();
    });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    await serve(port, join(dir, 'call', 'data'));
    const caller = startApp(apps.kotlin, base);
    const callee = startApp(apps.python, base);
    caller.send(`register ${phone()} ${PASSWORD} kotlinara`);
    callee.send(`register ${phone()} ${PASSWORD} pythonara`);
    await caller.expect(/^hello /);
    await callee.expect(/^hello /);
    caller.send('find video');
    callee.send('find video');
    const [, matchId] = await caller.expect(/^matched (\d+) /);
    await callee.expect(new RegExp(`^matched ${matchId} `));

    // A private address and a server-reflexive one beside the relay candidate: only the relay one may cross.
    const sdp = (role) => ['v=0', `o=- 46117314 2 IN IP4 192.168.77.5`, 's=-', 't=0 0',
      'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'c=IN IP4 203.0.113.9', `a=${role}`,
      'a=candidate:1 1 udp 2130706431 192.168.77.5 50000 typ host',
      'a=candidate:3 1 udp 16777215 198.51.100.20 61000 typ relay raddr 203.0.113.9 rport 50000', ''].join('\\r\\n');
    caller.send(`offer ${sdp('setup:actpass')}`);
    await callee.expect(new RegExp(`^call_signal ${matchId} Offer$`));
    callee.send(`answer ${sdp('setup:active')}`);
    await caller.expect(new RegExp(`^call_signal ${matchId} Answer$`));
    caller.send('ice candidate:4 1 udp 16777215 198.51.100.21 62000 typ relay raddr 203.0.113.9 rport 50001');
    await callee.expect(new RegExp(`^call_signal ${matchId} Ice$`));
    caller.send('connected');
    callee.send('hangup');
    await caller.expect(new RegExp(`^peer_hung_up ${matchId}$`));
    caller.send('leave');
    await caller.expect(new RegExp(`^ended ${matchId} `));
    await callee.expect(new RegExp(`^ended ${matchId} `));
    for (const app of [caller, callee]) {
      assert.ok(!app.lines.some((l) => /^(refused|error|closed) /.test(l)), app.lines.join('\n'));
      app.send('quit');
    }
  });
}
