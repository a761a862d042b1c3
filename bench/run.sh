#!/usr/bin/env bash
# Runs every tanis-bench scenario against a fresh `tanis serve` on loopback and collects the results.
#
#   CONNECTIONS=100000 PAIRS=100 MATCH_USERS=200 STORM_CONCURRENCY=32 DURATION=30 bench/run.sh
#   SCENARIOS=matching MATCH_INTERESTS=3/50 MATCH_LANGUAGES=2/4 MATCH_INTEREST_MATCHING=prefer bench/run.sh
#   SCENARIOS=matching MATCH_SEEKING=30 bench/run.sh     (30 % premium users asking for a gender; issue 64)
#   SCENARIOS=open-loop OPEN_RATES="1000 5000 10000" OPEN_PAIRS=200 DURATION=10 bench/run.sh   # offered load
#   BENCH_DATABASE_URL=postgres://… bench/run.sh      # PostgreSQL instead of the default SQLite
#   PG_STATEMENTS=1 BENCH_DATABASE_URL=postgres://… SCENARIOS=relay bench/run.sh   # + what each statement cost
#       the database (pg_stat_statements; the server needs shared_preload_libraries = 'pg_stat_statements')
#   NODES=2 BENCH_DATABASE_URL=postgres://… bench/run.sh   # a cluster: 2 nodes on one PostgreSQL + a throwaway Redis
#   BENCH_SERVER_BIN=/tmp/base/tanis bench/run.sh                  # another build of the server, same load generator
#   NODES=4 VIA=nginx SCENARIOS=mix BENCH_DATABASE_URL=postgres://… bench/run.sh   # traffic-like load through nginx
#
# VIA=nginx (issue 50 point 4) starts a throwaway nginx on a free port in front of the nodes, with the shipped
# nginx/tanis-http.conf and nginx/tanis-proxy.conf (production's worker_processes and worker_connections), and
# every scenario but connections talks to it alone: nginx spreads the sockets and the REST requests over the nodes
# as it does in production. The nodes then trust 127.0.0.1 as their proxy (they see each client's address), and
# the load generator connects from 127.0.0.2… (MIX_SOURCES addresses), as clients from many addresses: the
# shipped proxy config allows 50 sockets and 20 requests a second per address. VIA=ports (the default) splits
# users by port, as the earlier figures were taken: relay then puts every pair across two nodes on purpose.
# Only mix spreads its clients over many addresses: through nginx, relay, open-loop, matching and login-storm
# connect from 127.0.0.1 alone, so keep their sockets under nginx's 50 per address (PAIRS ≤ 25, MATCH_USERS ≤ 50)
# or use VIA=ports for them; their `nodes` param then reads 1 (one URL) and relay's cross_node_pairs 0 (nginx
# chooses, the generator cannot tell).
# REDIS=1 gives one node the throwaway Redis too (the cluster's broker, for a like-for-like NODES=1 figure).
# REDIS_CLUSTER=1 makes the throwaway Redis a Redis Cluster of three masters with a replica each (issue 51), the
# nodes joining it by `redis+cluster://`; the Redis CPU printed at the end is then all six processes'.
#
# mix (not in the default set): MIX_USERS users arrive at MIX_ARRIVALS a second, hold idle sockets MIX_IDLE s,
# then for MIX_DURATION s each one, open loop on Poisson schedules of its own, writes MIX_MESSAGES messages a
# minute while it has a partner, skips MIX_SKIPS times a minute (leave, ask again), drops its connection
# MIX_RECONNECTS times a minute (reconnect, resume, send again); a user whose partner left asks again at once.
# It reports latencies (send → accepted, send → peer, find → found, drop → hello), counts of everything, and per
# part over the window: each node's CPU, RSS, sockets, messages and matches (its /metrics), Redis's CPU, the
# proxy's and PostgreSQL's; unit costs from them.
#
# hold (not in the default set; issue 79 point 5): HOLD_SOCKETS idle authenticated sockets per node (NODES times that
# in all; one user each unless HOLD_USERS says fewer, then cycled), each answering the server's WebSocket Pings and
# sending the protocol's `ping` every KEEPALIVE s. Window A (HOLD_SECS): nothing else runs; the nodes' memory per
# socket and CPU per second per 1 000 sockets (and PostgreSQL's). Window B (DURATION): HOLD_PAIRS pairs of other
# users (the users file's last ones) relay at one message in flight; the table's latency is theirs. STORM=1 then
# kills node 1 with -9 and starts it again as this script first started it ($WORK/restart-node.sh: same binary,
# environment, data directory and port; it returns once the node answers /healthz, its pid in $WORK/node1.pid,
# which later scenarios and the cleanup use); every socket whose connection ended reconnects with the SDK's
# backoff: time from the kill to the last one back, attempts and their failures by kind (refused, http_503,
# timeout, closed, other), then KEEPALIVE+2 s in which the keep-alives must flow again.
#   SCENARIOS=hold HOLD_SOCKETS=19000 STORM=1 bench/run.sh                       # one node, SQLite
#   SCENARIOS=hold NODES=2 VIA=nginx STORM=1 BENCH_DATABASE_URL=postgres://… bench/run.sh   # 19 000 on each of two
# One process may open at most 20 000 descriptors here (a hard limit root cannot raise), so 38 000 sockets take
# HOLD_PROCESSES (default: one per 19 000) generators in step (--sync-dir), each with its slice of the users and of
# the source addresses, merged by `tanis-bench hold-merge` into one result. Through nginx every socket costs nginx
# two descriptors in the worker that took it: for hold only, the generated nginx.conf gets enough worker_processes
# (listening with reuseport, so the kernel spreads the sockets evenly), worker_rlimit_nofile at the hard limit and
# worker_connections to match; the generator then connects from HOLD_PER_SOURCE (40) sockets per address, under the
# shipped proxy's 50. With NODES=2 VIA=nginx STORM=1, nginx sends node 1's sockets to node 2 while node 1 is down
# (least_conn), past node 2's 20 000 descriptors: expect refusals there.
# With STORM=1 and SYSCALLS=1, perf counts the killed node up to the kill and the restarted one from its start.
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
# VIA=nginx: a throwaway nginx in front of the nodes (above); REDIS=1: Redis with one node too.
VIA=${VIA:-ports}
REDIS=${REDIS:-}
REDIS_CLUSTER=${REDIS_CLUSTER:-}
# mix (above). A load this 2-core machine sustains with four nodes, nginx, PostgreSQL and Redis on it.
MIX_USERS=${MIX_USERS:-400}
MIX_ARRIVALS=${MIX_ARRIVALS:-100}
MIX_IDLE=${MIX_IDLE:-5}
MIX_DURATION=${MIX_DURATION:-30}
MIX_MESSAGES=${MIX_MESSAGES:-6}
MIX_SKIPS=${MIX_SKIPS:-1}
MIX_RECONNECTS=${MIX_RECONNECTS:-0.2}
MIX_SOURCES=${MIX_SOURCES:-64}
# hold (above).
HOLD_SOCKETS=${HOLD_SOCKETS:-19000}
HOLD_SECS=${HOLD_SECS:-60}
KEEPALIVE=${KEEPALIVE:-20}
HOLD_PAIRS=${HOLD_PAIRS:-10}
STORM=${STORM:-}
STORM_TIMEOUT=${STORM_TIMEOUT:-300}
HOLD_TOTAL=$(( HOLD_SOCKETS * NODES ))
HOLD_PROCESSES=${HOLD_PROCESSES:-$(( (HOLD_TOTAL + 18999) / 19000 ))}
HOLD_PER_SOURCE=${HOLD_PER_SOURCE:-$([[ ${VIA:-ports} == nginx ]] && echo 40 || echo 20000)}
HOLD_WANTED=
[[ " ${SCENARIOS:-} " == *" hold "* ]] && HOLD_WANTED=1
# More mix flags, word-split (bench/soak.sh passes --video-share, --logins-per-min, --sample-csv this way).
read -r -a MIX_EXTRA <<<"${MIX_FLAGS:-}"
# Enough distinct users for every scenario (relay and matching need distinct ones; connections round-robins).
USERS=${USERS:-$(( 2 * (PAIRS > OPEN_PAIRS ? PAIRS : OPEN_PAIRS) + MATCH_USERS + 200 ))}
# mix takes the file's first MIX_USERS users, as the other scenarios take its first ones (they run one at a time).
(( USERS >= MIX_USERS )) || USERS=$MIX_USERS
# hold: a user per socket by default (what a node holds per user counts in its memory per socket), and the relay's.
if [[ -n $HOLD_WANTED ]]; then
  HOLD_USERS=${HOLD_USERS:-$HOLD_TOTAL}
  (( USERS >= HOLD_USERS + 2 * HOLD_PAIRS )) || USERS=$(( HOLD_USERS + 2 * HOLD_PAIRS ))
fi
# Redis for the cluster (NODES>1), or for one node when asked.
USE_REDIS=
if (( NODES > 1 )) || [[ $REDIS == 1 ]] || [[ $REDIS_CLUSTER == 1 ]]; then USE_REDIS=1; fi

[[ $NODES =~ ^[1-9][0-9]*$ ]] || { echo "NODES must be a positive number, not '$NODES'" >&2; exit 2; }
# Nodes share one database: SQLite is one file on one machine, a cluster needs PostgreSQL.
if (( NODES > 1 )) && [[ -z "${BENCH_DATABASE_URL:-}" ]]; then
  echo "NODES=$NODES needs BENCH_DATABASE_URL=postgres://… (the nodes share one PostgreSQL database)" >&2
  exit 2
fi
if [[ -n $USE_REDIS ]] && ! command -v redis-server >/dev/null; then
  echo "NODES=$NODES needs redis-server and redis-cli (apt-get install redis-server)" >&2
  exit 2
fi
[[ $VIA == ports || $VIA == nginx ]] || { echo "VIA must be ports or nginx, not '$VIA'" >&2; exit 2; }
# Debian keeps nginx in /usr/sbin (apt-get install nginx, as scripts/test installs it).
export PATH="$PATH:/usr/sbin"
if [[ $VIA == nginx ]] && ! command -v nginx >/dev/null; then
  echo "VIA=nginx needs nginx (apt-get install nginx)" >&2
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
if [[ -n "${BENCH_DATABASE_URL:-}" ]] || [[ -n $USE_REDIS ]]; then
  fresh_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  export TANIS_AUTH__JWT_SECRET=$(fresh_secret)
  export TANIS_PHONES__ENCRYPTION_KEY=$(fresh_secret)
  export TANIS_PHONES__INDEX_KEY=$(fresh_secret)
  export TANIS_VIDEO__TURN_SECRET=$(fresh_secret)
fi

SERVER_PIDS=()
CLUSTER_PIDS=()
REDIS_PID=
REDIS_PORT=
NGINX_PID=
# A process is gone once /proc has no such pid, or it is a zombie (it holds nothing then).
gone() { [[ ! -e /proc/$1 ]] || grep -q '^[0-9]* (.*) Z ' "/proc/$1/stat" 2>/dev/null; }
cleanup() {
  local pid
  # nginx first (it holds connections to the nodes); SIGQUIT: the master stops its workers and waits for them.
  if [[ -n "$NGINX_PID" ]]; then kill -QUIT "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # A node that hold's STORM restarted is not this shell's child (wait returns at once): until it is gone.
  for pid in "${SERVER_PIDS[@]}"; do
    for _ in $(seq 1 150); do gone "$pid" && break; sleep 0.1; done
  done
  if [[ -n "$REDIS_PID" ]]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  for pid in "${CLUSTER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  # KEEP_WORK=1 keeps the server logs (and the SQLite data) to look at afterwards.
  if [[ -n "${KEEP_WORK:-}" ]]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

(( NODES == 1 )) || STORE=$STORE-${NODES}nodes
[[ $VIA == ports ]] || STORE=$STORE-$VIA
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
if [[ $REDIS_CLUSTER == 1 ]]; then
  # Six instances made into a cluster (as scripts/test's cluster pass), daemonized with pidfiles.
  seeds=()
  for _ in 1 2 3 4 5 6; do
    p=$(free_port); b=$(free_port)
    redis-server --port "$p" --cluster-port "$b" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "nodes-$p.conf" --cluster-node-timeout 1000 --save "" --appendonly no \
      --dbfilename "dump-$p.rdb" --daemonize yes --pidfile "$WORK/redis-$p.pid" --dir "$WORK" \
      --logfile "$WORK/redis-$p.log"
    seeds+=("127.0.0.1:$p")
  done
  for seed in "${seeds[@]}"; do
    for _ in $(seq 1 100); do [[ -s $WORK/redis-${seed#*:}.pid ]] && break; sleep 0.1; done
    CLUSTER_PIDS+=("$(<"$WORK/redis-${seed#*:}.pid")")
  done
  redis-cli --cluster create "${seeds[@]}" --cluster-replicas 1 --cluster-yes >"$WORK/cluster-create.log" 2>&1 ||
    { cat "$WORK/cluster-create.log" >&2; echo "the Redis Cluster did not form" >&2; exit 1; }
  for seed in "${seeds[@]}"; do
    for _ in $(seq 1 100); do
      redis-cli -p "${seed#*:}" cluster info | grep -q '^cluster_state:ok' && break
      sleep 0.1
    done
  done
  export TANIS_REDIS_URL="redis+cluster://${seeds[0]},${seeds[1]},${seeds[2]}"
  export TANIS_CLUSTER__NAMESPACE=bench
  export TANIS_VIDEO__TURN_LISTEN=127.0.0.1:0
  STORE=$STORE-rcluster
elif [[ -n $USE_REDIS ]]; then
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
# Behind nginx the nodes take the client's address from its X-Forwarded-For, as in production: per-address
# throttles then apply to the clients, not to the proxy.
[[ $VIA == ports ]] || export TANIS_TRUSTED_PROXIES='["127.0.0.1/32", "127.0.1.0/29"]'  # hold's nginx binds its upstream side to 127.0.1.1-4

URLS=
METRICS=()
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
  # Straight to the node: through nginx, /metrics would come from whichever node it picks.
  METRICS+=(--node-metrics "http://127.0.0.1:$port/metrics")
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.2
  done
done
SERVER_PID=${SERVER_PIDS[0]}
# hold's STORM=1 restarts node 1 and leaves its new pid here.
echo "$SERVER_PID" >"$WORK/node1.pid"
HTTP=http://127.0.0.1:$PORT
if [[ $VIA == nginx ]]; then
  # The test command's configuration (tests/api/nginx_cluster.rs) with production's worker settings
  # (nginx/nginx.conf): one upstream of every node, the shipped snippets, plain HTTP on loopback.
  NGINX_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  NGINX=$WORK/nginx
  mkdir -p "$NGINX/logs"
  # Production's worker settings, but for hold: each held socket costs nginx two descriptors (the client's and the
  # node's) in the worker that accepted it, and a worker may open at most the hard limit (20 000 here, which root
  # cannot raise). An operator holding this many sockets raises the same three in nginx/nginx.conf:
  # worker_processes (here enough workers for 2 × HOLD_TOTAL descriptors, one spare), worker_rlimit_nofile and
  # worker_connections; `reuseport` gives each worker its own listening socket, so the kernel spreads the sockets
  # evenly over them instead of letting the first awake worker take most. And nginx reaches a node's port from one
  # address through one range of ephemeral ports: from 127.0.0.1 alone, connects to a node failed with
  # EADDRNOTAVAIL near 15 800 sockets a node (and `max_fails=1`, the setting then, took the node out for everyone), so for hold its
  # upstream connections leave from four addresses (`proxy_bind`, spread by the client's address and port).
  WORKERS=auto CONNECTIONS_PER_WORKER=16384 RLIMIT= REUSEPORT= BIND=
  if [[ -n $HOLD_WANTED ]]; then
    hard=$(ulimit -Hn)
    per_worker=$(( hard - 1000 ))
    WORKERS=$(( (2 * HOLD_TOTAL + per_worker - 1) / per_worker + 1 ))
    CONNECTIONS_PER_WORKER=$(( hard - 100 ))
    RLIMIT="worker_rlimit_nofile $hard;"
    REUSEPORT=" reuseport"
    BIND=' proxy_bind $tanis_upstream_source;'
  fi
  {
    echo "pid $NGINX/nginx.pid; error_log $NGINX/logs/error.log; worker_processes $WORKERS; worker_shutdown_timeout 2s;"
    [[ -z $RLIMIT ]] || echo "$RLIMIT"
    echo "events { worker_connections $CONNECTIONS_PER_WORKER; }"
    echo "http { access_log off; client_body_temp_path $NGINX/body; proxy_temp_path $NGINX/proxy;"
    echo "  include $PWD/nginx/tanis-http.conf;"
    [[ -z $BIND ]] || echo '  split_clients "$remote_addr:$remote_port" $tanis_upstream_source { 25% 127.0.1.1; 25% 127.0.1.2; 25% 127.0.1.3; * 127.0.1.4; }'
    echo "  upstream tanis {"
    for (( i = 0; i < NODES; i++ )); do echo "    server 127.0.0.1:$(( PORT + i )) max_fails=${NGINX_MAX_FAILS:-0};"; done
    # Fewest open connections first, in one state shared by the workers (zone). Production's round robin
    # (nginx/nginx.conf) alternates in step with the clients: every user opens a socket and then sends GET /v1/me,
    # so with two nodes every socket went to node 1 and every GET to node 2 (40 / 0 measured; 13 / 27 without the
    # zone, each worker alternating on its own). Sockets live long and requests do not: least_conn spreads the
    # sockets. nginx/nginx.conf does the same.
    echo "    least_conn; zone tanis 64k; keepalive 32;"
    echo "  }"
    echo "  server { listen 127.0.0.1:$NGINX_PORT$REUSEPORT;$BIND include $PWD/nginx/tanis-proxy.conf; }"
    echo "}"
  } >"$NGINX/nginx.conf"
  nginx -p "$NGINX" -c "$NGINX/nginx.conf" -g 'daemon off;' &
  NGINX_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$NGINX_PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:$NGINX_PORT/healthz" >/dev/null ||
    { cat "$NGINX/logs/error.log" >&2; echo "nginx did not start" >&2; exit 1; }
  # Every scenario but connections (one process's memory) talks to nginx alone.
  URLS=ws://127.0.0.1:$NGINX_PORT/v1/ws
  HTTP=http://127.0.0.1:$NGINX_PORT
fi
# CPU accounting: every node, and PostgreSQL's processes when it is the store. (Only mix counts Redis and nginx.)
CPU=()
for pid in "${SERVER_PIDS[@]}"; do CPU+=(--server-pid "$pid"); done
DB=()
[[ -n "${BENCH_DATABASE_URL:-}" ]] && DB=(--db-processes postgres)
# REDIS_IN_DB_CPU=1 counts every redis-server process in the database's figure over the scenario's window (issue 63
# point 3: server, Redis and database per message). redis_cpu_secs at the end is Redis's whole life, setup included.
if [[ -n ${REDIS_IN_DB_CPU:-} && -n $REDIS_PORT ]]; then DB+=(--db-processes redis-server); fi
"$TANIS" dev seed-users "$USERS" --out "$WORK/users.txt" --password bench-password-1 --prefix bench

URL=ws://127.0.0.1:$PORT/v1/ws
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
# With Redis (one server, not REDIS_CLUSTER), every scenario starts from zeroed command statistics, and the commands
# the nodes sent over the scenario (calls per command, and per match or message of the scenario: issue 63 point 5)
# go to bench/results/<store>-<timestamp>-<scenario>.redis. Redis counts the commands a script runs as calls too;
# REDIS_MONITOR=1 also records the scenario with MONITOR (which costs Redis CPU: not for timing runs) and counts
# the commands the nodes sent themselves (a script one, a pipeline's each), apart from those their scripts ran.
REDIS_MONITOR=${REDIS_MONITOR:-}
MONITOR_PID=
redis_stats() { # scenario name
  local file="bench/results/$STORE-$STAMP-$1.redis"
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" info commandstats | tr -d '\r' >"$file.raw"
  if [[ -n $MONITOR_PID ]]; then kill "$MONITOR_PID" 2>/dev/null || true; wait "$MONITOR_PID" 2>/dev/null || true; fi
  python3 - "$file.raw" "$WORK/$1.json" "$WORK/$1.monitor" >"$file" <<'PY'
import collections, json, os, re, sys
calls = {}
for line in open(sys.argv[1]):
    m = re.match(r"cmdstat_([^:]+):calls=(\d+),usec=(\d+)", line)
    if m and m.group(1) not in ("info", "config|resetstat", "monitor"):
        calls[m.group(1)] = (int(m.group(2)), int(m.group(3)))
result = json.load(open(sys.argv[2]))
ops = result.get("ops", 0)  # the scenario's operations: matches, acknowledged messages, sockets, logins
per = lambda c: f" {c / ops:>9.2f}" if ops else ""
print(f"{result.get('scenario')}: {ops} operations")
print(f"{'command (scripts counted in)':<28} {'calls':>9} {'usec':>10}" + (f" {'per op':>9}" if ops else ""))
for name, (c, usec) in sorted(calls.items(), key=lambda kv: -kv[1][0]):
    print(f"{name:<28} {c:>9} {usec:>10}" + per(c))
print(f"{'all':<28} {sum(c for c, _ in calls.values()):>9} {sum(u for _, u in calls.values()):>10}"
      + per(sum(c for c, _ in calls.values())))
if os.path.exists(sys.argv[3]):
    # `1700000000.123456 [0 127.0.0.1:5555] "EVALSHA" …`; a script's own commands say `[0 lua]`.
    sent = collections.Counter()
    for line in open(sys.argv[3], errors="replace"):
        m = re.match(r'[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"', line)
        if m and m.group(1) != "lua":
            sent[m.group(2).lower()] += 1
    print(f"\nsent by the nodes (MONITOR: a script is one command, its own commands not counted in; a pipeline's commands each count)")
    for name, c in sent.most_common():
        print(f"{name:<28} {c:>9} {'':>10}" + per(c))
    print(f"{'all':<28} {sum(sent.values()):>9} {'':>10}" + per(sum(sent.values())))
PY
  rm -f "$file.raw"
  echo "redis commands: $file" >&2
}
# System calls, futex calls (and of them the wakes) and context switches of the servers' processes over each
# scenario, counted by perf's tracepoints (counting, not tracing: a few per cent of the server's CPU at most) and
# divided by the scenario's operations (messages, matches, sockets, logins): the counts go into its JSON as
# `syscalls`, and a line per scenario on stderr and under the table. The whole run of the load generator is counted,
# its connecting and signing in included (a few hundred operations against a window's tens of thousands). Needs
# Debian's linux-perf and kernel.perf_event_paranoid <= 2 (or root); SYSCALLS=0 turns it off, and it is off by
# itself where perf cannot count them.
SYSCALLS=${SYSCALLS:-1}
if [[ $SYSCALLS == 1 ]] && ! perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
  echo "perf cannot count system calls here: the scenarios report no syscalls (SYSCALLS=0 hides this)" >&2
  SYSCALLS=0
fi
SYSCALL_EVENTS=(-e raw_syscalls:sys_enter -e syscalls:sys_enter_futex
  -e syscalls:sys_enter_futex --filter 'op == 1 || op == 129' -e context-switches)
COUNT_PID=
count_syscalls() { # scenario name: starts counting on every node (echo talks to no server)
  [[ $SYSCALLS == 1 && $1 != echo ]] || return 0
  local pids
  pids=$(IFS=,; echo "${SERVER_PIDS[*]}")
  perf stat -x, "${SYSCALL_EVENTS[@]}" -p "$pids" -o "$WORK/$1.perf" &
  COUNT_PID=$!
  # perf has opened its counters once it has written its output file's header.
  for _ in $(seq 1 100); do [[ -s $WORK/$1.perf ]] && break; sleep 0.05; done
}
syscalls_per_op() { # scenario name: stops counting, adds the counts to its JSON and a line to the table
  [[ -n $COUNT_PID ]] || return 0
  kill -INT "$COUNT_PID" 2>/dev/null || true
  wait "$COUNT_PID" 2>/dev/null || true
  COUNT_PID=
  # hold's restart script counts the restarted node with a perf of its own (not this shell's child).
  local perfs=("$WORK/$1.perf") pid
  if [[ -s $WORK/restart-perf.pid ]]; then
    pid=$(<"$WORK/restart-perf.pid")
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do gone "$pid" && break; sleep 0.05; done
    rm -f "$WORK/restart-perf.pid"
    perfs+=("$WORK/$1.restarted.perf")
  fi
  python3 - "$WORK/$1.json" "$1" "${perfs[@]}" >>"$MD" <<'PY'
import json, sys
result_file, name, *perfs = sys.argv[1:]
counts = [0, 0, 0, 0]
for perf in perfs:
    counted = [int(line.split(",")[0]) for line in open(perf)
               if line[:1].isdigit() and "<not" not in line.split(",")[0]]
    if len(counted) != 4:
        sys.exit(f"perf counted {len(counted)} of the 4 events for {name} ({perf})")
    counts = [a + b for a, b in zip(counts, counted)]
result = json.load(open(result_file))
ops = result.get("ops") or 0
keys = ("syscalls", "futex", "futex_wakes", "context_switches")
result["syscalls"] = dict(zip(keys, counts), per_op={k: c / ops for k, c in zip(keys, counts)} if ops else None)
json.dump(result, open(result_file, "w"))
line = f"{name}: {ops} operations; per operation: " + (
    ", ".join(f"{c / ops:.2f} {k.replace('_', ' ')}" for k, c in zip(keys, counts)) if ops else "(no operations)")
print(f"\n{line} (perf, the servers' processes)")
print(line, file=sys.stderr)
PY
}
begin() { # scenario name: zeroes the statistics and starts the counting
  RESULTS+=("$1")
  echo "== $1" >&2
  [[ -z $PG_STATEMENTS ]] || psql -q "$BENCH_DATABASE_URL" -c "SELECT pg_stat_statements_reset()" >/dev/null
  [[ -z $REDIS_PORT ]] || redis-cli -h 127.0.0.1 -p "$REDIS_PORT" config resetstat >/dev/null
  if [[ -n $REDIS_PORT && -n $REDIS_MONITOR ]]; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" monitor >"$WORK/$1.monitor" &
    MONITOR_PID=$!
  fi
  count_syscalls "$1"
}
finish() { # scenario name, once $WORK/<name>.json is written
  syscalls_per_op "$1"
  [[ -z $PG_STATEMENTS ]] || statements "$1"
  [[ -z $REDIS_PORT ]] || redis_stats "$1"
}
run() { # name, then tanis-bench arguments
  local name=$1; shift
  begin "$name"
  "$BENCH" "$@" --json "$WORK/$name.json" --markdown "$MD"
  finish "$name"
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
# MATCH_SEEKING=30: everyone declares a gender and 30 % are premium asking only for the other one (issue 64). The
# first seeded user grants the premium: made an admin here, as an operator would.
if [[ -n ${MATCH_SEEKING:-} ]] && wanted matching; then
  PROFILES+=(--seeking-percent "$MATCH_SEEKING")
  "$TANIS" set-role "$(awk 'NR == 1 { print $2 }' "$WORK/users.txt")" admin >/dev/null
fi
wanted matching && run matching matching "$MATCH_USERS" --users "$WORK/users.txt" --url "$URLS" "${CPU[@]}" "${DB[@]}" \
  --duration-secs "$DURATION" "${PROFILES[@]}"
wanted login-storm && run login-storm login-storm --users "$WORK/users.txt" --url "$URLS" "${CPU[@]}" "${DB[@]}" \
  --http "$HTTP" --concurrency "$STORM_CONCURRENCY" --pairs "$PAIRS" --in-flight "$IN_FLIGHT" --duration-secs "$DURATION"
# Not in the default set: SCENARIOS=mix (above). Every part of the cluster is measured on its own.
if wanted mix; then
  PARTS=("${METRICS[@]}")
  [[ -z $REDIS_PID ]] || PARTS+=(--redis-pid "$REDIS_PID")
  [[ $VIA == ports ]] || PARTS+=(--proxy-processes nginx)
  # Its own backends' CPU too: other databases on this PostgreSQL are not the run's.
  if [[ -n "${BENCH_DATABASE_URL:-}" ]]; then
    DB_NAME=${BENCH_DATABASE_URL##*/}
    PARTS+=(--db-name "${DB_NAME%%\?*}")
  fi
  run mix mix "$MIX_USERS" --users "$WORK/users.txt" --url "$URLS" "${CPU[@]}" "${DB[@]}" "${PARTS[@]}" \
    --arrivals-per-sec "$MIX_ARRIVALS" --idle-secs "$MIX_IDLE" --duration-secs "$MIX_DURATION" \
    --messages-per-min "$MIX_MESSAGES" --skips-per-min "$MIX_SKIPS" --reconnects-per-min "$MIX_RECONNECTS" \
    --source-addresses "$MIX_SOURCES" "${MIX_EXTRA[@]}"
fi
# Not in the default set: SCENARIOS=hold (above).
restart_script() { # writes $WORK/restart-node.sh: kill -9 of node 1, then node 1 as it was first started
  local script=$WORK/restart-node.sh
  {
    echo '#!/usr/bin/env bash'
    echo '# Written by bench/run.sh for hold STORM=1: kill -9 of node 1, then node 1 started again as run.sh first started'
    echo '# it (binary, environment, data directory, port). Returns once the node answers /healthz (30 s at most);'
    echo '# its pid is in node1.pid by then.'
    echo 'set -u'
    # The environment run.sh started the node with (its settings are all TANIS_*).
    export -p | grep -E '^declare -x (TANIS_[A-Za-z0-9_]*|RUST_LOG|PATH)='
    printf 'old=$(<%q)\n' "$WORK/node1.pid"
    echo 'kill -9 "$old"'
    # Its port is free once it is gone (a zombie until run.sh reaps it holds no socket).
    echo 'while [[ -e /proc/$old ]] && ! grep -q "^[0-9]* (.*) Z " "/proc/$old/stat" 2>/dev/null; do sleep 0.01; done'
    printf '%q serve >>%q 2>&1 &\n' "$TANIS" "$WORK/server.log"
    echo 'new=$!'
    printf 'echo "$new" >%q\n' "$WORK/node1.pid"
    if [[ $SYSCALLS == 1 ]]; then
      # perf stops counting the killed node at its death: the restarted one is counted from its start.
      printf 'perf stat -x, %s -p "$new" -o %q &\n' "$(printf '%q ' "${SYSCALL_EVENTS[@]}")" "$WORK/hold.restarted.perf"
      printf 'echo $! >%q\n' "$WORK/restart-perf.pid"
    fi
    printf 'for _ in $(seq 1 150); do curl -fsS %q >/dev/null 2>&1 && exit 0; sleep 0.2; done\n' \
      "http://127.0.0.1:$PORT/healthz"
    echo 'echo "node 1 did not answer /healthz within 30 s" >&2; exit 1'
  } >"$script"
  chmod +x "$script"
}
if wanted hold; then
  # The held sockets' users (HOLD_USERS, the file's first) and the relay's (its last 2 × HOLD_PAIRS), split over
  # the processes: each gets its slice of the held users and of the sockets, and source addresses of its own;
  # process 0 leads (memory, CPU, the relay, the restart).
  total_users=$(wc -l <"$WORK/users.txt")
  (( HOLD_USERS >= HOLD_PROCESSES && HOLD_USERS + 2 * HOLD_PAIRS <= total_users )) ||
    { echo "hold: $total_users users do not give $HOLD_PROCESSES processes $HOLD_USERS held users plus $(( 2 * HOLD_PAIRS )) for the relay" >&2; exit 2; }
  HOLD_ARGS=(--url "$URLS" "${DB[@]}" --per-source "$HOLD_PER_SOURCE" --keepalive-secs "$KEEPALIVE"
    --hold-secs "$HOLD_SECS" --duration-secs "$DURATION")
  if [[ $STORM == 1 ]]; then
    restart_script
    # Its kill -9 is the point: no "Killed" line from this shell (a disowned child is still reaped).
    disown "$(<"$WORK/node1.pid")" 2>/dev/null || true
    HOLD_ARGS+=(--restart-cmd "$WORK/restart-node.sh" --pid-file "$WORK/node1.pid" --storm-timeout-secs "$STORM_TIMEOUT")
  fi
  old_pid=$(<"$WORK/node1.pid")
  begin hold
  SYNC=$WORK/hold-sync
  mkdir -p "$SYNC"
  HOLD_PIDS=()
  first_source=0
  for (( k = 0; k < HOLD_PROCESSES; k++ )); do
    sockets=$(( HOLD_TOTAL / HOLD_PROCESSES + (k < HOLD_TOTAL % HOLD_PROCESSES ? 1 : 0) ))
    from=$(( k * HOLD_USERS / HOLD_PROCESSES + 1 )) to=$(( (k + 1) * HOLD_USERS / HOLD_PROCESSES ))
    sed -n "${from},${to}p" "$WORK/users.txt" >"$WORK/hold-users.$k.txt"
    pairs=0
    if (( k == 0 )); then
      pairs=$HOLD_PAIRS
      (( pairs == 0 )) || tail -n $(( 2 * pairs )) "$WORK/users.txt" >>"$WORK/hold-users.$k.txt"
    fi
    args=("${HOLD_ARGS[@]}" --users "$WORK/hold-users.$k.txt" --sockets "$sockets" --pairs "$pairs"
      --first-source "$first_source")
    (( k > 0 )) || args+=("${CPU[@]}")
    if (( HOLD_PROCESSES == 1 )); then
      args+=(--json "$WORK/hold.json" --markdown "$MD")
    else
      args+=(--sync-dir "$SYNC" --process-index "$k" --processes "$HOLD_PROCESSES" --json "$WORK/hold.$k.json"
        --markdown "$WORK/hold.$k.md")
    fi
    # Process 0 talks on stderr; the others into logs.
    if (( k == 0 )); then
      "$BENCH" hold "${args[@]}" &
    else
      "$BENCH" hold "${args[@]}" 2>"$WORK/hold.$k.log" &
    fi
    HOLD_PIDS+=($!)
    first_source=$(( first_source + (sockets + HOLD_PER_SOURCE - 1) / HOLD_PER_SOURCE ))
  done
  failed=
  for (( k = 0; k < HOLD_PROCESSES; k++ )); do
    wait "${HOLD_PIDS[$k]}" || { failed=1; [[ ! -e $WORK/hold.$k.log ]] || tail -n 20 "$WORK/hold.$k.log" >&2; }
  done
  [[ -z $failed ]] || { echo "a hold process failed" >&2; exit 1; }
  (( HOLD_PROCESSES == 1 )) ||
    "$BENCH" hold-merge "$SYNC" --processes "$HOLD_PROCESSES" --json "$WORK/hold.json" --markdown "$MD"
  finish hold
  # Node 1 restarted: later scenarios and the cleanup measure and stop the new process.
  if [[ $(<"$WORK/node1.pid") != "$old_pid" ]]; then
    SERVER_PIDS[0]=$(<"$WORK/node1.pid")
    SERVER_PID=${SERVER_PIDS[0]}
    CPU=()
    for pid in "${SERVER_PIDS[@]}"; do CPU+=(--server-pid "$pid"); done
  fi
fi
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
# Redis's CPU over its whole life (start-up and seeding included): one process, or the cluster's six.
if [[ -n $USE_REDIS ]]; then
  redis_ticks=0
  for pid in $REDIS_PID "${CLUSTER_PIDS[@]}"; do
    read -r -a stat <"/proc/$pid/stat" && redis_ticks=$(( redis_ticks + stat[13] + stat[14] ))
  done
  awk -v t="$redis_ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "redis_cpu_secs=%.2f\n", t / hz }' >&2
fi
cat "$MD"
