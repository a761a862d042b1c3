-- A message's sender and receiver are its match's two users, and the match's own foreign keys already hold both
-- (ON DELETE CASCADE: deleting a user deletes their matches, and with them these rows). The tables' foreign keys
-- on sender_id and receiver_id were a second check of the same thing: 4 of the 6 foreign-key checks every message
-- cost (`SELECT 1 FROM users … FOR KEY SHARE`, each a row lock too), measured with pg_stat_statements
-- (BENCHMARKS.md, issue 31), and on a user's deletion a scan of both tables per key (neither is indexed by
-- sender or receiver). Only the keys by match stay, with a CHECK that costs no lookup: a message goes from one of
-- the two to the other, never to its sender (the edge's refusals come first; this is the database's own refusal
-- behind them). Dropping a constraint does not touch the rows; the CHECK is NOT VALID so adding it does not scan
-- them either (every stored row holds it: the matches' own CHECK keeps their two users apart), and it holds for
-- every row written from now on.
ALTER TABLE messages DROP CONSTRAINT messages_sender_id_fkey, DROP CONSTRAINT messages_receiver_id_fkey,
    ADD CONSTRAINT messages_sender_not_receiver CHECK (sender_id <> receiver_id) NOT VALID;
ALTER TABLE message_logs DROP CONSTRAINT message_logs_sender_id_fkey, DROP CONSTRAINT message_logs_receiver_id_fkey,
    ADD CONSTRAINT message_logs_sender_not_receiver CHECK (sender_id <> receiver_id) NOT VALID;
