-- SQLite's 0028 stores the message tables in the order rows arrive, with (match_id, seq) as an index beside them.
-- Nothing to do here: a PostgreSQL table is a heap, appended to as rows arrive, and its primary key is that index.
SELECT 1;
