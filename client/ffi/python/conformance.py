"""The conformance corpus (conformance/README.md) through the Python binding, as Conformance.kt does for Kotlin.

Usage: conformance.py <bindings dir holding tanis_ffi.py and libtanis_ffi.so> <scenarios dir>. Exits 1 naming each
scenario that failed.
"""

import pathlib
import sys

sys.path.insert(0, sys.argv[1])
import tanis_ffi as tanis  # noqa: E402  (found through the path just set)
from memory_store import MemoryStore  # noqa: E402  (beside this file)


class PythonSubject(tanis.TestSubject):
    """A client on stores that outlive it: `restart` makes a new one on the same stores."""

    def __init__(self):
        self.storage, self.secrets = MemoryStore(), MemoryStore()
        self.client = tanis.TanisClient(self.storage, self.secrets)

    def start(self, now_ms):
        return self.client.start(now_ms)

    def opened(self, now_ms):
        return self.client.opened(now_ms)

    def received(self, frame, now_ms):
        return self.client.received(frame, now_ms)

    def closed(self, code, now_ms):
        return self.client.closed(code, now_ms)

    def response(self, id, status, body, now_ms):
        return self.client.response(id, status, body, now_ms)

    def tick(self, now_ms):
        return self.client.tick(now_ms)

    def wake_at(self):
        return self.client.wake_at()

    def call(self, call, now_ms):
        try:
            if call.is_find():
                return tanis.CallResult(client_msg_id=None, actions=self.client.find(call.kind, now_ms), refused=None)
            if call.is_send():
                written = self.client.send(call.text, now_ms)
                return tanis.CallResult(client_msg_id=written.client_msg_id, actions=written.actions, refused=None)
            if call.is_leave():
                return tanis.CallResult(client_msg_id=None, actions=self.client.leave(now_ms), refused=None)
            if call.is_hang_up():
                return tanis.CallResult(client_msg_id=None, actions=self.client.hang_up(now_ms), refused=None)
            actions = self.client.report(call.reason, call.seqs, now_ms)
            return tanis.CallResult(client_msg_id=None, actions=actions, refused=None)
        except tanis.ClientError as e:
            # The refusal's code, as every SDK names it.
            return tanis.CallResult(client_msg_id=None, actions=[], refused=str(e))

    def restart(self):
        self.client = tanis.TanisClient(self.storage, self.secrets)

    def store_session(self, pair):
        tanis.store_signed_in_session(self.secrets, pair)
        self.restart()

    def store_find(self, kind, secret):
        tanis.store_waiting_find(self.storage, self.secrets, kind, secret)
        self.restart()


def main():
    files = sorted(pathlib.Path(sys.argv[2]).glob("*.json"))
    failures = []
    for path in files:
        failure = tanis.conformance_run(path.read_text(), PythonSubject())
        if failure is not None:
            failures.append(f"{path.name}: {failure}")
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"Python binding: {len(files) - len(failures)} of {len(files)} scenarios passed")
    sys.exit(1 if failures or len(files) < 24 else 0)


main()
