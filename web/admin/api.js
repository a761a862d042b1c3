// The console's REST calls: the staff account's access token from a normal sign-in (POST /v1/auth/login), kept
// for this tab only (sessionStorage), sent as a bearer token. The server checks the role on every admin request;
// the console only hides what the role may not do.

const TOKEN = 'tanis.console.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
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

async function send(method, path, body) {
  const token = sessionStorage.getItem(TOKEN);
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiError(response.status, data?.error?.code ?? 'unknown', data?.error?.message ?? response.statusText);
  }
  return response;
}

export async function signIn(phone, password) {
  const session = await call('POST', '/v1/auth/login', { phone, password });
  sessionStorage.setItem(TOKEN, session.tokens.access_token);
}

export function signedIn() {
  return sessionStorage.getItem(TOKEN) !== null;
}

export function signOut() {
  sessionStorage.removeItem(TOKEN);
}
