// The events of @tanis/client and the detail each carries: the one list of them. `Client.on`, `Call.on` and
// `Emitter` (on, once, emit) are typed by these maps, so an app's `client.on('message', ({ message }) => …)` is
// typed and a name that is not here does not compile. test/unit/events.test.js fails when the sources emit a name
// missing here, or when a name here is emitted nowhere. Hand-written TypeScript rather than a JSDoc @typedef, for
// the `*` key, the mapped type and a doc comment per event; `npm run types` copies it into types/ as frames.d.ts.

import type { Conversation, Message } from './conversation.js';
import type { ConnectionState } from './connection.js';
import type { TanisError } from './errors.js';
import type { AdFrame, EndReason, MatchKind, Notification, ServerFrame } from './frames.js';
import type { CloseAction } from './policy.js';
import type { SafetyState, Verdict } from './safety.js';

/** `{name, detail}` of any event of the map `E`: what a `*` listener receives. */
export type AnyEvent<E> = {
  [K in Exclude<keyof E, '*'> & string]: { name: K; detail: E[K] };
}[Exclude<keyof E, '*'> & string];

type MatchFound = Extract<ServerFrame, { type: 'match.found' }>;

/** Every event a `Client` emits (`client.on(name, listener)`), by name: the detail its listener is called with. */
export interface ClientEvents {
  /** Every server frame as it came, before the SDK handles it: for logging, and for what the SDK does not interpret. */
  frame: ServerFrame;
  /** The connection's state changed. */
  state: { state: ConnectionState };
  /** The server's greeting, on every (re)connect: the account's handle, balances, limits, the active match. */
  hello: Extract<ServerFrame, { type: 'hello' }>;
  /** The socket closed; `action` is what the SDK does next (policy.closeAction). */
  closed: { code: number; reason: string; action: CloseAction };
  /** A reconnect is scheduled after `delayMs` (full-jitter backoff); `attempt` counts failures since the last `hello`. */
  reconnecting: { delayMs: number; attempt: number };
  /** The token pair was rotated. */
  tokens: { expiresAt: string };
  /** The session is over (a refused refresh, a signed-out session): show the sign-in. */
  reauthenticate: { code: string };
  /** The account is banned (close 4003): the SDK never reconnects; REST login says why. */
  banned: { code: number };
  /** Something failed that no promise of the app's was waiting for: usually a TanisError, else what a store threw. */
  error: unknown;
  /** `match.find` joined the queue. */
  queued: { kind: MatchKind };
  /** A match: a new one, or (`restored`) the one we were in before a reconnect or a restart. */
  matched: { conversation: Conversation; rtc: MatchFound['rtc'] | null; balances?: MatchFound['balances']; restored?: boolean };
  /**
   * A message of the peer, verified and decrypted (or one of ours sealed by another client on this storage).
   * `before`: the key of the message it was placed before when it came late, else null (appended).
   */
  message: { matchId: number; message: Message; before?: string | null };
  /** A message of the peer that cannot be shown (it never is, as text): why in `reason`. */
  undecryptable: { matchId: number; seq: number; reason: Message['status'] };
  /** A message of ours is stored by the server (`seq`). */
  sent: { matchId: number; clientMsgId: string; seq: number };
  /** The peer has the message `seq` of ours (once per message, also for a cumulative acknowledgement). */
  delivered: { matchId: number; seq: number };
  /** The server refused a message of ours for good. */
  failed: { matchId: number; clientMsgId: string; error: TanisError };
  /** The peer is typing. */
  typing: { matchId: number };
  /** A match ended; `gone`: it ended while this device was away. */
  ended: { matchId: number; reason: EndReason | 'gone' };
  /** The peer proposes to keep in touch. */
  contactProposed: { matchId: number };
  /** A contact: kept from a match, or (with `lastSeq`) kept on another device, whose messages this one cannot read. */
  contactAdded: { matchId: number; conversation: Conversation; lastSeq?: number };
  /** A contact ended (by either side). */
  contactEnded: { matchId: number };
  /** A contact's session changed key: `theirs` (the contact's new device) or `mine` (this device took it over). */
  safetyNumberChanged: { matchId: number; safetyNumber: string; by: 'theirs' | 'mine' };
  /** Another session of this account took the contact over: this device reads nothing new there. */
  takenOver: { matchId: number; sessionId: string | null };
  /** A key announced for a contact was refused (`replayed`: one it had before); the session stays. */
  keyRefused: { matchId: number; reason: string };
  /** A call signalling frame (`rtc.*`) for a video match (the Call of calls.js takes them). */
  rtc: { matchId: number; frame: Extract<ServerFrame, { type: `rtc.${string}` }> };
  /** A notification for the account. */
  notification: Notification;
  /** An ad to show. */
  ad: AdFrame;
  /** The find was cancelled (`match.cancelled`). */
  cancelled: {};
  /** The find, sent again after a reconnect, was refused: the queue entry is gone. */
  findRefused: TanisError;
  /**
   * The find with `seeking` was not sent again after a reconnect, and is forgotten: asked more than
   * FIND_RESEND_BOUND_MS (60 s) before (`stale`), or before the app restarted (`restart`). Ask the user again.
   */
  findLapsed: { kind: MatchKind; reason: 'restart' | 'stale' };
  /** Another device of this account was matched: only that one holds the key, this one cannot read the match. */
  matchedElsewhere: { matchId: number; peer: string };
  /** The peer hung up the call of a video match. */
  hangup: { matchId: number; by: 'peer' };
  /** Every event, as `{name, detail}`. */
  '*': AnyEvent<ClientEvents>;
}

/** The events of a `Call` (`call.on(name, listener)`). */
export interface CallEvents {
  /** The call's state changed: `why` it failed (`ice`, `media`, `signalling`) or ended (`me`, `peer`, `match`). */
  state: { state: 'idle' | 'connecting' | 'connected' | 'failed' | 'ended'; why: string | null };
  /** The other side's media. */
  track: { track: any; streams: any[] };
  /**
   * How the other side's picture is to be drawn changed: `policy` and `classifier` are blurred, `revealed` and
   * `clear` are not (safety.js). `verdict` is the classifier's last, kept on this device.
   */
  safety: { state: SafetyState; verdict: Verdict | null };
  /** Every event, as `{name, detail}`. */
  '*': AnyEvent<CallEvents>;
}

/** The names a `Client` emits (not `*`, which every listener of any name may take). */
export type ClientEventName = Exclude<keyof ClientEvents, '*'>;
