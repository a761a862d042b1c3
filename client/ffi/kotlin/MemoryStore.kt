// A KeyValueStore in memory: what a test hands the client. An app writes one over a file or SharedPreferences for
// the record, and over Android Keystore-backed EncryptedSharedPreferences for the secrets (docs/sdk-native.md).
package dev.tanis.sample

import dev.tanis.client.KeyValueStore
import java.util.concurrent.ConcurrentHashMap

class MemoryStore : KeyValueStore {
    private val map = ConcurrentHashMap<String, String>()

    override fun load(key: String): String? = map[key]

    override fun save(key: String, value: String) {
        map[key] = value
    }

    override fun remove(key: String) {
        map.remove(key)
    }
}
