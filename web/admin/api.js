// @ts-check
// The console's REST calls, on the SDK's `Api` (sdk/typescript/src/api.js, served at /app/sdk/): the token pair of
// a normal sign-in (POST /v1/auth/login) and its one rotation, the same code the apps and the web client run. The
// server checks the role on every admin request; the console only hides what the role may not do.
//
// The pair is kept for this tab only (sessionStorage) and refreshed when it is asked for close to its expiry or
// the server answers 401 `token_expired`, never on a timer: a console left open overnight does not keep its login
// alive. One refresh runs at a time, and a refused one (the login signed out, the refresh token expired) forgets
// the pair. Any 401 to a call that carried a token, the refused refresh's included, ends the session: the console
// goes back to its sign-in.

import { Api } from '../sdk/api.js';
import { Emitter } from '../sdk/emitter.js';
import { TanisError } from '../sdk/errors.js';

export { TanisError };

/** sessionStorage as the SDK's Storage: the pair survives a reload of this tab and reaches no other. */
const thisTab = {
  /** @param {string} key */
  get: async (key) => sessionStorage.getItem(key),
  /** @param {string} key @param {string} value */
  set: async (key, value) => sessionStorage.setItem(key, value),
  /** @param {string} key */
  delete: async (key) => sessionStorage.removeItem(key),
};

const api = new Api({
  baseUrl: '',
  fetch: (input, init) => fetch(input, init),
  storage: thisTab,
  now: Date.now,
  events: new Emitter(),
  prefix: 'tanis.console.',
  refreshAhead: false,
  // The call that met the refusal ends the session (below), with the server's words.
  onRefused: () => {},
});

/** The pair this tab already holds (a reload), read once. */
const loaded = api.load();

/** What to do when the session ends under a call (set by console.js: back to the sign-in form). */
let sessionEnded = (/** @type {string} */ _problem) => {};

/** @param {(problem: string) => void} handler */
export function whenSessionEnds(handler) {
  sessionEnded = handler;
}

/**
 * Runs a call made with the token; a 401 the rotation could not mend ends the session.
 * @template T
 * @param {() => Promise<T>} request
 * @returns {Promise<T>}
 */
async function signedCall(request) {
  await loaded;
  try {
    return await request();
  } catch (e) {
    if (e instanceof TanisError && e.status === 401) {
      await api.forget();
      sessionEnded(e.message);
    }
    throw e;
  }
}

/**
 * A JSON call; resolves with the answer's JSON (null for a 204), or rejects with the TanisError the server answered.
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export function call(method, path, body) {
  return signedCall(() => api.call(method, path, body));
}

/** A call whose answer is text (the statements' NDJSON). @param {string} method @param {string} path */
export async function callText(method, path) {
  return (await signedCall(() => answer(method, path))).text();
}

/** A call whose answer is bytes with their type (a call report's snapshot). @param {string} method @param {string} path */
export async function callBlob(method, path) {
  return (await signedCall(() => answer(method, path))).blob();
}

/**
 * The answer itself, for the two that are not JSON (`Api.call` reads JSON): the SDK's token, and once more after
 * the SDK's rotation when the server says it expired, as `Api.call` does.
 * @param {string} method
 * @param {string} path
 * @returns {Promise<Response>}
 */
async function answer(method, path, retried = false) {
  const token = await api.accessToken();
  if (!token) throw new TanisError('signed_out', 'not signed in', { status: 401 });
  const response = await fetch(path, { method, headers: { authorization: `Bearer ${token}` } });
  if (response.ok) return response;
  const error = await response.json().then((data) => data?.error, () => null);
  const refusal = new TanisError(error?.code ?? 'unknown', error?.message ?? `HTTP ${response.status}`, { status: response.status });
  if (retried || refusal.code !== 'token_expired') throw refusal;
  await api.refresh();
  return answer(method, path, true);
}

/** A call that needs no sign-in (the server's OpenAPI document). @param {string} path */
export function callPublic(path) {
  return api.call('GET', path, undefined, { auth: false });
}

/** @param {string} phone @param {string} password */
export async function signIn(phone, password) {
  await loaded;
  await api.login(phone, password);
}

export async function signedIn() {
  await loaded;
  return api.signedIn;
}

/** Forgets the pair and ends the login on the server too, so the tokens left behind in no tab still work. */
export function signOut() {
  api.logout().catch(() => {});
}
