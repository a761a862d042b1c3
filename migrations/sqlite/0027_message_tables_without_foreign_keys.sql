-- The message tables without foreign keys, as on PostgreSQL (its 0027 says why: six checks per message, the
-- largest part of what a message cost it besides its own rows, and none protects anything the code does not
-- already hold — the group commit's batch alone inserts into them and reads each match, under the write lock, before it
-- writes to it; matches are never deleted, the purge re-keys them). Here a check is a lookup of the parent's rowid
-- in the same file and cost nothing measurable, but the two stores keep one schema, and deleting a user no longer
-- scans both tables for each key (neither is indexed by sender or receiver). A CHECK that costs no lookup stays as
-- the database's own refusal behind the edge's: a message never goes to its sender. SQLite cannot drop a
-- constraint: each table is rebuilt as 0007 built it, rows copied. Nothing refers to these tables, so they are
-- dropped with foreign keys on and no cascade follows.

CREATE TABLE messages_0027 (
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
) WITHOUT ROWID;
INSERT INTO messages_0027 (match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at)
    SELECT match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_0027 RENAME TO messages;
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE message_logs_0027 (
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
) WITHOUT ROWID;
INSERT INTO message_logs_0027
    (match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type, commitment)
    SELECT match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type,
           commitment
    FROM message_logs;
DROP TABLE message_logs;
ALTER TABLE message_logs_0027 RENAME TO message_logs;
