#!/usr/bin/env python3
"""WAL frames a batch of messages costs SQLite, by how a message and its log are stored.

    bench/wal-frames.py            # MATCHES=100 ROUNDS=600: one message per match per batch, as at one in flight
    RANDOM_KEYS=1 bench/wal-frames.py   # client_msg_id random (the client core sends 128 random bits), not a counter

Replays the group commit's writes on a scratch file with Python's own SQLite: each batch, one message and its log
row per match (the two sides of a match take turns) and the receipt of the match's previous message, in one
transaction. The WAL is not checkpointed while it measures, so its size at the end is every frame written;
frames / messages is what each message cost the commit (each frame is a 4 KiB page written and checksummed).
The columns are migrations/sqlite's; only how they are stored changes.
"""
import os
import sqlite3
import tempfile
import uuid

MATCHES = int(os.environ.get("MATCHES", 100))
RANDOM_KEYS = os.environ.get("RANDOM_KEYS") == "1"
ROUNDS = int(os.environ.get("ROUNDS", 600))
# Batches written before measuring, so that every match's rows already span pages and the trees have depth.
PREFILL = 150

MESSAGE = """match_id INTEGER NOT NULL, seq INTEGER NOT NULL, sender_id INTEGER NOT NULL, receiver_id INTEGER NOT NULL,
    client_msg_id TEXT NOT NULL, content TEXT NOT NULL, nonce TEXT NOT NULL, created_at TEXT NOT NULL,
    PRIMARY KEY (match_id, seq), UNIQUE (match_id, sender_id, client_msg_id), CHECK (sender_id <> receiver_id)"""
LOG = """match_id INTEGER NOT NULL, seq INTEGER NOT NULL, sender_id INTEGER NOT NULL, receiver_id INTEGER NOT NULL,
    sent_at TEXT NOT NULL, delivered BOOLEAN NOT NULL DEFAULT FALSE, delivered_at TEXT, device_info TEXT,
    connection_type TEXT NOT NULL, commitment BLOB, PRIMARY KEY (match_id, seq), CHECK (sender_id <> receiver_id)"""
CREATED = "CREATE INDEX messages_created ON messages (created_at)"

ROW = """match_id INTEGER NOT NULL, seq INTEGER NOT NULL, sender_id INTEGER NOT NULL, receiver_id INTEGER NOT NULL,
    sent_at TEXT NOT NULL, delivered BOOLEAN NOT NULL DEFAULT FALSE, delivered_at TEXT, device_info TEXT,
    connection_type TEXT NOT NULL, commitment BLOB, client_msg_id TEXT, content TEXT, nonce TEXT,
    CHECK (sender_id <> receiver_id)"""

# Each layout: its schema, the receipt's update, and the inserts of one message (binding match, seq, sender,
# receiver, client_msg_id, content, nonce, time, commitment by name).
TWO_TABLES = (
    "UPDATE message_logs SET delivered = TRUE, delivered_at = :time "
    "WHERE match_id = :match AND seq = :seq AND delivered = FALSE",
    [
        "INSERT INTO messages (match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at) "
        "VALUES (:match, :seq, :sender, :receiver, :key, :content, :nonce, :time)",
        "INSERT INTO message_logs (match_id, seq, sender_id, receiver_id, sent_at, device_info, connection_type, "
        "commitment) VALUES (:match, :seq, :sender, :receiver, :time, NULL, 'text', :commitment)",
    ],
)
ONE_ROW_INSERT = [
    "INSERT INTO message_rows (match_id, seq, sender_id, receiver_id, sent_at, device_info, connection_type, "
    "commitment, client_msg_id, content, nonce) VALUES (:match, :seq, :sender, :receiver, :time, NULL, "
    "'text', :commitment, :key, :content, :nonce)",
]
LAYOUTS = {
    "clustered by (match_id, seq), WITHOUT ROWID (0007 to 0027)": (
        [
            f"CREATE TABLE messages ({MESSAGE}) WITHOUT ROWID",
            CREATED,
            f"CREATE TABLE message_logs ({LOG}) WITHOUT ROWID",
        ],
        *TWO_TABLES,
    ),
    "stored by arrival, rowid tables (0028)": (
        [f"CREATE TABLE messages ({MESSAGE})", CREATED, f"CREATE TABLE message_logs ({LOG})"],
        *TWO_TABLES,
    ),
    "one row per message, stored by arrival (0029)": (
        [
            f"CREATE TABLE message_rows ({ROW})",
            "CREATE UNIQUE INDEX message_rows_key ON message_rows (match_id, seq)",
            "CREATE UNIQUE INDEX message_rows_client_key ON message_rows (match_id, sender_id, client_msg_id) "
            "WHERE content IS NOT NULL",
            "CREATE INDEX message_rows_expiry ON message_rows (sent_at) WHERE content IS NOT NULL",
        ],
        "UPDATE message_rows SET delivered = TRUE, delivered_at = :time "
        "WHERE match_id = :match AND seq = :seq AND delivered = FALSE",
        ONE_ROW_INSERT,
    ),
    "one row per message, and the commitments' expiry index (0032)": (
        [
            f"CREATE TABLE message_rows ({ROW})",
            "CREATE UNIQUE INDEX message_rows_key ON message_rows (match_id, seq)",
            "CREATE UNIQUE INDEX message_rows_client_key ON message_rows (match_id, sender_id, client_msg_id) "
            "WHERE content IS NOT NULL",
            "CREATE INDEX message_rows_expiry ON message_rows (sent_at) WHERE content IS NOT NULL",
            "CREATE INDEX message_rows_commitment_expiry ON message_rows (sent_at) WHERE commitment IS NOT NULL",
        ],
        "UPDATE message_rows SET delivered = TRUE, delivered_at = :time "
        "WHERE match_id = :match AND seq = :seq AND delivered = FALSE",
        ONE_ROW_INSERT,
    ),
    # Not a layout to ship (nothing would catch a resent message): what the duplicate key costs, for sizing.
    "0032 without the duplicate key (sizing only)": (
        [
            f"CREATE TABLE message_rows ({ROW})",
            "CREATE UNIQUE INDEX message_rows_key ON message_rows (match_id, seq)",
            "CREATE INDEX message_rows_expiry ON message_rows (sent_at) WHERE content IS NOT NULL",
            "CREATE INDEX message_rows_commitment_expiry ON message_rows (sent_at) WHERE commitment IS NOT NULL",
        ],
        "UPDATE message_rows SET delivered = TRUE, delivered_at = :time "
        "WHERE match_id = :match AND seq = :seq AND delivered = FALSE",
        ONE_ROW_INSERT,
    ),
}


def frames_per_message(layout):
    schema, receipt, inserts = layout
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "frames.db")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA wal_autocheckpoint = 0")
        for statement in schema:
            db.execute(statement)
        # The load generator's sizes: ~100 bytes of plaintext are 200 bytes of base64 ciphertext.
        content, nonce, now, commitment = "x" * 200, "n" * 32, "2026-11-25T05:45:00.123456Z", b"c" * 32
        seq = [0] * MATCHES

        def batch():
            db.execute("BEGIN")
            for m in range(MATCHES):
                if seq[m]:
                    db.execute(receipt, {"time": now, "match": m + 1, "seq": seq[m]})
                seq[m] += 1
                sender, receiver = (1000 + m, 2000 + m) if seq[m] % 2 else (2000 + m, 1000 + m)
                row = {
                    "match": m + 1,
                    "seq": seq[m],
                    "sender": sender,
                    "receiver": receiver,
                    "key": str(uuid.uuid4()) if RANDOM_KEYS else str(seq[m] // 2),
                    "content": content,
                    "nonce": nonce,
                    "time": now,
                    "commitment": commitment,
                }
                for insert in inserts:
                    db.execute(insert, row)
            db.execute("COMMIT")

        for _ in range(PREFILL):
            batch()
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        for _ in range(ROUNDS):
            batch()
        page = db.execute("PRAGMA page_size").fetchone()[0]
        frames = os.path.getsize(path + "-wal") // (page + 24)
        db.close()
        return frames / (ROUNDS * MATCHES)


for name, layout in LAYOUTS.items():
    print(f"{frames_per_message(layout):5.2f} WAL frames per message  {name}")
