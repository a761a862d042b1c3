-- The indexes that find a user's active match, and the matches due to expire, hold only active matches.
--
-- As full indexes on (user, status) and (status, expired_at) they held every match ever made, and every match
-- created or ended rewrote entries scattered over them: the pages a matching batch dirtied (and its commit wrote)
-- grew with the history of the users in it. An active match is a handful of rows per node; as partial indexes
-- they stay a few pages, which every batch touches again. Every query that reads them says `status = 'active'`
-- literally, which is what lets the planner use a partial index (EXPLAIN: BENCHMARKS.md, issue 12).
DROP INDEX matches_user1_status;
DROP INDEX matches_user2_status;
DROP INDEX matches_status_expiry;
CREATE INDEX matches_active_user1 ON matches (user1_id) WHERE status = 'active';
CREATE INDEX matches_active_user2 ON matches (user2_id) WHERE status = 'active';
CREATE INDEX matches_active_expiry ON matches (expired_at) WHERE status = 'active';
