// @ts-check
// The REST side (/v1/...): accounts and the token pair. Holds the pair in the injected storage and keeps the
// access token fresh: refreshed ahead of its expiry (the JWT's `exp`, minus a margin: policy.refreshMargin), and
// once more when the server answers 401 `token_expired` or the socket closes with 4001/4002. Refresh tokens
// rotate and a reused one signs every session out (docs/errors.md), so one refresh runs at a time: in this client,
// and, with the `lock` option, across every client on the same storage (browser tabs). Inside the lock the pair is
// read from the storage first and one another client already rotated is adopted; a new pair is written before the
// lock is released. That is sound only if the storage's `set` resolves once the write is visible to every other
// client's `get` (IndexedDB: on the transaction's commit; NOT localStorage, which reaches another tab's renderer
// late). A refused refresh ends the session: the tokens are forgotten and `reauthenticate` is emitted. A refresh
// that fails otherwise (the network, a 5xx) is retried after a capped full-jitter backoff (policy.backoffDelay),
// so that the clients of an outage do not all come back at once; meanwhile an access token not yet expired is
// still used. The pair is a secret: it lives in the `secrets` store (one an older version kept in `storage` is
// moved there when first read).

import { toBase64, utf8Decode } from './crypto/encoding.js';
import { TanisError } from './errors.js';
import { backoffDelay, refreshMargin } from './policy.js';
import { decode, encode, readSecret } from './storage.js';

/**
 * @typedef {object} TokenPair
 * @property {string} access_token
 * @property {string} access_token_expires_at
 * @property {string} refresh_token
 * @property {string} refresh_token_expires_at
 */

/** The largest snapshot a call report may carry (bytes, before base64), as the server checks it. */
export const MAX_SNAPSHOT_BYTES = 262_144;

/**
 * A report from a video call (`Api.reportCall`, `Client.reportCall`).
 * @typedef {object} CallReport
 * @property {number} matchId the video match
 * @property {import('./frames.js').ReportReason} reason
 * @property {string} [details] the person's words, at most 1000 characters
 * @property {import('./safety.js').Verdict | null} [verdict] the classifier's last verdict (`call.verdict`)
 * @property {{contentType: 'image/jpeg' | 'image/png' | 'image/webp', bytes: Uint8Array} | null} [snapshot] one
 *   picture of the call, only when the person chose to attach it
 */

export class Api {
  /**
   * @param {object} deps
   * @param {string} deps.baseUrl `https://api.example` (no trailing slash needed)
   * @param {typeof fetch} deps.fetch
   * @param {import('./storage.js').Storage} deps.storage where an older version kept the pair; also where it is
   *   kept without `secrets`
   * @param {import('./storage.js').Storage} [deps.secrets] where the token pair is kept (default `storage`)
   * @param {() => number} deps.now milliseconds since the epoch
   * @param {() => number} [deps.random] [0, 1), the jitter of a failed refresh's retry (default Math.random)
   * @param {{base?: number, cap?: number}} [deps.backoff] a failed refresh's retry ceilings (policy's defaults)
   * @param {import('./emitter.js').Emitter<import('./events.js').ClientEvents>} deps.events
   * @param {string} deps.prefix storage key prefix
   * @param {boolean} [deps.refreshAhead] refresh on a timer before expiry (default true); without it, only when a
   *   token is asked for within its margin, or refused
   * @param {(code: string) => void} [deps.onRefused] the session is over (a refused refresh), after the tokens
   *   are forgotten; default: emit `reauthenticate`
   * @param {(name: string, task: () => Promise<void>) => Promise<unknown>} [deps.lock] runs a refresh under a lock
   *   shared with every other client on the same storage (browser tabs: Web Locks), held until `task` settles
   */
  constructor({ baseUrl, fetch, storage, secrets = storage, now, random = Math.random, backoff = {}, events, prefix, refreshAhead = true, onRefused, lock }) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.fetch = fetch;
    this.storage = storage;
    this.secrets = secrets;
    this.now = now;
    this.random = random;
    this.backoff = backoff;
    /** Refreshes failed in a row (not refused): the exponent of the retry's backoff. */
    this.failures = 0;
    /** After a failed refresh, not before this (ms since the epoch) unless the access token has expired. */
    this.retryAt = 0;
    this.events = events;
    this.key = `${prefix}tokens`;
    /** @type {TokenPair | null} */
    this.tokens = null;
    /** @type {Promise<void> | null} the refresh in progress: one at a time */
    this.refreshing = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.timer = undefined;
    this.stopped = !refreshAhead;
    this.onRefused = onRefused ?? ((code) => events.emit('reauthenticate', { code }));
    this.lock = lock ?? ((_name, task) => task());
    this.lockName = `${prefix}refresh`;
  }

  /** Reads the stored token pair (an app restart) and schedules its refresh. */
  async load() {
    const tokens = decode(await readSecret(this.secrets, this.storage, this.key));
    this.tokens = tokens?.access_token && tokens?.refresh_token ? tokens : null;
    this.schedule();
    return this.tokens !== null;
  }

  get signedIn() {
    return this.tokens !== null;
  }

  // --- accounts ------------------------------------------------------------------------------------------

  /**
   * @param {{phone: string, password: string, alias: string, birthYear: number, acceptPrivacyNotice: boolean, referralCode?: string}} account
   * @returns {Promise<any>} the account (`GET /v1/me`'s shape)
   */
  async register({ phone, password, alias, birthYear, acceptPrivacyNotice, referralCode }) {
    /** @type {Record<string, unknown>} */
    const body = { phone, password, alias, birth_year: birthYear, accept_privacy_notice: acceptPrivacyNotice };
    if (referralCode) body.referral_code = referralCode;
    const session = await this.call('POST', '/v1/auth/register', body, { auth: false });
    await this.store(session.tokens);
    return session.user;
  }

  /**
   * @param {string} phone
   * @param {string} password
   * @returns {Promise<any>} the account
   */
  async login(phone, password) {
    const session = await this.call('POST', '/v1/auth/login', { phone, password }, { auth: false });
    await this.store(session.tokens);
    return session.user;
  }

  /** Signs this session out on the server (its sockets close with 4001) and forgets the tokens. */
  async logout() {
    const refresh = this.tokens?.refresh_token;
    await this.forget();
    if (refresh) await this.call('POST', '/v1/auth/logout', { refresh_token: refresh }, { auth: false }).catch(() => {});
  }

  // --- reports ------------------------------------------------------------------------------------------

  /**
   * Reports the other side of a video match from its call (`POST /v1/reports/call`): the reason, what the person
   * wrote, the classifier's verdict if the app passes one, and a snapshot of the picture only if the app passes
   * one (the person's choice: docs/sdk.md, "Video safety"), sent base64. Rejects with TanisError as every REST call
   * does: `snapshot_too_large` (413; also before sending, above MAX_SNAPSHOT_BYTES), `snapshot_type` (415),
   * `not_matched` (404), `not_video` (422), `invalid_request` (422), `rate_limited` (429).
   * @param {CallReport} report
   * @returns {Promise<void>}
   */
  async reportCall({ matchId, reason, details, verdict, snapshot }) {
    /** @type {Record<string, unknown>} */
    const body = { match_id: matchId, reason_code: reason };
    if (details) body.details = details;
    if (verdict) body.verdict = { label: verdict.label, score: verdict.score };
    if (snapshot) {
      // Refused here rather than after uploading a third more than its size in base64.
      if (snapshot.bytes.length > MAX_SNAPSHOT_BYTES) {
        const message = `a snapshot is at most ${MAX_SNAPSHOT_BYTES} bytes`;
        throw new TanisError('snapshot_too_large', message, { status: 413 });
      }
      body.snapshot = { content_type: snapshot.contentType, data: toBase64(snapshot.bytes) };
    }
    await this.call('POST', '/v1/reports/call', body);
  }

  // --- tokens --------------------------------------------------------------------------------------------

  /**
   * A valid access token, refreshed first when it is within its margin of expiry; null when signed out. While a
   * failed refresh waits for its retry, or when the refresh fails now, a token not yet expired is still returned;
   * an expired one makes the failure throw.
   */
  async accessToken() {
    if (!this.tokens) return null;
    const now = this.now();
    if (this.refreshDue() <= now) {
      const usable = this.expiresAt() > now;
      if (usable && now < this.retryAt) return this.tokens.access_token;
      try {
        await this.refresh();
      } catch (e) {
        if (!usable || !this.tokens) throw e;
      }
    }
    return this.tokens?.access_token ?? null;
  }

  /** When the access token expires (ms since the epoch): the earlier of its `exp` and `access_token_expires_at`. */
  expiresAt() {
    const t = this.tokens;
    if (!t) return -Infinity;
    const claims = jwtClaims(t.access_token);
    const stated = Date.parse(t.access_token_expires_at);
    const jwtExp = claims?.exp ? claims.exp * 1000 : stated;
    return Number.isNaN(stated) ? jwtExp : Math.min(jwtExp, stated);
  }

  /** When the access token should be refreshed (ms since the epoch): before the earlier of its `exp` and `access_token_expires_at`. */
  refreshDue() {
    const t = this.tokens;
    if (!t) return Infinity;
    const claims = jwtClaims(t.access_token);
    const stated = Date.parse(t.access_token_expires_at);
    const jwtExp = claims?.exp ? claims.exp * 1000 : stated;
    // The margin follows the token's whole lifetime; the earlier of the two stated expiries is the one kept.
    const exp = Number.isNaN(stated) ? jwtExp : Math.min(jwtExp, stated);
    const iat = claims?.iat ? claims.iat * 1000 : jwtExp - 15 * 60_000;
    return exp - refreshMargin(jwtExp - iat);
  }

  /**
   * Rotates the token pair. A refusal (401: the session was signed out, the refresh token expired or was
   * reused) ends the session: the tokens are forgotten and `reauthenticate` is emitted. Other failures (network,
   * 5xx) keep the tokens, set the next try a full-jitter backoff away (`retryAt`, the timer's next run) and
   * throw. The refresh runs under `lock`, and first reads the secrets store: a pair another client on the same
   * store (another tab) rotated meanwhile is adopted, never refreshed again (a reused refresh token signs every
   * session out).
   */
  refresh() {
    const stale = this.tokens?.refresh_token;
    if (!stale) return Promise.reject(new TanisError('signed_out', 'not signed in'));
    this.refreshing ??= this.lock(this.lockName, async () => {
      // Read inside the lock: the client that held it before wrote its pair before letting go.
      const stored = decode(await this.secrets.get(this.key));
      if (stored?.access_token && stored?.refresh_token && stored.refresh_token !== stale && this.tokens?.refresh_token === stale) {
        this.tokens = stored;
        this.failures = 0;
        this.retryAt = 0;
        this.schedule();
        return;
      }
      try {
        const tokens = await this.call('POST', '/v1/auth/refresh', { refresh_token: stale }, { auth: false });
        // A sign-out while the request was out wins. Written before the lock is released (see the top).
        if (this.tokens?.refresh_token === stale) await this.store(tokens);
        this.events.emit('tokens', { expiresAt: tokens.access_token_expires_at });
      } catch (e) {
        if (e instanceof TanisError && e.status === 401) {
          await this.forget();
          this.onRefused(e.code);
        } else if (this.tokens?.refresh_token === stale) {
          // Not a verdict on the session: again later, a full-jitter backoff away (every client of an outage
          // fails at once; the jitter spreads their retries over the window).
          this.retryAt = this.now() + backoffDelay(this.failures++, { ...this.backoff, random: this.random });
          this.schedule();
        }
        throw e;
      }
    }).then(() => {}).finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  /** @param {TokenPair} tokens */
  async store(tokens) {
    this.tokens = tokens;
    this.failures = 0;
    this.retryAt = 0;
    await this.secrets.set(this.key, encode(tokens));
    this.schedule();
  }

  async forget() {
    this.tokens = null;
    this.failures = 0;
    this.retryAt = 0;
    clearTimeout(this.timer);
    await this.secrets.delete(this.key);
    // A copy an older version left in the plain storage (one `load` has not moved yet) goes too.
    if (this.storage !== this.secrets) await this.storage.delete(this.key);
  }

  /** The refresh timer: at the refresh's due time, or, after a failed refresh, at its retry's (`retryAt`). */
  schedule() {
    clearTimeout(this.timer);
    if (!this.tokens || this.stopped) return;
    const wait = this.failures ? this.retryAt - this.now() : Math.max(this.refreshDue() - this.now(), 1_000);
    // Silent: a failure reschedules itself (refresh), a refusal ends the session.
    this.timer = setTimeout(() => this.refresh().catch(() => {}), Math.min(Math.max(wait, 0), 2 ** 31 - 1));
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  // --- transport -----------------------------------------------------------------------------------------

  /**
   * One request in the server's error shape: resolves to the JSON body (or null), rejects with TanisError.
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {{auth?: boolean, retried?: boolean}} [options]
   * @returns {Promise<any>}
   */
  async call(method, path, body, { auth = true, retried = false } = {}) {
    /** @type {Record<string, string>} */
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth) {
      const token = await this.accessToken();
      if (!token) throw new TanisError('signed_out', 'not signed in', { status: 401 });
      headers.authorization = `Bearer ${token}`;
    }
    let response;
    try {
      response = await this.fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (cause) {
      throw new TanisError('network', 'the server cannot be reached', { status: 0, cause });
    }
    const text = await response.text();
    let json = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      json = null;
    }
    if (response.ok) return json;
    const error = new TanisError(json?.error?.code ?? 'unknown', json?.error?.message ?? `HTTP ${response.status}`, {
      status: response.status,
    });
    // The access token expired between our check and the server's (clock skew, a sleeping phone): once more.
    if (auth && !retried && error.code === 'token_expired') {
      await this.refresh();
      return this.call(method, path, body, { auth, retried: true });
    }
    throw error;
  }
}

/**
 * The claims of a JWT (no verification: only to learn `exp` and `iat`); null when it cannot be read.
 * @param {string} token
 * @returns {{exp?: number, iat?: number} | null}
 */
export function jwtClaims(token) {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    return JSON.parse(base64UrlText(part));
  } catch {
    return null;
  }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** base64url to text, by hand: React Native and Node differ on atob/Buffer/TextDecoder, and this needs none. @param {string} s */
function base64UrlText(s) {
  const bytes = [];
  let bits = 0;
  let value = 0;
  for (const c of s.replace(/=+$/, '')) {
    const v = ALPHABET.indexOf(c === '+' ? '-' : c === '/' ? '_' : c);
    if (v < 0) throw new Error('not base64url');
    value = (value << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push((value >> bits) & 0xff);
    }
  }
  const text = utf8Decode(new Uint8Array(bytes));
  if (text === null) throw new Error('not UTF-8');
  return text;
}
