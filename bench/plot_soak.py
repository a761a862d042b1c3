#!/usr/bin/env python3
"""A soak's samples (bench/soak.sh: `tanis-bench mix --sample-csv`, a row per node every 10 s) as one PNG per
quantity over time, and a summary of what a leak or a drift would show: after the warm-up, the least-squares slope
of each node's RSS in MiB/hour (and of the RSS without SQLite's heap, whose page caches fill up to a ceiling as the
database grows), descriptors and tasks (min, max, slope), the queues' maxima, and the p99s of the
first third against the last third (medians of the 10 s windows' p99s).

    ~/.cache/tanis-soak-venv/bin/python bench/plot_soak.py bench/results/soak-…/samples.csv bench/results/soak-…/

The warm-up is the first 10 % of the run or 5 minutes, whichever is longer, at most half the run (--warmup-secs
sets it): memory grows while the allocator's arenas and the caches fill, which is not a leak. matplotlib from a
venv (bench/soak.sh says how to make it); the summary alone needs only the standard library (--no-plots).
"""
import argparse
import csv
import os
import statistics
from collections import defaultdict

# (file, title, y label, columns): per node unless the column is the run's (the same on every node's row).
PLOTS = [
    ("rss", "Resident memory (VmRSS), and SQLite's heap within it", "MiB", ["rss_mib", "sqlite_heap_mib"]),
    ("fds", "Open descriptors", "descriptors", ["fds"]),
    ("tasks", "Live tokio tasks (tanis_runtime_alive_tasks)", "tasks", ["tasks"]),
    ("sessions", "Open WebSockets (tanis_ws_sessions)", "sockets", ["sessions"]),
    ("queues", "Queue depths", "entries", ["matching_queue", "commit_queue"]),
]
RUN_PLOTS = [
    ("latency-messages", "Message latency per 10 s window", "ms",
     ["accepted_p50_ms", "accepted_p99_ms", "peer_p50_ms", "peer_p99_ms"]),
    ("latency-matching", "Matching, call signalling and login latency per 10 s window", "ms",
     ["found_p50_ms", "found_p99_ms", "signal_p99_ms", "login_p99_ms"]),
    ("throughput", "Per 10 s window", "count", ["acked", "offers", "logins", "errors"]),
]


def number(s):
    return float(s) if s not in ("", None) else None


def read(path):
    """Rows by node: {node: [{column: float or None}]}, in time order."""
    nodes = defaultdict(list)
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            nodes[int(row["node"])].append({k: number(v) for k, v in row.items()})
    return dict(sorted(nodes.items()))


def points(rows, column, since=0.0):
    """(seconds, value) of a column; none for a column an older CSV does not have."""
    return [(r["t_secs"], r[column]) for r in rows if r["t_secs"] >= since and r.get(column) is not None]


def slope_per_hour(pts):
    """Least-squares slope of (seconds, value) points, per hour; None with fewer than 3 points."""
    if len(pts) < 3:
        return None
    n = len(pts)
    mx, my = sum(t for t, _ in pts) / n, sum(v for _, v in pts) / n
    var = sum((t - mx) ** 2 for t, _ in pts)
    return None if var == 0 else sum((t - mx) * (v - my) for t, v in pts) / var * 3600


def thirds(pts):
    """Medians of the first and the last third of the values."""
    values = [v for _, v in pts]
    k = len(values) // 3
    if k == 0:
        return None, None
    return statistics.median(values[:k]), statistics.median(values[-k:])


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def summary(nodes, warmup):
    end = max(r["t_secs"] for rows in nodes.values() for r in rows)
    print(f"samples: {sum(len(r) for r in nodes.values())} rows, {len(nodes)} node(s), {end:.0f} s; "
          f"warm-up excluded: first {warmup:.0f} s")
    for node, rows in nodes.items():
        rss = points(rows, "rss_mib", warmup)
        print(f"node {node}: RSS {fmt(rss[0][1] if rss else None)} -> {fmt(rss[-1][1] if rss else None)} MiB, "
              f"slope {fmt(slope_per_hour(rss), 2)} MiB/hour")
        # SQLite's page caches fill up to their ceiling as the database grows (tanis_sqlite_heap_bytes): the rest of
        # the RSS is what a leak would move.
        heap = dict(points(rows, "sqlite_heap_mib", warmup))
        rest = [(t, v - heap[t]) for t, v in rss if t in heap]
        if any(heap.values()) and rest:
            print(f"  of which SQLite's heap {fmt(heap[rest[0][0]])} -> {fmt(heap[rest[-1][0]])} MiB; the rest "
                  f"{fmt(rest[0][1])} -> {fmt(rest[-1][1])} MiB, slope {fmt(slope_per_hour(rest), 2)} MiB/hour")
        for column in ("fds", "tasks", "sessions"):
            pts = points(rows, column, warmup)
            values = [v for _, v in pts]
            print(f"  {column}: min {fmt(min(values) if values else None, 0)} max "
                  f"{fmt(max(values) if values else None, 0)} slope {fmt(slope_per_hour(pts), 1)}/hour")
        for column in ("matching_queue", "commit_queue"):
            values = [v for _, v in points(rows, column, warmup)]
            print(f"  {column}: max {fmt(max(values) if values else None, 0)}, "
                  f"median {fmt(statistics.median(values) if values else None, 0)}")
    # The run's columns are the same on every node's row: node 1's.
    rows = next(iter(nodes.values()))
    for column in ("accepted_p99_ms", "peer_p99_ms", "found_p99_ms", "signal_p99_ms", "login_p99_ms"):
        first, last = thirds(points(rows, column, warmup))
        ratio = last / first if first and last is not None else None
        print(f"{column}: first third median {fmt(first, 2)} ms, last third {fmt(last, 2)} ms "
              f"(x{fmt(ratio, 2)})")
    totals = {c: sum(v for _, v in points(rows, c)) for c in ("acked", "offers", "logins", "errors")}
    print("totals: " + ", ".join(f"{c} {v:.0f}" for c, v in totals.items()))


def plot(nodes, out, warmup):
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    def figure(name, title, ylabel, series):
        fig, ax = plt.subplots(figsize=(9, 4))
        for label, pts in series:
            if pts:
                ax.plot([t / 60 for t, _ in pts], [v for _, v in pts], label=label, linewidth=1)
        ax.axvspan(0, warmup / 60, color="grey", alpha=0.15, label="warm-up")
        ax.set(title=title, xlabel="minutes", ylabel=ylabel)
        # From zero, with room above: a flat line must not sit on the frame, where it cannot be read.
        top = max((v for _, pts in series for _, v in pts), default=0)
        ax.set_ylim(bottom=0, top=top * 1.15 if top > 0 else 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(os.path.join(out, f"{name}.png"), dpi=100)
        plt.close(fig)

    several = len(nodes) > 1
    for name, title, ylabel, columns in PLOTS:
        series = [(f"node {n} {c}" if several or len(columns) > 1 else c, points(rows, c))
                  for n, rows in nodes.items() for c in columns]
        figure(name, title, ylabel, series)
    rows = next(iter(nodes.values()))
    for name, title, ylabel, columns in RUN_PLOTS:
        figure(name, title, ylabel, [(c, points(rows, c)) for c in columns])
    print(f"plots: {out}/" + ", ".join(f"{p[0]}.png" for p in PLOTS + RUN_PLOTS))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("csv")
    parser.add_argument("out", nargs="?", default=".")
    parser.add_argument("--warmup-secs", type=float)
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args()
    nodes = read(args.csv)
    if not nodes:
        raise SystemExit(f"{args.csv}: no samples")
    end = max(r["t_secs"] for rows in nodes.values() for r in rows)
    warmup = args.warmup_secs if args.warmup_secs is not None else min(max(0.1 * end, 300), end / 2)
    summary(nodes, warmup)
    if not args.no_plots:
        os.makedirs(args.out, exist_ok=True)
        plot(nodes, args.out, warmup)


if __name__ == "__main__":
    main()
