// React Native's engine, Hermes, from the npm registry (pinned devDependencies, installed by `npm ci`; nothing is
// downloaded here):
//
// 1. The compiler React Native builds with: `hermes-compiler` (the version react-native 0.88.1 depends on, Hermes
//    1.0.0, bytecode 99; a Linux x86-64 `hermesc` inside). src/index.js bundled as an app's bundler hands it over
//    (esbuild, one IIFE script, no syntax lowered: `esnext`), then compiled to bytecode as a release build does
//    (`hermesc -emit-binary -O`). Fails on any error, and on any warning but an undeclared global React Native
//    provides (Promise, timers, console, ...): `Buffer`, `process` or `TextDecoder` would be one. The kit
//    (src/testing.js) and every unit-test bundle below are compiled the same way.
// 2. The engine: `hermes-engine-cli` 0.12.0 is the only Linux Hermes VM on the registry (`hermes`, Hermes 0.12.0,
//    the engine of React Native 0.70; no later release of that package exists). Each unit test file
//    (test/unit/*.test.js) is bundled with scripts/hermes/ standing in for `node:test` and `node:assert/strict`,
//    its classes lowered by Babel as React Native's Babel preset lowers them for that Hermes (it has no `class`),
//    and run by `hermes`. A file that imports anything of Node's beyond those two (node:fs, typescript, the
//    scripts) cannot run there and is listed as skipped, with what it imports.
//
//   node scripts/hermes.mjs            # exits 1 on a compile error, a failing test, or an engine crash

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { transformAsync } from '@babel/core';
import { build } from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const bin = { linux: 'linux64-bin', darwin: 'osx-bin', win32: 'win64-bin' }[process.platform];
const exe = process.platform === 'win32' ? '.exe' : '';
const hermesc = join(root, `node_modules/hermes-compiler/hermesc/${bin}/hermesc${exe}`);
const hermes = join(root, `node_modules/hermes-engine-cli/${bin}/hermes${exe}`);
const version = (path) => /Hermes release version: (\S+)/.exec(execFileSync(path, ['-version'], { encoding: 'utf8' }))?.[1];
const pkg = (name) => JSON.parse(readFileSync(join(root, `node_modules/${name}/package.json`), 'utf8')).version;

/** Globals a React Native app has that a bare Hermes compile does not declare. */
const RN_GLOBALS = new Set([
  'Promise', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate',
  'queueMicrotask', 'console', 'fetch', 'WebSocket', 'Response', 'navigator',
  // The tests' (never the SDK's): their runner's print, and the Node global a few of them use (see the prelude).
  'print', 'Buffer',
]);

const dir = mkdtempSync(join(tmpdir(), 'tanis-hermes-'));
let failed = false;

/**
 * Compiles `file` with the hermes-compiler's hermesc to bytecode; returns the problems (errors, and warnings
 * other than undeclared React Native globals).
 * @param {string} file
 * @param {Set<string>} allowed
 */
function compile(file, allowed) {
  const run = spawnSync(hermesc, ['-emit-binary', '-O', '-max-diagnostic-width=200', '-out', `${file}.hbc`, file], { encoding: 'utf8' });
  const problems = [];
  for (const line of `${run.stdout}\n${run.stderr}`.split('\n')) {
    if (!/: (error|warning): /.test(line)) continue;
    const global = /warning: the variable "([^"]+)" was not declared/.exec(line)?.[1];
    if (global && allowed.has(global)) continue;
    problems.push(line.replace(`${dir}/`, ''));
  }
  if (run.status !== 0 && !problems.length) problems.push(`hermesc exited with ${run.status}`);
  return problems;
}

/** @param {import('esbuild').BuildOptions} options */
async function bundle(options) {
  const result = await build({ bundle: true, format: 'iife', platform: 'neutral', target: 'esnext', write: false, logLevel: 'error', ...options });
  return result.outputFiles[0].text;
}

// 1. The package as an app ships it, compiled by React Native's compiler.
console.log(`hermes: hermes-compiler ${pkg('hermes-compiler')} (Hermes ${version(hermesc)}), hermes-engine-cli ${pkg('hermes-engine-cli')} (Hermes ${version(hermes)})`);
for (const [name, entry] of [['@tanis/client', 'src/index.js'], ['@tanis/client/testing', 'src/testing.js']]) {
  const file = join(dir, `${entry.replace(/\W/g, '_')}`);
  writeFileSync(file, await bundle({ entryPoints: [join(root, entry)], globalName: 'tanis' }));
  const problems = compile(file, RN_GLOBALS);
  if (problems.length) {
    failed = true;
    console.error(`hermes: ${name} does not compile cleanly:\n  ${problems.join('\n  ')}`);
  } else {
    console.log(`hermes: ${name} (${entry}) compiles to Hermes bytecode (${(readFileSync(`${file}.hbc`).length / 1024).toFixed(1)} KiB)`);
  }
}

// 2. The unit tests on the engine.
const shims = {
  'node:test': join(root, 'scripts/hermes/node-test.js'),
  'node:assert/strict': join(root, 'scripts/hermes/node-assert.js'),
  'node:assert': join(root, 'scripts/hermes/node-assert.js'),
  '@tanis/client': join(root, 'src/index.js'),
  '@tanis/client/testing': join(root, 'src/testing.js'),
};
const prelude = readFileSync(join(root, 'scripts/hermes/prelude.js'), 'utf8');
const babelOptions = {
  babelrc: false,
  configFile: false,
  sourceType: 'script',
  compact: false,
  plugins: ['@babel/plugin-transform-class-properties', '@babel/plugin-transform-classes', '@babel/plugin-transform-async-to-generator', '@babel/plugin-transform-block-scoping'].map((p) => join(root, 'node_modules', p)),
};

// `node scripts/hermes.mjs receive.test.js ...`: only those files.
const only = process.argv.slice(2).filter((a) => a.endsWith('.test.js'));
const files = readdirSync(join(root, 'test/unit')).filter((f) => f.endsWith('.test.js') && (!only.length || only.includes(f))).sort();
const ran = [];
const skipped = [];
for (const name of files) {
  /** @type {Set<string>} */
  const foreign = new Set();
  const code = await bundle({
    entryPoints: [join(root, 'test/unit', name)],
    banner: { js: prelude },
    plugins: [{
      name: 'node-shims',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, (args) => {
          if (shims[args.path]) return { path: shims[args.path] };
          foreign.add(args.path);
          return { path: args.path, external: true };
        });
        // Files outside src/ and test/unit/ (scripts/gen-types.mjs) are Node programs.
        b.onResolve({ filter: /^\.\.\/\.\.\/scripts\// }, (args) => {
          foreign.add(args.path);
          return { path: args.path, external: true };
        });
      },
    }],
  }).catch((e) => {
    foreign.add(`(esbuild: ${e.message.split('\n')[0]})`);
    return '';
  });
  if (foreign.size) {
    skipped.push(`${name} (imports ${[...foreign].join(', ')})`);
    continue;
  }
  const file = join(dir, name);
  writeFileSync(`${file}.esnext.js`, code);
  const problems = compile(`${file}.esnext.js`, RN_GLOBALS);
  if (problems.length) {
    failed = true;
    console.error(`hermes: the bundle of ${name} does not compile with hermes-compiler:\n  ${problems.join('\n  ')}`);
  }
  const lowered = await transformAsync(code, babelOptions);
  writeFileSync(file, lowered.code);
  const run = spawnSync(hermes, ['-Xmicrotask-queue', '-w', file], { encoding: 'utf8', timeout: 120_000 });
  const out = `${run.stdout}${run.stderr}`;
  const summary = /# hermes: pass (\d+) fail (\d+) skip (\d+)/.exec(out);
  if (run.status !== 0 || !summary || summary[2] !== '0') {
    failed = true;
    console.error(`hermes: ${name} FAILED on Hermes ${version(hermes)} (exit ${run.status ?? run.signal})\n${out.trim().split('\n').map((l) => `  ${l}`).join('\n')}`);
  } else {
    ran.push(`${name} ${summary[1]}`);
  }
}
console.log(`hermes: unit tests passed on Hermes ${version(hermes)}: ${ran.join(', ')}`);
if (skipped.length) console.log(`hermes: not run on Hermes (Node-only imports): ${skipped.join('; ')}`);
if (process.env.HERMES_KEEP) console.log(`hermes: bundles kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });
if (failed) process.exit(1);
