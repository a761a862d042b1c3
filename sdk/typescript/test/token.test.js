// Access tokens that expire mid-conversation (scripts/sdk-test runs this file against a server whose access
// tokens live 3 s: SDK_TEST_SHORT_TTL). The user notices nothing: the SDK refreshes ahead of expiry, and when the
// token has expired anyway (a frozen clock below, as a sleeping phone's) a reconnect's 4002 and a REST call's
// 401 `token_expired` are each answered with a refresh.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';

import { closeAll, connectedOnce, match, next, person, receives } from './harness.js';

const skip = !process.env.SDK_TEST_SHORT_TTL && 'SDK_TEST_SHORT_TTL is not set (the server must issue short-lived tokens)';
/** The server's access token lifetime in this run (scripts/sdk-test). */
const TTL_MS = Number(process.env.SDK_TEST_SHORT_TTL ?? 3) * 1000;

after(closeAll);

test('tokens are refreshed ahead of expiry during a conversation; reconnects and REST keep working', { skip }, async () => {
  const ayse = await person('sdktokens');
  const can = await person('sdkcan');
  const [a] = await match(ayse, can);
  const first = ayse.api.tokens.access_token;
  // Two refreshes ahead of expiry, each answered by the server (a rotated pair), while the chat goes on.
  await next(ayse, 'tokens');
  await next(ayse, 'tokens');
  assert.notEqual(ayse.api.tokens.access_token, first);
  const heard = receives(can, ['after two refreshes']);
  await ayse.send('after two refreshes');
  await heard;
  // The first token is long expired: a reconnect works with the current one, and so does REST.
  const back = connectedOnce(ayse);
  ayse.connection.socket.terminate();
  await back;
  assert.equal((await ayse.listContacts()).contacts.length, 0);
  assert.equal(ayse.current.id, a.id);
});

test('an expired token is refreshed after a 4002 close and a 401 token_expired', { skip }, async () => {
  // A clock stuck at sign-in and no refresh timer: the SDK never refreshes ahead, so the server sees the token expire.
  const frozen = Date.now();
  const ali = await person('sdkfrozen', { now: () => frozen, refreshAhead: false });
  const veli = await person('sdkveli');
  await match(ali, veli);
  const token = ali.api.tokens.access_token;
  // Waiting for the server's clock to pass the token's expiry: the thing under test, not a synchronisation.
  await delay(TTL_MS + 1_100);

  const closes = [];
  ali.on('closed', (detail) => closes.push(detail));
  const back = connectedOnce(ali);
  ali.connection.socket.terminate();
  await back;
  assert.deepEqual(closes.map((c) => c.code), [1006, 4002]);
  assert.notEqual(ali.api.tokens.access_token, token);

  await delay(TTL_MS + 1_100);
  const refreshed = next(ali, 'tokens');
  assert.deepEqual((await ali.listContacts()).contacts, []);
  await refreshed;
  const heard = receives(veli, ['nobody noticed']);
  await ali.send('nobody noticed');
  await heard;
});

test('a refused refresh token asks the app to sign in again', { skip }, async () => {
  const someone = await person('sdkreauth');
  const reauth = next(someone, 'reauthenticate');
  // Another client signs this session out (its refresh token is refused from now on).
  await fetch(`${someone.api.baseUrl}/v1/auth/logout`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ refresh_token: someone.api.tokens.refresh_token }),
  });
  await reauth;
  assert.equal(someone.api.signedIn, false);
  assert.equal(someone.state, 'closed');
});
