// @ts-check
// @tanis/client: the client SDK of tanis, protocol tanis.v2 (docs/sdk.md). The package's major version follows
// the protocol version: 2.x speaks `tanis.v2`, and `tanis.v1` with a server that predates it.
//
// Layout: client.js (the front door), api.js (REST and tokens), connection.js (the socket's states, backoff,
// heartbeats), policy.js (pure rules: backoff, close codes, refresh margin), routing.js (where each server frame
// goes, the catching up after `hello`), conversations.js (every conversation this device holds, where it is
// stored, its Port), matching.js (the find and the match this device is in), contacts.js (contacts kept in step
// with the server), conversation.js (one conversation, on a narrow Port) and its parts in conversation/
// (record.js: what it persists; keys.js: E2E sessions and key changes; inbox.js: delivery in `seq` order;
// outbox.js: our messages, sent in order until accepted; acks.js: acknowledgements), ordering.js (pure rules: what
// of the outbox leaves, how tabs' outboxes merge, where a late message goes), calls.js (WebRTC signalling and call
// stats), safety.js (what the viewer sees of the other side's picture: policy blur, the injected classifier,
// reveal), push.js (what a push says the app may show), storage.js (the injected stores), events.d.ts (the event
// map), errors.js, emitter.js, crypto/ (X25519, XChaCha20-Poly1305, HMAC franking; vendored noble);
// The test kit for apps is its own entry point, `@tanis/client/testing`, never imported from here.

export { Client } from './client.js';
export { Conversation } from './conversation.js';
export { TanisError } from './errors.js';
export { MemoryStorage } from './storage.js';
export { Emitter } from './emitter.js';
export { backoffDelay, closeAction, reconnectDelay, refreshMargin, DRAIN_JITTER_MS } from './policy.js';
export { Call, callFigures, rtcConfiguration } from './calls.js';
export { DEFAULT_BLUR_SECS, FLAG_SCORE, SAMPLE_INTERVAL_MS, flaggedByDefault } from './safety.js';
export { MAX_SNAPSHOT_BYTES } from './api.js';
export { PROTOCOL, PROTOCOL_V1 } from './connection.js';
export { ACK_DELAY_MS } from './conversation.js';
export { FIND_RESEND_BOUND_MS } from './matching.js';
export { SEND_AHEAD } from './ordering.js';
export { safetyNumber, E2eError } from './crypto/e2e.js';
export { MAX_EVIDENCE } from './crypto/franking.js';

/** The protocol version this package speaks; the package's major version is the same number. */
export const PROTOCOL_VERSION = 2;

/**
 * @typedef {import('./client.js').ClientOptions} ClientOptions
 * @typedef {import('./matching.js').FindOptions} FindOptions
 * @typedef {import('./conversation.js').Message} Message
 * @typedef {import('./storage.js').Storage} Storage
 * @typedef {import('./policy.js').CloseAction} CloseAction
 * @typedef {import('./connection.js').ConnectionState} ConnectionState
 * @typedef {import('./calls.js').CallOptions} CallOptions
 * @typedef {import('./safety.js').SafetyState} SafetyState
 * @typedef {import('./safety.js').Verdict} Verdict
 * @typedef {import('./api.js').CallReport} CallReport
 * @typedef {import('./frames.js').ClientFrame} ClientFrame
 * @typedef {import('./frames.js').ServerFrame} ServerFrame
 * @typedef {import('./events.js').ClientEvents} ClientEvents
 * @typedef {import('./events.js').CallEvents} CallEvents
 * @typedef {import('./events.js').ClientEventName} ClientEventName
 */
