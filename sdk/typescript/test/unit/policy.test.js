// The connection's pure rules: full-jitter backoff bounds, close-code classification, the refresh margin.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { backoffDelay, closeAction, refreshMargin } from '../../src/index.js';

test('backoff is full jitter: from 0 up to (not including) min(cap, base * 2^attempt)', () => {
  const base = 500;
  const cap = 30_000;
  for (let attempt = 0; attempt < 12; attempt++) {
    const ceiling = Math.min(cap, base * 2 ** attempt);
    assert.equal(backoffDelay(attempt, { base, cap, random: () => 0 }), 0, `attempt ${attempt}: the floor is 0`);
    const top = backoffDelay(attempt, { base, cap, random: () => 0.999999 });
    assert.ok(top < ceiling && top >= ceiling - 1, `attempt ${attempt}: ${top} just under ${ceiling}`);
    assert.equal(backoffDelay(attempt, { base, cap, random: () => 0.5 }), Math.floor(ceiling / 2));
  }
  // The cap holds however many attempts failed.
  assert.equal(backoffDelay(60, { base, cap, random: () => 0.5 }), cap / 2);
});

test('close codes are classified into reconnect, reauthenticate, banned and fatal', () => {
  const expected = {
    1001: 'reconnect', 1006: 'reconnect', 4008: 'reconnect', 4009: 'reconnect', 4013: 'reconnect', 1000: 'reconnect',
    4001: 'reauthenticate', 4002: 'reauthenticate',
    4003: 'banned',
    1002: 'fatal', 1007: 'fatal', 1009: 'fatal', 4004: 'fatal',
  };
  for (const [code, action] of Object.entries(expected)) assert.equal(closeAction(Number(code)), action, `close ${code}`);
});

test('the refresh margin is a minute, or a fifth of a short lifetime', () => {
  assert.equal(refreshMargin(15 * 60_000), 60_000);
  assert.equal(refreshMargin(3_000), 600);
  assert.equal(refreshMargin(0), 0);
});
