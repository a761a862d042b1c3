// The SDK's Storage (sdk/typescript/src/storage.js: async get/set/delete of strings) on this origin's IndexedDB:
// one database, one key/value object store. The SDK keeps everything there, as its `storage` and its `secrets`
// alike (app.js says why one store): the token pair, the key pair of a `match.find` still waiting, and each
// conversation's record (keys, counters, highest `seq`, outbox, transcript).
// IndexedDB and not localStorage because the tabs of one person share the token pair, and a refresh token used
// twice signs every session out: the SDK rotates it under a Web Lock and reads the pair inside it, which is sound
// only if a write another tab committed is visible as soon as its `set` resolved. An IndexedDB transaction is
// consistent across tabs once committed (so `set` resolves on commit, not on the request's success);
// localStorage reaches another renderer late (the cause of the revert b0c19f6). upgrade.js carries the older
// page's stores over into this one.

export const DB_NAME = 'tanis-sdk';
const DB_VERSION = 1;
export const STORE = 'kv';

let opened = null;

function db() {
  opened ??= new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, DB_VERSION);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  return opened;
}

/** Runs `action` on the store in one transaction; resolves with its request's result once committed. */
async function run(mode, action) {
  const tx = (await db()).transaction(STORE, mode);
  const request = action(tx.objectStore(STORE));
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve(request?.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/** The SDK's Storage interface. */
export const store = {
  get: async (key) => (await run('readonly', (s) => s.get(key))) ?? null,
  set: (key, value) => run('readwrite', (s) => s.put(value, key)).then(() => {}),
  delete: (key) => run('readwrite', (s) => s.delete(key)).then(() => {}),
};

/** Several keys in one transaction: all of them or none (upgrade.js). @param {Map<string, string>} entries */
export const setAll = (entries) => run('readwrite', (s) => {
  for (const [key, value] of entries) s.put(value, key);
});

/** Sign-out: nothing of the person stays in this browser (the SDK's logout deletes its own keys first). */
export const clearAll = () => run('readwrite', (s) => s.clear());
