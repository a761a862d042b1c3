#!/usr/bin/env python3
"""The capacity model of docs/scaling.md: from unit costs measured here and a traffic assumption, what a tanis
deployment needs for a given number of people online. Every figure it prints is derived in `model()` below, so the
document's tables can be reproduced (and redone when a unit cost is measured again):

    python3 bench/capacity.py                      # the tables of docs/scaling.md, Markdown
    python3 bench/capacity.py --online 400 --nodes 4 --set msgs_per_min=6 --set skips_per_min=1   # one check's load

Unit costs are the UNIT dict (the measurement each comes from is named beside it in docs/scaling.md); traffic
assumptions are TRAFFIC. Both can be overridden with --set key=value.
"""

import argparse
import math

# Measured on the 2-core development machine (docs/scaling.md, "Unit costs", says where each comes from).
UNIT = {
    # Server CPU per message relayed and stored, receipts included (s); one node, PostgreSQL, ten in flight.
    "node_cpu_per_msg": 18.5e-6,
    # PostgreSQL CPU per message (s), same run.
    "db_cpu_per_msg": 23e-6,
    # Extra server CPU per message when sender and receiver are on different nodes (s), Redis's own included.
    "cross_cpu_per_msg": 6.5e-6,
    # Redis CPU per message that crosses nodes (s).
    "redis_cpu_per_cross_msg": 2.6e-6,
    # Redis commands per message that crosses nodes: three presence reads (the peer's msg, the sender's own copy,
    # the receipt back) and the publishes, shared by a batch's envelope (counted as one each here: the worst case).
    "redis_ops_per_cross_msg": 5.0,
    # Server and PostgreSQL CPU per match (s), one node on PostgreSQL.
    "node_cpu_per_match": 0.093e-3,
    "db_cpu_per_match": 0.106e-3,
    # Memory per idle authenticated socket (bytes) and CPU per socket opened (s, TLS terminated in front).
    "mem_per_socket": 3.67 * 1024,
    "cpu_per_connect": 0.112e-3,
    # PostgreSQL row writes per message (the message, its log row, the receipt's update) and per match (the match,
    # two quota charges, its end), and bytes per message: the content row with its indexes (kept 24 h) and the
    # metadata log row (kept), from the WAL bytes per message of BENCHMARKS.md's statement table.
    "db_writes_per_msg": 3.0,
    "db_writes_per_match": 4.0,
    "bytes_per_msg": 613.0,
    "bytes_per_log": 349.0,
    # Redis commands per match: the queue entry written and removed, the stream append, the claim script.
    "redis_ops_per_match": 6.0,
    # Embedded TURN relay: CPU seconds per GB relayed (UDP, 1 000-byte packets).
    "turn_cpu_per_gb": 11.35,
}

TRAFFIC = {
    # Shares of the people online.
    "text_share": 0.60,  # in a text conversation
    "video_share": 0.10,  # in a video call (both sides counted)
    # (the rest browse, wait in a queue or sit idle with the app open: a socket and nothing else)
    "msgs_per_min": 4.0,  # messages each text chatter sends per minute
    "skips_per_min": 0.33,  # conversations each chatter ends (and asks again) per minute
    "reconnects_per_min": 0.2,  # a phone changing networks or waking the app: a new socket every 5 minutes
    "call_mbps": 1.0,  # one direction of a call, every call relayed (relay-only privacy)
    # A node is planned at this share of its cores, leaving room for bursts, deploys and a lost node.
    "target_utilisation": 0.5,
    "cores_per_node": 8,
    "mem_per_node_gib": 16,
    # Sockets one node is planned for: a process here may hold 20 000 descriptors; production hosts raise it, and
    # a node is kept small enough that losing one moves a bearable crowd (each socket reconnects and resumes).
    "sockets_per_node": 100_000,
    # One Redis shard is planned at this many commands per second (one core of a Redis 7 on a current server).
    "redis_ops_per_shard": 150_000,
    # A relay host's share of its network card: 10 Gbit/s cards planned at 60 %.
    "relay_host_gbps": 6.0,
    "relay_host_cores": 16,
}


def model(online: int, unit: dict, traffic: dict, nodes: int | None = None) -> dict:
    texting = online * traffic["text_share"]
    calling = online * traffic["video_share"]
    msgs = texting * traffic["msgs_per_min"] / 60
    # A skip ends one match and sends both people back to the queue, where they make one new match between them
    # (each with someone else): one match per skip.
    matches = (texting + calling) * traffic["skips_per_min"] / 60
    connects = online * traffic["reconnects_per_min"] / 60
    budget = traffic["cores_per_node"] * traffic["target_utilisation"]
    # Idle sockets cost memory, not CPU (a heartbeat every 30 s is in the noise); what the nodes share of the work
    # does not depend on how many there are, except the share of messages that crosses nodes, (n-1)/n.
    def cpu(n: int) -> float:
        cross = 1 - 1 / n if n > 1 else 0.0
        return (msgs * (unit["node_cpu_per_msg"] + cross * unit["cross_cpu_per_msg"])
                + matches * unit["node_cpu_per_match"] + connects * unit["cpu_per_connect"])
    if nodes is None:
        nodes = max(2, math.ceil(online / traffic["sockets_per_node"]))  # two at least: one can be lost
        while cpu(nodes) / nodes > budget:
            nodes += 1
    cross = 1 - 1 / nodes if nodes > 1 else 0.0
    redis_ops = msgs * cross * unit["redis_ops_per_cross_msg"] + matches * unit["redis_ops_per_match"]
    # A call: each side sends call_mbps to the relay and receives the other's from it.
    relay_out_gbps = calling * traffic["call_mbps"] / 1000
    relay_gb_per_s = relay_out_gbps / 8
    relay_cpu = relay_gb_per_s * unit["turn_cpu_per_gb"]
    return {
        "online": online,
        "msgs_per_s": msgs,
        "matches_per_s": matches,
        "connects_per_s": connects,
        "nodes": nodes,
        "sockets_per_node": online / nodes,
        "mem_per_node_gib": online / nodes * unit["mem_per_socket"] / 2**30,
        "cpu_per_node": cpu(nodes) / nodes,
        "redis_ops_per_s": redis_ops,
        "redis_cpu": msgs * cross * unit["redis_cpu_per_cross_msg"],
        "redis_shards": max(1, math.ceil(redis_ops / traffic["redis_ops_per_shard"])),
        "db_writes_per_s": msgs * unit["db_writes_per_msg"] + matches * unit["db_writes_per_match"],
        "db_cpu": msgs * unit["db_cpu_per_msg"] + matches * unit["db_cpu_per_match"],
        "content_gb": msgs * 86_400 * unit["bytes_per_msg"] / 1e9,
        "logs_gb_per_day": msgs * 86_400 * unit["bytes_per_log"] / 1e9,
        "relay_gbps": relay_out_gbps,
        "relay_cpu": relay_cpu,
        "relay_hosts": max(1, math.ceil(max(relay_out_gbps / traffic["relay_host_gbps"],
                                            relay_cpu / (traffic["relay_host_cores"] * traffic["target_utilisation"])))),
    }


def parse_sets(pairs):
    out = {}
    for pair in pairs or []:
        key, _, value = pair.partition("=")
        out[key] = float(value)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--online", type=int, action="append", help="people online (repeatable)")
    parser.add_argument("--nodes", type=int, help="fix the node count instead of sizing it")
    parser.add_argument("--set", action="append", help="override a unit cost or assumption: key=value")
    args = parser.parse_args()
    sets = parse_sets(args.set)
    unit = {**UNIT, **{k: v for k, v in sets.items() if k in UNIT}}
    traffic = {**TRAFFIC, **{k: v for k, v in sets.items() if k in TRAFFIC}}
    unknown = set(sets) - set(UNIT) - set(TRAFFIC)
    if unknown:
        parser.error(f"unknown keys: {sorted(unknown)}")
    rows = [model(n, unit, traffic, args.nodes) for n in (args.online or [100_000, 1_000_000, 10_000_000])]
    fields = [
        ("online", "people online", "{:,.0f}"),
        ("msgs_per_s", "messages / s", "{:,.0f}"),
        ("matches_per_s", "matches / s", "{:,.0f}"),
        ("connects_per_s", "sockets opened / s", "{:,.0f}"),
        ("nodes", "nodes", "{:,.0f}"),
        ("sockets_per_node", "sockets per node", "{:,.0f}"),
        ("mem_per_node_gib", "socket memory per node (GiB)", "{:.2f}"),
        ("cpu_per_node", "CPU per node (cores)", "{:.3f}"),
        ("redis_ops_per_s", "Redis commands / s", "{:,.0f}"),
        ("redis_cpu", "Redis CPU (cores)", "{:.2f}"),
        ("redis_shards", "Redis shards", "{:,.0f}"),
        ("db_writes_per_s", "PostgreSQL row writes / s", "{:,.0f}"),
        ("db_cpu", "PostgreSQL CPU (cores)", "{:.2f}"),
        ("content_gb", "message content held, 24 h (GB)", "{:,.0f}"),
        ("logs_gb_per_day", "metadata logs per day (GB)", "{:,.0f}"),
        ("relay_gbps", "TURN bandwidth out (Gbit/s)", "{:,.1f}"),
        ("relay_cpu", "TURN CPU (cores)", "{:.1f}"),
        ("relay_hosts", "TURN relay hosts", "{:,.0f}"),
    ]
    print("| people online | " + " | ".join(f"{r['online']:,.0f}" for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for key, label, fmt in fields[1:]:
        print(f"| {label} | " + " | ".join(fmt.format(r[key]) for r in rows) + " |")


if __name__ == "__main__":
    main()
