#!/usr/bin/env bash
# What the 24 h expiry costs PostgreSQL on a large message table, before and after partitioning by day
# (issue 51 point 2; BENCHMARKS.md has the figures):
#
#   before: the message table as migrations 0001-0033 leave it, ROWS messages over two days; the expiry as the job
#           ran it there (`DELETE … LIMIT 500`, each its own transaction, until a day is gone), then the VACUUM
#           that makes the space reusable;
#   after:  the same rows in day partitions (0034); the expiry drops the day's partition.
#
# Usage: bench/expiry-cost.sh            (ROWS=10000000 by default; ADMIN_URL names a PostgreSQL to create the two
#                                         scratch databases on, postgres://postgres@127.0.0.1:5432/postgres;
#                                         PARTS="after" measures the partitions alone)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROWS=${ROWS:-10000000}
PARTS=${PARTS:-before after}
ADMIN_URL=${ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
BASE=${ADMIN_URL%/*}
BEFORE=tanis_expiry_before_$$
AFTER=tanis_expiry_after_$$
cleanup() {
  psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $BEFORE" -c "DROP DATABASE IF EXISTS $AFTER" >/dev/null 2>&1 || true
}
trap cleanup EXIT
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }

migrate() { # database, last migration to apply
  for f in migrations/postgres/0*.sql; do
    v=$(basename "$f"); v=${v%%_*}
    [ "$((10#$v))" -le "$2" ] || continue
    psql -q -v ON_ERROR_STOP=1 "$BASE/$1" -1 -f "$f" >/dev/null
  done
}

# ROWS messages from 2026-11-20 00:00 over 48 h: 100 000 matches, a ~160-character ciphertext each.
fill() {
  psql -q -v ON_ERROR_STOP=1 "$BASE/$1" -c "
    INSERT INTO messages (match_id, sender_id, receiver_id, seq, client_msg_id, content, nonce, created_at)
    SELECT g % 100000 + 1, 1, 2, g / 100000 + 1, md5(g::text), repeat(md5(g::text), 5), left(md5(g::text), 32),
           '2026-11-20 00:00:00+00'::timestamptz + g * (interval '48 hours' / $ROWS)
    FROM generate_series(0, $ROWS - 1) g" -c "VACUUM ANALYZE messages"
}

size() { psql -At "$BASE/$1" -c "SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c
  WHERE c.relkind IN ('r', 'p') AND (c.relname = 'messages' OR c.relname LIKE 'messages_d%')"; }

psql -q "$ADMIN_URL" -c "CREATE DATABASE $BEFORE" -c "CREATE DATABASE $AFTER"

if [[ $PARTS == *before* ]]; then
echo "== before: one table, DELETE in batches of 500 =="
migrate "$BEFORE" 33
fill "$BEFORE"
echo "rows: $ROWS, size: $(size "$BEFORE")"
batches=$((ROWS / 2 / 500 + 1))
t0=$(now)
# The job's statement, one transaction per batch, until the first day is gone.
for _ in $(seq "$batches"); do
  echo "DELETE FROM messages WHERE (match_id, seq) IN (SELECT match_id, seq FROM messages
        WHERE created_at < '2026-11-21 00:00:00+00' ORDER BY created_at LIMIT 500);"
done | psql -q -v ON_ERROR_STOP=1 "$BASE/$BEFORE" >/dev/null
t1=$(now)
psql -q "$BASE/$BEFORE" -c "VACUUM messages"
t2=$(now)
echo "delete: $(elapsed "$t0" "$t1") s in $batches statements; vacuum: $(elapsed "$t1" "$t2") s; size after: $(size "$BEFORE")"
echo "rows left: $(psql -At "$BASE/$BEFORE" -c 'SELECT count(*) FROM messages')"
fi

echo "== after: a partition per day, DROP =="
migrate "$AFTER" 34
psql -q -v ON_ERROR_STOP=1 "$BASE/$AFTER" \
  -c "CREATE TABLE messages_d20261120 PARTITION OF messages FOR VALUES FROM ('2026-11-20 00:00:00+00') TO ('2026-11-21 00:00:00+00')" \
  -c "CREATE TABLE messages_d20261121 PARTITION OF messages FOR VALUES FROM ('2026-11-21 00:00:00+00') TO ('2026-11-22 00:00:00+00')"
fill "$AFTER"
echo "rows: $ROWS, size: $(size "$AFTER")"
# What the fill left for the checkpointer is not the drop's cost.
psql -q "$BASE/$AFTER" -c "CHECKPOINT"
t0=$(now)
psql "$BASE/$AFTER" -c "\\timing on" -c "DROP TABLE messages_d20261120" | grep Time
t1=$(now)
echo "drop: $(elapsed "$t0" "$t1") s (psql's connection included); size after: $(size "$AFTER")"
echo "rows left: $(psql -At "$BASE/$AFTER" -c 'SELECT count(*) FROM messages')"
