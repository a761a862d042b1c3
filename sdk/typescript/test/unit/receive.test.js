// Receiving, against a scripted server and a peer whose keys the test holds: messages are processed in seq order
// whatever order they arrive in, each exactly once, acknowledged; one whose franking commitment does not open, or
// that does not decrypt, is never surfaced as text.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { establish, generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { commit, frank } from '../../src/crypto/franking.js';
import { matched } from './scripted.js';

const clients = [];
after(() => clients.forEach((c) => c.close()));

/** The `msg` frame the server relays for a message the peer sealed. */
function msg(session, seq, text, { commitment } = {}) {
  const franked = frank(text);
  return { type: 'msg', match_id: 7, seq, ...session.seal(franked.payload), commitment: commitment ?? franked.commitment, sent_at: new Date().toISOString(), mine: false };
}

test('messages arriving out of order and twice are processed in seq order, once each, and acknowledged', async () => {
  const { client, socket, session } = await matched(clients);
  const shown = [];
  client.on('message', ({ message }) => shown.push([message.seq, message.text]));
  const [one, two, three] = [msg(session, 1, 'bir'), msg(session, 2, 'iki'), msg(session, 3, 'üç')];
  socket.deliver(three);
  socket.deliver(one);
  socket.deliver(one);
  assert.deepEqual(shown, [[1, 'bir']], 'seq 3 waits for seq 2');
  socket.deliver(two);
  socket.deliver(three);
  assert.deepEqual(shown, [[1, 'bir'], [2, 'iki'], [3, 'üç']]);
  assert.deepEqual(socket.sent.filter((f) => f.type === 'msg.ack').map((f) => f.seq), [1, 2, 3]);
});

test('a message whose commitment does not open, or that does not decrypt, is never shown as text', async () => {
  const { client, socket, session } = await matched(clients);
  const shown = [];
  const refused = [];
  client.on('message', ({ message }) => shown.push(message.text));
  client.on('undecryptable', (detail) => refused.push(detail));
  // A lying sender: sealed properly, but committed to another text (what a report would then "reveal").
  const other = commit(new Uint8Array(32).fill(1), 'something else');
  socket.deliver(msg(session, 1, 'what you see', { commitment: other }));
  // No commitment at all (a message stored before franking).
  const bare = msg(session, 2, 'unfranked');
  delete bare.commitment;
  socket.deliver(bare);
  // Garbage ciphertext.
  socket.deliver({ ...msg(session, 3, 'x'), ciphertext: toBase64(new Uint8Array(40)) });
  socket.deliver(msg(session, 4, 'honest'));
  assert.deepEqual(shown, ['honest']);
  assert.deepEqual(refused.map((r) => [r.seq, r.reason]), [[1, 'unverified'], [2, 'unverified'], [3, 'undecryptable']]);
  const held = client.conversation(7).messages;
  assert.ok(held.filter((m) => m.seq !== 4).every((m) => m.text === null && !m.franking_key), 'nothing of them is kept as text or revealable');
  assert.deepEqual(client.revealable(7).map((m) => m.seq), [4]);
});

test('a contact\'s new key: the old session opens until a message opens under the new one; the key in use again changes nothing; a key the contact had before is refused', async () => {
  const { client, socket, session, mine } = await matched(clients);
  const shown = [];
  const undecryptable = [];
  const changes = [];
  const refused = [];
  client.on('message', ({ message }) => shown.push(message.text));
  client.on('undecryptable', ({ seq }) => undecryptable.push(seq));
  client.on('safetyNumberChanged', ({ by }) => changes.push(by));
  client.on('keyRefused', ({ reason }) => refused.push(reason));
  const oldKey = client.conversation(7).record.peer_public_key;
  const renewed = generateIdentity();
  const newKey = toBase64(renewed.publicKey);
  socket.deliver({ type: 'contact.key', match_id: 7, peer_public_key: newKey });
  assert.deepEqual(changes, ['theirs']);
  const fresh = establish(renewed, toBase64(mine.publicKey), 7, false);

  // Sealed before the peer's change reached it: opens under the previous session.
  socket.deliver(msg(session, 1, 'eski anahtarla'));
  socket.deliver(msg(fresh, 2, 'yeni anahtarla'));
  // Once a message opened under the new key, nothing sealed under the old one can follow.
  socket.deliver(msg(session, 3, 'eskiyle yine'));
  assert.deepEqual(shown, ['eski anahtarla', 'yeni anahtarla']);
  assert.deepEqual(undecryptable, [3]);

  // The server announcing the key in use again changes nothing; announcing the old one back is refused, so an
  // old session cannot come back with fresh counters.
  socket.deliver({ type: 'contact.key', match_id: 7, peer_public_key: newKey });
  socket.deliver({ type: 'contact.key', match_id: 7, peer_public_key: oldKey });
  assert.deepEqual(changes, ['theirs']);
  assert.deepEqual(refused, ['replayed']);
  assert.equal(client.conversation(7).record.peer_public_key, newKey);
  socket.deliver(msg(fresh, 4, 'hâlâ yeni'));
  assert.deepEqual(shown, ['eski anahtarla', 'yeni anahtarla', 'hâlâ yeni']);
});
