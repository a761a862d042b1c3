// The connection's pure rules: full-jitter backoff bounds, the drain jitter after a 4010 close, close-code
// classification, the refresh margin.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DRAIN_JITTER_MS, backoffDelay, closeAction, reconnectDelay, refreshMargin } from '../../src/index.js';

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
    1001: 'reconnect', 1006: 'reconnect', 4008: 'reconnect', 4009: 'reconnect', 4010: 'reconnect', 4013: 'reconnect', 1000: 'reconnect',
    4001: 'reauthenticate', 4002: 'reauthenticate',
    4003: 'banned',
    1002: 'fatal', 1007: 'fatal', 1009: 'fatal', 4004: 'fatal',
  };
  for (const [code, action] of Object.entries(expected)) assert.equal(closeAction(Number(code)), action, `close ${code}`);
});

test('after a 4010 draining close the delay is uniform over [0, DRAIN_JITTER_MS) whatever the attempt', () => {
  assert.equal(DRAIN_JITTER_MS, 2000);
  const options = { base: 500, cap: 30_000 };
  for (const attempt of [0, 1, 3, 12, 60]) {
    assert.equal(reconnectDelay(4010, attempt, { ...options, random: () => 0 }), 0, `attempt ${attempt}: the floor is 0`);
    assert.equal(reconnectDelay(4010, attempt, { ...options, random: () => 0.5 }), 1000, `attempt ${attempt}: the middle`);
    const top = reconnectDelay(4010, attempt, { ...options, random: () => 0.999999 });
    assert.ok(top < DRAIN_JITTER_MS && top >= DRAIN_JITTER_MS - 1, `attempt ${attempt}: ${top} just under ${DRAIN_JITTER_MS}`);
  }
  // The window is the drain's, not the backoff's: attempt 0 is not cut to its 500 ms ceiling.
  assert.ok(reconnectDelay(4010, 0, { ...options, random: () => 0.999999 }) > options.base);
});

test('every other close (and no close at all) waits the full-jitter backoff, as before', () => {
  const base = 500;
  const cap = 30_000;
  for (const code of [undefined, 1000, 1001, 1006, 4001, 4008, 4009, 4013]) {
    for (const attempt of [0, 1, 3, 12, 60]) {
      for (const r of [0, 0.5, 0.999999]) {
        const random = () => r;
        assert.equal(reconnectDelay(code, attempt, { base, cap, random }), backoffDelay(attempt, { base, cap, random }), `close ${code}, attempt ${attempt}, random ${r}`);
      }
    }
  }
  // The defaults are the backoff's.
  assert.equal(reconnectDelay(1006, 0, { random: () => 0.5 }), 250);
});

test('the refresh margin is a minute, or a fifth of a short lifetime', () => {
  assert.equal(refreshMargin(15 * 60_000), 60_000);
  assert.equal(refreshMargin(3_000), 600);
  assert.equal(refreshMargin(0), 0);
});
