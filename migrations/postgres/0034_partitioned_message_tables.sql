-- Message content partitioned by day and its metadata by month (declarative partitioning), so that the expiry drops
-- whole partitions instead of deleting rows one by one and leaving the table for VACUUM (src/store/partitions.rs
-- creates the partitions ahead and drops them; docs/operations.md "PostgreSQL partitioned by day").
--
-- In place: the existing tables are not copied. Each becomes the first partition of its new parent, covering every
-- time up to the day (month) after its newest row, and is dropped whole once that bound has passed the retention.
-- A table with no rows is dropped instead, so a new database holds only day (month) partitions. Converting costs one
-- scan of each table (the CHECK that lets ATTACH skip its own) and, for each, one index build: a partitioned
-- table's unique keys must hold its partition key, so `(match_id, seq)` becomes a plain index whose uniqueness the
-- group commit's batch keeps (it writes a match's messages under that match's row lock, src/store/batch/postgres.rs,
-- and gives each the next seq and each repeated `client_msg_id` its old one), as 0027 let it keep the foreign keys.
--
-- `matches.seq_floor`: the highest seq among a still-open conversation's logs that the metadata retention dropped,
-- so that a contact conversation silent for longer than that retention goes on from its seq instead of from 1.

ALTER TABLE matches ADD COLUMN seq_floor BIGINT NOT NULL DEFAULT 0;

ALTER TABLE messages RENAME TO messages_unpartitioned;
CREATE TABLE messages (
    match_id      BIGINT      NOT NULL,
    sender_id     BIGINT      NOT NULL,
    receiver_id   BIGINT      NOT NULL,
    seq           BIGINT      NOT NULL,
    client_msg_id TEXT        NOT NULL,
    content       TEXT        NOT NULL,   -- end-to-end ciphertext (base64); never plaintext
    nonce         TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT messages_sender_not_receiver CHECK (sender_id <> receiver_id)
) PARTITION BY RANGE (created_at);

ALTER TABLE message_logs RENAME TO message_logs_unpartitioned;
CREATE TABLE message_logs (
    match_id        BIGINT      NOT NULL,
    seq             BIGINT      NOT NULL,
    sender_id       BIGINT      NOT NULL,
    receiver_id     BIGINT      NOT NULL,
    sent_at         TIMESTAMPTZ NOT NULL,
    delivered       BOOLEAN     NOT NULL DEFAULT FALSE,
    delivered_at    TIMESTAMPTZ,
    device_info     TEXT,
    connection_type TEXT        NOT NULL
                    CONSTRAINT message_logs_connection_type_check CHECK (connection_type IN ('text', 'video')),
    commitment      BYTEA,
    CONSTRAINT message_logs_sender_not_receiver CHECK (sender_id <> receiver_id)
) PARTITION BY RANGE (sent_at);

-- The old tables as first partitions (or gone, when empty). The bound is the day (month) after the newest row.
DO $$
DECLARE
    newest TIMESTAMPTZ;
    bound  DATE;
BEGIN
    SELECT max(created_at) INTO newest FROM messages_unpartitioned;
    IF newest IS NULL THEN
        DROP TABLE messages_unpartitioned;
    ELSE
        -- Its unique keys give way to the parent's plain ones below (built on it there).
        ALTER TABLE messages_unpartitioned DROP CONSTRAINT messages_pkey,
            DROP CONSTRAINT messages_match_id_sender_id_client_msg_id_key;
        DROP INDEX messages_created;
        bound := (newest AT TIME ZONE 'UTC')::date + 1;
        -- One scan checks both: the bound (so ATTACH need not scan) and 0027's check, NOT VALID there, which a
        -- partition must hold as its parent does.
        EXECUTE format('ALTER TABLE messages_unpartitioned DROP CONSTRAINT messages_sender_not_receiver, '
                       'ADD CONSTRAINT messages_sender_not_receiver CHECK (sender_id <> receiver_id), '
                       'ADD CONSTRAINT messages_unpartitioned_bound CHECK (created_at < %L::timestamptz)',
                       bound || ' 00:00:00+00');
        EXECUTE format('ALTER TABLE messages ATTACH PARTITION messages_unpartitioned '
                       'FOR VALUES FROM (MINVALUE) TO (%L)', bound || ' 00:00:00+00');
        ALTER TABLE messages_unpartitioned DROP CONSTRAINT messages_unpartitioned_bound;
        EXECUTE format('ALTER TABLE messages_unpartitioned RENAME TO %I', 'messages_before_d' || to_char(bound, 'YYYYMMDD'));
    END IF;

    SELECT max(sent_at) INTO newest FROM message_logs_unpartitioned;
    IF newest IS NULL THEN
        DROP TABLE message_logs_unpartitioned;
    ELSE
        ALTER TABLE message_logs_unpartitioned DROP CONSTRAINT message_logs_pkey;
        bound := (date_trunc('month', newest AT TIME ZONE 'UTC') + interval '1 month')::date;
        EXECUTE format('ALTER TABLE message_logs_unpartitioned DROP CONSTRAINT message_logs_sender_not_receiver, '
                       'ADD CONSTRAINT message_logs_sender_not_receiver CHECK (sender_id <> receiver_id), '
                       'ADD CONSTRAINT message_logs_unpartitioned_bound CHECK (sent_at < %L::timestamptz)',
                       bound || ' 00:00:00+00');
        EXECUTE format('ALTER TABLE message_logs ATTACH PARTITION message_logs_unpartitioned '
                       'FOR VALUES FROM (MINVALUE) TO (%L)', bound || ' 00:00:00+00');
        ALTER TABLE message_logs_unpartitioned DROP CONSTRAINT message_logs_unpartitioned_bound;
        EXECUTE format('ALTER TABLE message_logs_unpartitioned RENAME TO %I',
                       'message_logs_before_m' || to_char(bound, 'YYYYMM'));
    END IF;
END $$;

-- The keys every read and write names, now per partition. An old table's own indexes that match are attached
-- (the commitments' one); the others are built on it once.
CREATE INDEX messages_key ON messages (match_id, seq);
CREATE INDEX messages_client_key ON messages (match_id, sender_id, client_msg_id);
CREATE INDEX message_logs_key ON message_logs (match_id, seq);
CREATE INDEX message_logs_commitment_expiry_p ON message_logs (sent_at) WHERE commitment IS NOT NULL;
