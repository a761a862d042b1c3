// A conversation's private keys are secrets: they live in the client's `secrets` store, never in `storage`, survive
// a restart (a new Client on the same stores), and a record an older version wrote with the key inside is moved.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { establish, generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { frank } from '../../src/crypto/franking.js';
import { Client, MemoryStorage } from '../../src/index.js';
import { ScriptedServer, settle } from '@tanis/client/testing';

const clients = [];
after(() => clients.forEach((c) => c.close()));

const peer = generateIdentity();
const match = { match_id: 7, kind: 'text', peer: 'peer#0001', peer_public_key: toBase64(peer.publicKey), initiator: true, expires_at: '2099-01-01T00:00:00Z' };
const stored = (identity) => ({ privateKey: toBase64(identity.privateKey), publicKey: toBase64(identity.publicKey) });

/** A client on `storage` and `secrets`, signed in, past a `hello` naming match 7 and its `resume.done`. */
async function started(storage, secrets) {
  const server = new ScriptedServer({ autoReply: false, protocol: 1 });
  await server.signIn(secrets);
  const client = new Client({ ...server.clientOptions(), storage, secrets });
  clients.push(client);
  await client.start();
  const socket = await server.socket();
  const hello = client.events.once('hello');
  socket.hello({ active_match: match });
  await hello;
  await settle();
  const resume = await socket.next('resume');
  socket.deliver({ type: 'resume.done', id: resume.id, match_id: 7, last_seq: 0 });
  return { client, socket };
}

/** Every stored value of `store` as one string: what a backup of it would hold. */
const dump = (store) => [...store.map.values()].join('\n');

test("a conversation's private key is kept in the secrets only, and opens messages after a restart", async () => {
  const [storage, secrets] = [new MemoryStorage(), new MemoryStorage()];
  const mine = generateIdentity();
  await secrets.set('tanis.find', JSON.stringify({ id: 'f1', frame: {}, identity: stored(mine) }));
  const first = await started(storage, secrets);
  await first.client.send('bir');
  await first.client.conversation(7).saving;
  const privateKey = toBase64(mine.privateKey);
  assert.ok(!dump(storage).includes(privateKey), 'no private key in storage');
  assert.ok(dump(secrets).includes(privateKey), 'the private key is in the secrets');
  assert.ok(dump(storage).includes(toBase64(mine.publicKey)), 'the record keeps the public half');
  first.client.close();

  // Restarted on the same stores: the key comes back from the secrets, and a message from the peer opens.
  const second = await started(storage, secrets);
  const c = second.client.conversation(7);
  assert.ok(c.session, 'keyed again');
  const session = establish(peer, toBase64(mine.publicKey), 7, false);
  const franked = frank('iki');
  const heard = second.client.events.once('message');
  second.socket.deliver({ type: 'msg', match_id: 7, seq: 1, ...session.seal(franked.payload), commitment: franked.commitment, sent_at: new Date().toISOString(), mine: false });
  assert.equal((await heard).message.text, 'iki');
});

test('a record an older version wrote with the private key inside is moved: the key to the secrets', async () => {
  const [storage, secrets] = [new MemoryStorage(), new MemoryStorage()];
  const mine = generateIdentity();
  const old = { ...match, identity: stored(mine), sent: { $bigint: '0' }, received: { $bigint: '0' }, highest_seq: 0, pending: [], unacked: [], messages: [], ended: null, contact: null, retired_peer_keys: [], previous: null };
  await storage.set('tanis.conversations', JSON.stringify([7]));
  await storage.set('tanis.conversation.7', JSON.stringify(old));
  const { client } = await started(storage, secrets);
  await client.conversation(7).saving;
  assert.ok(client.conversation(7).session, 'keyed from the old record');
  assert.ok(!dump(storage).includes(toBase64(mine.privateKey)), 'no private key left in storage');
  assert.ok(dump(secrets).includes(toBase64(mine.privateKey)));
});
