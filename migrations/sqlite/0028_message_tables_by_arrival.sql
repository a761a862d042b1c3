-- The message tables stored in the order rows arrive, with (match_id, seq) as an index beside them, as PostgreSQL
-- stores them (its heap): a batch's messages now share their pages.
--
-- Clustered by (match_id, seq) (0007), each table was a B-tree keyed by match whose cells, interior ones included,
-- hold whole rows: a batch touching a hundred matches dirtied a hundred leaves of each table, split them often and
-- rewrote interior pages of ~13 rows each on the way up; every page dirtied is a 4 KiB frame in the WAL at commit. At
-- one message in flight per side that was ~6.6 frames per message (bench/wal-frames.py; 3.95 counted on the server,
-- BENCHMARKS.md, issue 31, round 7). As rowid tables the rows are appended where the last batch left off, and what
-- stays keyed by match are the indexes, whose cells are a few integers: ~3.2 frames per message (2.36). Lookups by
-- (match_id, seq) read the index, then the row.
--
-- No AUTOINCREMENT (0007 dropped it with its sqlite_sequence row per insert): a rowid is only where a row sits;
-- nothing refers to it. Rows are copied oldest first, so the expiry's deletes empty whole pages. Nothing refers to
-- these tables, so they are dropped with foreign keys on and no cascade follows.

CREATE TABLE messages_0028 (
    match_id      INTEGER NOT NULL,                           -- read and locked by the batch that writes it
    seq           INTEGER NOT NULL,                           -- strictly increasing within a match
    sender_id     INTEGER NOT NULL,                           -- one of the match's two users
    receiver_id   INTEGER NOT NULL,                           -- the other one
    client_msg_id TEXT    NOT NULL,                           -- the sender's idempotency key
    content       TEXT    NOT NULL,                           -- end-to-end ciphertext (base64); never plaintext
    nonce         TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    PRIMARY KEY (match_id, seq),
    UNIQUE (match_id, sender_id, client_msg_id),
    CHECK (sender_id <> receiver_id)
);
INSERT INTO messages_0028 (match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at)
    SELECT match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at FROM messages
    ORDER BY created_at, match_id, seq;
DROP TABLE messages;
ALTER TABLE messages_0028 RENAME TO messages;
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE message_logs_0028 (
    match_id        INTEGER NOT NULL,                         -- read and locked by the batch that writes it
    seq             INTEGER NOT NULL,                         -- metadata only; outlives the 24 h content expiry
    sender_id       INTEGER NOT NULL,                         -- one of the match's two users
    receiver_id     INTEGER NOT NULL,                         -- the other one
    sent_at         TEXT    NOT NULL,
    delivered       BOOLEAN NOT NULL DEFAULT FALSE,
    delivered_at    TEXT,
    device_info     TEXT,
    connection_type TEXT    NOT NULL CHECK (connection_type IN ('text', 'video')),
    commitment      BLOB,                                     -- franking (0023)
    PRIMARY KEY (match_id, seq),
    CHECK (sender_id <> receiver_id)
);
INSERT INTO message_logs_0028
    (match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type, commitment)
    SELECT match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type,
           commitment
    FROM message_logs
    ORDER BY sent_at, match_id, seq;
DROP TABLE message_logs;
ALTER TABLE message_logs_0028 RENAME TO message_logs;
