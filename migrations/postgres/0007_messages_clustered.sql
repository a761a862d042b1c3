-- Messages and their metadata logs keyed by (match_id, seq), as on SQLite (where the tables are clustered by
-- it, 0007 there): the surrogate ids were one more B-tree per table that every message paid for and no query
-- read. The (match_id, seq) keys become the primary keys. The index on the logs by sender, which no
-- query reads either, goes too.
-- The unique constraints own their indexes, so the keys are built anew (one pass over each table).
ALTER TABLE messages DROP COLUMN id, DROP CONSTRAINT messages_match_id_seq_key, ADD PRIMARY KEY (match_id, seq);
ALTER TABLE message_logs
    DROP COLUMN id, DROP CONSTRAINT message_logs_match_id_seq_key, ADD PRIMARY KEY (match_id, seq);
DROP INDEX message_logs_sender;
