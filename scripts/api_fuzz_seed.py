#!/usr/bin/env python3
"""Seeds a fresh tanis server for scripts/api-fuzz, through the product's own doors, so that schemathesis reaches
more than the refusals: one person in each role, a match with a report and a block, a banned person with an
appeal, an ad, a broadcast. Standard library only (a WebSocket client of its own: the `report` and `block` frames
exist only on the socket).

    api_fuzz_seed.py BASE_URL TANIS_BIN DICTIONARIES_TOML > tokens.env

`tanis set-role` (the operator's door to the first admin) runs with the environment this script was given, which
must be the server's TANIS_* settings. Prints `USER_TOKEN=…`, `MODERATOR_TOKEN=…` and `ADMIN_TOKEN=…`, and writes
the schemathesis dictionaries that schemathesis.toml's parameters name (what was created: ids, a second session,
a refresh token; and values that pass the rules a schema cannot state: valid fresh phone numbers, aliases).
"""

import base64
import datetime
import json
import os
import socket
import struct
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request

# The OpenAPI document's example password (registration, phone change): the examples phase signs in as the seeded.
PASSWORD = "correct horse battery"
# Each signs in with PASSWORD; their ids become the `seeded_ids` dictionary.
PEOPLE = [
    ("admin", "+905320000001", "ayse"),
    ("moderator", "+905320000002", "mehmet"),
    ("user", "+905320000003", "fuzzer"),
    ("partner", "+905320000004", "eslesen"),
    # The phone every `/v1/ban/*` example names (src/api/ban.rs), banned below, with an appeal for moderators to
    # decide; and a second banned person who has not appealed yet, so that an appeal can succeed.
    ("banned", "+905551234567", "yasakli"),
    ("unheard", "+905551234568", "sessiz"),
]


def call(base, method, path, body=None, token=None, expect=(200, 201, 204)):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    if status not in expect:
        sys.exit(f"api_fuzz_seed: {method} {path} answered {status}: {text[:300]!r}")
    return json.loads(text) if text else None


class Socket:
    """The client half of RFC 6455, as much as the seeding needs: text frames out (masked), text frames in."""

    def __init__(self, base, token):
        host, port = base.removeprefix("http://").split(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            (
                f"GET /v1/ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: tanis.v1\r\n"
                f"Authorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        if not head.startswith(b"HTTP/1.1 101"):
            sys.exit(f"api_fuzz_seed: the WebSocket upgrade failed: {head!r}")

    def _exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                sys.exit("api_fuzz_seed: the server closed the socket")
            data += chunk
        return data

    def send(self, frame):
        payload = json.dumps(frame).encode()
        mask = os.urandom(4)
        if len(payload) < 126:
            header = struct.pack("!BB", 0x81, 0x80 | len(payload))
        else:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def next_frame(self):
        first, second = self._exact(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._exact(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._exact(8))
        payload = self._exact(length)
        opcode = first & 0x0F
        if opcode == 0x8:
            sys.exit(f"api_fuzz_seed: the server closed the socket: {payload!r}")
        return json.loads(payload) if opcode == 0x1 else None

    def wait_for(self, kind):
        while True:
            frame = self.next_frame()
            if frame and frame.get("type") == kind:
                return frame
            if frame and frame.get("type") == "error":
                sys.exit(f"api_fuzz_seed: the server refused a frame: {frame}")


def main():
    base, tanis_bin = sys.argv[1], sys.argv[2]
    tokens, handles = {}, {}
    for role, phone, alias in PEOPLE:
        session = call(base, "POST", "/v1/auth/register", {
            "phone": phone, "password": PASSWORD, "alias": alias,
            "accept_privacy_notice": True, "birth_year": 1990,
        })
        tokens[role] = session["tokens"]["access_token"]
        handles[role] = session["user"]["handle"]

    # The first admin comes from the operator's command line; the admin makes the moderator over the API.
    subprocess.run([tanis_bin, "set-role", PEOPLE[0][1], "admin"], check=True, stdout=subprocess.DEVNULL)
    ids = {
        role: call(base, "GET", "/v1/admin/users?handle=" + urllib.parse.quote(handle), token=tokens["admin"])["id"]
        for role, handle in handles.items()
    }
    call(base, "PUT", f"/v1/admin/users/{ids['moderator']}/role", {"role": "moderator"}, tokens["admin"])

    # A text match between the user and the partner; the user reports the partner, then blocks them.
    public_key = base64.b64encode(os.urandom(32)).decode()
    user, partner = Socket(base, tokens["user"]), Socket(base, tokens["partner"])
    for sock in (user, partner):
        sock.wait_for("hello")
        sock.send({"type": "match.find", "id": "f1", "kind": "text", "public_key": public_key})
    found = user.wait_for("match.found")
    partner.wait_for("match.found")
    report = {"type": "report", "id": "r1", "match_id": found["match_id"], "reason_code": "harassment"}
    user.send(report)
    user.wait_for("ok")
    user.send({"type": "block", "id": "b1", "match_id": found["match_id"]})
    user.wait_for("ok")

    # A contact the user's run may end (`DELETE /v1/contacts/{id}`): the user and the moderator matched, and both
    # proposed to keep in touch.
    moderator = Socket(base, tokens["moderator"])
    moderator.wait_for("hello")
    for sock in (user, moderator):
        sock.send({"type": "match.find", "id": "f2", "kind": "text", "public_key": public_key})
    contact = user.wait_for("match.found")["match_id"]
    moderator.wait_for("match.found")
    for sock in (user, moderator):
        sock.send({"type": "contact.propose", "id": "k1", "match_id": contact})
        sock.wait_for("ok")

    # Both banned by the moderator; the first appeals with phone and password, as the ban pages do.
    for person in ("banned", "unheard"):
        call(base, "POST", f"/v1/admin/users/{ids[person]}/ban", {"reason": "spam"}, tokens["moderator"])
    banned = {"phone": PEOPLE[4][1], "password": PASSWORD}
    call(base, "POST", "/v1/ban/appeal", {**banned, "text": "It was not me."})

    call(base, "POST", "/v1/admin/ads", {"title": "tanis", "content": "Premium", "target_group": "all"},
         tokens["admin"])
    call(base, "POST", "/v1/admin/broadcasts", {"audience": "all", "tr": "Merhaba", "en": "Hello"}, tokens["admin"])

    # A second session of the user, which the user's run may end (`DELETE /v1/me/sessions/{id}`), and the
    # partner's refresh token, which the runs may rotate (and then reuse: the reuse detection ends that session).
    call(base, "POST", "/v1/auth/login", {"phone": PEOPLE[2][1], "password": PASSWORD})
    sessions = call(base, "GET", "/v1/me/sessions", token=tokens["user"])
    second = [s["id"] for s in sessions if not s.get("current")]
    refresh = call(base, "POST", "/v1/auth/login", {"phone": PEOPLE[3][1], "password": PASSWORD})

    admin = tokens["admin"]
    made = {
        "report": call(base, "GET", "/v1/admin/reports", token=admin)["users"][0]["reports"][0]["id"],
        "appeal": call(base, "GET", "/v1/admin/appeals", token=admin)["appeals"][0]["id"],
        "block": call(base, "GET", "/v1/blocks", token=tokens["user"])[0]["id"],
        "ad": call(base, "GET", "/v1/admin/ads", token=admin)[0]["id"],
        "contact": contact,
    }
    dictionaries = {
        "seeded_ids": sorted(set(ids.values()) | set(made.values())),
        "seeded_session": second,
        "seeded_contact": [contact],
        "seeded_refresh_token": [refresh["tokens"]["refresh_token"]],
        "seeded_phones": [phone for _, phone, _ in PEOPLE],
        "banned_phone": [PEOPLE[4][1], PEOPLE[5][1]],
        "seeded_password": [PASSWORD],
        # Valid in the Turkish numbering plan and not registered: registration and phone changes can succeed.
        "fresh_phones": [f"+9053300{n:05d}" for n in range(100, 140)],
        "fresh_aliases": ["kaplan", "serce", "bulut", "deniz", "yildiz", "poyraz"],
        "birth_years": [1990, 2001],
        # The statements export takes a range of days; the seeded bans and appeals wrote statements today.
        "statement_days": [datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")],
    }
    with open(sys.argv[3], "w") as out:
        for name, values in dictionaries.items():
            out.write(f"\n[dictionaries.{name}]\nvalues = {json.dumps(values)}\n")

    # Roles are read from the database on every admin request, so the registration tokens serve as they are.
    for role, name in (("user", "USER"), ("moderator", "MODERATOR"), ("admin", "ADMIN")):
        print(f"{name}_TOKEN={tokens[role]}")


if __name__ == "__main__":
    main()
