# Sourced by bench/turn.sh and bench/turn-churn.sh: Debian's coturn installed when missing, and the two TURN servers
# they compare — `tanis serve` with its embedded relay, and coturn — started on loopback on one TURN REST secret.
# The caller defines die() and sets WORK (logs go there), SECRET and REALM; TANIS is the server binary.

# Installs Debian's coturn (turnserver, turnutils_uclient) when missing, as scripts/test installs PostgreSQL.
turn_install_coturn() {
  command -v turnserver >/dev/null && command -v turnutils_uclient >/dev/null && return 0
  local as_root
  if ((EUID == 0)); then
    as_root=()
  elif command -v sudo >/dev/null; then
    as_root=(sudo)
  else
    die "need coturn installed (apt-get install coturn); not root and no sudo"
  fi
  echo "installing coturn..." >&2
  # apt's chatter goes to stderr so stdout stays the table.
  "${as_root[@]}" apt-get update -qq >&2
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends coturn >&2
  command -v turnserver >/dev/null && command -v turnutils_uclient >/dev/null ||
    die "turnserver/turnutils_uclient not found after installing coturn"
}

# A port the kernel says is free for both TCP and UDP (coturn listens on both; tanis uses one of each).
turn_free_port() {
  python3 -c '
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass'
}

# Waits (bounded) until UDP 127.0.0.1:$2 is bound (/proc/net/udp writes it as 0100007F:PORT in hex) while the
# process $1 lives, or says why not.
turn_wait_udp() {
  local pid=$1 port=$2 name=$3 logfile=$4
  for _ in {1..150}; do
    grep -q "0100007F:$(printf '%04X' "$port") " /proc/net/udp && return 0
    kill -0 "$pid" 2>/dev/null || { cat "$logfile" >&2; die "$name exited while starting"; }
    sleep 0.1
  done
  cat "$logfile" >&2
  die "$name did not bind UDP 127.0.0.1:$port within 15 s"
}

# Starts `tanis serve` with its embedded relay on UDP (and TCP) $1; sets TURN_SERVER_PID. Development mode, so the
# relay lets loopback peers through, as the load clients' are; only TANIS_ keys the server knows (it refuses others).
turn_start_tanis() {
  local port=$1 http_port
  http_port=$(turn_free_port)
  env TANIS_LISTEN="127.0.0.1:$http_port" TANIS_DATA_DIR="$WORK/tanis-data" TANIS_JOBS__ENABLED=false \
    TANIS_VIDEO__TURN_LISTEN="127.0.0.1:$port" TANIS_VIDEO__TURN_PUBLIC_IP=127.0.0.1 \
    TANIS_VIDEO__TURN_SECRET="$SECRET" TANIS_VIDEO__TURN_REALM="$REALM" RUST_LOG="${RUST_LOG:-warn}" \
    "$TANIS" serve >"$WORK/tanis.log" 2>&1 &
  TURN_SERVER_PID=$!
  turn_wait_udp "$TURN_SERVER_PID" "$port" tanis "$WORK/tanis.log"
}

# Starts coturn 4.6 on UDP (and TCP) $1 with relay ports $2..$3; sets TURN_SERVER_PID. Foreground (-n: no config
# file), all its state in the work dir, loopback peers allowed as tanis's development mode does.
turn_start_coturn() {
  local port=$1 min_port=$2 max_port=$3
  turnserver -n --listening-port "$port" --listening-ip 127.0.0.1 --relay-ip 127.0.0.1 \
    --use-auth-secret --static-auth-secret="$SECRET" --realm "$REALM" --no-tls --no-dtls \
    --allow-loopback-peers --no-cli --min-port "$min_port" --max-port "$max_port" \
    --simple-log --log-file="$WORK/coturn.log" --pidfile "$WORK/coturn.pid" --userdb "$WORK/coturn.db" \
    >"$WORK/coturn.out" 2>&1 &
  TURN_SERVER_PID=$!
  turn_wait_udp "$TURN_SERVER_PID" "$port" coturn "$WORK/coturn.out"
}

# Stops a server by its pid: TERM, a bounded wait, then KILL.
turn_stop() {
  local pid=$1
  [[ -n $pid ]] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in {1..50}; do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
