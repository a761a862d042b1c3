-- SQLite's 0029 keeps a message and its log in one row, with `messages` and `message_logs` as views of it: on
-- SQLite each index keyed by match costs a batch a WAL frame per match. Nothing to do here: PostgreSQL's WAL
-- records rows and index entries, not whole pages (after each page's first change since a checkpoint).
SELECT 1;
