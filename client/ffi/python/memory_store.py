"""A KeyValueStore in memory, for the Python programs here (as MemoryStore.kt is for the Kotlin ones). An app writes one
over a file for the record, and over the platform's keyring for the secrets (docs/sdk-native.md). Import it after
putting the bindings' directory on sys.path (tanis_ffi is found there)."""

import tanis_ffi as tanis


class MemoryStore(tanis.KeyValueStore):
    """A plain dict: the core calls a store only from inside the calls made on the app's one thread."""

    def __init__(self):
        self.map = {}

    def load(self, key):
        return self.map.get(key)

    def save(self, key, value):
        self.map[key] = value

    def remove(self, key):
        self.map.pop(key, None)
