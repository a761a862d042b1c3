// What the page before the SDK kept, carried over once into the SDK's store (storage.js), before the SDK reads it:
//   - the token pair, from localStorage `tanis.tokens` (the same JSON): nobody is signed out by the upgrade;
//   - each conversation of IndexedDB `tanis` (version 1, store `matches`, keyed by match_id): its fields are the
//     SDK's record's already (peer, keys, BigInt counters, `highest_seq`, the outbox `pending`, `unacked`, the
//     transcript with what a report can reveal, `contact`, `retired_peer_keys`, `previous`) but for the key pairs,
//     held as bytes there and as base64 in the SDK. The page's own fields (`seen_seq`, `keep`, `key_changed`) ride
//     along unchanged.
// A key pair kept as a WebCrypto CryptoKey (the page before that) cannot map: no script can read its bytes. That
// conversation is carried over without a key, as on a device that never held one: a match still running is left
// (the SDK ends a match it cannot key: protocol section 9.2), a contact offers "Use this device".
// Not carried over: store `keys`, the key pair of a `match.find` waiting at the upgrade (the old page did not queue
// again after a reload either; a match found for it meanwhile shows as one found on another device).
// Runs under a Web Lock, so two tabs opening at once carry the records over once; the old database is deleted
// afterwards, so it runs once per browser.

import * as e2e from './sdk/crypto/e2e.js';
import { decode, encode } from './sdk/storage.js';
import { setAll, store } from './storage.js';

const OLD_DB = 'tanis';
const OLD_TOKENS = 'tanis.tokens';
/** The SDK's keys (sdk/typescript/src/client.js, prefix `tanis.`). */
const TOKENS_KEY = 'tanis.tokens';
const INDEX_KEY = 'tanis.conversations';
const conversationKey = (matchId) => `tanis.conversation.${matchId}`;

export async function upgrade() {
  const locked = navigator.locks ? (task) => navigator.locks.request('tanis.upgrade', task) : (task) => task();
  await locked(async () => {
    await carryTokens();
    await carryConversations();
  });
}

async function carryTokens() {
  const old = localStorage.getItem(OLD_TOKENS);
  if (old === null) return;
  // A pair in the new store is the newer one (another tab carried it over and rotated it since).
  if (!(await store.get(TOKENS_KEY))) await store.set(TOKENS_KEY, old);
  localStorage.removeItem(OLD_TOKENS);
}

async function carryConversations() {
  const old = await openOld();
  if (!old) return;
  const records = old.objectStoreNames.contains('matches') ? await getAll(old, 'matches') : [];
  old.close();
  const entries = new Map();
  const ids = new Set(decode(await store.get(INDEX_KEY)) ?? []);
  for (const record of records) {
    entries.set(conversationKey(record.match_id), encode(sdkRecord(record)));
    ids.add(record.match_id);
  }
  entries.set(INDEX_KEY, encode([...ids]));
  // All of them in one transaction, then the old database goes: a crash in between only repeats the copy.
  await setAll(entries);
  await new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(OLD_DB);
    // `blocked`: an old tab still has it open; it is deleted once that tab goes, and nothing here waits for it.
    request.onsuccess = request.onerror = request.onblocked = () => resolve();
  });
}

/** The old database if this browser has one; never creates it. */
function openOld() {
  return new Promise((resolve) => {
    const request = indexedDB.open(OLD_DB);
    request.onupgradeneeded = (event) => {
      // Version 0: it did not exist. Aborting leaves nothing behind.
      if (event.oldVersion === 0) request.transaction.abort();
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => resolve(null);
  });
}

function getAll(db, name) {
  return new Promise((resolve, reject) => {
    const request = db.transaction(name, 'readonly').objectStore(name).getAll();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** An old record in the SDK's shape (sdk/typescript/src/conversation.js, `Conversation.fresh`). */
export function sdkRecord(old) {
  const identity = storedIdentity(old.identity);
  const previous = old.previous && storedIdentity(old.previous.identity);
  return {
    ...old,
    rtc: null,
    identity,
    // A session before a key change whose key cannot map is of no use either.
    previous: identity && previous ? { ...old.previous, identity: previous } : null,
    retired_peer_keys: old.retired_peer_keys ?? [],
    contact: old.contact ?? null,
    pending: old.pending ?? [],
    unacked: old.unacked ?? [],
    messages: old.messages ?? [],
  };
}

/** Bytes to the SDK's base64; null for a CryptoKey (or anything else that is not the key's bytes). */
function storedIdentity(identity) {
  if (!(identity?.privateKey instanceof Uint8Array) || !(identity.publicKey instanceof Uint8Array)) return null;
  return { privateKey: e2e.toBase64(identity.privateKey), publicKey: e2e.toBase64(identity.publicKey) };
}
