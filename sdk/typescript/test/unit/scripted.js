// What the unit tests script the server with: a WebSocket the test drives (frames the client sends are kept,
// frames the server would send are delivered), an unsigned access token with the claims a test needs, and a client
// signed in with a find waiting, past its `hello`.

import { generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { Client, MemoryStorage } from '../../src/index.js';

/** A WebSocket whose server is the test. Each test file runs in its own process, so the statics are its own. */
export class FakeSocket {
  /** The latest socket the client opened. */
  static last = null;
  /** Every socket the client opened, in order. */
  static made = [];
  constructor(url, protocols) {
    Object.assign(this, { url, protocols, sent: [], closedWith: null, onSend: null });
    FakeSocket.last = this;
    FakeSocket.made.push(this);
  }
  send(text) {
    const frame = JSON.parse(text);
    this.onSend?.(frame);
    this.sent.push(frame);
  }
  close(code) {
    this.closedWith = code;
  }
  /** The server says something. */
  deliver(frame) {
    this.onmessage({ data: JSON.stringify(frame) });
  }
}

/** An access token with `claims`: the SDK reads its `exp`, the scripted server never checks the signature. */
export const jwt = (claims) => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

/**
 * A client signed in, with a find waiting (its key pair is `mine`), that has read `hello` saying `protocol` and
 * `active_match`; `clients` collects it for the test file to close. `peer` is the other side's key pair.
 */
export async function helloed(clients, { protocol = 1, active_match = null, mine = generateIdentity() } = {}) {
  const storage = new MemoryStorage();
  const now = Math.floor(Date.now() / 1000);
  await storage.set('tanis.tokens', JSON.stringify({ access_token: jwt({ exp: now + 900, iat: now }), refresh_token: 'r', access_token_expires_at: '2099-01-01T00:00:00Z' }));
  await storage.set('tanis.find', JSON.stringify({ id: 'f1', frame: {}, identity: { privateKey: toBase64(mine.privateKey), publicKey: toBase64(mine.publicKey) } }));
  const fetch = async () => new Response(JSON.stringify({ contacts: [] }), { status: 200 });
  const client = new Client({ baseUrl: 'http://tanis.test', WebSocket: FakeSocket, storage, fetch });
  clients.push(client);
  await client.start();
  await new Promise((resolve) => setImmediate(resolve));
  const socket = FakeSocket.last;
  const hello = client.events.once('hello');
  socket.deliver({ type: 'hello', protocol, handle: 'me#0001', balances: {}, premium: false, limits: {}, server_time: '2026-01-01T00:00:00Z', active_match });
  await hello;
  await new Promise((resolve) => setImmediate(resolve));
  return { client, socket, mine };
}
