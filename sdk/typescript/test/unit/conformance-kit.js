// What the TypeScript runner of the conformance corpus (conformance-runner.js; the contract: conformance/README.md)
// plays besides the socket and the stranger: the corpus's token pairs (README, "Tokens"), the REST server, whose
// counted requests (`/v1/auth/...`) wait for the scenario's `respond`, the corpus's names for the SDK's events, and
// the rules of its values (README, "Values").

import assert from 'node:assert/strict';

/** The header and the signature of every access token of the corpus (README, "Tokens"). */
const JWT_HEADER = { alg: 'HS256', typ: 'JWT' };
const JWT_SIGNATURE = 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
/** The login every token of the corpus belongs to (its `sid`). */
const SESSION = '00000000-0000-4000-8000-000000000001';

/** @param {unknown} value */
const base64url = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * The access token `n` of the corpus: an HS256-shaped JWT living 15 minutes (tanis's default), up to `exp` (s).
 * @param {number} n
 * @param {number} exp
 */
export function accessToken(n, exp) {
  const fields = { sub: '1', role: 'user', iat: exp - 900, exp, jti: `access-${n}`, sid: SESSION };
  return `${base64url(JWT_HEADER)}.${base64url(fields)}.${JWT_SIGNATURE}`;
}

/** The variables bound from the start to the corpus's tokens: `$access`, `$refresh`, `$access2`, ... */
export const TOKENS = new Map([
  ['$access', accessToken(1, 900)],
  ['$refresh', 'refresh-1'],
  ['$access2', accessToken(2, 1800)],
  ['$refresh2', 'refresh-2'],
  ['$access3', accessToken(3, 2700)],
  ['$refresh3', 'refresh-3'],
]);

/** The pair the client is signed in with at the start, as `POST /v1/auth/login` returned it. */
export const SIGNED_IN = {
  access_token: TOKENS.get('$access'),
  access_token_expires_at: '1970-01-01T00:15:00Z',
  refresh_token: TOKENS.get('$refresh'),
  refresh_token_expires_at: '1970-01-31T00:00:00Z',
  token_type: 'Bearer',
};

/**
 * The SDK's event as the corpus names it (README, "Events"), or null for one the corpus does not count.
 * @param {string} name
 * @param {any} detail
 */
export function corpusEvent(name, detail) {
  switch (name) {
    case 'matched': {
      const { record } = detail.conversation;
      return { type: 'matched', match_id: record.match_id, peer: record.peer, initiator: record.initiator };
    }
    case 'message': {
      const { seq, text, mine } = detail.message;
      // One of ours this client did not write: another client's on the same storage (a tab: opened), or another
      // device's (not opened: no text).
      if (mine) return { type: 'own_message', match_id: detail.matchId, seq, text: text ?? null };
      return { type: 'message', match_id: detail.matchId, seq, text };
    }
    case 'undecryptable':
      // Not opened, or opened but its franking commitment does not open: either way never shown as text.
      return { type: 'unreadable', match_id: detail.matchId, seq: detail.seq };
    case 'sent':
      return { type: 'sent', match_id: detail.matchId, client_msg_id: detail.clientMsgId, seq: detail.seq };
    case 'failed':
      return { type: 'failed', match_id: detail.matchId, client_msg_id: detail.clientMsgId, code: detail.error.code };
    case 'ended':
      return { type: 'ended', match_id: detail.matchId, reason: detail.reason };
    case 'reauthenticate':
      return { type: 'signed_out', code: detail.code };
    case 'banned':
      return { type: 'banned' };
    case 'matchedElsewhere':
      return { type: 'matched_elsewhere', match_id: detail.matchId, peer: detail.peer };
    case 'contactAdded':
      return { type: 'contact_added', match_id: detail.matchId, peer: detail.conversation.record.peer };
    case 'takenOver':
      return { type: 'taken_over', match_id: detail.matchId, session_id: detail.sessionId };
    case 'hangup':
      return { type: 'peer_hung_up', match_id: detail.matchId };
    default:
      return null;
  }
}

/** Why the client refused an app's call, as the corpus names it (README, "Steps": `refused`). @param {any} error */
export function corpusRefusal(error) {
  return error?.code === 'e2e' ? 'no_key' : String(error?.code ?? error);
}

/**
 * The REST side of the server. A request to `/v1/auth/...` is counted: it waits, in `requests`, for the scenario's
 * `respond`. The others are not (README, "Requests"): `GET /v1/contacts`, which the SDK sends after every `hello`,
 * is answered with no contacts; any other fails the scenario.
 */
export class Rest {
  /** @param {string} baseUrl */
  constructor(baseUrl) {
    this.baseUrl = baseUrl;
    /** @type {{method: string, path: string, body: any, answer: (reply: {status?: number, body?: unknown, network_error?: boolean}) => void, answered: boolean}[]} */
    this.requests = [];
    /** @type {string[]} requests the corpus does not know (a failure at the next `quiet`) */
    this.unknown = [];
    /** The fetch to give the Client. */
    this.fetch = /** @type {typeof fetch} */ (/** @type {unknown} */ ((/** @type {string} */ url, /** @type {any} */ init) => this.request(String(url), init)));
  }

  /** @param {string} url @param {{method?: string, body?: string}} [init] @returns {Promise<any>} */
  request(url, init = {}) {
    const path = url.startsWith(this.baseUrl) ? url.slice(this.baseUrl.length) : url;
    const method = (init.method ?? 'GET').toUpperCase();
    const body = init.body ? JSON.parse(init.body) : null;
    if (!path.startsWith('/v1/auth/')) {
      if (method === 'GET' && path === '/v1/contacts') return Promise.resolve(response(200, { contacts: [] }));
      this.unknown.push(`${method} ${path}`);
      return Promise.resolve(response(404, { error: { code: 'not_found', message: `${method} ${path}` } }));
    }
    return new Promise((resolve, reject) => {
      const request = {
        method,
        path,
        body,
        answered: false,
        answer: (/** @type {any} */ reply) => {
          request.answered = true;
          if (reply.network_error) reject(new TypeError('fetch failed'));
          else resolve(response(reply.status ?? 200, reply.body));
        },
      };
      this.requests.push(request);
    });
  }
}

/**
 * The scripted server's WebSocket, whose server answers every `ping` at once, as tanis does (README, "Steps"): no
 * step writes a `pong`.
 * @param {any} WebSocket `ScriptedServer.WebSocket`
 */
export function answeringPings(WebSocket) {
  return class extends WebSocket {
    /** @param {string} url @param {string[]} protocols */
    constructor(url, protocols) {
      super(url, protocols);
      this.onSend = (/** @type {any} */ f) => f.type === 'ping' && queueMicrotask(() => this.open && this.deliver({ type: 'pong', id: f.id ?? null }));
    }
  };
}

/**
 * A fetch Response with what the SDK reads.
 * @param {number} status
 * @param {unknown} body
 */
function response(status, body) {
  const text = body === undefined || body === null ? '' : JSON.stringify(body);
  return {
    ok: status >= 200 && status < 300,
    status,
    headers: { get: (/** @type {string} */ name) => (name.toLowerCase() === 'content-type' && text ? 'application/json' : null) },
    text: async () => text,
    json: async () => JSON.parse(text),
  };
}

/**
 * A server frame's (or answer's) value with every variable replaced (README, "Values").
 * @param {any} value
 * @param {Map<string, unknown>} vars
 * @returns {any}
 */
export function substitute(value, vars) {
  if (typeof value === 'string' && value.startsWith('$')) {
    assert.ok(vars.has(value), `${value} is not bound`);
    return vars.get(value);
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, vars));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v, vars)]));
  return value;
}

/**
 * `actual` against `pattern` (README, "Values"): an unbound `$name` binds, a bound one must be equal; `null` is
 * a key left out (or null); at the top only the pattern's keys count, nested objects and arrays are whole.
 * @param {any} pattern @param {any} actual @param {string} where @param {Map<string, unknown>} vars @param {boolean} [top]
 */
export function conform(pattern, actual, where, vars, top = false) {
  if (typeof pattern === 'string' && pattern.startsWith('$')) {
    assert.notEqual(actual, undefined, `${where}: no value for ${pattern}`);
    if (!vars.has(pattern)) return void vars.set(pattern, actual);
    return assert.deepEqual(actual, vars.get(pattern), `${where}: ${pattern}`);
  }
  if (pattern === null) return assert.ok(actual == null, `${where}: expected none, got ${JSON.stringify(actual)}`);
  if (Array.isArray(pattern)) {
    assert.ok(Array.isArray(actual) && actual.length === pattern.length, `${where}: expected ${pattern.length} items`);
    return pattern.forEach((p, i) => conform(p, actual[i], `${where} [${i}]`, vars));
  }
  if (typeof pattern === 'object') {
    assert.ok(actual && typeof actual === 'object', `${where}: expected an object`);
    if (!top) for (const key of Object.keys(actual)) assert.ok(key in pattern, `${where}: unexpected key ${key}`);
    for (const [key, p] of Object.entries(pattern)) conform(p, actual[key], `${where} .${key}`, vars);
    return;
  }
  assert.equal(actual, pattern, `${where}: ${JSON.stringify(pattern)}`);
}
