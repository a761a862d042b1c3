// The frame check of frames.js itself: it passes what the server and the SDK really send and catches what the
// document does not describe, so a test file cannot pass over an undescribed frame unnoticed.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { checkFrame, assertFramesDescribed } from './frames.js';

test('described frames pass, undescribed ones are caught', () => {
  checkFrame('sent', JSON.stringify({ type: 'ping', id: 'r1' }));
  checkFrame('received', JSON.stringify({ type: 'pong', id: 'r1' }));
  checkFrame('sent', JSON.stringify({ type: 'match.find', kind: 'text', public_key: 'AAAA', interests: 'only' }));
  assertFramesDescribed();
  checkFrame('sent', JSON.stringify({ type: 'ping', id: 'r2', extra: 1 }));
  assert.throws(() => assertFramesDescribed(), /AsyncAPI document does not describe/);
});
