#!/usr/bin/env python3
"""The mix scenario's figures as Markdown, one run per results file (bench/results/*.json from run.sh): a row per
node (CPU, RSS, sockets, messages, matches), a row for the shared parts (Redis, nginx, PostgreSQL) and the run's
latencies and unit costs, so runs at NODES=1, 2 and 4 read side by side.

    python3 bench/mix-table.py bench/results/postgres-4nodes-nginx-*.json
"""
import json
import sys


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}" if isinstance(x, float) else str(x)


def main(paths):
    print("| run | part | CPU s | RSS MiB (growth) | sockets | messages | matches |")
    print("|---|---|---|---|---|---|---|")
    runs = []
    for path in paths:
        doc = json.load(open(path))
        for r in doc["results"]:
            if r["scenario"] != "mix":
                continue
            name = f'{doc["store"]} {doc["timestamp"]}'
            parts = r["extra"]["parts"]
            for i, n in enumerate(parts["nodes"]):
                rss = f'{fmt(n["rss_mib"], 1)} ({fmt(r["extra"]["from_arrivals"]["nodes"][i]["rss_growth_mib"], 1)})'
                print(f'| {name} | node {i + 1} | {fmt(n["cpu_secs"])} | {rss} | {fmt(n["sockets"], 0)} '
                      f'| {fmt(n["messages"], 0)} | {fmt(n["matches"], 0)} |')
            for part in ("redis", "proxy", "db_backends", "db"):
                print(f'| {name} | {part} | {fmt(parts[part + "_cpu_secs"])} | | | | |')
            runs.append((name, r))
    print()
    print("| run | msgs accepted | matches found | skips | reconnects | failures | accepted p50/p99/max ms "
          "| peer p50/p99/max ms | found p50/p99/max ms | node CPU ms/msg | cluster CPU ms/msg | node CPU ms/match "
          "| idle node CPU ms/socket·s | RSS KiB/socket |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r in runs:
        e, lat, u = r["extra"], r["latency"], r["extra"]["units"]
        trio = lambda d: f'{fmt(d["p50"])} / {fmt(d["p99"])} / {fmt(d["max"])}'
        acc = {"p50": lat["p50_us"] / 1e3, "p99": lat["p99_us"] / 1e3, "max": lat["max_us"] / 1e3}
        print(f'| {name} | {r["ops"]} | {e["found"] // 2} | {e["skips"]} | {e["reconnects"]} | {r["failures"]} '
              f'| {trio(acc)} | {trio(e["peer_ms"])} | {trio(e["found_ms"])} | {fmt(u["node_cpu_ms_per_message"], 3)} '
              f'| {fmt(u["cluster_cpu_ms_per_message"], 3)} | {fmt(u["node_cpu_ms_per_match"], 3)} '
              f'| {fmt(u["idle_node_cpu_ms_per_socket_sec"], 4)} | {fmt(u["rss_kib_per_socket"], 0)} |')


if __name__ == "__main__":
    main(sys.argv[1:])
