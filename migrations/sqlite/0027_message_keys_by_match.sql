-- A message's sender and receiver are its match's two users, and the match's own foreign keys already hold both
-- (ON DELETE CASCADE: deleting a user deletes their matches, and with them these rows). The tables' foreign keys
-- on sender_id and receiver_id were a second check of the same thing on every message, two lookups of `users`
-- per row in each table (on PostgreSQL, 4 of the 6 foreign-key checks a message cost, measured with
-- pg_stat_statements: BENCHMARKS.md, issue 31), and on a user's deletion a scan of both tables per key (neither
-- is indexed by sender or receiver). Only the keys by match stay, with a CHECK that costs no lookup: a message
-- goes from one of the two to the other, never to its sender (the edge's refusals come first; this is the
-- database's own refusal behind them). SQLite cannot drop a constraint: each table is rebuilt as 0007 built it,
-- rows copied. Nothing refers to these tables, so they are dropped with foreign keys on and no cascade follows.

CREATE TABLE messages_0027 (
    match_id      INTEGER NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,                           -- strictly increasing within a match
    sender_id     INTEGER NOT NULL,                           -- one of the match's users (its keys hold them)
    receiver_id   INTEGER NOT NULL,                           -- the other one
    client_msg_id TEXT    NOT NULL,                           -- the sender's idempotency key
    content       TEXT    NOT NULL,                           -- end-to-end ciphertext (base64); never plaintext
    nonce         TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    PRIMARY KEY (match_id, seq),
    UNIQUE (match_id, sender_id, client_msg_id),
    CHECK (sender_id <> receiver_id)
) WITHOUT ROWID;
INSERT INTO messages_0027 (match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at)
    SELECT match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_0027 RENAME TO messages;
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE message_logs_0027 (
    match_id        INTEGER NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,                         -- metadata only; outlives the 24 h content expiry
    sender_id       INTEGER NOT NULL,                         -- one of the match's users (its keys hold them)
    receiver_id     INTEGER NOT NULL,                         -- the other one
    sent_at         TEXT    NOT NULL,
    delivered       BOOLEAN NOT NULL DEFAULT FALSE,
    delivered_at    TEXT,
    device_info     TEXT,
    connection_type TEXT    NOT NULL CHECK (connection_type IN ('text', 'video')),
    commitment      BLOB,                                     -- franking (0023)
    PRIMARY KEY (match_id, seq),
    CHECK (sender_id <> receiver_id)
) WITHOUT ROWID;
INSERT INTO message_logs_0027
    (match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type, commitment)
    SELECT match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type,
           commitment
    FROM message_logs;
DROP TABLE message_logs;
ALTER TABLE message_logs_0027 RENAME TO message_logs;
