// A client signed in with a find waiting, past its `hello`, on the test kit's scripted server
// (`@tanis/client/testing`, src/testing.js: what these unit tests script the server and the clock with).

import { generateIdentity, toBase64 } from '../../src/crypto/e2e.js';
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
