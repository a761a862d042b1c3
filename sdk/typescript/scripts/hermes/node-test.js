// What the unit tests use of `node:test`, for scripts/hermes.mjs: test (async, in order), before/after,
// beforeEach/afterEach, the context's after() and its mock timers (enable({apis, now}), tick(ms), reset(), on the
// test kit's FakeClock). Each test prints a TAP line; the last line is the summary the runner reads.

import { FakeClock } from '../../src/testing.js';

const tests = [];
const hooks = { before: [], after: [], beforeEach: [], afterEach: [] };
let started = false;

/** @param {string} name @param {any} [options] @param {Function} [fn] */
export function test(name, options, fn) {
  if (typeof options === 'function') fn = options;
  tests.push({ name, fn, skip: Boolean(options?.skip) });
  if (!started) {
    started = true;
    // After the module registered every test: the bundle's top level runs synchronously.
    setTimeout(run, 0);
  }
}
export const it = test;
export const before = (fn) => hooks.before.push(fn);
export const after = (fn) => hooks.after.push(fn);
export const beforeEach = (fn) => hooks.beforeEach.push(fn);
export const afterEach = (fn) => hooks.afterEach.push(fn);
export default test;

/** node:test's `t.mock.timers` over a FakeClock, replacing only the globals `apis` names. */
function mockTimers() {
  let clock = null;
  let saved = null;
  return {
    enable({ apis = ['setInterval', 'setTimeout', 'setImmediate', 'Date'], now = Date.now() } = {}) {
      clock = new FakeClock(typeof now === 'number' ? now : now.getTime());
      saved = { setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate, now: Date.now };
      if (apis.includes('setTimeout')) Object.assign(globalThis, { setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout });
      if (apis.includes('setInterval')) Object.assign(globalThis, { setInterval: clock.setInterval, clearInterval: clock.clearInterval });
      if (apis.includes('setImmediate')) Object.assign(globalThis, { setImmediate: (fn, ...args) => clock.setTimeout(fn, 0, ...args), clearImmediate: clock.clearTimeout });
      if (apis.includes('Date')) Date.now = clock.now;
    },
    tick(ms = 1) {
      clock.tick(ms);
    },
    runAll() {
      clock.tick(2 ** 31);
    },
    reset() {
      if (!saved) return;
      const { now, ...timers } = saved;
      Object.assign(globalThis, timers);
      Date.now = now;
      saved = null;
      clock = null;
    },
  };
}

function describe(error) {
  return String(error?.stack ?? error).split('\n').slice(0, 12).join('\n# ');
}

async function run() {
  let pass = 0;
  let fail = 0;
  let skip = 0;
  const failed = [];
  try {
    for (const hook of hooks.before) await hook();
  } catch (error) {
    print(`not ok 0 - before hook\n# ${describe(error)}`);
    fail++;
  }
  for (const [i, t] of tests.entries()) {
    if (t.skip) {
      skip++;
      print(`ok ${i + 1} - ${t.name} # SKIP`);
      continue;
    }
    const cleanups = [];
    const timers = mockTimers();
    const context = { name: t.name, after: (fn) => cleanups.push(fn), mock: { timers }, diagnostic: (m) => print(`# ${m}`) };
    let error = null;
    try {
      for (const hook of hooks.beforeEach) await hook(context);
      await t.fn(context);
    } catch (e) {
      error = e;
    }
    for (const fn of [...cleanups, ...hooks.afterEach.map((h) => () => h(context))]) {
      try {
        await fn();
      } catch (e) {
        error ??= e;
      }
    }
    timers.reset();
    if (error) {
      fail++;
      failed.push(t.name);
      print(`not ok ${i + 1} - ${t.name}\n# ${describe(error)}`);
    } else {
      pass++;
      print(`ok ${i + 1} - ${t.name}`);
    }
  }
  for (const hook of hooks.after) {
    try {
      await hook();
    } catch (error) {
      fail++;
      print(`not ok - after hook\n# ${describe(error)}`);
    }
  }
  globalThis.__hermesLoop?.stop();
  print(`# hermes: pass ${pass} fail ${fail} skip ${skip}`);
}
