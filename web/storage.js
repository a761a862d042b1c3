// What survives a reload: each match's E2E state and transcript (docs/protocol.md section 8, step 1), and the
// key pair of a `match.find` still waiting for its `match.found`. IndexedDB, because it stores the private key's
// bytes (a Uint8Array, the SDK's crypto/e2e.js identity) and BigInt counters as they are, and only this origin
// reads it. A record kept by an older version holds a WebCrypto CryptoKey instead, which conversation.js drops:
// that match ends as one whose key was refused, and a contact can be taken over with a fresh key pair.

const DB_NAME = 'tanis';
const DB_VERSION = 1;
const MATCHES = 'matches';
const KEYS = 'keys';
const PENDING_FIND = 'pending-find';

let opened = null;

function db() {
  opened ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => {
      request.result.createObjectStore(MATCHES, { keyPath: 'match_id' });
      request.result.createObjectStore(KEYS, { keyPath: 'name' });
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}

async function run(store, mode, action) {
  const tx = (await db()).transaction(store, mode);
  const request = action(tx.objectStore(store));
  return new Promise((resolve, reject) => {
    // Resolve on commit, not on the request's success: a write is durable only then.
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/** @returns {Promise<object|undefined>} the persisted record of a match */
export const loadMatch = (matchId) => run(MATCHES, 'readonly', (s) => s.get(matchId));
export const saveMatch = (record) => run(MATCHES, 'readwrite', (s) => s.put(record));
export const deleteMatch = (matchId) => run(MATCHES, 'readwrite', (s) => s.delete(matchId));
export const allMatches = () => run(MATCHES, 'readonly', (s) => s.getAll());

/** The key pair sent with the latest `match.find`, until its match is keyed. */
export const savePendingFind = (identity, kind) =>
  run(KEYS, 'readwrite', (s) => s.put({ name: PENDING_FIND, identity, kind }));
export const loadPendingFind = () => run(KEYS, 'readonly', (s) => s.get(PENDING_FIND));
export const clearPendingFind = () => run(KEYS, 'readwrite', (s) => s.delete(PENDING_FIND));

/** Sign-out: nothing of the conversations stays on the device. */
export async function clearAll() {
  await run(MATCHES, 'readwrite', (s) => s.clear());
  await run(KEYS, 'readwrite', (s) => s.clear());
}
