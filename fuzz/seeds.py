#!/usr/bin/env python3
"""Writes the hand-made seeds of fuzz/corpus/turn_server and fuzz/corpus/report_evidence (the input formats are
described in checks/turn_server.rs and checks/report_evidence.rs). Run from fuzz/: python3 seeds.py"""

import base64
import json
import struct


# --- turn_server ---------------------------------------------------------------------------------------------

def raw(client, data):
    return bytes([client << 3]) + struct.pack("<H", len(data)) + data


def close(stream):
    return bytes([stream << 3 | 1])


def signed(client, method, flags=0, param=0, attrs=b""):
    return bytes([client << 3 | 2, method, flags, param, len(attrs)]) + attrs


def attr(typ, value):
    return struct.pack(">HB", typ, len(value)) + value


def peer(p, relay, data):
    return bytes([relay << 4 | p << 3 | 3]) + struct.pack("<H", len(data)) + data


def clock(tens):
    return bytes([4, tens])


ALLOCATE, REFRESH, PERMISSION, CHANNEL_BIND, SEND, BINDING = range(6)
EXPIRED, WRONG_PASSWORD = 30 << 3, 31 << 3
TRANSPORT, PEER, PEER1, CHANNEL, LIFETIME, DATA, FINGERPRINT, RELAY0 = (1 << i for i in range(8))
COOKIE = bytes.fromhex("2112a442")


def stun(method_type, tid, attrs=b""):
    return struct.pack(">HH", method_type, len(attrs)) + COOKIE + tid + attrs


def channel_data(number, payload, pad=False):
    frame = struct.pack(">HH", number, len(payload)) + payload
    if pad:
        frame += b"\0" * (-len(frame) % 4)
    return frame


def relay_session(c, stream=False):
    """Allocate, permit, bind, send both ways, refresh, let permissions expire, delete."""
    return b"".join([
        signed(c, ALLOCATE, TRANSPORT),
        signed(c, PERMISSION, PEER),
        signed(c, CHANNEL_BIND, PEER | CHANNEL, 1),
        signed(c, SEND, PEER | PEER1 | DATA, 5),
        raw(c, channel_data(0x4001, b"abcde", pad=stream)),
        peer(0, 0, b"pong"),
        peer(1, 0, b"hi from peer 1"),
        signed(c, REFRESH, LIFETIME, 20),
        clock(40),
        peer(0, 0, b"too late"),
        raw(c, channel_data(0x4001, b"too late", pad=stream)),
        signed(c, REFRESH, LIFETIME, 0),
    ])


turn = {
    "udp-relay-session": bytes([0x02]) + relay_session(0),
    "tcp-relay-session": bytes([0x02]) + relay_session(4, stream=True) + close(0),
    "refuse-private-peers": bytes([0x03]) + relay_session(1),
    "tcp-split-and-coalesced-frames": bytes([0x02]) + b"".join([
        signed(5, ALLOCATE, TRANSPORT),
        signed(5, CHANNEL_BIND, PEER | CHANNEL, 7),
        # One ChannelData cut in three chunks, then two messages in one chunk.
        raw(5, channel_data(0x4007, b"xyz", pad=True)[:2]),
        raw(5, channel_data(0x4007, b"xyz", pad=True)[2:5]),
        raw(5, channel_data(0x4007, b"xyz", pad=True)[5:]),
        raw(5, stun(0x0001, b"\x01" * 12) + channel_data(0x4007, b"12345678", pad=True)),
        peer(0, 0, b"back"),
        # Neither STUN nor ChannelData: the server closes the connection, freeing the allocation.
        raw(5, b"\x80garbage"),
        raw(5, stun(0x0001, b"\x02" * 12)),
        close(1),
    ]),
    "quota-and-even-port": bytes([0x00]) + b"".join([
        signed(0, ALLOCATE, TRANSPORT, 0, attr(0x0018, b"\x80")),
        signed(1, ALLOCATE, TRANSPORT),
        signed(4, ALLOCATE, TRANSPORT),
        signed(0, REFRESH, LIFETIME, 0),
        signed(1, ALLOCATE, TRANSPORT | LIFETIME, 200),
        clock(61),
        signed(2, ALLOCATE, TRANSPORT | LIFETIME, 1),
    ]),
    "relay-to-relay": bytes([0x04]) + b"".join([
        signed(0, ALLOCATE, TRANSPORT),
        signed(1, ALLOCATE, TRANSPORT | FINGERPRINT),
        signed(0, PERMISSION, PEER),
        signed(1, PERMISSION, RELAY0),
        signed(1, SEND, RELAY0 | DATA, 9),
        signed(1, CHANNEL_BIND, RELAY0 | CHANNEL, 2),
        raw(1, channel_data(0x4002, b"via channel")),
    ]),
    "refusals": bytes([0x02]) + b"".join([
        raw(0, stun(0x0001, b"\x03" * 12)),
        raw(0, stun(0x0003, b"\x04" * 12, attr(0x0019, b"\x11\0\0\0")[:2] + b"\0\x04\x11\0\0\0")),
        raw(0, b"\x00\x01\x00"),
        raw(0, channel_data(0x4000, b"unbound")),
        raw(0, b"\x40\x00\x00\x09abc"),
        signed(0, ALLOCATE | EXPIRED, TRANSPORT),
        signed(0, ALLOCATE | WRONG_PASSWORD, TRANSPORT),
        signed(0, ALLOCATE),
        signed(0, PERMISSION, PEER),
        signed(0, ALLOCATE, TRANSPORT, 0, attr(0x001A, b"")),
        signed(0, ALLOCATE, TRANSPORT, 0, attr(0x0017, b"\x02\0\0\0")),
        signed(0, ALLOCATE, 0, 0, attr(0x0019, b"\x06\0\0\0")),
        signed(0, ALLOCATE, TRANSPORT),
        signed(0, ALLOCATE, TRANSPORT),
        signed(0, PERMISSION),
        signed(0, CHANNEL_BIND, PEER, 0, attr(0x000C, b"\x3f\xff\0\0")),
        signed(0, CHANNEL_BIND, PEER | CHANNEL, 3),
        signed(0, CHANNEL_BIND, PEER1 | CHANNEL, 3),
        signed(1, REFRESH, LIFETIME, 20),
        signed(0, 6, 0),
        clock(255),
        clock(255),
        signed(0, REFRESH, LIFETIME, 20),
        signed(0, REFRESH, LIFETIME, 20),
    ]),
}
for name, data in turn.items():
    open(f"corpus/turn_server/{name}", "wb").write(data)


# --- report_evidence -----------------------------------------------------------------------------------------

def b64(b):
    return base64.b64encode(b).decode()


def reveal(seq, text, key=b"\x09" * 32):
    return {"seq": seq, "text_utf8": b64(text), "franking_key": b64(key)}


def report(reveals, modes, max_text=7):
    frame = {"type": "report", "id": "r", "match_id": 5, "reason_code": "harassment", "evidence": reveals}
    return bytes([max_text, len(modes)]) + bytes(modes) + json.dumps(frame).encode()


evidence = {
    "verified-two": report([reveal(1, "sen kimsin".encode()), reveal(4, "çirkin söz".encode(), b"\x07" * 32)], [0, 0x10]),
    "forged": report([reveal(1, b"merhaba")], [1 | 3 << 5]),
    "each-stored-refusal": report([reveal(i, b"x") for i in range(1, 9)], [0, 2, 3, 4, 5, 6, 7, 8]),
    "bom-and-nul": report([reveal(2, "\ufeffa\0b".encode())], [0]),
    "malformed": report([
        {"seq": 1, "text_utf8": "not base64", "franking_key": b64(b"\x01" * 32)},
        {"seq": 2, "text_utf8": b64(b"ok"), "franking_key": b64(b"\x01" * 31)},
        {"seq": 1, "text_utf8": b64(b"\xff"), "franking_key": "x" * 44},
    ], [], max_text=6),
    "too-long": report([reveal(1, b"a" * 17)], [0], max_text=5),
    "bare-array": bytes([6, 1, 0]) + json.dumps([reveal(3, b"selam")]).encode(),
}
for name, data in evidence.items():
    open(f"corpus/report_evidence/{name}.bin", "wb").write(data)
