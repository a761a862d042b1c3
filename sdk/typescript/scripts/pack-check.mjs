// What `npm pack` would publish (its prepack generates types/ first): the ES modules, the generated .d.ts of
// every public module, an exports map whose types exist, no install scripts, no runtime dependencies, no tests.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const root = new URL('..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--loglevel=error'], { cwd: root, encoding: 'utf8' }));
const files = new Set(packed.files.map((f) => f.path));

assert.equal(pkg.name, '@tanis/client');
assert.equal(pkg.version.split('.')[0], '2', 'the major version is the protocol version (tanis.v2)');
assert.equal(pkg.type, 'module');
assert.equal(pkg.sideEffects, false);
for (const hook of ['preinstall', 'install', 'postinstall']) assert.ok(!pkg.scripts?.[hook], `no ${hook} script`);
assert.deepEqual(Object.keys(pkg.dependencies ?? {}), [], 'zero runtime dependencies');
const entry = pkg.exports['.'];
for (const path of [entry.default, entry.types, pkg.types]) assert.ok(files.has(path.replace(/^\.\//, '')), `${path} is packed`);
// The test kit for app teams: its own entry point, with types, never reached from the main one (the size budget).
const testing = pkg.exports['./testing'];
assert.deepEqual(testing, { types: './types/testing.d.ts', default: './src/testing.js' }, 'exports["./testing"]');
for (const path of [testing.default, testing.types]) assert.ok(files.has(path.replace(/^\.\//, '')), `${path} is packed`);
assert.doesNotMatch(readFileSync(`${root}src/index.js`, 'utf8'), /testing\.js/, 'src/index.js does not export the test kit');
for (const module of ['client', 'api', 'connection', 'conversation', 'calls', 'errors', 'storage', 'policy', 'emitter', 'crypto/e2e', 'crypto/franking']) {
  assert.ok(files.has(`src/${module}.js`), `src/${module}.js is packed`);
  assert.ok(files.has(`types/${module}.d.ts`), `types/${module}.d.ts is packed`);
}
assert.ok(files.has('types/frames.d.ts'), 'the frame types are packed');
assert.ok(files.has('types/events.d.ts'), 'the event map is packed');
assert.ok(files.has('src/crypto/vendor/LICENSE'), 'the vendored crypto licence is packed');
assert.ok(![...files].some((f) => f.startsWith('test/') || f.startsWith('node_modules/')), 'no tests, no node_modules');
// React Native and browsers run these files as they are: nothing of Node's.
for (const file of [...files].filter((f) => f.startsWith('src/') && f.endsWith('.js'))) {
  const code = readFileSync(`${root}${file}`, 'utf8');
  assert.doesNotMatch(code, /['"]node:[a-z]|\brequire\(|(?<![A-Za-z])Buffer\.|\bprocess\.env/, `${file} uses nothing Node-only`);
}
console.log(`npm pack: ${packed.name}@${packed.version}, ${files.size} files, ${(packed.size / 1024).toFixed(1)} KiB`);

// And a consumer's view: the real tarball installed into an empty project, its types read through the exports
// map by a strict TypeScript program, its modules imported by Node.
const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const { join } = await import('node:path');
const dir = mkdtempSync(join(tmpdir(), 'tanis-sdk-consumer-'));
try {
  execFileSync('npm', ['pack', '--pack-destination', dir, '--loglevel=error'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--offline', '--loglevel=error', `./${packed.filename}`], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  writeFileSync(join(dir, 'app.ts'), [
    "import { Client, MemoryStorage, TanisError, rtcConfiguration, type ServerFrame, type Message } from '@tanis/client';",
    "import { FakeClock, ScriptedServer, ScriptedSocket, httpError } from '@tanis/client/testing';",
    "const client = new Client({ baseUrl: 'https://tanis.example', WebSocket: globalThis.WebSocket, storage: new MemoryStorage() });",
    "client.on('message', ({ message }: { message: Message }) => message.text);",
    // The event map types each listener: `matchId` and `message` without annotations (implicit any would not
    // compile under strict), and a name that is not an event is an error.
    "client.on('message', ({ matchId, message }) => `${matchId + 1}: ${message.text ?? ''}`);",
    "client.on('reconnecting', ({ delayMs }) => delayMs.toFixed());",
    "client.on('*', ({ name, detail }) => name === 'sent' && detail.seq);",
    "// @ts-expect-error: no such event",
    "client.on('nonsense', () => {});",
    "// @ts-expect-error: the detail of `sent` has no `text`",
    "client.on('sent', ({ text }) => text);",
    "const frame: ServerFrame = { type: 'pong', id: null };",
    "export const used = [frame, rtcConfiguration({ rtc: null }).iceTransportPolicy, new TanisError('x', 'y').code];",
    // The kit as an app's test uses it: a Client on the scripted server and the mocked clock, a peer, a close code.
    "const clock = new FakeClock().install();",
    "const server = new ScriptedServer({ accessTtlSeconds: 60 });",
    "const tested = new Client({ ...server.clientOptions(), storage: new MemoryStorage(), now: clock.now });",
    "server.route('POST /v1/auth/refresh', () => httpError(503, 'internal'));",
    "export async function wiring(): Promise<string[]> {",
    "  await tested.login('+905321234567', 'pw');",
    "  const socket: ScriptedSocket = await server.socket();",
    "  const peer = server.peer({ handle: 'kediadam#9021' });",
    "  const matchId: number = await peer.match({ initiator: false });",
    "  peer.send('selam', { matchId });",
    "  await clock.tickAsync(60_000);",
    "  socket.serverClose(4003, 'banned');",
    "  const shown = await tested.handlePush({ data: { type: 'message', match_id: String(matchId) } });",
    "  clock.uninstall();",
    "  return [...peer.received, shown?.kind ?? 'nothing', String(server.requestsTo('POST /v1/auth/refresh').length)];",
    "}",
  ].join('\n'));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022', 'dom'], types: [], noEmit: true },
    files: ['app.ts'],
  }));
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', dir], { stdio: 'inherit' });
  execFileSync('node', ['-e', "import('@tanis/client').then((m) => { if (typeof m.Client !== 'function') process.exit(1); })"], { cwd: dir, stdio: 'inherit' });
  execFileSync('node', ['-e', "import('@tanis/client/testing').then((m) => { if (typeof m.ScriptedServer !== 'function' || typeof m.FakeClock !== 'function') process.exit(1); })"], { cwd: dir, stdio: 'inherit' });
  console.log('npm pack: a consumer type-checks against the packed types (the test kit too) and imports the modules');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
