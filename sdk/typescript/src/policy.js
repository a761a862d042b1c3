// @ts-check
// The pure rules of the connection, as plain functions over plain data (unit-tested without I/O): how long to
// wait before reconnecting, and what a close code means for the client (docs/protocol.md section 3).

/** Reconnect delays: the ceiling doubles per failed attempt from BASE up to CAP. */
export const BACKOFF_BASE_MS = 500;
export const BACKOFF_CAP_MS = 30_000;

/**
 * Exponential backoff with FULL jitter: a uniformly random delay in [0, min(cap, base * 2^attempt)). Full
 * jitter spreads a crowd of clients reconnecting after a node restart over the whole window.
 * @param {number} attempt 0 for the first retry
 * @param {{base?: number, cap?: number, random?: () => number}} [options] `random` returns [0, 1)
 */
export function backoffDelay(attempt, { base = BACKOFF_BASE_MS, cap = BACKOFF_CAP_MS, random = Math.random } = {}) {
  const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/**
 * The window a client reconnects in after a 4010 `draining` close: a node stopping for a rolling update closes its
 * sockets spread over its drain time, and each client waits a uniformly random delay in [0, DRAIN_JITTER_MS) so a
 * node's clients do not all land on the other nodes at once.
 */
export const DRAIN_JITTER_MS = 2000;

/**
 * How long to wait before reconnecting after a close with `code`, the `attempt`-th failure since the last `hello`:
 * after a 4010 `draining` close, a uniformly random delay in [0, DRAIN_JITTER_MS) whatever the attempt (the whole
 * window, not the short first ceiling of the backoff); otherwise the full-jitter `backoffDelay(attempt, options)`.
 * @param {number | undefined} code the WebSocket close code; undefined when no socket closed (the token could not
 *   be fetched)
 * @param {number} attempt 0 for the first retry
 * @param {{base?: number, cap?: number, random?: () => number}} [options] `random` returns [0, 1)
 */
export function reconnectDelay(code, attempt, { base = BACKOFF_BASE_MS, cap = BACKOFF_CAP_MS, random = Math.random } = {}) {
  if (code === 4010) return Math.floor(random() * DRAIN_JITTER_MS);
  return backoffDelay(attempt, { base, cap, random });
}

/**
 * What the SDK does after a close:
 * - `reconnect`: back off (full jitter; after 4010 `draining`, a random delay in [0, DRAIN_JITTER_MS), see
 *   reconnectDelay) and connect again, then `resume` every conversation;
 * - `reauthenticate`: refresh the access token, then reconnect at once; when the refresh is refused the state
 *   becomes `closed` and `reauthenticate` is emitted (sign in again);
 * - `banned`: never reconnect (`banned` is emitted; REST login says why);
 * - `fatal`: the server says this client broke the protocol (1002, 1007, 1009, 4004). Reconnecting would re-send
 *   the same outbox and loop, so the state becomes `closed` and `error` is emitted; the app may `connect()` again.
 * @typedef {'reconnect' | 'reauthenticate' | 'banned' | 'fatal'} CloseAction
 * @param {number} code the WebSocket close code (1006 when the connection dropped without one)
 * @returns {CloseAction}
 */
export function closeAction(code) {
  switch (code) {
    case 4001: // invalid_token: a bad token or a signed-out session
    case 4002: // token_expired
      return 'reauthenticate';
    case 4003:
      return 'banned';
    case 1002: // protocol_error
    case 1007: // invalid_utf8
    case 1009: // message_too_big
    case 4004: // protocol_abuse
      return 'fatal';
    case 4010: // draining: the node is stopping (a rolling update); reconnect after the drain jitter
      // (reconnectDelay), through the load balancer to another node, then `resume` as after any reconnect
      return 'reconnect';
    default:
      // 1001 shutting down, 4008 slow consumer, 4009 heartbeat timeout, 4013 overloaded, 1006 dropped, ...
      return 'reconnect';
  }
}

/**
 * How long before an access token's expiry to refresh it: a minute, or a fifth of its lifetime when that is
 * shorter (a server with short-lived tokens must not have them refreshed continuously).
 * @param {number} lifetimeMs
 */
export function refreshMargin(lifetimeMs) {
  return Math.max(0, Math.min(60_000, lifetimeMs / 5));
}
