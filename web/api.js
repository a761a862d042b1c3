// The page's REST calls (/v1/...) by name: profile, the account's rights, notifications, claims, call reports, ICE
// servers, ads, bans. The transport and the token pair are the SDK's api.js (the Client's `api`): bearer tokens,
// silent refresh ahead of expiry and once more on `token_expired`, one rotation at a time across tabs (a Web Lock,
// the pair read from IndexedDB inside it: storage.js), a refused refresh ending the session.

export class Api {
  /**
   * @param {import('./sdk/api.js').Api} sdk the Client's
   * @param {() => void} onSessionGone the server no longer knows this session (signed out elsewhere, revoked)
   */
  constructor(sdk, onSessionGone) {
    this.sdk = sdk;
    this.onSessionGone = onSessionGone;
  }

  /** The token pair (the tests shorten its life to see a refresh). */
  get tokens() {
    return this.sdk.tokens;
  }

  set tokens(tokens) {
    this.sdk.tokens = tokens;
  }

  call(method, path, body, options) {
    return this.guard(() => this.sdk.call(method, path, body, options), options?.auth !== false);
  }

  async guard(request, auth = true) {
    try {
      return await request();
    } catch (e) {
      // An access token the server refuses outright is a session that is over, whatever the refresh timer thinks.
      if (auth && (e.code === 'invalid_token' || e.code === 'token_reused')) this.onSessionGone();
      throw e;
    }
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
  /** A report from a video call (the SDK's: the snapshot base64, only when one is passed). */
  reportCall = (report) => this.guard(() => this.sdk.reportCall(report));
  iceServers = () => this.call('GET', '/v1/rtc/ice-servers');
  adClicked = (adId) => this.call('POST', `/v1/ads/${encodeURIComponent(adId)}/click`);
  /** A ban revokes every token: these take the phone number and password, like a login. */
  banStatus = (phone, password) => this.call('POST', '/v1/ban/status', { phone, password }, { auth: false });
  appeal = (phone, password, text) => this.call('POST', '/v1/ban/appeal', { phone, password, text }, { auth: false });
}
