// The REST side (/v1/...): accounts, profile, notifications, claims, ICE servers, bans. Holds the token pair
// and refreshes the access token silently — ahead of its expiry on a timer, and once more when the server
// answers 401 token_expired. Refresh tokens rotate and a reused one signs every session out (docs/errors.md),
// so one refresh runs at a time across tabs (Web Locks) and a tab first looks whether another already did it.

const TOKENS_KEY = 'tanis.tokens';
/** Refresh this long before the access token expires. */
const REFRESH_AHEAD_MS = 60_000;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Api extends EventTarget {
  constructor() {
    super();
    this.tokens = readTokens();
    this.timer = null;
    this.schedule();
  }

  get signedIn() {
    return this.tokens !== null;
  }

  // --- accounts ---------------------------------------------------------------------------------------------

  async register({ phone, password, alias, birthYear, referralCode, consent }) {
    const body = { phone, password, alias, birth_year: Number(birthYear), accept_privacy_notice: consent };
    if (referralCode) body.referral_code = referralCode;
    const session = await this.call('POST', '/v1/auth/register', body, { auth: false });
    this.store(session.tokens);
    return session.user;
  }

  async login(phone, password) {
    const session = await this.call('POST', '/v1/auth/login', { phone, password }, { auth: false });
    this.store(session.tokens);
    return session.user;
  }

  async logout() {
    const refresh = this.tokens?.refresh_token;
    this.forget();
    if (refresh) await this.call('POST', '/v1/auth/logout', { refresh_token: refresh }, { auth: false }).catch(() => {});
  }

  me = () => this.call('GET', '/v1/me');
  updateMe = (change) => this.call('PATCH', '/v1/me', change);
  acceptNotice = (version) => this.call('POST', '/v1/me/consent', { version });

  // --- the account's own data and rights (docs/privacy.md) ---------------------------------------------------

  requestPhoneCode = () => this.call('POST', '/v1/me/phone/verification');
  verifyPhone = (code) => this.call('POST', '/v1/me/phone/verify', { code });
  sessions = () => this.call('GET', '/v1/me/sessions');
  revokeSession = (id) => this.call('DELETE', `/v1/me/sessions/${encodeURIComponent(id)}`);
  revokeOtherSessions = () => this.call('DELETE', '/v1/me/sessions');
  changePassword = (current, next) => this.call('POST', '/v1/me/password', { current_password: current, new_password: next });
  exportData = () => this.call('GET', '/v1/me/export');
  deleteAccount = (password) => this.call('DELETE', '/v1/me', { password });
  /** A forgotten password: no tokens, the code goes to the account's verified phone. */
  requestReset = (phone) => this.call('POST', '/v1/auth/password-reset', { phone }, { auth: false });
  confirmReset = (phone, code, newPassword) =>
    this.call('POST', '/v1/auth/password-reset/confirm', { phone, code, new_password: newPassword }, { auth: false });

  // --- the rest of the user's REST surface ------------------------------------------------------------------

  notifications = () => this.call('GET', '/v1/notifications?limit=50');
  markRead = (upTo) => this.call('POST', '/v1/notifications/read', { up_to: upTo });
  claims = () => this.call('GET', '/v1/claims');
  fileClaim = (matchId) => this.call('POST', '/v1/claims', { match_id: matchId });
  iceServers = () => this.call('GET', '/v1/rtc/ice-servers');
  adClicked = (adId) => this.call('POST', `/v1/ads/${encodeURIComponent(adId)}/click`);
  /** A ban revokes every token: these take the phone number and password, like a login. */
  banStatus = (phone, password) => this.call('POST', '/v1/ban/status', { phone, password }, { auth: false });
  appeal = (phone, password, text) => this.call('POST', '/v1/ban/appeal', { phone, password, text }, { auth: false });

  // Contacts (the conversations themselves go over the socket).
  contacts = () => this.call('GET', '/v1/contacts');
  endContact = (matchId) => this.call('DELETE', `/v1/contacts/${encodeURIComponent(matchId)}`);

  // --- tokens -----------------------------------------------------------------------------------------------

  /** A valid access token, refreshed first when it is about to expire; null when signed out. */
  async accessToken() {
    if (!this.tokens) return null;
    if (Date.parse(this.tokens.access_token_expires_at) - Date.now() < REFRESH_AHEAD_MS) await this.refresh();
    return this.tokens?.access_token ?? null;
  }

  /** Rotates the token pair; on failure the session is over (`signedout` is dispatched). */
  async refresh() {
    const stale = this.tokens?.refresh_token;
    if (!stale) return;
    this.refreshing ??= withLock('tanis-refresh', async () => {
      // Another tab may have rotated the pair while we waited for the lock.
      const current = readTokens();
      if (current && current.refresh_token !== stale) return this.store(current);
      try {
        const tokens = await this.call('POST', '/v1/auth/refresh', { refresh_token: stale }, { auth: false });
        this.store(tokens);
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) this.forget();
        throw e;
      }
    }).finally(() => (this.refreshing = null));
    return this.refreshing;
  }

  store(tokens) {
    this.tokens = tokens;
    localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
    this.schedule();
  }

  forget() {
    this.tokens = null;
    localStorage.removeItem(TOKENS_KEY);
    clearTimeout(this.timer);
    this.dispatchEvent(new Event('signedout'));
  }

  schedule() {
    clearTimeout(this.timer);
    if (!this.tokens) return;
    const due = Date.parse(this.tokens.access_token_expires_at) - Date.now() - REFRESH_AHEAD_MS;
    // Silent refresh; a failure that is not the end of the session is retried on the next request.
    this.timer = setTimeout(() => this.refresh().catch(() => {}), Math.max(due, 1_000));
  }

  // --- transport --------------------------------------------------------------------------------------------

  /** One request in our error shape: resolves to the JSON body (or null), rejects with ApiError. */
  async call(method, path, body, { auth = true, retried = false } = {}) {
    const headers = {};
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (auth) {
      const token = await this.accessToken();
      if (!token) throw new ApiError(401, 'missing_token', 'signed out');
      headers.authorization = `Bearer ${token}`;
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, 'network', 'the server cannot be reached');
    }
    const text = await response.text();
    const json = text ? safeJson(text) : null;
    if (response.ok) return json;
    const error = new ApiError(response.status, json?.error?.code ?? 'unknown', json?.error?.message ?? response.statusText);
    // The access token expired between our check and the server's (clock skew, a sleeping laptop): once more.
    if (auth && !retried && error.code === 'token_expired') {
      await this.refresh();
      return this.call(method, path, body, { auth, retried: true });
    }
    if (auth && (error.code === 'invalid_token' || error.code === 'token_reused')) this.forget();
    throw error;
  }
}

function readTokens() {
  try {
    const tokens = JSON.parse(localStorage.getItem(TOKENS_KEY));
    return tokens?.access_token && tokens?.refresh_token ? tokens : null;
  } catch {
    return null;
  }
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Runs `task` under a cross-tab lock where the browser has Web Locks (every current one does). */
function withLock(name, task) {
  return navigator.locks ? navigator.locks.request(name, task) : task();
}
