// The token pair's rules that need no server: when a refresh is due, and one refresh across clients that share a
// storage (browser tabs) under the injected lock.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Api } from '../../src/api.js';
import { Emitter } from '../../src/emitter.js';
import { MemoryStorage, encode } from '../../src/storage.js';

const NOW = Date.parse('2026-01-01T00:00:00Z');

/** A JWT-shaped token (unsigned: only its claims are read). @param {number} iat @param {number} exp */
function jwt(iat, exp) {
  const part = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ iat: iat / 1000, exp: exp / 1000 })}.sig`;
}

function pair(n, { lifetime = 15 * 60_000 } = {}) {
  return {
    access_token: jwt(NOW, NOW + lifetime),
    access_token_expires_at: new Date(NOW + lifetime).toISOString(),
    refresh_token: `refresh-${n}`,
    refresh_token_expires_at: new Date(NOW + 30 * 86_400_000).toISOString(),
  };
}

/** An Api on `storage` whose `/v1/auth/refresh` hands out pair n+1 and counts the calls. */
function api(storage, server, lock) {
  const fetch = async (_url, init) => {
    const { refresh_token: used } = JSON.parse(init.body);
    server.calls.push(used);
    if (used !== server.valid) return new Response(JSON.stringify({ error: { code: 'token_reused', message: 'reused' } }), { status: 401 });
    server.valid = `refresh-${++server.n}`;
    return new Response(JSON.stringify(pair(server.n)));
  };
  return new Api({ baseUrl: 'http://x', fetch, storage, now: () => NOW, events: new Emitter(), prefix: 'tanis.', refreshAhead: false, lock });
}

test('a refresh is due before the earlier of the JWT exp and access_token_expires_at', async () => {
  const storage = new MemoryStorage();
  await storage.set('tanis.tokens', encode(pair(1)));
  const a = api(storage, { n: 1, valid: 'refresh-1', calls: [] });
  await a.load();
  assert.equal(a.refreshDue(), NOW + 15 * 60_000 - 60_000);
  a.tokens = { ...a.tokens, access_token_expires_at: new Date(NOW + 1_000).toISOString() };
  assert.equal(a.refreshDue(), NOW + 1_000 - 60_000);
});

test('two clients on one storage under one lock rotate the pair once; the second adopts it', async () => {
  const storage = new MemoryStorage();
  await storage.set('tanis.tokens', encode(pair(1)));
  const server = { n: 1, valid: 'refresh-1', calls: [] };
  let held = Promise.resolve();
  const names = [];
  const lock = (name, task) => {
    names.push(name);
    const run = held.then(task);
    held = run.catch(() => {});
    return run;
  };
  const tab1 = api(storage, server, lock);
  const tab2 = api(storage, server, lock);
  await tab1.load();
  await tab2.load();
  await Promise.all([tab1.refresh(), tab2.refresh()]);
  assert.deepEqual(server.calls, ['refresh-1'], 'one refresh request: the reused token was never sent');
  assert.equal(tab1.tokens?.refresh_token, 'refresh-2');
  assert.equal(tab2.tokens?.refresh_token, 'refresh-2');
  assert.deepEqual(names, ['tanis.refresh', 'tanis.refresh']);
});
