// The event map (src/events.d.ts) against the sources: every `emit(...)` in src/ names an event of its map, and
// every event of a map is emitted somewhere, so that the map, the only list of the events (and the type of
// `client.on`), cannot drift from what the SDK emits. Read with the TypeScript compiler's parser, not by regex.

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'node:test';

import ts from 'typescript';

const src = new URL('../../src/', import.meta.url).pathname;

/** Every .js file under src/ (the vendored crypto bundle aside), relative to src/. */
function sources(dir = '') {
  return readdirSync(src + dir, { withFileTypes: true }).flatMap((entry) => {
    const path = dir + entry.name;
    if (entry.isDirectory()) return entry.name === 'vendor' ? [] : sources(`${path}/`);
    return path.endsWith('.js') ? [path] : [];
  });
}

/** The property names of the interfaces of src/events.d.ts, by interface name. */
function maps() {
  const file = ts.createSourceFile('events.d.ts', readFileSync(`${src}events.d.ts`, 'utf8'), ts.ScriptTarget.Latest, true);
  /** @type {Map<string, Set<string>>} */
  const found = new Map();
  for (const statement of file.statements) {
    if (!ts.isInterfaceDeclaration(statement)) continue;
    found.set(statement.name.text, new Set(statement.members.map((m) => /** @type {any} */ (m.name).text)));
  }
  return found;
}

/**
 * Every `<receiver>.emit(<name>, ...)` of one source file: the map it belongs to (a Call's own emitter in calls.js
 * is `this.events`; everything else is the client's: `this.events`, `this.client.events`, `events`, a part's
 * `this.port.emit` or `this.emit`), and the name, or null when it is not a string literal (which this test cannot
 * check, so refuses).
 * @param {string} path relative to src/
 * @param {string} text
 */
function emitsIn(path, text) {
  const found = [];
  const file = ts.createSourceFile(path, text, ts.ScriptTarget.Latest, true);
  const visit = (/** @type {ts.Node} */ node) => {
    if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && node.expression.name.text === 'emit') {
      const receiver = node.expression.expression.getText(file);
      const map = path === 'calls.js' && receiver === 'this.events' ? 'CallEvents' : 'ClientEvents';
      const [first] = node.arguments;
      const name = first && ts.isStringLiteralLike(first) ? first.text : null;
      const { line } = file.getLineAndCharacterOfPosition(node.getStart(file));
      found.push({ map, name, where: `src/${path}:${line + 1}`, text: node.getText(file).slice(0, 80) });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return found;
}

/**
 * What is wrong between the maps and the emit calls: calls without a literal name, names emitted but not in their
 * map, names in a map emitted nowhere (`*` is emitted by the emitter itself, with every event).
 * @param {Map<string, Set<string>>} declared
 * @param {ReturnType<typeof emitsIn>} calls
 */
function drift(declared, calls) {
  const unnamed = calls.filter((c) => c.name === null).map((c) => `${c.where} ${c.text}`);
  const missing = calls.filter((c) => c.name !== null && !declared.get(c.map)?.has(c.name)).map((c) => `${c.map}: ${c.where} ${c.text}`);
  const unused = [];
  for (const [map, names] of declared) {
    for (const name of names) if (name !== '*' && !calls.some((c) => c.map === map && c.name === name)) unused.push(`${map}.${name}`);
  }
  return { unnamed, missing, unused };
}

test('every event the sources emit is in the event map, and every event in the map is emitted', () => {
  const declared = maps();
  assert.deepEqual([...declared.keys()].sort(), ['CallEvents', 'ClientEvents'], 'src/events.d.ts declares the two maps');
  const calls = sources().flatMap((path) => emitsIn(path, readFileSync(src + path, 'utf8')));
  assert.ok(calls.length > 30, `the scan finds the emit calls (${calls.length})`);
  // `*`, in both maps, is emitted by the emitter itself with every event.
  assert.match(readFileSync(`${src}emitter.js`, 'utf8'), /for \(const key of \[name, '\*'\]\)/);
  for (const names of declared.values()) assert.ok(names.has('*'));
  const { unnamed, missing, unused } = drift(declared, calls);
  assert.deepEqual(unnamed, [], 'every emit names its event with a string literal');
  assert.deepEqual(missing, [], 'emitted but not in the map (src/events.d.ts)');
  assert.deepEqual(unused, [], 'in the map but emitted nowhere');
  // The events the old JSDoc list of `on()` lacked (calls.js's `hangup`), and `frame`, are in.
  for (const name of ['hangup', 'frame', 'takenOver']) assert.ok(declared.get('ClientEvents')?.has(name), name);
});

test('the check catches a name missing from the map, a name the map has that nothing emits, and a computed name', () => {
  const declared = new Map([['ClientEvents', new Set(['*', 'sent', 'ended'])], ['CallEvents', new Set(['*', 'state'])]]);
  const calls = [
    ...emitsIn('conversation.js', "this.client.events.emit('sent', {}); events.emit('nonsense', {}); events.emit(name, {});"),
    // A Call's own `state` is the Call's; the client's `hangup` from calls.js is the client's.
    ...emitsIn('calls.js', "this.events.emit('state', {}); this.client.events.emit('hangup', {});"),
  ];
  const { unnamed, missing, unused } = drift(declared, calls);
  assert.deepEqual(unnamed, ['src/conversation.js:1 events.emit(name, {})']);
  assert.deepEqual(missing, ["ClientEvents: src/conversation.js:1 events.emit('nonsense', {})", "ClientEvents: src/calls.js:1 this.client.events.emit('hangup', {})"]);
  assert.deepEqual(unused, ['ClientEvents.ended']);
});
