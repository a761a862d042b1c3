// What the SDK's integration tests share: the running `tanis serve` (scripts/sdk-test starts it and sets the
// environment), SDK clients on the `ws` package, and waits on SDK events with timeouts (never a fixed sleep).
//
//   SDK_TEST_URL              the server (default http://127.0.0.1:8080)
//   SDK_TEST_PEER             the Rust peer (client/examples/peer.rs), for interop.test.js
//   SDK_TEST_ADMIN_PHONE / SDK_TEST_ADMIN_PASSWORD   an admin, for the ban and the moderator's view
//   SDK_TEST_SHORT_TTL        set when the server's access tokens live a few seconds (token.test.js)
//   SDK_TEST_DATABASE_URL     the server's database; with SDK_TEST_POSTGRES_ADMIN_URL (a PostgreSQL superuser's
//                             URL) order.test.js takes a PostgreSQL database away and back

import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';

import { Client, MemoryStorage } from '../src/index.js';
import { CheckedWebSocket, assertFramesDescribed } from './frames.js';

export const baseUrl = (process.env.SDK_TEST_URL ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
export const PASSWORD = 'correct horse battery 42';
/** Longest wait for anything the server should do. */
export const WAIT_MS = 15_000;

const phones = new Set();
/** A valid Turkish mobile number no other test of this run uses. */
export function newPhone() {
  let phone;
  do phone = `+90533${String(randomInt(10_000_000)).padStart(7, '0')}`;
  while (phones.has(phone));
  phones.add(phone);
  return phone;
}

const clients = new Set();

/** A client on `storage` (a new one by default), not signed in. */
export function device({ storage = new MemoryStorage(), ...options } = {}) {
  // Every frame it sends and receives is checked against the AsyncAPI document (frames.js).
  const client = new Client({ baseUrl, WebSocket: CheckedWebSocket, storage, ...options });
  clients.add(client);
  return client;
}

/**
 * Stops every client made by `device` (their timers would keep the test process alive), then fails the file if
 * any of their frames was one the AsyncAPI document does not describe.
 */
export function closeAll() {
  const any = clients.size > 0;
  for (const c of clients) c.close();
  clients.clear();
  assertFramesDescribed({ atLeastOne: any });
}

/** Registers a new person on a new device and waits until the socket is connected. */
export async function person(alias, options = {}) {
  const client = device(options);
  const phone = newPhone();
  const connected = connectedOnce(client);
  await client.register({ phone, password: PASSWORD, alias, birthYear: 1995, acceptPrivacyNotice: true });
  const hello = await connected;
  return Object.assign(client, { phone, handle: hello.handle });
}

/** The next `hello` of this client (a connection that completed). */
export function connectedOnce(client, timeoutMs = WAIT_MS) {
  return client.events.once('hello', () => true, timeoutMs);
}

/** The next `name` event for which `wanted` holds. */
export function next(client, name, wanted = () => true, timeoutMs = WAIT_MS) {
  return client.events.once(name, wanted, timeoutMs);
}

/** `first` waits, `second` finds: both in one match; returns both conversations (first is the initiator). */
export async function match(first, second, options = {}) {
  const firstMatched = next(first, 'matched');
  const secondMatched = next(second, 'matched');
  await first.findMatch(options);
  await second.findMatch(options);
  const [a, b] = await Promise.all([firstMatched, secondMatched]);
  assert.equal(a.conversation.id, b.conversation.id);
  return [a.conversation, b.conversation];
}

/** Resolves once `client` has shown every text of `texts` (each a `message` event), with the messages. */
export function receives(client, texts, timeoutMs = WAIT_MS) {
  const wanted = new Set(texts);
  const seen = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`still waiting for ${[...wanted].join(', ')}; got ${seen.map((m) => m.text).join(', ')}`));
    }, timeoutMs);
    const off = client.on('message', ({ message }) => {
      seen.push(message);
      wanted.delete(message.text);
      if (wanted.size === 0) {
        clearTimeout(timer);
        off();
        resolve(seen);
      }
    });
  });
}

/** A REST call outside the SDK (the admin's side). */
export async function api(method, path, { body, token } = {}) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** Why a test that needs the admin cannot run, or false. */
export const needsAdmin = !process.env.SDK_TEST_ADMIN_PHONE && 'SDK_TEST_ADMIN_PHONE is not set';

/** An admin's access token, as a moderator's tools hold it. */
export async function adminToken() {
  const body = { phone: process.env.SDK_TEST_ADMIN_PHONE, password: process.env.SDK_TEST_ADMIN_PASSWORD };
  const login = await api('POST', '/v1/auth/login', { body });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  return login.body.tokens.access_token;
}

/** Premium (30 days) for the account of `handle`, granted through the admin API as support would. */
export async function grantPremium(handle) {
  const token = await adminToken();
  const found = await api('GET', `/v1/admin/users?handle=${encodeURIComponent(handle)}`, { token });
  assert.equal(found.status, 200, JSON.stringify(found.body));
  const path = `/v1/admin/users/${found.body.id}/subscription`;
  const granted = await api('PUT', path, { token, body: { plan: 'premium_support', days: 30 } });
  assert.equal(granted.status, 204, JSON.stringify(granted.body));
}

/** The `Conversation` of the current match, after it has drained its outbox. */
export async function drained(client, conversation, timeoutMs = WAIT_MS) {
  if (conversation.outbox.length === 0) return;
  await next(client, 'sent', () => conversation.outbox.length === 0, timeoutMs);
}
