// A moderator bans a user mid-conversation (docs/admin.md, Banning): the socket closes with 4003, the SDK says
// `banned`, goes to `closed` and never reconnects; the peer's match ends.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { adminToken, api, closeAll, match, needsAdmin, next, person } from './harness.js';

after(closeAll);

async function ban(handle, reason) {
  const token = await adminToken();
  const found = await api('GET', `/v1/admin/users?handle=${encodeURIComponent(handle)}`, { token });
  assert.equal(found.status, 200, JSON.stringify(found.body));
  const banned = await api('POST', `/v1/admin/users/${found.body.id}/ban`, { token, body: { reason, note: 'sdk test' } });
  assert.equal(banned.status, 204, JSON.stringify(banned.body));
}

test('a ban closes the connection with 4003 and the SDK never reconnects', { skip: needsAdmin }, async () => {
  const victim = await person('sdkvictim');
  const offender = await person('sdkbanned');
  await match(victim, offender);
  const reconnecting = [];
  offender.on('reconnecting', (detail) => reconnecting.push(detail));
  const closed = next(offender, 'closed');
  const banned = next(offender, 'banned');
  const peerEnded = next(victim, 'ended');
  await ban(offender.handle, 'harassment');

  assert.deepEqual(await closed, { code: 4003, reason: 'banned', action: 'banned' });
  await banned;
  assert.equal(offender.state, 'closed');
  assert.equal((await peerEnded).reason, 'banned');
  // Never retried: no backoff scheduled, and connecting by hand is refused by REST login too.
  assert.deepEqual(reconnecting, []);
  await assert.rejects(offender.login(offender.phone, 'correct horse battery 42'), (e) => e.code === 'account_banned' && e.status === 403);
  assert.equal(offender.state, 'closed');
});
