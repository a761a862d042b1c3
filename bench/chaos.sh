#!/usr/bin/env bash
# Chaos across nodes (issue 52 point 4): the mix load through nginx onto two nodes for DURATION seconds while, every
# FAULT_MIN-FAULT_MAX seconds (random), one fault is injected, round robin over FAULTS:
#   kill       kill -9 of a node (node 1 and node 2 in turn), started again on the same port DOWN_SECS later
#   redis      `redis-cli shutdown nosave`, started again on the same port DOWN_SECS later (empty: no persistence)
#   postgres   `pg_ctl restart -m fast`
#   partition  node 1 cut off from Redis for PARTITION_SECS: node 1 reaches Redis through bench/chaos/proxy.py,
#              which SIGUSR1 makes reset every connection and refuse new ones for that long (no iptables, no root)
# No fault starts in the last SETTLE seconds of the window. Then the accounting:
#   - every message the load generator saw acknowledged (`msg.accepted`, its match and seq) must be in PostgreSQL's
#     `messages`: lost = acknowledged and not stored, must be 0;
#   - acknowledged messages no live peer received are reported beside it (`not_received`: a message the peer could
#     no longer read because the match ended while its socket was down is stored, not lost);
#   - after the drain every user leaves, asks again and must be paired within REMATCH_SECS.
#
#   bench/chaos.sh                                  # the documented run: 10 minutes, 200 users
#   DURATION=120 FAULT_MIN=10 FAULT_MAX=20 bench/chaos.sh    # a short one
#   FAULTS="kill partition" bench/chaos.sh           # some kinds only
#
# Its own throwaway PostgreSQL (initdb in a temp dir, on a free port, so that pg_ctl can restart it; production's
# durability settings, unlike scripts/test), Redis on a free port, the proxy, two release `tanis serve` nodes and
# nginx. The node settings, secrets and nginx configuration are copied from bench/run.sh (not sourced: run.sh
# runs its scenarios at the top level); the mix load generator is run.sh's with --survive-drops (a broken socket
# is reconnected, not the end of the user), --rematch-secs, --acked-out and --received-out.
#
# Output: the fault log (one timestamped line per fault), the mix's JSON and the acknowledged messages no live peer
# read (each with its send time, receipt and its match's end) in bench/results/chaos-<timestamp>.*,
# and a summary on stdout. Exits 1 if a message was lost or a user was not paired again.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
FAULT_MIN=${FAULT_MIN:-20}
FAULT_MAX=${FAULT_MAX:-40}
FAULTS=${FAULTS:-kill redis postgres partition}
SETTLE=${SETTLE:-30}
DOWN_SECS=${DOWN_SECS:-3}
PARTITION_SECS=${PARTITION_SECS:-5}
REMATCH_SECS=${REMATCH_SECS:-30}
# Half bench/run.sh's mix: two nodes, nginx, PostgreSQL, Redis, the generator and the restarts on 2 cores.
MIX_USERS=${MIX_USERS:-200}
MIX_ARRIVALS=${MIX_ARRIVALS:-50}
MIX_IDLE=${MIX_IDLE:-5}
MIX_MESSAGES=${MIX_MESSAGES:-6}
MIX_SKIPS=${MIX_SKIPS:-1}
MIX_RECONNECTS=${MIX_RECONNECTS:-0.2}
MIX_SOURCES=${MIX_SOURCES:-64}
(( FAULT_MIN > 0 && FAULT_MAX >= FAULT_MIN )) || { echo "need 0 < FAULT_MIN <= FAULT_MAX" >&2; exit 2; }

export PATH="$PATH:/usr/sbin"
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -x $PG_BIN/initdb ]] || PG_BIN=$(dirname "$(command -v initdb)")
for tool in "$PG_BIN/initdb" "$PG_BIN/pg_ctl" psql redis-server redis-cli nginx python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench/chaos.sh needs $tool" >&2; exit 2; }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tanis-target}
[[ ${BENCH_BUILD:-1} == 0 ]] || cargo build --release -p tanis -p tanis-bench
TANIS=${BENCH_SERVER_BIN:-$CARGO_TARGET_DIR/release/tanis}
BENCH=$CARGO_TARGET_DIR/release/tanis-bench
ulimit -n "$(ulimit -Hn)" || true

# Under /tmp: as root, PostgreSQL's files belong to `postgres`, who must reach the directory.
WORK=$(mktemp -d /tmp/tanis-chaos.XXXXXX)
chmod 755 "$WORK"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench/results
FAULT_LOG=bench/results/chaos-$STAMP.faults
OUT=bench/results/chaos-$STAMP.json
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
log() { echo "$(date -u +%H:%M:%S.%3N) $*" | tee -a "$FAULT_LOG" >&2; }

# initdb refuses to run as root (as scripts/test does it).
if (( EUID == 0 )); then
  mkdir "$WORK/pg" && chown postgres: "$WORK/pg"
  pg() { (cd "$WORK/pg" && runuser -u postgres -- "$PG_BIN/$1" "${@:2}"); }
else
  mkdir "$WORK/pg"
  pg() { "$PG_BIN/$1" "${@:2}"; }
fi

INJECTOR_PID=
PROXY_PID=
NGINX_PID=
cleanup() {
  local f
  [[ -z $INJECTOR_PID ]] || { kill "$INJECTOR_PID" 2>/dev/null || true; wait "$INJECTOR_PID" 2>/dev/null || true; }
  if [[ -n $NGINX_PID ]]; then kill -QUIT "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true; fi
  for f in "$WORK"/node-*.pid "$WORK/redis.pid"; do [[ ! -s $f ]] || kill "$(<"$f")" 2>/dev/null || true; done
  [[ -z $PROXY_PID ]] || kill "$PROXY_PID" 2>/dev/null || true
  pg pg_ctl stop -D "$WORK/pg/data" -m immediate -w >/dev/null 2>&1 || true
  sleep 1
  if [[ -n "${KEEP_WORK:-}" ]]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# --- PostgreSQL: production's durability (fsync, synchronous commit): an acknowledged message must survive. ---
pg initdb -D "$WORK/pg/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$WORK/initdb.log" 2>&1 ||
  { cat "$WORK/initdb.log" >&2; exit 1; }
PG_PORT=$(free_port)
pg_start() {
  pg pg_ctl start -w -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $WORK/pg -c max_connections=200" >/dev/null
}
pg_start
DB_URL=postgres://postgres@127.0.0.1:$PG_PORT/postgres

# --- Redis, not daemonized by the shell (its pidfile names it), restarted on the same port. ---
REDIS_PORT=$(free_port)
redis_start() {
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$WORK" \
    --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
  for _ in $(seq 1 100); do
    [[ $(redis-cli -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]] && return
    sleep 0.1
  done
  echo "Redis did not start" >&2
  return 1
}
redis_start
PROXY_PORT=$(free_port)
python3 bench/chaos/proxy.py "$PROXY_PORT" "127.0.0.1:$REDIS_PORT" --cut-secs "$PARTITION_SECS" 2>>"$WORK/proxy.log" &
PROXY_PID=$!

# --- The nodes: bench/run.sh's settings. ---
export TANIS_DATABASE_URL=$DB_URL
export TANIS_CLUSTER__NAMESPACE=chaos
export TANIS_VIDEO__TURN_LISTEN=127.0.0.1:0
export TANIS_TRUSTED_PROXIES='["127.0.0.1/32"]'
export TANIS_AUTH__BCRYPT_COST=12
export TANIS_HUB__MESSAGES_PER_SECOND=1000000
export TANIS_HUB__MESSAGE_BURST=1000000
export TANIS_MATCHING__RECENT_PARTNER_HOURS=0
export TANIS_TRUST__LIMITED_FINDS_PER_MINUTE=1000000
export TANIS_TRUST__LIMITED_SKIPS_PER_MINUTE=1000000
export TANIS_JOBS__ENABLED=false
export RUST_LOG=${RUST_LOG:-warn}
fresh_secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
export TANIS_AUTH__JWT_SECRET=$(fresh_secret)
export TANIS_PHONES__ENCRYPTION_KEY=$(fresh_secret)
export TANIS_PHONES__INDEX_KEY=$(fresh_secret)
export TANIS_VIDEO__TURN_SECRET=$(fresh_secret)
NODE_PORTS=("$(free_port)" "$(free_port)")
start_node() { # 0 or 1; node 1 (index 0) reaches Redis through the proxy
  local i=$1 redis=redis://127.0.0.1:$REDIS_PORT/
  (( i != 0 )) || redis=redis://127.0.0.1:$PROXY_PORT/
  TANIS_LISTEN=127.0.0.1:${NODE_PORTS[i]} TANIS_DATA_DIR=$WORK/data-$i TANIS_REDIS_URL=$redis \
    "$TANIS" serve >>"$WORK/node-$i.log" 2>&1 &
  echo $! >"$WORK/node-$i.pid"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:${NODE_PORTS[i]}/readyz" >/dev/null 2>&1 && return
    sleep 0.2
  done
  echo "node $(( i + 1 )) not ready after 20 s" >&2
  return 1
}
# One at a time: the first one migrates the database.
start_node 0
start_node 1

# --- nginx: bench/run.sh's VIA=nginx configuration. ---
NGINX_PORT=$(free_port)
NGINX=$WORK/nginx
mkdir -p "$NGINX/logs"
cat >"$NGINX/nginx.conf" <<EOF
pid $NGINX/nginx.pid; error_log $NGINX/logs/error.log; worker_processes auto; worker_shutdown_timeout 2s;
events { worker_connections 16384; }
http { access_log off; client_body_temp_path $NGINX/body; proxy_temp_path $NGINX/proxy;
  include $PWD/nginx/tanis-http.conf;
  upstream tanis {
    server 127.0.0.1:${NODE_PORTS[0]} max_fails=1 fail_timeout=5s;
    server 127.0.0.1:${NODE_PORTS[1]} max_fails=1 fail_timeout=5s;
    least_conn; zone tanis 64k; keepalive 32;
  }
  server { listen 127.0.0.1:$NGINX_PORT; include $PWD/nginx/tanis-proxy.conf; }
}
EOF
nginx -p "$NGINX" -c "$NGINX/nginx.conf" -g 'daemon off;' &
NGINX_PID=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$NGINX_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
TANIS_LISTEN=127.0.0.1:${NODE_PORTS[0]} TANIS_DATA_DIR=$WORK/data-0 TANIS_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/ \
  "$TANIS" dev seed-users "$MIX_USERS" --out "$WORK/users.txt" --password bench-password-1 --prefix chaos >&2

# --- The faults, in the background from the window's start until SETTLE seconds before its end. ---
inject() {
  local kinds=($FAULTS) n=0 kills=0 kind i pid
  local start=$SECONDS stop=$(( SECONDS + DURATION - SETTLE ))
  while :; do
    sleep $(( FAULT_MIN + RANDOM % (FAULT_MAX - FAULT_MIN + 1) ))
    (( SECONDS < stop )) || break
    kind=${kinds[n++ % ${#kinds[@]}]}
    case $kind in
      kill)
        i=$(( kills++ % 2 )); pid=$(<"$WORK/node-$i.pid")
        log "fault kill: kill -9 node $(( i + 1 )) (pid $pid), start again in ${DOWN_SECS}s"
        kill -9 "$pid"; wait "$pid" 2>/dev/null || true
        sleep "$DOWN_SECS"; start_node "$i" || log "      kill: node $(( i + 1 )) did not come back"
        log "      kill: node $(( i + 1 )) ready (pid $(<"$WORK/node-$i.pid"))" ;;
      redis)
        log "fault redis: shutdown nosave, start again in ${DOWN_SECS}s"
        redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
        sleep "$DOWN_SECS"; redis_start || log "      redis: did not come back"
        log "      redis: up" ;;
      postgres)
        log "fault postgres: pg_ctl restart -m fast"
        pg pg_ctl restart -w -m fast -D "$WORK/pg/data" -l "$WORK/pg/postgres.log" \
          -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $WORK/pg -c max_connections=200" >/dev/null ||
          log "      postgres: restart failed"
        log "      postgres: up" ;;
      partition)
        log "fault partition: node 1 cut off from Redis for ${PARTITION_SECS}s"
        kill -USR1 "$PROXY_PID"
        sleep "$PARTITION_SECS"
        log "      partition: healed" ;;
      *) log "unknown fault kind '$kind'" ;;
    esac
  done
  log "faults over after $(( SECONDS - start ))s"
}

# The window starts once every user has arrived and idled: the faults start with it.
WINDOW_IN=$(( MIX_USERS / MIX_ARRIVALS + MIX_IDLE + 1 ))
log "chaos: ${DURATION}s window in ${WINDOW_IN}s, faults every ${FAULT_MIN}-${FAULT_MAX}s ($FAULTS), settle ${SETTLE}s"
( sleep "$WINDOW_IN"; inject ) &
INJECTOR_PID=$!
set +e
"$BENCH" mix "$MIX_USERS" --users "$WORK/users.txt" --url "ws://127.0.0.1:$NGINX_PORT/v1/ws" \
  --arrivals-per-sec "$MIX_ARRIVALS" --idle-secs "$MIX_IDLE" --duration-secs "$DURATION" \
  --messages-per-min "$MIX_MESSAGES" --skips-per-min "$MIX_SKIPS" --reconnects-per-min "$MIX_RECONNECTS" \
  --source-addresses "$MIX_SOURCES" --survive-drops --rematch-secs "$REMATCH_SECS" --acked-out "$WORK/acked.tsv" \
  --received-out "$WORK/received.tsv" --json "$OUT" --markdown "$WORK/table.md"
BENCH_STATUS=$?
set -e
wait "$INJECTOR_PID" || true
INJECTOR_PID=
(( BENCH_STATUS == 0 )) || { echo "tanis-bench mix failed ($BENCH_STATUS)" >&2; exit 1; }

# --- Accounting: every acknowledged (match, seq) in the store. ---
LOST=$(psql -qAt -v ON_ERROR_STOP=1 "$DB_URL" <<EOF
CREATE TEMP TABLE acked (match_id BIGINT, seq BIGINT);
\copy acked FROM '$WORK/acked.tsv'
SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.match_id = a.match_id AND m.seq = a.seq);
EOF
)
# Each acknowledged message no live peer read, with what the store knows of it and its match, to set beside the
# fault log: when it was sent, whether a receipt marked it delivered, and when and why its match ended.
NOT_RECEIVED=bench/results/chaos-$STAMP.not-received
psql -qA -F $'\t' -v ON_ERROR_STOP=1 "$DB_URL" >"$NOT_RECEIVED" <<EOF
CREATE TEMP TABLE acked (match_id BIGINT, seq BIGINT);
\copy acked FROM '$WORK/acked.tsv'
CREATE TEMP TABLE received (match_id BIGINT, seq BIGINT);
\copy received FROM '$WORK/received.tsv'
SELECT a.match_id, a.seq, to_char(l.sent_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') AS sent, l.delivered,
       to_char(x.ended_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS') AS match_ended, x.status, x.end_reason
FROM acked a
LEFT JOIN message_logs l ON l.match_id = a.match_id AND l.seq = a.seq
LEFT JOIN matches x ON x.id = a.match_id
WHERE NOT EXISTS (SELECT 1 FROM received r WHERE r.match_id = a.match_id AND r.seq = a.seq)
ORDER BY l.sent_at;
EOF
python3 - "$OUT" "$FAULT_LOG" "$LOST" <<'EOF'
import collections, json, sys
r = json.load(open(sys.argv[1]))
x = r["extra"]
faults = collections.Counter(l.split()[2].rstrip(":") for l in open(sys.argv[2]) if " fault " in l)
print("faults injected:", dict(faults), "=", sum(faults.values()))
print(f"messages acknowledged: {r['ops']}, lost (acknowledged, not in the store): {sys.argv[3]}")
print(f"acknowledged and not received by a live peer: {x['not_received']}; unacknowledged at the end: {x['unacknowledged']}")
print(f"resyncs: {x['resyncs']}; sockets broken and reconnected: {x['drops_survived']}, worst pause (break -> hello): {x['worst_pause_ms']:.0f} ms; "
      f"reconnects in all (scheduled + after a break): {x['reconnects']}, failed users: {x['failed_users']} "
      f"{x['first_error'] or ''}")
total = x["rematched"] + x["rematch_missed"]
print(f"users matched again: {x['rematched']}/{total}, slowest {x['rematch_ms']['max']:.0f} ms")
print(f"errors: {x['errors']}; send -> accepted p50/p99/max ms: "
      f"{r['latency']['p50_us']/1e3:.1f}/{r['latency']['p99_us']/1e3:.1f}/{r['latency']['max_us']/1e3:.0f}")
print("fault log:", sys.argv[2], "result:", sys.argv[1], "not received:", sys.argv[1].replace(".json", ".not-received"))
if int(sys.argv[3]) or x["rematch_missed"] or not total:
    sys.exit("chaos: FAILED (acknowledged messages lost, or users not matched again)")
EOF
