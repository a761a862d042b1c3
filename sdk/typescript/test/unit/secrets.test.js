// Secrets in their own store: with `secrets` given, the token pair (login, rotation) and the waiting find's key
// pair are written there and never to `storage`; what an older version kept in `storage` is moved on start (read
// once, written to `secrets`, deleted from `storage`); without `secrets`, both live in `storage` as before.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Client, MemoryStorage } from '../../src/index.js';
import { generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { encode } from '../../src/storage.js';

const flush = () => new Promise((resolve) => setImmediate(resolve));
const hello = { type: 'hello', protocol: 2, handle: 'me#0001', balances: {}, premium: false, limits: {}, server_time: '2026-01-01T00:00:00Z', active_match: null };

/** A WebSocket whose server is the test: it answers `match.find` and `match.cancel`. */
class FakeSocket {
  static last = null;
  constructor(url, protocols) {
    Object.assign(this, { url, protocols, sent: [] });
    FakeSocket.last = this;
  }
  send(text) {
    const frame = JSON.parse(text);
    this.sent.push(frame);
    if (frame.type === 'match.find') queueMicrotask(() => this.deliver({ type: 'match.queued', id: frame.id, kind: frame.kind }));
    if (frame.type === 'match.cancel') queueMicrotask(() => this.deliver({ type: 'ok', id: frame.id }));
  }
  close() {}
  deliver(frame) {
    this.onmessage({ data: JSON.stringify(frame) });
  }
}

/** A MemoryStorage that remembers every key ever written to it. */
class Recording extends MemoryStorage {
  constructor() {
    super();
    /** @type {Set<string>} */
    this.written = new Set();
  }
  /** @param {string} key @param {string} value */
  async set(key, value) {
    this.written.add(key);
    return super.set(key, value);
  }
}

const jwt = (claims) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
let issued = 0;
function pair() {
  const now = Math.floor(Date.now() / 1000);
  issued++;
  return {
    access_token: jwt({ iat: now, exp: now + 900, n: issued }),
    access_token_expires_at: new Date((now + 900) * 1000).toISOString(),
    refresh_token: `refresh-${issued}`,
    refresh_token_expires_at: new Date((now + 86_400) * 1000).toISOString(),
  };
}

const json = (body, status = 200) => new Response(JSON.stringify(body), { status });
async function fetch(url) {
  const path = new URL(url).pathname;
  if (path === '/v1/auth/login') return json({ user: { handle: 'me#0001' }, tokens: pair() });
  if (path === '/v1/auth/refresh') return json(pair());
  if (path === '/v1/auth/logout') return new Response(null, { status: 204 });
  return json({ contacts: [] });
}

/** Every value a store holds, joined: to look for a secret's text in it. */
const everything = (store) => [...store.map.entries()].map(([k, v]) => `${k}=${v}`).join('\n');

test('with `secrets`, the token pair and the find key pair go there, never to `storage`', async (t) => {
  const storage = new Recording();
  const secrets = new Recording();
  const client = new Client({ baseUrl: 'https://tanis.test', WebSocket: FakeSocket, storage, secrets, fetch });
  t.after(() => client.close());
  assert.equal(client.secrets, secrets);

  await client.login('+905321234567', 'pw');
  await flush();
  FakeSocket.last.deliver(hello);
  await flush();
  const first = client.api.tokens;
  assert.ok(first);
  assert.ok(await secrets.get('tanis.tokens'));

  // A rotation writes the new pair to the secrets too.
  await client.api.refresh();
  assert.notEqual(client.api.tokens?.refresh_token, first.refresh_token);
  assert.equal(JSON.parse(/** @type {string} */ (await secrets.get('tanis.tokens'))).refresh_token, client.api.tokens?.refresh_token);

  // The find's key pair, stored before `match.find` leaves.
  await client.findMatch();
  const find = JSON.parse(/** @type {string} */ (await secrets.get('tanis.find')));
  assert.equal(find.frame.public_key, find.identity.publicKey);
  assert.ok(find.identity.privateKey);

  assert.ok(!storage.written.has('tanis.tokens'), 'the token pair was never written to storage');
  assert.ok(!storage.written.has('tanis.find'), 'the find was never written to storage');
  const plain = everything(storage);
  for (const secret of [first.refresh_token, first.access_token, client.api.tokens?.refresh_token, find.identity.privateKey]) {
    assert.ok(!plain.includes(/** @type {string} */ (secret)), 'no secret in storage');
  }

  // Cancelled: the key pair is gone from the secrets. Signed out: so is the token pair.
  await client.cancelFind();
  assert.equal(await secrets.get('tanis.find'), null);
  await client.logout();
  assert.equal(await secrets.get('tanis.tokens'), null);
});

test("an older version's secrets in `storage` are moved to `secrets` on start", async (t) => {
  const storage = new MemoryStorage();
  const secrets = new MemoryStorage();
  // As a client before `secrets` existed left them: everything in the one storage.
  const tokens = pair();
  const mine = generateIdentity();
  const find = { id: 'f1', frame: { type: 'match.find', id: 'f1', kind: 'text', public_key: toBase64(mine.publicKey) }, identity: { privateKey: toBase64(mine.privateKey), publicKey: toBase64(mine.publicKey) } };
  await storage.set('tanis.tokens', encode(tokens));
  await storage.set('tanis.find', encode(find));
  await storage.set('tanis.conversations', encode([]));

  const client = new Client({ baseUrl: 'https://tanis.test', WebSocket: FakeSocket, storage, secrets, fetch });
  t.after(() => client.close());
  assert.equal(await client.start(), true, 'signed in with the moved pair');
  assert.equal(client.api.tokens?.refresh_token, tokens.refresh_token);
  assert.deepEqual(client.finding, find);

  assert.deepEqual(JSON.parse(/** @type {string} */ (await secrets.get('tanis.tokens'))), tokens);
  assert.deepEqual(JSON.parse(/** @type {string} */ (await secrets.get('tanis.find'))), find);
  assert.equal(await storage.get('tanis.tokens'), null, 'deleted from storage');
  assert.equal(await storage.get('tanis.find'), null, 'deleted from storage');
  assert.equal(await storage.get('tanis.conversations'), '[]', 'the rest stays');

  // A second start reads them from the secrets (moved once).
  client.close();
  const again = new Client({ baseUrl: 'https://tanis.test', WebSocket: FakeSocket, storage, secrets, fetch });
  t.after(() => again.close());
  assert.equal(await again.start(), true);
  assert.deepEqual(again.finding, find);
});

test('a stale pair an older version left in `storage` beside a newer one in `secrets` is deleted, not used', async (t) => {
  const storage = new MemoryStorage();
  const secrets = new MemoryStorage();
  const stale = pair();
  const current = pair();
  await storage.set('tanis.tokens', encode(stale));
  await secrets.set('tanis.tokens', encode(current));
  const client = new Client({ baseUrl: 'https://tanis.test', WebSocket: FakeSocket, storage, secrets, fetch });
  t.after(() => client.close());
  await client.start();
  assert.equal(client.api.tokens?.refresh_token, current.refresh_token);
  assert.equal(await storage.get('tanis.tokens'), null);
});

test('without `secrets`, the secrets live in `storage` (the less safe fallback)', async (t) => {
  const storage = new MemoryStorage();
  const client = new Client({ baseUrl: 'https://tanis.test', WebSocket: FakeSocket, storage, fetch });
  t.after(() => client.close());
  assert.equal(client.secrets, storage);
  await client.login('+905321234567', 'pw');
  assert.ok(await storage.get('tanis.tokens'));
});
