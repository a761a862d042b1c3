-- A message and its log in one row: `message_rows`, with `messages` and `message_logs` as views of it, so every
-- query written for both stores reads them as before. PostgreSQL keeps two tables (its 0029 is `SELECT 1`).
--
-- Each table, and each index keyed by match, costs a batch a dirtied page per match: at one message in flight per
-- side, a batch holds one message of each of ~100 matches, so each index keyed by match is ~100 pages, each a 4 KiB
-- frame in the WAL at commit. 0028 had three such indexes ((match_id, seq) of each table, and the duplicate key);
-- one row per message leaves two, and one table appended to instead of two (BENCHMARKS.md, issue 31, round 13).
--
-- What the 24 h expiry and the purge delete is the content, not the row: `client_msg_id`, `content` and `nonce`
-- become NULL together (the last CHECK), and the partial indexes drop the row then, so the duplicate key and the
-- expiry's order hold only rows with content, as the `messages` table did. Writes go to `message_rows` (the
-- batch, the receipts, the expiry and the purge have SQLite's statements; the views take no writes). Nothing
-- refers to these tables by foreign key (0027).

CREATE TABLE message_rows (
    match_id        INTEGER NOT NULL,                         -- read and locked by the batch that writes it
    seq             INTEGER NOT NULL,                         -- strictly increasing within a match
    sender_id       INTEGER NOT NULL,                         -- one of the match's two users
    receiver_id     INTEGER NOT NULL,                         -- the other one
    sent_at         TEXT    NOT NULL,
    delivered       BOOLEAN NOT NULL DEFAULT FALSE,
    delivered_at    TEXT,
    device_info     TEXT,
    connection_type TEXT    NOT NULL CHECK (connection_type IN ('text', 'video')),
    commitment      BLOB,                                     -- franking (0023)
    client_msg_id   TEXT,                                     -- the sender's idempotency key, while there is content
    content         TEXT,                                     -- end-to-end ciphertext (base64); never plaintext
    nonce           TEXT,
    CHECK (sender_id <> receiver_id),
    CHECK ((content IS NULL) = (nonce IS NULL) AND (content IS NULL) = (client_msg_id IS NULL))
);
-- Rows are copied oldest first, as 0028 did; a log without its message (content expired or purged) comes over
-- without content. Every message had its log row (the batch wrote both in one transaction).
INSERT INTO message_rows
    (match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type,
     commitment, client_msg_id, content, nonce)
    SELECT l.match_id, l.seq, l.sender_id, l.receiver_id, l.sent_at, l.delivered, l.delivered_at, l.device_info,
           l.connection_type, l.commitment, m.client_msg_id, m.content, m.nonce
    FROM message_logs l LEFT JOIN messages m ON m.match_id = l.match_id AND m.seq = l.seq
    ORDER BY l.sent_at, l.match_id, l.seq;
DROP TABLE messages;
DROP TABLE message_logs;
CREATE UNIQUE INDEX message_rows_key ON message_rows (match_id, seq);
CREATE UNIQUE INDEX message_rows_client_key ON message_rows (match_id, sender_id, client_msg_id)
    WHERE content IS NOT NULL;
CREATE INDEX message_rows_expiry ON message_rows (sent_at) WHERE content IS NOT NULL;

CREATE VIEW messages (match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, created_at) AS
    SELECT match_id, seq, sender_id, receiver_id, client_msg_id, content, nonce, sent_at
    FROM message_rows WHERE content IS NOT NULL;
CREATE VIEW message_logs
    (match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type, commitment)
    AS SELECT match_id, seq, sender_id, receiver_id, sent_at, delivered, delivered_at, device_info, connection_type,
              commitment
    FROM message_rows;
