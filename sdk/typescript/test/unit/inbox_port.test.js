// The inbox on its own (src/conversation/inbox.js), on a port of plain functions: no Client, no socket, no server.
// It hands messages on once each, in `seq` order, asks `resume` for a gap, and waits for `resume.done`.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GAP_WAIT_MS, Inbox } from '../../src/conversation/inbox.js';
import { FakeClock } from '@tanis/client/testing';

/** An inbox of match 7 whose record says `highest_seq`; `handed` is every seq processed, in order. */
function inboxAt(highest_seq = 0, { online = true } = {}) {
  const record = { match_id: 7, highest_seq };
  /** @type {any[]} */
  const sent = [];
  /** @type {number[]} */
  const handed = [];
  const calls = { caughtUp: 0, persisted: 0 };
  const port = /** @type {any} */ ({ send: (/** @type {any} */ frame) => online && (sent.push(frame), true) });
  const inbox = new Inbox({
    record,
    port,
    process: (entry) => handed.push(entry.seq),
    caughtUp: () => calls.caughtUp++,
    persist: () => calls.persisted++,
  });
  return { inbox, record, sent, handed, calls };
}

const msg = (/** @type {number} */ seq) => ({ type: 'msg', match_id: 7, seq });

test('messages are handed on once each, in seq order, whatever order they came in', () => {
  const { inbox, record, handed, calls } = inboxAt();
  for (const seq of [2, 1, 1, 4, 3, 2]) inbox.add(msg(seq));
  assert.deepEqual(handed, [1, 2, 3, 4]);
  assert.equal(record.highest_seq, 4);
  assert.ok(calls.persisted > 0, 'the moved highest_seq is persisted');
  inbox.stop();
});

test('what was processed before a restart is not handed on again', () => {
  const { inbox, handed } = inboxAt(5);
  for (const seq of [4, 5, 6]) inbox.add(msg(seq));
  assert.deepEqual(handed, [6]);
});

test('the seq of a message of ours the server accepted is stepped over', () => {
  const { inbox, handed, record } = inboxAt();
  inbox.add(msg(2));
  inbox.accepted(1);
  assert.deepEqual(handed, [2]);
  assert.equal(record.highest_seq, 2);
});

test(`a gap still open after ${GAP_WAIT_MS} ms is filled with a resume from the last seq processed`, (t) => {
  const clock = new FakeClock().install();
  t.after(() => clock.uninstall());
  const { inbox, sent, handed } = inboxAt();
  inbox.add(msg(1));
  inbox.add(msg(3));
  clock.tick(GAP_WAIT_MS - 1);
  assert.deepEqual(sent, []);
  clock.tick(1);
  assert.equal(sent.length, 1);
  assert.deepEqual({ ...sent[0], id: undefined }, { type: 'resume', id: undefined, match_id: 7, after_seq: 1 });
  assert.ok(inbox.resuming);
  assert.deepEqual(handed, [1]);
});

test('during a resume everything waits for resume.done, which hands on what it covers and then what follows', () => {
  const { inbox, sent, handed, record, calls } = inboxAt();
  inbox.resume();
  const [resume] = sent;
  inbox.add(msg(2));
  inbox.add(msg(5));
  inbox.add(msg(1));
  assert.deepEqual(handed, [], 'nothing before resume.done');
  inbox.done({ type: 'resume.done', id: 'someone else', last_seq: 3 });
  assert.deepEqual(handed, [], 'not our resume');
  // Seq 3 was stored but never came (a message of ours from another device, say): the server says it is done.
  inbox.done({ type: 'resume.done', id: resume.id, last_seq: 3 });
  assert.deepEqual(handed, [1, 2]);
  assert.equal(record.highest_seq, 3, 'up to last_seq');
  assert.equal(calls.caughtUp, 1);
  inbox.add(msg(4));
  assert.deepEqual(handed, [1, 2, 4, 5], 'then live frames walk on');
  inbox.stop();
});

test('a refused resume lets what waits be walked; another error is not the inbox’s', () => {
  const { inbox, sent, handed } = inboxAt();
  inbox.resume();
  inbox.add(msg(1));
  assert.equal(inbox.refused('not ours'), false);
  assert.equal(inbox.refused(sent[0].id), true);
  assert.equal(inbox.resuming, false);
  assert.deepEqual(handed, [1]);
});

test('offline, a resume is not left in flight', () => {
  const { inbox, handed } = inboxAt(0, { online: false });
  inbox.resume();
  assert.equal(inbox.resuming, false);
  inbox.add(msg(1));
  assert.deepEqual(handed, [1], 'live frames are not held for a resume that never left');
});
