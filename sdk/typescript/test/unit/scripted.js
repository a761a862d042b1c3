// A client signed in with a find waiting, past its `hello`, on the test kit's scripted server
// (`@tanis/client/testing`, src/testing.js: what these unit tests script the server and the clock with).

import { establish, generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
import { Client, MemoryStorage } from '../../src/index.js';
import { ScriptedServer, settle } from '@tanis/client/testing';

/**
 * A client signed in, with a find waiting (its key pair is `mine`), that has read `hello` saying `protocol` and
 * `active_match`; `clients` collects it for the test file to close. The server answers nothing by itself.
 */
export async function helloed(clients, { protocol = 1, active_match = null, mine = generateIdentity() } = {}) {
  const server = new ScriptedServer({ autoReply: false, protocol });
  const storage = new MemoryStorage();
  await server.signIn(storage);
  await storage.set('tanis.find', JSON.stringify({ id: 'f1', frame: {}, identity: { privateKey: toBase64(mine.privateKey), publicKey: toBase64(mine.publicKey) } }));
  const client = new Client({ ...server.clientOptions(), storage });
  clients.push(client);
  await client.start();
  const socket = await server.socket();
  const hello = client.events.once('hello');
  socket.hello({ active_match });
  await hello;
  await settle();
  return { client, socket, mine, server };
}

/**
 * A client in match 7 as its initiator, past its `resume.done` (version 1), the peer's session to seal messages to
 * it with, and the server.
 */
export async function matched(clients) {
  const peer = generateIdentity();
  const info = { match_id: 7, kind: 'text', peer: 'peer#0001', peer_public_key: toBase64(peer.publicKey), initiator: true, expires_at: '2099-01-01T00:00:00Z' };
  const { client, socket, mine, server } = await helloed(clients, { protocol: 1, active_match: info });
  const resume = socket.sent.find((f) => f.type === 'resume');
  socket.deliver({ type: 'resume.done', id: resume.id, match_id: 7, last_seq: 0 });
  const session = establish(peer, toBase64(mine.publicKey), 7, false);
  return { client, socket, session, mine, server };
}
