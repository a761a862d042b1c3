// The end of a match, as docs/protocol.md section 5 promises it (issue 75): every message stored before the end
// reaches a socket before its `match.ended`; exactly one `match.ended` per match and socket; after it nothing live
// of the match (no `msg`, receipt, `typing`, `rtc.*`), except what the client asked for (a `resume` answers for an
// ended match too) and a match that became a contact (`contact.added` instead of `match.ended`, and it goes on);
// and a stranger who left before we were told gives `match.found` then at once its `match.ended`, or the
// `match.ended` just before. When the node cannot read the store for those messages, a `resync` follows the end
// instead. The SDK relies on exactly that: a live frame after the end is dropped (no event), a gap below the last
// seen is still filled, a reconnect or a `resync` still collects what was missed.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { establish, generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { frank } from '../../src/crypto/franking.js';
import { Client, MemoryStorage } from '../../src/index.js';
import { FakeClock, ScriptedServer, settle, until } from '@tanis/client/testing';
import { helloed, matched } from './scripted.js';

const clients = [];
after(() => clients.forEach((c) => c.close()));

/** The `msg` frame the server relays for a message the peer sealed in match `matchId`. */
function msg(session, seq, text, matchId = 7) {
  const franked = frank(text);
  return { type: 'msg', match_id: matchId, seq, ...session.seal(franked.payload), commitment: franked.commitment, sent_at: new Date().toISOString(), mine: false };
}

/** Every event of `names` the client emits, as `[name, detail]`, in order. */
function recorded(client, names) {
  const seen = [];
  for (const name of names) client.on(name, (detail) => seen.push([name, detail]));
  return seen;
}

const LIVE = ['message', 'undecryptable', 'delivered', 'typing', 'rtc', 'contactProposed'];
const resumes = (socket) => socket.sent.filter((f) => f.type === 'resume');

test('after match.ended a live msg, receipt, typing, rtc frame or proposal of the match is dropped: no event, no ack, no resume', async (t) => {
  const { client, socket, session } = await matched(clients);
  const clock = new FakeClock().install();
  t.after(() => clock.uninstall());
  await client.send('selam');
  const send = await socket.next('msg.send');
  socket.deliver({ type: 'msg.accepted', id: send.id, match_id: 7, client_msg_id: send.client_msg_id, seq: 1 });
  socket.deliver(msg(session, 2, 'bir'));
  const seen = recorded(client, [...LIVE, 'ended']);
  const asked = resumes(socket).length;

  socket.deliver({ type: 'match.ended', match_id: 7, reason: 'peer_left' });
  socket.deliver(msg(session, 3, 'too late'));
  socket.deliver({ type: 'msg.delivered', match_id: 7, seq: 1 });
  socket.deliver({ type: 'typing', match_id: 7 });
  socket.deliver({ type: 'rtc.offer', match_id: 7, sdp: 'v=0' });
  socket.deliver({ type: 'contact.proposed', match_id: 7 });
  await clock.tickAsync(10_000);

  assert.deepEqual(seen.map(([name]) => name), ['ended']);
  const c = client.conversation(7);
  assert.deepEqual(c.messages.map((m) => [m.seq, m.status]), [[1, 'sent'], [2, 'received']]);
  assert.equal(c.record.highest_seq, 2);
  assert.equal(socket.sent.some((f) => f.type === 'msg.ack' && f.seq === 3), false, 'never acknowledged');
  assert.equal(resumes(socket).length, asked, 'no gap below the last seen: nothing to fill');
});

test('a gap below the last seen is filled by resume after the end, and the resume of an ended match yields its messages', async (t) => {
  const { client, socket, session } = await matched(clients);
  const clock = new FakeClock().install();
  t.after(() => clock.uninstall());
  const shown = [];
  client.on('message', ({ message }) => shown.push(message.text));
  const [one, two, three] = [msg(session, 1, 'bir'), msg(session, 2, 'iki'), msg(session, 3, 'üç')];
  socket.deliver(one);
  socket.deliver(three);
  socket.deliver({ type: 'match.ended', match_id: 7, reason: 'peer_left' });
  assert.deepEqual(shown, ['bir'], 'seq 3 waits for seq 2');

  const asked = resumes(socket).length;
  await clock.tickAsync(2_000);
  const resume = resumes(socket)[asked];
  assert.ok(resume, 'the gap is filled with resume');
  assert.equal(resume.after_seq, 1);
  socket.deliver(two);
  socket.deliver(three);
  socket.deliver({ type: 'resume.done', id: resume.id, match_id: 7, last_seq: 3 });
  assert.deepEqual(shown, ['bir', 'iki', 'üç']);

  await clock.tickAsync(10_000);
  assert.equal(resumes(socket).length, asked + 1, 'once: nothing more to wait for');
});

test('after a reconnect an ended match is collected once with resume: what was stored before the end and missed comes', async () => {
  const { client, socket, session, server } = await matched(clients);
  const shown = [];
  client.on('message', ({ message }) => shown.push(message.text));
  socket.deliver(msg(session, 1, 'bir'));
  socket.deliver({ type: 'match.ended', match_id: 7, reason: 'peer_left' });
  const lost = msg(session, 2, 'lost on the way');

  client.pause();
  client.resume();
  const again = await server.socket();
  again.hello({ active_match: null });
  const resume = await again.next('resume', (f) => f.match_id === 7);
  assert.equal(resume.after_seq, 1);
  again.deliver(lost);
  again.deliver({ type: 'resume.done', id: resume.id, match_id: 7, last_seq: 2 });
  await until(() => shown.length === 2);
  assert.deepEqual(shown, ['bir', 'lost on the way']);
});

test('a resync after match.ended collects the ended match once with resume: the node could not read what was stored before the end', async () => {
  const { client, socket, session } = await matched(clients);
  const shown = [];
  client.on('message', ({ message }) => shown.push(message.text));
  socket.deliver(msg(session, 1, 'bir'));
  socket.deliver({ type: 'match.ended', match_id: 7, reason: 'peer_left' });
  const asked = resumes(socket).length;
  socket.deliver({ type: 'resync', active_match: null });
  await until(() => resumes(socket).length > asked);
  const resume = resumes(socket)[asked];
  assert.deepEqual([resume.match_id, resume.after_seq], [7, 1]);
  socket.deliver(msg(session, 2, 'iki'));
  socket.deliver({ type: 'resume.done', id: resume.id, match_id: 7, last_seq: 2 });
  assert.deepEqual(shown, ['bir', 'iki']);
  socket.deliver({ type: 'resync', active_match: null });
  await settle();
  assert.equal(resumes(socket).length, asked + 1, 'collected once');
});

test('a contact conversation goes on after contact.added: no end, and its messages, receipts and typing keep coming', async () => {
  const { client, socket, session } = await matched(clients);
  const seen = recorded(client, [...LIVE, 'ended', 'contactAdded']);
  const c = client.conversation(7);
  socket.deliver({ type: 'contact.added', contact: { match_id: 7, peer: 'peer#0001', peer_public_key: c.record.peer_public_key, initiator: true, since: new Date().toISOString() } });
  await until(() => c.isContact);
  await client.send('hâlâ burada', 7);
  const send = await socket.next('msg.send');
  socket.deliver({ type: 'msg.accepted', id: send.id, match_id: 7, client_msg_id: send.client_msg_id, seq: 1 });
  socket.deliver(msg(session, 2, 'ben de'));
  socket.deliver({ type: 'msg.delivered', match_id: 7, seq: 1 });
  socket.deliver({ type: 'typing', match_id: 7 });
  assert.deepEqual(seen.map(([name]) => name), ['contactAdded', 'message', 'delivered', 'typing']);
  assert.equal(c.ended, null);
});

test('exactly one ended per match and socket: a second match.ended on the same socket is ignored', async () => {
  const { client, socket } = await matched(clients);
  const seen = recorded(client, ['ended']);
  socket.deliver({ type: 'match.ended', match_id: 7, reason: 'left' });
  socket.deliver({ type: 'match.ended', match_id: 7, reason: 'peer_left' });
  assert.deepEqual(seen.map(([, d]) => d.reason), ['left']);
  assert.equal(client.conversation(7).ended, 'left', 'the first end decides');
});

/** A client waiting for a match (its find's key pair `mine`), past `hello`, and the stranger's key. */
async function waiting() {
  const { client, socket, mine } = await helloed(clients);
  const peer = generateIdentity();
  const found = { type: 'match.found', match_id: 9, kind: 'text', peer: 'peer#0001', peer_public_key: toBase64(peer.publicKey), initiator: false, expires_at: '2099-01-01T00:00:00Z', balances: {} };
  const session = establish(peer, toBase64(mine.publicKey), 9, true);
  return { client, socket, found, session };
}

test('the stranger left before we were told: match.found then at once match.ended give matched, then ended, and no match goes on', async () => {
  const { client, socket, found, session } = await waiting();
  const seen = recorded(client, ['matched', 'message', 'ended']);
  // In one tick, before the conversation is made: a message stored before the end comes before it.
  socket.deliver(found);
  socket.deliver(msg(session, 1, 'bye', 9));
  socket.deliver({ type: 'match.ended', match_id: 9, reason: 'peer_left' });
  await until(() => seen.length === 3);
  await settle();
  assert.deepEqual(seen.map(([name]) => name), ['matched', 'message', 'ended']);
  assert.equal(client.current, null);
  assert.equal(client.conversation(9).ended, 'peer_left');
});

test('a match.ended just before its match.found: matched, then ended', async () => {
  const { client, socket, found } = await waiting();
  const seen = recorded(client, ['matched', 'ended']);
  socket.deliver({ type: 'match.ended', match_id: 9, reason: 'peer_left' });
  assert.deepEqual(seen, [], 'a match not known yet: said once it is');
  socket.deliver(found);
  await until(() => seen.length === 2);
  await settle();
  assert.deepEqual(seen.map(([name]) => name), ['matched', 'ended']);
  assert.equal(client.current, null);
  assert.equal(client.conversation(9).ended, 'peer_left');
});

test('another device\'s match: matchedElsewhere, then its ended', async () => {
  const { client, socket, found } = await waiting();
  await client.clearFind();
  const seen = recorded(client, ['matchedElsewhere', 'ended']);
  socket.deliver(found);
  await until(() => seen.length === 1);
  socket.deliver({ type: 'match.ended', match_id: 9, reason: 'peer_left' });
  assert.deepEqual(seen.map(([name, d]) => [name, d.matchId]), [['matchedElsewhere', 9], ['ended', 9]]);
});

// --- the test kit plays the server's order ------------------------------------------------------------------

/** A client of the kit's server answering as tanis does, matched with a scripted peer. */
async function kitMatched() {
  const server = new ScriptedServer();
  const client = new Client({ ...server.clientOptions(), storage: new MemoryStorage() });
  clients.push(client);
  await client.login('+905321234567', 'pw');
  await until(() => client.state === 'connected');
  const peer = server.peer();
  const finding = client.findMatch();
  const matchId = await peer.match();
  await finding;
  await until(() => client.current);
  return { server, client, peer, matchId };
}

test('the test kit: a leave is answered match.ended then ok, and nothing of the match follows its match.ended', async () => {
  const { server, client, peer, matchId } = await kitMatched();
  const frames = [];
  client.on('frame', (f) => frames.push(f.type));
  peer.send('son söz');
  await client.leave(matchId);
  assert.deepEqual(frames, ['msg', 'match.ended', 'ok']);
  assert.throws(() => peer.send('too late'), /over/);
  server.endMatch(matchId);
  await settle();
  assert.deepEqual(frames, ['msg', 'match.ended', 'ok'], 'exactly one match.ended');
  await assert.rejects(client.leave(matchId), { code: 'not_in_match' });
});

test('the test kit: a message sent once the match has ended is refused, never stored; resume still gives what was', async () => {
  const { server, client, peer, matchId } = await kitMatched();
  peer.send('bir');
  let held = null;
  server.handle('msg.send', (frame, socket) => (held = { frame, socket }));
  const failed = client.events.once('failed');
  await client.send('after the end');
  await until(() => held);
  server.endMatch(matchId);
  server.handlers.delete('msg.send');
  server.answer(held.frame, held.socket);
  assert.equal((await failed).error.code, 'not_in_match');
  assert.deepEqual(server.match(matchId).log.map((m) => m.seq), [1]);
  const answers = [];
  client.on('frame', (f) => answers.push(f.type));
  server.answer({ type: 'resume', id: 'r-x', match_id: matchId, after_seq: 0 }, server.connected);
  assert.deepEqual(answers, ['msg', 'resume.done']);
});
