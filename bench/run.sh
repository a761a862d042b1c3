#!/usr/bin/env bash
# Runs every tanis-bench scenario against a fresh `tanis serve` on loopback and collects the results.
#
#   CONNECTIONS=100000 PAIRS=100 MATCH_USERS=200 STORM_CONCURRENCY=32 DURATION=30 bench/run.sh
#   BENCH_DATABASE_URL=postgres://… bench/run.sh      # PostgreSQL instead of the default SQLite
#
# Output: bench/results/<store>-<timestamp>.json (one JSON array) and the Markdown table on stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-2000}
PAIRS=${PAIRS:-10}
IN_FLIGHT=${IN_FLIGHT:-10}
MATCH_USERS=${MATCH_USERS:-20}
STORM_CONCURRENCY=${STORM_CONCURRENCY:-16}
DURATION=${DURATION:-5}
HOLD=${HOLD:-5}
PORT=${PORT:-18080}
# Enough distinct users for every scenario (relay and matching need distinct ones; connections round-robins).
USERS=${USERS:-$(( 2 * PAIRS + MATCH_USERS + 200 ))}

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tanis-target}
cargo build --release -p tanis -p tanis-bench
TANIS=$CARGO_TARGET_DIR/release/tanis
BENCH=$CARGO_TARGET_DIR/release/tanis-bench

# 100k sockets need 100k descriptors on both sides (the bench raises its own limit to the hard limit too).
ulimit -n "$(ulimit -Hn)" || true

WORK=$(mktemp -d)
STORE=sqlite
export TANIS_LISTEN=127.0.0.1:$PORT
export TANIS_DATA_DIR=$WORK/data
if [[ -n "${BENCH_DATABASE_URL:-}" ]]; then
  export TANIS_DATABASE_URL=$BENCH_DATABASE_URL
  STORE=postgres
fi
# Benchmark-friendly limits. bcrypt stays at the production cost 12: the login storm measures exactly that.
export TANIS_AUTH__BCRYPT_COST=12
export TANIS_HUB__MESSAGES_PER_SECOND=1000000
export TANIS_HUB__MESSAGE_BURST=1000000
export TANIS_HUB__MAX_CONNECTIONS=$(( CONNECTIONS > 110000 ? CONNECTIONS + 1000 : 110000 ))
# The matcher never pairs people who met within this many hours; the matching loop re-pairs the same users.
export TANIS_MATCHING__RECENT_PARTNER_HOURS=0
export TANIS_JOBS__ENABLED=false
export RUST_LOG=${RUST_LOG:-warn}

SERVER_PID=
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

"$TANIS" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
"$TANIS" dev seed-users "$USERS" --out "$WORK/users.txt" --password bench-password-1 --prefix bench

URL=ws://127.0.0.1:$PORT/v1/ws
HTTP=http://127.0.0.1:$PORT
mkdir -p bench/results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=bench/results/$STORE-$STAMP.json
MD=$WORK/table.md

run() { # name, then tanis-bench arguments
  local name=$1; shift
  echo "== $name" >&2
  "$BENCH" "$@" --json "$WORK/$name.json" --markdown "$MD"
}
# SCENARIOS="relay matching" runs a subset (in this order); the JSON then holds only those.
SCENARIOS=${SCENARIOS:-echo relay matching login-storm connections}
wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; }
wanted echo && run echo echo-baseline "$PAIRS" --in-flight "$IN_FLIGHT" --duration-secs "$DURATION"
wanted relay && run relay relay "$PAIRS" --users "$WORK/users.txt" --url "$URL" --in-flight "$IN_FLIGHT" --duration-secs "$DURATION"
wanted matching && run matching matching "$MATCH_USERS" --users "$WORK/users.txt" --url "$URL" --duration-secs "$DURATION"
wanted login-storm && run login-storm login-storm --users "$WORK/users.txt" --url "$URL" --http "$HTTP" \
  --concurrency "$STORM_CONCURRENCY" --pairs "$PAIRS" --in-flight "$IN_FLIGHT" --duration-secs "$DURATION"
# Last: it leaves the server with the most memory.
wanted connections && run connections connections "$CONNECTIONS" --users "$WORK/users.txt" --url "$URL" \
  --server-pid "$SERVER_PID" --hold-secs "$HOLD"

# One JSON array, tagged with the store and the sizes.
{
  printf '{"store":"%s","timestamp":"%s","results":[' "$STORE" "$STAMP"
  first=1
  for name in $SCENARIOS; do
    [[ $first == 1 ]] || printf ','
    first=0
    cat "$WORK/$name.json"
  done
  printf ']}\n'
} >"$OUT"
echo "results: $OUT" >&2
cat "$MD"
