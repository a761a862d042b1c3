#!/usr/bin/env bash
# The soak (issue 52 point 3; BENCHMARKS.md, Soak): one node under a steady, moderate mix for DURATION seconds —
# matching, chat, skips, reconnects, calls' signalling (a share of the users on video matches) and logins — with
# every node's memory, descriptors, tasks, sockets and queues and the run's latencies sampled every SAMPLE_SECS;
# then one PNG per quantity and a summary of the slopes (bench/plot_soak.py). Not part of the test command.
#
#   DURATION=3600 bench/soak.sh                  # one node on SQLite, an hour
#   NODES=2 DURATION=1800 bench/soak.sh          # two nodes on PostgreSQL + Redis behind nginx, half an hour
#   DURATION=120 bench/soak.sh                   # a smoke run of the whole pipeline
#
# The load is bench/run.sh's mix (SCENARIOS=mix) with a window of DURATION: the nodes, the throwaway Redis and
# nginx are run.sh's. With NODES>1 and no BENCH_DATABASE_URL, a fresh database is made on SOAK_PG (dropped after
# unless KEEP_DB=1). Output: bench/results/soak-<store>-<timestamp>/ with samples.csv, report.md, the PNGs and
# summary.txt. The plots need matplotlib: PLOT_PYTHON (default ~/.cache/tanis-soak-venv/bin/python, made with
#   python3 -m venv ~/.cache/tanis-soak-venv && ~/.cache/tanis-soak-venv/bin/pip install matplotlib==3.9.2).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-3600}
NODES=${NODES:-1}
SAMPLE_SECS=${SAMPLE_SECS:-10}
# Steady and moderate on a 2-core machine shared with the rest: 200 users writing 6 messages a minute while
# paired (about 20 msgs/s), skipping once a minute (about 3 matches/s), dropping their socket every 5 minutes;
# one in ten on video matches; a login every 10 s (bcrypt at cost 12: about 1/40 of a core).
export MIX_USERS=${MIX_USERS:-200}
export MIX_ARRIVALS=${MIX_ARRIVALS:-50}
export MIX_IDLE=${MIX_IDLE:-5}
export MIX_MESSAGES=${MIX_MESSAGES:-6}
export MIX_SKIPS=${MIX_SKIPS:-1}
export MIX_RECONNECTS=${MIX_RECONNECTS:-0.2}
VIDEO_SHARE=${VIDEO_SHARE:-0.1}
LOGINS_PER_MIN=${LOGINS_PER_MIN:-6}
SOAK_PG=${SOAK_PG:-postgres://postgres@127.0.0.1:5432}
PLOT_PYTHON=${PLOT_PYTHON:-$HOME/.cache/tanis-soak-venv/bin/python}

STORE=sqlite
FRESH_DB=
if (( NODES > 1 )); then
  # As run.sh's cluster: PostgreSQL, a throwaway Redis, nginx in front (every socket and login through it).
  export VIA=${VIA:-nginx}
  if [[ -z "${BENCH_DATABASE_URL:-}" ]]; then
    FRESH_DB=tanis_soak_$(date -u +%Y%m%d%H%M%S)
    psql -q "$SOAK_PG/postgres" -c "CREATE DATABASE $FRESH_DB"
    export BENCH_DATABASE_URL=$SOAK_PG/$FRESH_DB
  fi
  STORE=postgres-${NODES}nodes
fi
drop_db() {
  if [[ -n $FRESH_DB && -z ${KEEP_DB:-} ]]; then psql -q "$SOAK_PG/postgres" -c "DROP DATABASE IF EXISTS $FRESH_DB"; fi
}
trap drop_db EXIT

OUT=${SOAK_OUT:-bench/results/soak-$STORE-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
export NODES SCENARIOS=mix MIX_DURATION=$DURATION
export MIX_FLAGS="--video-share $VIDEO_SHARE --logins-per-min $LOGINS_PER_MIN --sample-csv $OUT/samples.csv --sample-secs $SAMPLE_SECS"
# The embedded TURN server on a free port: the default UDP 3478 may be taken on a shared machine (the calls here
# are signalling only; nothing connects through it).
export TANIS_VIDEO__TURN_LISTEN=127.0.0.1:0
echo "soak: $NODES node(s), $DURATION s, output in $OUT" >&2
bench/run.sh | tee "$OUT/report.md"

if [[ -x $PLOT_PYTHON ]]; then
  "$PLOT_PYTHON" bench/plot_soak.py "$OUT/samples.csv" "$OUT" | tee "$OUT/summary.txt"
else
  echo "no $PLOT_PYTHON: make the venv (above), then: bench/plot_soak.py $OUT/samples.csv $OUT" >&2
fi
