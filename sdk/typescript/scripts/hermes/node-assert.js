// What the unit tests use of `node:assert/strict`, for scripts/hermes.mjs: equal, notEqual, deepEqual (strict:
// same types, prototypes of arrays, Maps, Sets, typed arrays, Dates; NaN equals NaN), notDeepEqual, ok, match,
// doesNotMatch, throws, rejects, fail.

export class AssertionError extends Error {
  constructor(message) {
    super(message);
    this.name = 'AssertionError';
  }
}

const show = (v) => {
  try {
    return typeof v === 'bigint' ? `${v}n` : JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
  } catch {
    return String(v);
  }
};

function check(condition, message, fallback) {
  if (!condition) throw message instanceof Error ? message : new AssertionError(message ?? fallback());
}

export function isDeepStrictEqual(a, b) {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date) return a.getTime() === b.getTime();
  if (a instanceof RegExp) return String(a) === String(b);
  if (ArrayBuffer.isView(a)) return a.length === b.length && a.every((x, i) => Object.is(x, b[i]));
  if (a instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !isDeepStrictEqual(v, b.get(k))) return false;
    return true;
  }
  if (a instanceof Set) {
    if (a.size !== b.size) return false;
    for (const v of a) if (!b.has(v)) return false;
    return true;
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && isDeepStrictEqual(a[k], b[k]));
}

/** Whether `error` is what `expected` (a class, a RegExp, a validator, an object of properties) describes. */
function matches(error, expected) {
  if (expected === undefined) return true;
  if (expected instanceof RegExp) return expected.test(String(error?.message ?? error));
  if (typeof expected === 'function') {
    if (expected.prototype !== undefined && error instanceof expected) return true;
    if (Error.isPrototypeOf(expected) || expected === Error) return false;
    return expected(error) === true;
  }
  return Object.keys(expected).every((k) => (expected[k] instanceof RegExp && typeof error?.[k] === 'string' ? expected[k].test(error[k]) : isDeepStrictEqual(error?.[k], expected[k])));
}

const assert = (value, message) => ok(value, message);
export function ok(value, message) {
  check(value, message, () => `expected a truthy value, got ${show(value)}`);
}
export function equal(a, b, message) {
  check(Object.is(a, b), message, () => `${show(a)} !== ${show(b)}`);
}
export function notEqual(a, b, message) {
  check(!Object.is(a, b), message, () => `both are ${show(a)}`);
}
export function deepEqual(a, b, message) {
  check(isDeepStrictEqual(a, b), message, () => `not deep-equal:\n  actual   ${show(a)}\n  expected ${show(b)}`);
}
export function notDeepEqual(a, b, message) {
  check(!isDeepStrictEqual(a, b), message, () => `deep-equal: ${show(a)}`);
}
export function match(text, re, message) {
  check(typeof text === 'string' && re.test(text), message, () => `${show(text)} does not match ${re}`);
}
export function doesNotMatch(text, re, message) {
  check(typeof text === 'string' && !re.test(text), message, () => `${show(text)} matches ${re}`);
}
export function fail(message = 'failed') {
  throw new AssertionError(message);
}
export function throws(fn, expected, message) {
  let threw = false;
  let error;
  try {
    fn();
  } catch (e) {
    threw = true;
    error = e;
  }
  check(threw, typeof expected === 'string' ? expected : message, () => 'expected a throw');
  check(typeof expected === 'string' || matches(error, expected), message, () => `the error ${show(error?.message ?? error)} is not the one expected`);
}
export async function rejects(promise, expected, message) {
  let threw = false;
  let error;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (e) {
    threw = true;
    error = e;
  }
  check(threw, message, () => 'expected a rejection');
  check(matches(error, expected), message, () => `the rejection ${show(error?.message ?? error)} is not the one expected`);
}

Object.assign(assert, { ok, equal, notEqual, deepEqual, notDeepEqual, strictEqual: equal, notStrictEqual: notEqual, deepStrictEqual: deepEqual, notDeepStrictEqual: notDeepEqual, match, doesNotMatch, fail, throws, rejects, AssertionError });
assert.strict = assert;
export { equal as strictEqual, notEqual as notStrictEqual, deepEqual as deepStrictEqual, notDeepEqual as notDeepStrictEqual };
export default assert;
