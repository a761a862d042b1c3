// The page's REST calls (/v1/...): accounts, profile, notifications, claims, ICE servers, bans. The token pair and
// its rules — stored in this origin's localStorage (`tanis.tokens`), refreshed ahead of expiry and once more on
// `token_expired`, rotated by one tab at a time (Web Locks) with a pair another tab rotated adopted, a refused
// refresh ending the session — are the SDK's api.js (served at /app/sdk/); this module only names the endpoints
// and tells the page when the session is over (`signedout`).

import { Api as SdkApi } from './sdk/api.js';
import { Emitter } from './sdk/emitter.js';

export { TanisError as ApiError } from './sdk/errors.js';

/** The SDK's Storage interface over this origin's localStorage. */
export const localStore = {
  get: async (key) => localStorage.getItem(key),
  set: async (key, value) => localStorage.setItem(key, value),
  delete: async (key) => localStorage.removeItem(key),
};

export class Api extends SdkApi {
  constructor() {
    super({
      baseUrl: location.origin,
      fetch: globalThis.fetch.bind(globalThis),
      storage: localStore,
      now: Date.now,
      events: new Emitter(),
      prefix: 'tanis.',
      lock: navigator.locks ? (name, task) => navigator.locks.request(name, task) : undefined,
      // The SDK forgets the tokens first; `forget` below tells the page.
      onRefused: () => {},
    });
    this.target = new EventTarget();
  }

  addEventListener(...args) {
    this.target.addEventListener(...args);
  }

  /** The session is over (signed out, refused): the page goes back to the sign-in screen. */
  async forget() {
    await super.forget();
    this.target.dispatchEvent(new Event('signedout'));
  }

  /** The sign-up form's fields, in the SDK's shape. */
  register({ phone, password, alias, birthYear, referralCode, consent }) {
    return super.register({ phone, password, alias, birthYear: Number(birthYear), acceptPrivacyNotice: consent, referralCode });
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
}
