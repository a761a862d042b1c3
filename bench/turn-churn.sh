#!/usr/bin/env bash
# A storm of short video calls against tanis's embedded TURN relay and against coturn, one after the other, on
# loopback: `tanis-bench turn-churn` against each, then a side-by-side table.
#
#   bench/turn-churn.sh                              # 500 calls (1 000 allocations) at 50 calls/s, 1.5 s each
#   CALLS=1000 RATE=100 HOLD_MS=1000 bench/turn-churn.sh
#   SERVERS=coturn bench/turn-churn.sh               # one of them only ("tanis coturn" by default)
#   BENCH_BUILD=0 bench/turn-churn.sh                # measure the binaries already built
#   BENCH_SERVER_BIN=/tmp/base/tanis bench/turn-churn.sh   # another build of the server
#
# Each call is two allocations, so the default is the bar of issue 26: 1 000 allocations in 10 s. Both servers
# authenticate with TURN REST credentials on one shared secret (coturn's use-auth-secret); coturn is Debian's
# (installed with apt-get when missing). After each storm the scenario waits up to SETTLE_SECS for the server's
# open descriptors to come back to their baseline: an allocation that is never freed keeps its relay socket.
#
# Output: bench/results/turn-churn-<timestamp>.json (both reports) and the Markdown table on stdout.
set -euo pipefail

cd "$(dirname "$0")/.."
CALLS=${CALLS:-500}
RATE=${RATE:-50}
CONCURRENCY=${CONCURRENCY:-200}
HOLD_MS=${HOLD_MS:-1500}
PACKET_INTERVAL_MS=${PACKET_INTERVAL_MS:-100}
SETTLE_SECS=${SETTLE_SECS:-30}
# Clients bind to 127.0.0.1 … 127.0.0.N; 1 lets the kernel hand a new client a just-closed client's port.
SOURCE_ADDRESSES=${SOURCE_ADDRESSES:-64}
SERVERS=${SERVERS:-tanis coturn}
REALM=${REALM:-tanis}
# coturn's relay ports; tanis's relay takes ephemeral ones.
COTURN_MIN_PORT=${COTURN_MIN_PORT:-52000}
COTURN_MAX_PORT=${COTURN_MAX_PORT:-54999}

die() { echo "turn-churn: $*" >&2; exit 1; }
for s in $SERVERS; do [[ $s == tanis || $s == coturn ]] || die "SERVERS takes tanis and coturn, not '$s'"; done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tanis-target}
if [[ ${BENCH_BUILD:-1} != 0 ]]; then
  packages=(-p tanis-bench)
  [[ " $SERVERS " == *" tanis "* && -z ${BENCH_SERVER_BIN:-} ]] && packages+=(-p tanis)
  cargo build --release "${packages[@]}"
fi
TANIS=${BENCH_SERVER_BIN:-$CARGO_TARGET_DIR/release/tanis}
# BENCH_BIN=/path/to/tanis-bench: a load generator built elsewhere.
BENCH=${BENCH_BIN:-$CARGO_TARGET_DIR/release/tanis-bench}

# shellcheck source=bench/turn-servers.sh
source bench/turn-servers.sh
[[ " $SERVERS " != *" coturn "* ]] || turn_install_coturn

# Every allocation holds a relay socket in the server and a client socket here; a storm holds hundreds at once.
# The servers started below inherit the limit. 20 000 is what this machine allows; less if the hard limit is lower.
hard=$(ulimit -Hn)
if [[ $hard == unlimited ]] || ((hard >= 20000)); then ulimit -n 20000; else ulimit -n "$hard"; fi

WORK=$(mktemp -d)
SERVER_PID=
stop_server() {
  turn_stop "$SERVER_PID"
  SERVER_PID=
}
cleanup() {
  stop_server
  # KEEP_WORK=1 keeps the server logs to look at afterwards.
  if [[ -n ${KEEP_WORK:-} ]]; then echo "work dir kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# A fresh secret for every run, shared by the bench and whichever server runs.
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')

start_tanis() { turn_start_tanis "$1"; SERVER_PID=$TURN_SERVER_PID; }
start_coturn() { turn_start_coturn "$1" "$COTURN_MIN_PORT" "$COTURN_MAX_PORT"; SERVER_PID=$TURN_SERVER_PID; }

mkdir -p bench/results
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
OUT=bench/results/turn-churn-$STAMP.json
MD=$WORK/rows.md
for server in $SERVERS; do
  port=$(turn_free_port)
  "start_$server" "$port"
  echo "== $server (pid $SERVER_PID, udp $port)" >&2
  "$BENCH" turn-churn --turn "127.0.0.1:$port" --secret "$SECRET" --realm "$REALM" --label "$server" \
    --server-pid "$SERVER_PID" --calls "$CALLS" --rate "$RATE" --concurrency "$CONCURRENCY" \
    --hold-ms "$HOLD_MS" --packet-interval-ms "$PACKET_INTERVAL_MS" --settle-secs "$SETTLE_SECS" \
    --source-addresses "$SOURCE_ADDRESSES" \
    --json "$WORK/$server.json" --markdown "$MD"
  stop_server
done

{
  printf '{"timestamp":"%s","results":[' "$STAMP"
  first=1
  for server in $SERVERS; do
    [[ $first == 1 ]] || printf ','
    first=0
    cat "$WORK/$server.json"
  done
  printf ']}\n'
} >"$OUT"
echo "results: $OUT" >&2
# Side by side: one column per server, one row per figure.
python3 - "$OUT" <<'EOF'
import json, sys

reports = json.load(open(sys.argv[1]))["results"]
def get(r, path):
    for key in path.split("."):
        r = r.get(key) if isinstance(r, dict) else None
    return r
def ms(us):
    return "-" if us is None else f"{us / 1000:.1f}"
def mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"
def pct(r, path):
    p = get(r, path) or {}
    return "/".join(ms(p.get(k)) for k in ("p50_us", "p95_us", "p99_us", "max_us"))
def unexpected(r):
    # Every allocation starts with one 401 (the client learns realm and nonce): only the rest are refusals.
    errors = {k: v for k, v in (get(r, "extra.error_responses") or {}).items() if k != "Allocate 401"}
    return ", ".join(f"{k}: {v}" for k, v in errors.items()) or "none"
rows = [
    ("calls completed / failed", lambda r: f"{get(r, 'extra.calls_completed')} / {get(r, 'extra.calls_failed')}"),
    ("allocations (per s up to the last one; busiest second)",
     lambda r: f"{r['ops']} ({get(r, 'extra.allocations_per_sec')}/s; {get(r, 'extra.allocations_peak_second')})"),
    ("permissions / channel binds per s",
     lambda r: f"{get(r, 'extra.permissions_per_sec')} / {get(r, 'extra.channel_binds_per_sec')}"),
    ("time to first relayed packet p50/p95/p99/max ms", lambda r: pct(r, "extra.time_to_first_relayed_packet")),
    ("allocate() p50/p95/p99/max ms", lambda r: pct(r, "extra.allocate")),
    ("CreatePermission round trip ms", lambda r: pct(r, "extra.round_trips.create_permission")),
    ("ChannelBind round trip ms", lambda r: pct(r, "extra.round_trips.channel_bind")),
    ("Refresh(0) round trip ms", lambda r: pct(r, "extra.round_trips.refresh")),
    ("frees confirmed / unconfirmed",
     lambda r: f"{get(r, 'extra.frees_confirmed')} / {get(r, 'extra.frees_unconfirmed')}"),
    ("error responses (besides the 401 challenge)", unexpected),
    ("STUN retransmissions", lambda r: get(r, "extra.detail.retransmissions")),
    ("packets during calls sent / received",
     lambda r: f"{get(r, 'extra.hold_packets_sent')} / {get(r, 'extra.hold_packets_received')}"),
    ("UDP receive-buffer drops: machine-wide / on the server's sockets", lambda r:
     f"{get(r, 'extra.udp_receive_buffer_drops')} / {get(r, 'extra.server_socket_drops')}"),
    ("setup packets and probes sent / received",
     lambda r: f"{get(r, 'extra.detail.setup_packets_sent')} / {get(r, 'extra.detail.setup_packets_received')}"),
    ("server CPU s (ms per allocation)",
     lambda r: f"{get(r, 'extra.server_cpu_secs')} ({get(r, 'extra.cpu_ms_per_allocation')})"),
    ("server RSS MiB before / peak / after", lambda r: " / ".join(
        mib(get(r, f"extra.server_rss_{k}_kib")) for k in ("before", "peak", "after"))),
    ("server fds before / peak / after", lambda r: " / ".join(
        str(get(r, f"extra.server_fds_{k}")) for k in ("before", "peak", "after"))),
    ("fds back to baseline after (s)", lambda r: "never (within the limit)" if get(r, "extra.settled_secs") is None else get(r, "extra.settled_secs")),
    ("late starts (concurrency cap)", lambda r: get(r, "extra.late_starts")),
]
p = reports[0]["params"]
print(f"turn-churn: {p['calls']} calls ({2 * p['calls']} allocations) at {p['rate']} calls/s, "
      f"hold {p['hold_ms']} ms, concurrency {p['concurrency']}, {p['source_addresses']} client addresses\n")
print("| | " + " | ".join(get(r, "extra.server") for r in reports) + " |")
print("|---|" + "---|" * len(reports))
for name, cell in rows:
    print(f"| {name} | " + " | ".join(str(cell(r)) for r in reports) + " |")
EOF
