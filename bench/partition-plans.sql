-- The plans PostgreSQL takes for the message tables' hot statements once they are partitioned (issue 51 point 2):
-- each should probe the `(match_id, seq)` or client-key index of the one or two partitions of the match's time and
-- show the others as "Subplans Removed". Run on a database a relay benchmark wrote to (a fresh one per run):
--   psql <url> -f bench/partition-plans.sql
-- Generic plans, as sqlx's prepared statements reuse them.
SET plan_cache_mode = force_generic_plan;
SELECT match_id AS m, max(seq) AS s, max(created_at) AS t FROM messages GROUP BY match_id ORDER BY match_id LIMIT 1 \gset

\echo '== the batch: each match''s last seq (src/store/batch/postgres.rs, insert_messages)'
PREPARE last_seq(bigint[], timestamptz) AS
SELECT id, status, kept_at IS NOT NULL,
  (SELECT COALESCE(MAX(seq), matches.seq_floor) FROM message_logs
   WHERE match_id = matches.id AND sent_at >= matches.created_at - interval '1 day' AND sent_at < $2 + interval '1 day')
FROM matches WHERE id = ANY($1);
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE last_seq(ARRAY[:m]::bigint[], :'t');

\echo '== the batch: a repeated client_msg_id (insert_messages)'
PREPARE known(bigint[], bigint[], text[], timestamptz) AS
SELECT m.match_id, m.sender_id, m.client_msg_id, m.seq, m.created_at AS sent_at
FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS k(match_id, sender_id, client_msg_id)
JOIN messages m ON m.match_id = k.match_id AND m.sender_id = k.sender_id
  AND m.client_msg_id = k.client_msg_id AND m.created_at <= $4 + interval '1 minute';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  EXECUTE known(ARRAY[:m]::bigint[], ARRAY[1]::bigint[], ARRAY['x'], :'t');

\echo '== the batch: a receipt up to a seq (write)'
PREPARE receipt(timestamptz, bigint[], bigint[], bigint[], bigint[], timestamptz[]) AS
UPDATE message_logs l SET delivered = TRUE, delivered_at = $1
FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], $6::timestamptz[])
  WITH ORDINALITY AS r(match_id, first, seq, receiver_id, since, n)
WHERE l.match_id = r.match_id AND l.seq BETWEEN r.first AND r.seq AND l.receiver_id = r.receiver_id
  AND l.delivered = FALSE AND l.sent_at >= r.since AND l.sent_at < $1 + interval '1 day'
  AND r.seq <= (SELECT max(m.seq) FROM message_logs m WHERE m.match_id = r.match_id
    AND m.sent_at >= r.since AND m.sent_at < $1 + interval '1 day')
RETURNING r.n - 1 AS receipt, l.seq, l.sender_id;
SELECT created_at - interval '1 day' AS since FROM matches WHERE id = :m \gset
BEGIN;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  EXECUTE receipt(:'t', ARRAY[:m]::bigint[], ARRAY[:s - 1]::bigint[], ARRAY[:s]::bigint[], ARRAY[0]::bigint[],
                  ARRAY[:'since']::timestamptz[]);
ROLLBACK;

\echo '== resume (src/store/messages.rs)'
PREPARE resume(bigint, bigint, timestamptz, bigint) AS
SELECT m.match_id, m.seq, m.sender_id, m.content, m.nonce, l.commitment, m.created_at FROM messages m
LEFT JOIN message_logs l ON l.match_id = m.match_id AND l.seq = m.seq AND l.sent_at = m.created_at
WHERE m.match_id = $1 AND m.seq > $2 AND m.created_at >= $3 ORDER BY m.seq LIMIT $4;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE resume(:m, :s - 3, (:'t')::timestamptz - interval '24 hours', 100);
