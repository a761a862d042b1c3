-- Messages and their metadata logs, clustered by (match_id, seq).
--
-- Each message used to touch nine B-trees: both tables' rowid trees, sqlite_sequence (AUTOINCREMENT), the
-- (match_id, seq) keys of both, the duplicate key, the purge's created_at index, the claim job's index on the
-- logs by (match, sender) and an index on the logs by sender that no query reads. Keyed by (match_id, seq)
-- WITHOUT ROWID, a row IS its key and a batch appends at the tail of each match's range. Four trees are left:
-- each table's clustered tree, the duplicate key and the purge's index. The claim job reads a match's logs by
-- the clustered key (a match holds few messages). Nothing referred to the surrogate ids.

CREATE TABLE messages_clustered (
    match_id      INTEGER NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,                           -- strictly increasing within a match
    sender_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    receiver_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_msg_id TEXT    NOT NULL,                           -- the sender's idempotency key
    content       TEXT    NOT NULL,                           -- end-to-end ciphertext (base64); never plaintext
    nonce         TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    PRIMARY KEY (match_id, seq),
    UNIQUE (match_id, sender_id, client_msg_id)
) WITHOUT ROWID;
INSERT INTO messages_clustered (match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at)
    SELECT match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at FROM messages;
DROP TABLE messages;
ALTER TABLE messages_clustered RENAME TO messages;
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE message_logs_clustered (
    match_id        INTEGER NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,                         -- metadata only; outlives the 24 h content expiry
    sender_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    receiver_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sent_at         TEXT    NOT NULL,
    delivered       BOOLEAN NOT NULL DEFAULT FALSE,
    delivered_at    TEXT,
    device_info     TEXT,
    connection_type TEXT    NOT NULL CHECK (connection_type IN ('text', 'video')),
    PRIMARY KEY (match_id, seq)
) WITHOUT ROWID;
INSERT INTO message_logs_clustered
    (match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type)
    SELECT match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type
    FROM message_logs;
DROP TABLE message_logs;
ALTER TABLE message_logs_clustered RENAME TO message_logs;
