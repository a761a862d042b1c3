#!/usr/bin/env bash
# Drives coturn's load client, turnutils_uclient, against tanis's embedded TURN relay and against a coturn started
# beside it, one after the other at each load, and prints one Markdown table of both.
#
#   bench/turn.sh                                      # CLIENTS="20 50 100 200", 2000 packets of 1000 bytes each
#   CLIENTS="20 50" PACKETS=2000 SIZE=1000 INTERVAL_MS=1 ROUNDS=3 bench/turn.sh
#   SERVERS=tanis bench/turn.sh                        # only one of the two ("tanis coturn" by default)
#   TRANSPORT=tcp bench/turn.sh                        # client to server over TCP (uclient -t)
#   BENCH_SERVER_BIN=/tmp/base/tanis BENCH_BUILD=0 bench/turn.sh   # another build of the server
#
# The uclient runs client-to-client (-y): every session allocates a relay and sends to another session's relay
# address, so each packet crosses the server twice (in from a client, out of a relay, into a relay, out to a client).
# It opens its sessions in groups of four, so -m 5 makes 8: the sessions, packets and bytes below are the ones it
# reports, not CLIENTS×PACKETS. Its timer, not the servers, sets the pace at these sizes (-z 1 sends about one packet
# per 4 ms per session here), so compare loss, CPU and memory rather than throughput.
#
# Per run: lost packets (the uclient's count), its round-trip and jitter figures, wall time (connect included),
# relayed packets and bytes per second (received ones), the server's CPU over the run (utime+stime from
# /proc/PID/stat) and per GB relayed, its RSS before and after and the change per allocation (one per session),
# and the change in the kernel's UDP RcvbufErrors/SndbufErrors (/proc/net/snmp: machine-wide, the client's sockets
# count too). Both servers live for the whole script, so allocations of an earlier load may still be open.
#
# Output: the Markdown table on stdout and JSON lines in bench/results/turn-<timestamp>.jsonl.
set -euo pipefail

cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-20 50 100 200}
PACKETS=${PACKETS:-2000}
SIZE=${SIZE:-1000}
INTERVAL_MS=${INTERVAL_MS:-1}
ROUNDS=${ROUNDS:-1}
TRANSPORT=${TRANSPORT:-udp}
SERVERS=${SERVERS:-tanis coturn}
# A run that takes longer than this is stopped and recorded as timed out.
UCLIENT_TIMEOUT=${UCLIENT_TIMEOUT:-600}

log() { printf 'bench/turn.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case $TRANSPORT in
  udp) TRANSPORT_FLAG=() ;;
  tcp) TRANSPORT_FLAG=(-t) ;;
  *) die "TRANSPORT must be udp or tcp, not '$TRANSPORT'" ;;
esac
for n in $CLIENTS $PACKETS $SIZE $INTERVAL_MS $ROUNDS; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || die "CLIENTS, PACKETS, SIZE, INTERVAL_MS and ROUNDS must be positive numbers"
done
for server in $SERVERS; do
  [[ $server == tanis || $server == coturn ]] || die "SERVERS holds 'tanis' and/or 'coturn', not '$server'"
done

# --- Tools: coturn from Debian, as scripts/test installs PostgreSQL ---------------------------------------------

# shellcheck source=bench/turn-servers.sh
source bench/turn-servers.sh
turn_install_coturn

if [[ " $SERVERS " == *" tanis "* ]]; then
  export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tanis-target}
  # BENCH_BUILD=0 measures the binary already built (say, while other builds hold cargo's lock).
  [[ ${BENCH_BUILD:-1} == 0 ]] || cargo build --release -p tanis >&2
  TANIS=${BENCH_SERVER_BIN:-$CARGO_TARGET_DIR/release/tanis}
  [[ -x $TANIS ]] || die "no server binary at $TANIS"
fi

# --- Scratch dir, servers, cleanup -----------------------------------------------------------------------------

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tanis-turn-bench.XXXXXX")
TANIS_PID=
COTURN_PID=
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  turn_stop "$TANIS_PID"
  turn_stop "$COTURN_PID"
  # KEEP_WORK=1 keeps the server and uclient logs to look at afterwards.
  if [[ -n ${KEEP_WORK:-} ]]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
REALM=bench.turn
declare -A PORT PID

if [[ " $SERVERS " == *" tanis "* ]]; then
  PORT[tanis]=$(turn_free_port)
  turn_start_tanis "${PORT[tanis]}"
  TANIS_PID=$TURN_SERVER_PID
  PID[tanis]=$TANIS_PID
fi

if [[ " $SERVERS " == *" coturn "* ]]; then
  PORT[coturn]=$(turn_free_port)
  # Its relay ports: a random 2000-port window in 40000-60000, away from the kernel's ephemeral range's busy start.
  min_port=$(( 40000 + RANDOM % 18000 ))
  turn_start_coturn "${PORT[coturn]}" "$min_port" $(( min_port + 1999 ))
  COTURN_PID=$TURN_SERVER_PID
  PID[coturn]=$COTURN_PID
fi

# --- Measures ---------------------------------------------------------------------------------------------------

TICKS=$(getconf CLK_TCK)
# utime + stime in ticks; the command name in field 2 is cut off first (it may hold spaces).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# The named counter of the Udp: lines of /proc/net/snmp (a header line, then a values line).
udp_counter() {
  awk -v name="$1" '$1 == "Udp:" { if (!seen) { for (i = 2; i <= NF; i++) if ($i == name) col = i; seen = 1 } else print $col }' \
    /proc/net/snmp
}
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
# A number for JSON, or null when the uclient did not print it.
num() { if [[ -n ${1:-} ]]; then echo "$1"; else echo null; fi; }

mkdir -p bench/results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=bench/results/turn-$STAMP.jsonl
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
TABLE=$WORK/table.md
echo '| load | server | lost | lost % | wall s | kpkt/s / MB/s relayed | CPU s per GB | RSS Δ per alloc (KiB) | RcvbufErrors Δ | avg rtt ms |' >"$TABLE"
echo '|---|---|---|---|---|---|---|---|---|---|' >>"$TABLE"

# One uclient run against one server; appends a JSON line and a table row.
measure() {
  local server=$1 clients=$2 round=$3
  local pid=${PID[$server]} port=${PORT[$server]}
  local ulog=$WORK/uclient-$server-$clients-$round.log
  local cpu0 cpu1 rss0 rss1 rcv0 rcv1 snd0 snd1 t0 t1 rc=0
  log "$server: $clients clients × $PACKETS packets of $SIZE bytes every $INTERVAL_MS ms ($TRANSPORT), round $round"
  cpu0=$(cpu_ticks "$pid"); rss0=$(rss_kib "$pid")
  rcv0=$(udp_counter RcvbufErrors); snd0=$(udp_counter SndbufErrors)
  t0=$(now)
  timeout "$UCLIENT_TIMEOUT" turnutils_uclient "${TRANSPORT_FLAG[@]}" -y -m "$clients" -n "$PACKETS" -l "$SIZE" \
    -z "$INTERVAL_MS" -W "$SECRET" -u benchuser -p "$port" 127.0.0.1 >"$ulog" 2>&1 || rc=$?
  t1=$(now)
  kill -0 "$pid" 2>/dev/null || { tail -n 50 "$WORK/$server.log" "$WORK/$server.out" 2>/dev/null >&2; die "$server died"; }
  cpu1=$(cpu_ticks "$pid"); rss1=$(rss_kib "$pid")
  rcv1=$(udp_counter RcvbufErrors); snd1=$(udp_counter SndbufErrors)

  # The uclient's own summary lines, e.g. "Total lost packets 3 (0.007500%), total send dropped 0 (0.000000%)".
  local sessions sent recv lost lost_pct rtt rtt_min rtt_max jitter
  sessions=$(sed -n 's/.*start_mclient: msz=\([0-9]*\),.*/\1/p' "$ulog" | head -n 1)
  sent=$(sed -n 's/.*start_mclient: tot_send_msgs=\([0-9]*\), tot_recv_msgs=.*/\1/p' "$ulog" | tail -n 1)
  recv=$(sed -n 's/.*start_mclient: tot_send_msgs=[0-9]*, tot_recv_msgs=\([0-9]*\).*/\1/p' "$ulog" | tail -n 1)
  lost=$(sed -n 's/.*Total lost packets \([0-9]*\) (\([0-9.]*\)%).*/\1/p' "$ulog" | tail -n 1)
  lost_pct=$(sed -n 's/.*Total lost packets \([0-9]*\) (\([0-9.]*\)%).*/\2/p' "$ulog" | tail -n 1)
  rtt=$(sed -n 's/.*Average round trip delay \([0-9.]*\) ms; min = \([0-9]*\) ms, max = \([0-9]*\) ms.*/\1/p' "$ulog" | tail -n 1)
  rtt_min=$(sed -n 's/.*Average round trip delay \([0-9.]*\) ms; min = \([0-9]*\) ms, max = \([0-9]*\) ms.*/\2/p' "$ulog" | tail -n 1)
  rtt_max=$(sed -n 's/.*Average round trip delay \([0-9.]*\) ms; min = \([0-9]*\) ms, max = \([0-9]*\) ms.*/\3/p' "$ulog" | tail -n 1)
  jitter=$(sed -n 's/.*Average jitter \([0-9.]*\) ms.*/\1/p' "$ulog" | tail -n 1)
  if [[ -z $lost ]]; then
    log "$server: no summary from turnutils_uclient (exit $rc); its last lines:"
    tail -n 5 "$ulog" >&2
  fi

  local wall cpu bytes pps mbps cpu_per_gb rss_per_alloc
  wall=$(calc '%.3f' "$t1 - $t0")
  cpu=$(calc '%.3f' "($cpu1 - $cpu0) / $TICKS")
  bytes=$(( ${recv:-0} * SIZE ))
  pps=$(calc '%.0f' "${recv:-0} / $wall")
  mbps=$(calc '%.2f' "$bytes / $wall / 1e6")
  cpu_per_gb=$( ((bytes > 0)) && calc '%.2f' "$cpu / ($bytes / 1e9)" || echo "")
  rss_per_alloc=$( ((${sessions:-0} > 0)) && calc '%.1f' "($rss1 - $rss0) / $sessions" || echo "")

  printf '{"server":"%s","commit":"%s","transport":"%s","clients":%d,"round":%d,"packets":%d,"size":%d,"interval_ms":%d,' \
    "$server" "$COMMIT" "$TRANSPORT" "$clients" "$round" "$PACKETS" "$SIZE" "$INTERVAL_MS" >>"$OUT"
  printf '"uclient_exit":%d,"sessions":%s,"sent":%s,"received":%s,"lost":%s,"lost_pct":%s,' \
    "$rc" "$(num "$sessions")" "$(num "$sent")" "$(num "$recv")" "$(num "$lost")" "$(num "$lost_pct")" >>"$OUT"
  printf '"rtt_avg_ms":%s,"rtt_min_ms":%s,"rtt_max_ms":%s,"jitter_avg_ms":%s,"wall_secs":%s,' \
    "$(num "$rtt")" "$(num "$rtt_min")" "$(num "$rtt_max")" "$(num "$jitter")" "$wall" >>"$OUT"
  printf '"relayed_packets_per_sec":%s,"relayed_bytes_per_sec":%s,"server_cpu_secs":%s,"cpu_secs_per_gb":%s,' \
    "$pps" "$(calc '%.0f' "$bytes / $wall")" "$cpu" "$(num "$cpu_per_gb")" >>"$OUT"
  printf '"rss_kib_before":%d,"rss_kib_after":%d,"rss_kib_per_alloc":%s,"rcvbuf_errors":%d,"sndbuf_errors":%d}\n' \
    "$rss0" "$rss1" "$(num "$rss_per_alloc")" $((rcv1 - rcv0)) $((snd1 - snd0)) >>"$OUT"

  local load="$clients clients (${sessions:-?} sessions)"
  ((ROUNDS == 1)) || load+=", round $round"
  printf '| %s | %s | %s | %s | %s | %s / %s | %s | %s | %d | %s |\n' "$load" "$server" "${lost:-timeout}" \
    "$( [[ -n $lost_pct ]] && calc '%.3f' "$lost_pct" || echo –)" "$wall" "$(calc '%.1f' "$pps / 1000")" "$mbps" "${cpu_per_gb:-–}" "${rss_per_alloc:-–}" \
    $((rcv1 - rcv0)) "${rtt:-–}" >>"$TABLE"
}

for clients in $CLIENTS; do
  for ((round = 1; round <= ROUNDS; round++)); do
    for server in $SERVERS; do
      measure "$server" "$clients" "$round"
    done
  done
done

log "results: $OUT"
echo "TURN relay, $PACKETS packets of $SIZE bytes per session every $INTERVAL_MS ms, $TRANSPORT, commit $COMMIT"
echo
cat "$TABLE"
