-- The message tables without foreign keys. Each message row and each log row checked three keys, its match, its
-- sender and its receiver: six checks per message, each a `SELECT 1 … FOR KEY SHARE` (a row lock on `users`
-- too), the largest part of what a message cost PostgreSQL besides its own rows (pg_stat_statements with
-- track = all: BENCHMARKS.md, issue 31, round 6). None of them protects anything the code does not already hold:
-- - the group commit's batch (src/store/batch/) alone inserts into these tables, and it reads every match it
--   writes to, locked (FOR NO KEY UPDATE), in the same transaction, and refuses a message unless its match is
--   active; the sender and the receiver are that match's two users (the relay's own check);
-- - matches are never deleted: the account purge re-keys a user's matches and logs to the tombstone in one
--   transaction (src/store/purge.rs), so no cascade ever ran. Whatever deletes matches one day must delete their
--   messages and logs itself.
-- A CHECK that costs no lookup takes the keys' place as the database's own refusal behind the edge's: a message
-- never goes to its sender. It is NOT VALID, so adding it does not scan the tables (every stored row holds it: the
-- matches' own CHECK keeps their two users apart); it holds for every row written from now on. Dropping the keys
-- does not touch the rows, and deleting a user no longer scans both tables (neither is indexed by sender or
-- receiver).
ALTER TABLE messages DROP CONSTRAINT messages_match_id_fkey,
    DROP CONSTRAINT messages_sender_id_fkey, DROP CONSTRAINT messages_receiver_id_fkey,
    ADD CONSTRAINT messages_sender_not_receiver CHECK (sender_id <> receiver_id) NOT VALID;
ALTER TABLE message_logs DROP CONSTRAINT message_logs_match_id_fkey,
    DROP CONSTRAINT message_logs_sender_id_fkey, DROP CONSTRAINT message_logs_receiver_id_fkey,
    ADD CONSTRAINT message_logs_sender_not_receiver CHECK (sender_id <> receiver_id) NOT VALID;
