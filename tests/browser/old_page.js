// What the page before the SDK kept in a browser (IndexedDB `tanis` version 1: stores `matches` and `keys`; the
// token pair in localStorage), recreated from what the page keeps now, for the tests of web/upgrade.js. The
// records are the live ones of a person's conversations, written back in the old format: key pairs as bytes (or,
// with `cryptoKey`, as a WebCrypto CryptoKey, as the page before that kept them), counters as BigInt, and,
// with `unsent`, a message the old page sealed and put in its outbox but never sent.

import { baseUrl } from './harness.js';

/**
 * Leaves the app (so that nothing of it runs), turns this browser's storage into the old page's, and returns the
 * address to go back to (which loads the new page: the upgrade).
 * @param {{page: import('playwright-core').Page}} p a person of harness.js
 * @param {{cryptoKey?: boolean, unsent?: string | null}} [options]
 */
export async function asOldPage(p, { cryptoKey = false, unsent = null } = {}) {
  const back = p.page.url();
  // Same origin, same storage; no app code on this page.
  await p.page.goto(`${baseUrl}/app/icon.svg`);
  await p.page.evaluate(writeOldStores, { cryptoKey, unsent });
  return back;
}

/** Runs in the page. */
async function writeOldStores({ cryptoKey, unsent }) {
  const e2e = await import('/app/sdk/crypto/e2e.js');
  const franking = await import('/app/sdk/crypto/franking.js');
  const { decode } = await import('/app/sdk/storage.js');
  const done = (request) => new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });

  // What the SDK keeps now (web/storage.js: database `tanis-sdk`, one key/value store).
  const kv = await done(indexedDB.open('tanis-sdk'));
  const store = kv.transaction('kv').objectStore('kv');
  const [keys, values] = await Promise.all([done(store.getAllKeys()), done(store.getAll())]);
  kv.close();
  const entries = new Map(keys.map((key, i) => [key, values[i]]));

  const oldIdentity = async (stored) => stored && {
    privateKey: cryptoKey
      ? (await crypto.subtle.generateKey({ name: 'X25519' }, false, ['deriveBits'])).privateKey
      : e2e.fromBase64(stored.privateKey),
    publicKey: e2e.fromBase64(stored.publicKey),
  };
  const records = [];
  for (const [key, value] of entries) {
    if (!key.startsWith('tanis.conversation.')) continue;
    const { rtc, collected, ...record } = decode(value);
    // The SDK keeps a conversation's private keys (`tanis.keys.<id>`, a secret) and its outbox and send counter
    // (`tanis.outbox.<id>`) apart from the record; the old page kept them inside it.
    const id = key.slice('tanis.conversation.'.length);
    const secret = decode(entries.get(`tanis.keys.${id}`) ?? 'null');
    const outbox = decode(entries.get(`tanis.outbox.${id}`) ?? 'null');
    if (secret) {
      record.identity = secret.identity;
      if (record.previous) record.previous.identity = secret.previous_identity;
    }
    Object.assign(record, { sent: outbox?.sent ?? 0n, pending: outbox?.pending ?? [] });
    if (unsent && !record.ended && record.identity) {
      // Sealed with the next counter, as the old page did before the frame could leave.
      const identity = { privateKey: e2e.fromBase64(record.identity.privateKey), publicKey: e2e.fromBase64(record.identity.publicKey) };
      const session = e2e.establish(identity, record.peer_public_key, record.match_id, record.initiator, record);
      const { payload, commitment } = franking.frank(unsent);
      const id = crypto.randomUUID();
      record.pending.push({ type: 'msg.send', id, match_id: record.match_id, client_msg_id: id, ...session.seal(payload), commitment });
      record.messages.push({ key: id, seq: null, mine: true, text: unsent, status: 'sending', at: Date.now() });
      record.sent = session.sent;
    }
    record.identity = await oldIdentity(record.identity);
    if (record.previous) record.previous.identity = await oldIdentity(record.previous.identity);
    records.push(record);
  }

  // A browser that never ran the new page: no `tanis-sdk`, the old database, the tokens in localStorage.
  await done(indexedDB.deleteDatabase('tanis-sdk'));
  const opening = indexedDB.open('tanis', 1);
  opening.onupgradeneeded = () => {
    opening.result.createObjectStore('matches', { keyPath: 'match_id' });
    opening.result.createObjectStore('keys', { keyPath: 'name' });
  };
  const old = await done(opening);
  const tx = old.transaction('matches', 'readwrite');
  for (const record of records) tx.objectStore('matches').put(record);
  await new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
  });
  old.close();
  localStorage.setItem('tanis.tokens', entries.get('tanis.tokens'));
}
