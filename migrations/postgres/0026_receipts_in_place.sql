-- What a relayed message costs PostgreSQL, measured with pg_stat_statements (BENCHMARKS.md, issue 31): every
-- receipt updates its message's log row (`delivered`, `delivered_at`) a few milliseconds after the insert. With
-- full pages the new row version went to another page, so each receipt also wrote new entries in every index
-- of the table (3.5 WAL records per receipt). Pages filled to 80 % keep room for the update on the row's own
-- page, where PostgreSQL updates it without touching the indexes (a HOT update). Applies to pages written from
-- now on.
ALTER TABLE message_logs SET (fillfactor = 80);
-- Every read of the logs names the match, which the primary key (match_id, seq) finds; SQLite dropped this
-- index in its 0007 and its claim job reads by that key. One index fewer for every message and receipt.
DROP INDEX message_logs_match_sender;
