#!/usr/bin/env bash
# The moderators' console on a large operator's data (issue 61, point 4): seeds a database with 1 000 000 users and
# 1 000 000 reports and the rows around them, then times the console's reads against a release `tanis serve`.
#
#   bench/moderation-scale.sh sqlite                 # a SQLite file under /tmp
#   bench/moderation-scale.sh postgres               # a fresh database on PG_URL's server, dropped afterwards
#   KEEP=1 bench/moderation-scale.sh sqlite          # keep the seeded database (and its data dir) ...
#   REUSE=1 bench/moderation-scale.sh sqlite         # ... and measure it again without seeding (e.g. after a fix:
#                                                    #     the new binary migrates it at start, as an upgrade does)
#   USERS=100000 REPORTS=100000 bench/moderation-scale.sh sqlite     # smaller
#   PLANS=1 bench/moderation-scale.sh postgres       # also print the query plans (bench/moderation-scale-plans.*)
#
# Settings (environment): USERS, REPORTS (1 000 000 each), OPEN_PERCENT (30: the share of reports still open),
# REQUESTS (300 per endpoint), BUDGET_SECS (120: an endpoint stops early once it has taken this long),
# PG_URL (postgres://postgres@127.0.0.1:5432/postgres: the server the bench database is made on),
# BENCH_SERVER_BIN (a tanis binary; default: `cargo build --release --bin tanis` and use it),
# WORK (/tmp/tanis-moderation-scale-<store>: data dir, logs, the SQLite file, results).
#
# What it does, in order:
#  1. `tanis migrate` makes an empty database (every table and constraint of migrations/);
#     `tanis dev seed-users 1` adds one account the normal way, whose bcrypt hash (password `bench-password-1`)
#     the bulk accounts share.
#  2. bench/moderation-scale-seed.py writes the rows as SQL (its header says what, how many and how they are
#     spread) and psql / sqlite3 runs it: the users' phones go in as the pre-0014 plaintext column.
#  3. `tanis migrate` again: tanis seals every phone under this database's keys, as an upgrade from before
#     migration 0014 does (src/phones/reseal.rs), so each bulk account is a valid one and can sign in. On
#     PostgreSQL, then `VACUUM ANALYZE` (autovacuum would do it after such a load); SQLite gets no ANALYZE, since tanis
#     never runs one there.
#  4. `tanis serve` (jobs off: the automatic ban and the retention jobs would change the rows being measured;
#     TURN off), an admin made through the real door: POST /v1/auth/register, `tanis set-role … admin`,
#     POST /v1/auth/login for the token.
#  5. bench/moderation-scale-measure.py: GET /v1/admin/reports (first page, page 51, the deepest page the API
#     allows or the queue holds), GET /v1/admin/users/{id} and ?handle= (the most reported user and a typical one),
#     GET /v1/admin/audit (newest, Older, by target, actor and action): p50/p90/p99/max over REQUESTS sequential
#     requests each, as a Markdown table (and $WORK/results-*.json).
#  6. Stops the server; drops the PostgreSQL database / removes $WORK unless KEEP=1.
#
# Timings on this project's 2-core machine (1 000 000 / 1 000 000): seeding ~2 min on SQLite and on PostgreSQL;
# sealing the phones ~1 min on SQLite, ~2-3 min on PostgreSQL; measuring ~3 min. Results and plans: BENCHMARKS.md,
# "Issue 61, point 4". Not a test: nothing runs it in CI.
set -euo pipefail

# All of it in a function, read whole before it runs: editing this file during a run does not derail the run.
main() {

cd "$(dirname "$0")/.."
STORE=${1:?usage: bench/moderation-scale.sh sqlite|postgres}
case $STORE in sqlite | postgres) ;; *) echo "store: sqlite or postgres" >&2; exit 2 ;; esac
USERS=${USERS:-1000000}
REPORTS=${REPORTS:-1000000}
OPEN_PERCENT=${OPEN_PERCENT:-30}
REQUESTS=${REQUESTS:-300}
BUDGET_SECS=${BUDGET_SECS:-120}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
WORK=${WORK:-/tmp/tanis-moderation-scale-$STORE}
KEEP=${KEEP:-0}
REUSE=${REUSE:-0}
PLANS=${PLANS:-0}
DB_NAME=tanis_moderation_scale
ADMIN_PHONE=+905441112233
ADMIN_PASSWORD=bench-admin-password-1

if [ -z "${BENCH_SERVER_BIN:-}" ]; then
    cargo build --release --bin tanis
    BENCH_SERVER_BIN=${CARGO_TARGET_DIR:-target}/release/tanis
fi

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
since() { echo $(($(date +%s) - $1)); }

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DB_URL=${PG_URL%/*}/$DB_NAME
# Every TANIS_* variable is configuration (unknown keys are refused): the script's own names avoid the prefix.
tanis_env=(TANIS_DATA_DIR="$WORK/data" TANIS_LISTEN="127.0.0.1:$PORT" TANIS_JOBS__ENABLED=false
    TANIS_VIDEO__TURN_ENABLED=false TANIS_LOG="${BENCH_LOG:-warn}")
if [ "$STORE" = postgres ]; then
    # PostgreSQL wants every shared secret configured (docs/operations.md); the phone keys must stay those the
    # phones were sealed under, so they are kept beside the database for REUSE=1.
    mkdir -p "$WORK"
    [ -e "$WORK/secrets" ] || for key in AUTH__JWT_SECRET PHONES__ENCRYPTION_KEY PHONES__INDEX_KEY VIDEO__TURN_SECRET; do
        echo "TANIS_$key=$(openssl rand -hex 24)"
    done >"$WORK/secrets"
    mapfile -t secrets <"$WORK/secrets"
    tanis_env+=(TANIS_DATABASE_URL="$DB_URL" "${secrets[@]}")
fi
tanis() { env "${tanis_env[@]}" "$BENCH_SERVER_BIN" "$@"; }
sql() { # one statement's rows, `|`-separated
    if [ "$STORE" = postgres ]; then psql -X -q -At -v ON_ERROR_STOP=1 "$DB_URL" -c "$1"; else sqlite3 "$WORK/data/tanis.db" "$1"; fi
}

SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ "$KEEP" != 1 ]; then
        [ "$STORE" = postgres ] && psql -X -q "$PG_URL" -c "DROP DATABASE IF EXISTS $DB_NAME" >/dev/null
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

if [ "$REUSE" = 1 ] && [ -e "$WORK/seeded" ]; then
    log "reusing the database seeded on $(cat "$WORK/seeded")"
else
    mkdir -p "$WORK"
    find "$WORK" -mindepth 1 -maxdepth 1 ! -name secrets -exec rm -rf {} +
    if [ "$STORE" = postgres ]; then
        psql -X -q "$PG_URL" -c "DROP DATABASE IF EXISTS $DB_NAME" -c "CREATE DATABASE $DB_NAME" >/dev/null
    fi
    log "1. migrate, and one account through tanis"
    tanis migrate
    tanis dev seed-users 1 --out "$WORK/seeded-users.txt" >/dev/null
    log "2. seeding $USERS users and $REPORTS reports ($OPEN_PERCENT % open)"
    t=$(date +%s)
    seed=(python3 bench/moderation-scale-seed.py --dialect "$STORE" --users "$USERS" --reports "$REPORTS"
        --open-percent "$OPEN_PERCENT" --now "$(date +%s)")
    if [ "$STORE" = postgres ]; then
        "${seed[@]}" | psql -X -q -v ON_ERROR_STOP=1 "$DB_URL" >"$WORK/seed.log"
    else
        "${seed[@]}" | sqlite3 "$WORK/data/tanis.db" >"$WORK/seed.log"
    fi
    log "   seeded in $(since "$t") s: $(tr '\n' ' ' <"$WORK/seed.log")"
    log "3. migrate again: tanis seals the phones"
    t=$(date +%s)
    tanis migrate
    log "   sealed in $(since "$t") s"
    if [ "$STORE" = postgres ]; then
        t=$(date +%s)
        psql -X -q "$DB_URL" -c "VACUUM ANALYZE" >/dev/null
        log "   VACUUM ANALYZE in $(since "$t") s"
    fi
    date -u +%FT%TZ >"$WORK/seeded"
fi

log "4. serve, and an admin through the real door"
# Not through `tanis`: `env` execs the server, so the job's pid is the server's own, for the cleanup to stop.
env "${tanis_env[@]}" "$BENCH_SERVER_BIN" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 600); do
    curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
    sleep 0.5
done
api() { curl -fsS -H 'Content-Type: application/json' "http://127.0.0.1:$PORT$1" -d "$2"; }
if [ -z "$(sql "SELECT role FROM users WHERE alias = 'modbench' AND role = 'admin'")" ]; then
    api /v1/auth/register "{\"phone\": \"$ADMIN_PHONE\", \"password\": \"$ADMIN_PASSWORD\", \"alias\": \"modbench\",
        \"accept_privacy_notice\": true, \"birth_year\": 1990}" >/dev/null
    tanis set-role "$ADMIN_PHONE" admin
fi
TOKEN=$(api /v1/auth/login "{\"phone\": \"$ADMIN_PHONE\", \"password\": \"$ADMIN_PASSWORD\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["tokens"]["access_token"])')

# What the requests ask about: the most reported user, a typical reported one (one report), a moderator, and an
# audit id half-way down the trail; the deepest queue page is the last one the queue holds, at most offset 100 000.
python3 - "$WORK/targets.json" <<EOF
import json, sys
def row(text):
    return text.strip().split("|")
heavy = row("""$(sql "SELECT u.id, u.alias || '#' || u.tag, c.n FROM (SELECT reported_id, COUNT(*) AS n FROM reports GROUP BY reported_id ORDER BY n DESC, reported_id LIMIT 1) c JOIN users u ON u.id = c.reported_id")""")
typical = row("""$(sql "SELECT u.id, u.alias || '#' || u.tag, c.n FROM (SELECT reported_id, COUNT(*) AS n FROM reports GROUP BY reported_id HAVING COUNT(*) = 1 ORDER BY reported_id LIMIT 1 OFFSET 5000) c JOIN users u ON u.id = c.reported_id")""")
queued = int("$(sql "SELECT COUNT(DISTINCT reported_id) FROM reports WHERE resolved_at IS NULL")")
moderator = int("$(sql "SELECT MIN(id) FROM users WHERE role = 'moderator'")")
middle = int("$(sql "SELECT (MIN(id) + MAX(id)) / 2 FROM system_logs")")
json.dump({"heavy_user": {"id": int(heavy[0]), "handle": heavy[1], "reports": int(heavy[2])},
           "typical_user": {"id": int(typical[0]), "handle": typical[1], "reports": int(typical[2])},
           "queued_users": queued, "deep_offset": max(0, min(100000, queued - 20)),
           "moderator": moderator, "middle_audit_id": middle}, open(sys.argv[1], "w"), indent=1)
EOF
log "   targets: $(tr -d '\n ' <"$WORK/targets.json")"
log "   rows: $(sql "SELECT (SELECT COUNT(*) FROM users) || ' users, ' || (SELECT COUNT(*) FROM reports) || ' reports (' || (SELECT COUNT(*) FROM reports WHERE resolved_at IS NULL) || ' open), ' || (SELECT COUNT(*) FROM matches) || ' matches, ' || (SELECT COUNT(*) FROM report_evidence) || ' evidence, ' || (SELECT COUNT(*) FROM report_calls) || ' call reports, ' || (SELECT COUNT(*) FROM bans) || ' bans, ' || (SELECT COUNT(*) FROM claims) || ' claims, ' || (SELECT COUNT(*) FROM system_logs) || ' audit entries'")"

log "5. measuring ($REQUESTS requests per endpoint, at most $BUDGET_SECS s each)"
python3 bench/moderation-scale-measure.py --url "http://127.0.0.1:$PORT" --token "$TOKEN" \
    --targets "$WORK/targets.json" --requests "$REQUESTS" --budget-secs "$BUDGET_SECS" --label "$STORE" \
    --json "$WORK/results-$(date -u +%Y%m%dT%H%M%SZ).json" ${ONLY:+--only "$ONLY"}

if [ "$PLANS" = 1 ]; then
    log "query plans"
    python3 bench/moderation-scale-plans.py --dialect "$STORE" --targets "$WORK/targets.json" |
        if [ "$STORE" = postgres ]; then psql -X -q "$DB_URL"; else sqlite3 "$WORK/data/tanis.db"; fi
fi
}

main "$@"
