// @ts-check
// Where the SDK keeps what must survive a reconnect and an app restart, in two stores the app injects. SECRETS
// (ClientOptions.secrets): the token pair, the key pair of a `match.find` still waiting, each conversation's
// private key — in React Native the platform keystore (expo-secure-store, react-native-keychain), in a browser the
// origin's IndexedDB. STORAGE (ClientOptions.storage): the rest, each conversation's record (counters, highest
// seq, the OUTBOX of `msg.send` frames without `msg.accepted`, the messages a report can reveal) — AsyncStorage in
// React Native, IndexedDB in a browser. Without `secrets` both are the one `storage`. `MemoryStorage` in tests.

/**
 * An async string key/value store. React Native's AsyncStorage has this shape with `getItem`/`setItem`/
 * `removeItem`: wrap it as `{get: (k) => AsyncStorage.getItem(k), set: ..., delete: (k) => AsyncStorage.removeItem(k)}`.
 * @typedef {object} Storage
 * @property {(key: string) => Promise<string | null | undefined>} get
 * @property {(key: string, value: string) => Promise<void>} set
 * @property {(key: string) => Promise<void>} delete
 */

/**
 * Reads the secret `key` from `secrets`. A copy an older version kept in `storage` (before secrets had their own
 * store) is moved: written to `secrets` when it has none, then deleted from `storage`. Nothing moves when both are
 * the same store.
 * @param {Storage} secrets
 * @param {Storage} storage
 * @param {string} key
 * @returns {Promise<string | null>}
 */
export async function readSecret(secrets, storage, key) {
  const text = (await secrets.get(key)) ?? null;
  if (secrets === storage) return text;
  const old = (await storage.get(key)) ?? null;
  if (old === null) return text;
  if (text === null) await secrets.set(key, old);
  await storage.delete(key);
  return text ?? old;
}

/** A Storage in memory: for tests, and for an app that wants nothing on disk. Two clients may share one. */
export class MemoryStorage {
  constructor() {
    /** @type {Map<string, string>} */
    this.map = new Map();
  }

  /** @param {string} key */
  async get(key) {
    return this.map.get(key) ?? null;
  }

  /** @param {string} key @param {string} value */
  async set(key, value) {
    this.map.set(key, value);
  }

  /** @param {string} key */
  async delete(key) {
    this.map.delete(key);
  }
}

/**
 * JSON with BigInt: the E2E counters are u64 (BigInt), stored as `{"$bigint": "12"}`.
 * @param {unknown} value
 */
export function encode(value) {
  return JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? { $bigint: v.toString() } : v));
}

/** @param {string | null | undefined} text */
export function decode(text) {
  if (text == null) return null;
  return JSON.parse(text, (_key, v) => (v && typeof v === 'object' && typeof v.$bigint === 'string' ? BigInt(v.$bigint) : v));
}
