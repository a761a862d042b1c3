#!/usr/bin/env bash
# Runs every tanis-bench scenario against a fresh `tanis serve` on loopback and collects the results.
#
#   CONNECTIONS=100000 PAIRS=100 MATCH_USERS=200 STORM_CONCURRENCY=32 DURATION=30 bench/run.sh
#   SCENARIOS=matching MATCH_INTERESTS=3/50 MATCH_LANGUAGES=2/4 MATCH_INTEREST_MATCHING=prefer bench/run.sh
#   SCENARIOS=open-loop OPEN_RATES="1000 5000 10000" OPEN_PAIRS=200 DURATION=10 bench/run.sh   # offered load
#   BENCH_DATABASE_URL=postgres://… bench/run.sh      # PostgreSQL instead of the default SQLite
#   PG_STATEMENTS=1 BENCH_DATABASE_URL=postgres://… SCENARIOS=relay bench/run.sh   # + what each statement cost
#       the database (pg_stat_statements; the server needs shared_preload_libraries = 'pg_stat_statements')
#   NODES=2 BENCH_DATABASE_URL=postgres://… bench/run.sh   # a cluster: 2 nodes on one PostgreSQL + a throwaway Redis
#   BENCH_SERVER_BIN=/tmp/base/tanis bench/run.sh                  # another build of the server, same load generator
#
# With NODES>1, relay splits every pair across two nodes and matching spreads its users over all of them
# (--url takes the comma-separated list); login-storm's relay part does too, but its logins go to node 1;
# connections measures one server process, node 1.
#
# Every scenario that talks to a server reports the server's CPU over its window (--server-pid, every node's), and
# with PostgreSQL the database's too (--db-processes postgres: every `postgres` process on the machine, so keep
# other PostgreSQL work off it while measuring).
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
# Nodes listen on PORT, PORT+1, …
NODES=${NODES:-1}
# Open loop (issue 31): OPEN_RATES offered msgs/s, one run of DURATION each, over OPEN_PAIRS pairs.
OPEN_RATES=${OPEN_RATES:-1000 2000 5000 10000 20000}
OPEN_PAIRS=${OPEN_PAIRS:-200}
# Enough distinct users for every scenario (relay and matching need distinct ones; connections round-robins).
USERS=${USERS:-$(( 2 * (PAIRS > OPEN_PAIRS ? PAIRS : OPEN_PAIRS) + MATCH_USERS + 200 ))}

[[ $NODES =~ ^[1-9][0-9]*$ ]] || { echo "NODES must be a positive number, not '$NODES'" >&2; exit 2; }
# Nodes share one database: SQLite is one file on one machine, a cluster needs PostgreSQL.
if (( NODES > 1 )) && [[ -z "${BENCH_DATABASE_URL:-}" ]]; then
  echo "NODES=$NODES needs BENCH_DATABASE_URL=postgres://… (the nodes share one PostgreSQL database)" >&2
  exit 2
fi
if (( NODES > 1 )) && ! command -v redis-server >/dev/null; then
  echo "NODES=$NODES needs redis-server and redis-cli (apt-get install redis-server)" >&2
  exit 2
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tanis-target}
# BENCH_BUILD=0 measures the binaries already built (say, while other builds hold cargo's lock).
[[ ${BENCH_BUILD:-1} == 0 ]] || cargo build --release -p tanis -p tanis-bench
# BENCH_SERVER_BIN=/path/to/another/tanis measures another build (an A/B against an older commit) with this load generator.
TANIS=${BENCH_SERVER_BIN:-$CARGO_TARGET_DIR/release/tanis}
BENCH=$CARGO_TARGET_DIR/release/tanis-bench

# 100k sockets need 100k descriptors on both sides (the bench raises its own limit to the hard limit too).
ulimit -n "$(ulimit -Hn)" || true

WORK=$(mktemp -d)
STORE=sqlite
# Node 1's; the other nodes get their own below. `tanis dev seed-users` runs with node 1's settings.
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
# The load generator's accounts are new and unverified: lift the trust limits on their finds and skips.
export TANIS_TRUST__LIMITED_FINDS_PER_MINUTE=1000000
export TANIS_TRUST__LIMITED_SKIPS_PER_MINUTE=1000000
export TANIS_JOBS__ENABLED=false
export RUST_LOG=${RUST_LOG:-warn}

# A node on PostgreSQL or Redis refuses generated secrets (each node would generate its own): every node and the
# seeded tokens share these, fresh for every run.
if [[ -n "${BENCH_DATABASE_URL:-}" ]] || (( NODES > 1 )); then
  fresh_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  export TANIS_AUTH__JWT_SECRET=$(fresh_secret)
  export TANIS_PHONES__ENCRYPTION_KEY=$(fresh_secret)
  export TANIS_PHONES__INDEX_KEY=$(fresh_secret)
  export TANIS_VIDEO__TURN_SECRET=$(fresh_secret)
fi

SERVER_PIDS=()
REDIS_PID=
cleanup() {
  local pid
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "$REDIS_PID" ]]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  # KEEP_WORK=1 keeps the server logs (and the SQLite data) to look at afterwards.
  if [[ -n "${KEEP_WORK:-}" ]]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if (( NODES > 1 )); then
  STORE=$STORE-${NODES}nodes
  # A throwaway Redis on a free port, without persistence (as scripts/test runs it); not daemonized, so cleanup
  # stops it by its pid.
  REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
    --logfile "$WORK/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 1 100); do
    [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && break
    sleep 0.1
  done
  [[ $(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] ||
    { cat "$WORK/redis.log" >&2; echo "Redis did not start" >&2; exit 1; }
  # Every node and the seeded tokens must agree on these; the secret is fresh for every run.
  export TANIS_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/
  export TANIS_CLUSTER__NAMESPACE=bench
  # Each node would bind the embedded TURN server to the default UDP 3478; the benchmarks make no calls.
  export TANIS_VIDEO__TURN_LISTEN=127.0.0.1:0
fi

URLS=
for (( i = 0; i < NODES; i++ )); do
  port=$(( PORT + i ))
  # Node 1 keeps the exported TANIS_LISTEN / TANIS_DATA_DIR; the others override both.
  if (( i == 0 )); then
    "$TANIS" serve >"$WORK/server.log" 2>&1 &
  else
    TANIS_LISTEN=127.0.0.1:$port TANIS_DATA_DIR=$WORK/data-$(( i + 1 )) \
      "$TANIS" serve >"$WORK/server-$(( i + 1 )).log" 2>&1 &
  fi
  SERVER_PIDS+=($!)
  URLS+=${URLS:+,}ws://127.0.0.1:$port/v1/ws
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
done
SERVER_PID=${SERVER_PIDS[0]}
# CPU accounting: every node, and PostgreSQL's processes when it is the store. (The Redis of NODES>1 is not counted.)
CPU=()
for pid in "${SERVER_PIDS[@]}"; do CPU+=(--server-pid "$pid"); done
DB=()
[[ -n "${BENCH_DATABASE_URL:-}" ]] && DB=(--db-processes postgres)
"$TANIS" dev seed-users "$USERS" --out "$WORK/users.txt" --password bench-password-1 --prefix bench

URL=ws://127.0.0.1:$PORT/v1/ws
HTTP=http://127.0.0.1:$PORT
mkdir -p bench/results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=bench/results/$STORE-$STAMP.json
MD=$WORK/table.md

RESULTS=()
# PG_STATEMENTS=1: every scenario starts from zeroed pg_stat_statements, and what each statement cost the database
# over the scenario (calls, rows, time, shared blocks) goes to bench/results/<store>-<timestamp>-<scenario>.statements.
PG_STATEMENTS=${PG_STATEMENTS:-}
if [[ -n $PG_STATEMENTS ]]; then
  [[ -n "${BENCH_DATABASE_URL:-}" ]] || { echo "PG_STATEMENTS=1 needs BENCH_DATABASE_URL" >&2; exit 2; }
  psql -q "$BENCH_DATABASE_URL" -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >&2
fi
statements() { # scenario name
  psql -q "$BENCH_DATABASE_URL" -P pager=off -c "
    SELECT calls, rows, round(total_exec_time::numeric, 1) AS exec_ms,
           round((total_exec_time / greatest(calls, 1))::numeric, 3) AS ms_per_call,
           shared_blks_hit AS hit, shared_blks_dirtied AS dirtied, wal_records, wal_bytes,
           left(regexp_replace(query, '\s+', ' ', 'g'), 110) AS query
    FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
    ORDER BY total_exec_time DESC LIMIT 15" >"bench/results/$STORE-$STAMP-$1.statements"
  echo "pg_stat_statements: bench/results/$STORE-$STAMP-$1.statements" >&2
}
run() { # name, then tanis-bench arguments
  local name=$1; shift
  RESULTS+=("$name")
  echo "== $name" >&2
  [[ -z $PG_STATEMENTS ]] || psql -q "$BENCH_DATABASE_URL" -c "SELECT pg_stat_statements_reset()" >/dev/null
  "$BENCH" "$@" --json "$WORK/$name.json" --markdown "$MD"
  [[ -z $PG_STATEMENTS ]] || statements "$name"
}
# SCENARIOS="relay matching" runs a subset (in this order); the JSON then holds only those.
SCENARIOS=${SCENARIOS:-echo relay matching login-storm connections}
wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; }
wanted echo && run echo echo-baseline "$PAIRS" --in-flight "$IN_FLIGHT" --duration-secs "$DURATION"
wanted relay && run relay relay "$PAIRS" --users "$WORK/users.txt" --url "$URLS" "${CPU[@]}" "${DB[@]}" \
  --in-flight "$IN_FLIGHT" --duration-secs "$DURATION"
# Not in the default set (five runs): SCENARIOS=open-loop. Each rate is its own result.
if wanted open-loop; then
  for r in $OPEN_RATES; do
    run "open-loop-$r" open-loop "$OPEN_PAIRS" --users "$WORK/users.txt" --url "$URLS" "${CPU[@]}" "${DB[@]}" \
      --rate "$r" --duration-secs "$DURATION"
  done
fi
# Profiles for matching (issue 29): MATCH_INTERESTS=3/50 MATCH_LANGUAGES=2/4 MATCH_INTEREST_MATCHING=prefer.
PROFILES=(--interest-matching "${MATCH_INTEREST_MATCHING:-off}")
[[ -z ${MATCH_INTERESTS:-} ]] || PROFILES+=(--interests "$MATCH_INTERESTS")
[[ -z ${MATCH_LANGUAGES:-} ]] || PROFILES+=(--languages "$MATCH_LANGUAGES")
wanted matching && run matching matching "$MATCH_USERS" --users "$WORK/users.txt" --url "$URLS" "${CPU[@]}" "${DB[@]}" \
  --duration-secs "$DURATION" "${PROFILES[@]}"
wanted login-storm && run login-storm login-storm --users "$WORK/users.txt" --url "$URLS" "${CPU[@]}" "${DB[@]}" \
  --http "$HTTP" --concurrency "$STORM_CONCURRENCY" --pairs "$PAIRS" --in-flight "$IN_FLIGHT" --duration-secs "$DURATION"
# Last: it leaves the server with the most memory. One process: node 1's memory and CPU.
wanted connections && run connections connections "$CONNECTIONS" --users "$WORK/users.txt" --url "$URL" \
  --server-pid "$SERVER_PID" "${DB[@]}" --hold-secs "$HOLD"

# One JSON array, tagged with the store, the node count and the sizes.
{
  printf '{"store":"%s","nodes":%d,"timestamp":"%s","results":[' "$STORE" "$NODES" "$STAMP"
  first=1
  for name in "${RESULTS[@]}"; do
    [[ $first == 1 ]] || printf ','
    first=0
    cat "$WORK/$name.json"
  done
  printf ']}\n'
} >"$OUT"
echo "results: $OUT" >&2
cat "$MD"
