// The console's REST calls: the staff account's token pair from a normal sign-in (POST /v1/auth/login), kept for
// this tab only (sessionStorage), the access token sent as a bearer token. The server checks the role on every
// admin request; the console only hides what the role may not do.
//
// An access token lives minutes (auth.access_token_ttl_secs), a moderator's shift hours: on 401 `token_expired` the
// pair is rotated once (POST /v1/auth/refresh) and the call sent again. Refresh tokens rotate and presenting a used
// one signs every session of the login out (docs/errors.md `token_reused`), so one refresh runs at a time and a call
// that was sent with a token already replaced just retries. Any other 401 on a call that carried a token, or a
// refused refresh, ends the session: the tokens are forgotten and the console goes back to its sign-in.

const ACCESS = 'tanis.console.token';
const REFRESH = 'tanis.console.refresh';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** What to do when the session ends under a call (set by console.js: back to the sign-in form). */
let sessionEnded = () => {};
/** The rotation in progress, which every call that meets an expired token waits for. */
let refreshing = null;

export function whenSessionEnds(handler) {
  sessionEnded = handler;
}

/** A JSON call; resolves with the answer's JSON, or throws the error the server answered. */
export async function call(method, path, body) {
  const response = await send(method, path, body);
  return response.status === 204 ? null : response.json();
}

/** A call whose answer is text (the statements' NDJSON). */
export async function callText(method, path) {
  return (await send(method, path)).text();
}

/** A call whose answer is bytes with their type (a call report's snapshot). */
export async function callBlob(method, path) {
  return (await send(method, path)).blob();
}

function request(method, path, body, token) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
}

async function failure(response) {
  const data = await response.json().catch(() => null);
  return new ApiError(response.status, data?.error?.code ?? 'unknown', data?.error?.message ?? response.statusText);
}

async function send(method, path, body) {
  const token = sessionStorage.getItem(ACCESS);
  let response = await request(method, path, body, token);
  if (response.ok) return response;
  let error = await failure(response);
  if (token && error.status === 401 && error.code === 'token_expired' && (await fresh(token))) {
    response = await request(method, path, body, sessionStorage.getItem(ACCESS));
    if (response.ok) return response;
    error = await failure(response);
  }
  if (token && error.status === 401) {
    forget();
    sessionEnded(error.message);
  }
  throw error;
}

/** Whether a token newer than `expired` is at hand: another call's rotation, or this one's. */
async function fresh(expired) {
  if (sessionStorage.getItem(ACCESS) !== expired) return true;
  refreshing ??= rotate().finally(() => (refreshing = null));
  return refreshing;
}

async function rotate() {
  const refreshToken = sessionStorage.getItem(REFRESH);
  if (!refreshToken) return false;
  const response = await request('POST', '/v1/auth/refresh', { refresh_token: refreshToken });
  if (!response.ok) return false;
  keep(await response.json());
  return true;
}

function keep(tokens) {
  sessionStorage.setItem(ACCESS, tokens.access_token);
  sessionStorage.setItem(REFRESH, tokens.refresh_token);
}

function forget() {
  sessionStorage.removeItem(ACCESS);
  sessionStorage.removeItem(REFRESH);
}

export async function signIn(phone, password) {
  const session = await call('POST', '/v1/auth/login', { phone, password });
  keep(session.tokens);
}

export function signedIn() {
  return sessionStorage.getItem(ACCESS) !== null;
}

/** Forgets the pair and ends the login on the server too, so the tokens left behind in no tab still work. */
export function signOut() {
  const refreshToken = sessionStorage.getItem(REFRESH);
  forget();
  if (refreshToken) request('POST', '/v1/auth/logout', { refresh_token: refreshToken }).catch(() => {});
}
