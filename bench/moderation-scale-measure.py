#!/usr/bin/env python3
"""Times the moderators' console reads against a running `tanis serve` (issue 61, point 4).

    bench/moderation-scale-measure.py --url http://127.0.0.1:PORT --token ACCESS_TOKEN --targets targets.json \
        [--requests 300] [--budget-secs 120] [--label sqlite] [--json out.json]

Run by bench/moderation-scale.sh after it seeded the database; `targets.json` names the rows the requests ask
about (which user is the most reported, a typical one, a moderator, an id half-way down the audit trail). Each
endpoint gets a few warm-up requests, then --requests sequential ones over one keep-alive connection (fewer if
--budget-secs runs out first: the count is printed), each timed from sending to the last byte of the body and
checked to be a 200. Prints one Markdown row per endpoint: p50, p90, p99, max, in milliseconds.
"""

import argparse
import http.client
import json
import math
import sys
import time
import urllib.parse

WARM_UP = 5


def endpoints(t, second_page):
    """(name, path) of every read measured, from the targets the seeding left. `second_page(path)` is the path of
    the page the console's Older button asks for after `path` (its `next_before`)."""
    heavy, typical = t["heavy_user"], t["typical_user"]
    q = urllib.parse.quote
    deep = t["deep_offset"]
    return [
        ("report queue, first page", "/v1/admin/reports?limit=20"),
        ("report queue, page 51 (offset 1000)", "/v1/admin/reports?limit=20&offset=1000"),
        (f"report queue, deepest page (offset {deep})", f"/v1/admin/reports?limit=20&offset={deep}"),
        (f"user page by id, most reported ({heavy['reports']} reports)", f"/v1/admin/users/{heavy['id']}"),
        ("user page by handle, most reported", f"/v1/admin/users?handle={q(heavy['handle'])}"),
        (f"user page by id, typical ({typical['reports']} report)", f"/v1/admin/users/{typical['id']}"),
        ("user page by handle, typical", f"/v1/admin/users?handle={q(typical['handle'])}"),
        ("audit trail, newest page", "/v1/admin/audit"),
        ("audit trail, Older (second page)", second_page("/v1/admin/audit")),
        ("audit trail, Older half-way down the trail", f"/v1/admin/audit?before={t['middle_audit_id']}"),
        ("audit trail, by target: most reported", f"/v1/admin/audit?target={heavy['id']}"),
        ("audit trail, by target: most reported, Older", second_page(f"/v1/admin/audit?target={heavy['id']}")),
        ("audit trail, by target: typical", f"/v1/admin/audit?target={typical['id']}"),
        ("audit trail, by actor (a moderator)", f"/v1/admin/audit?actor={t['moderator']}"),
        ("audit trail, by actor, Older", second_page(f"/v1/admin/audit?actor={t['moderator']}")),
        ("audit trail, by action user.banned", "/v1/admin/audit?action=user.banned"),
        ("audit trail, by action user.banned, Older", second_page("/v1/admin/audit?action=user.banned")),
        ("audit trail, by action admin.phone_viewed (rare)", "/v1/admin/audit?action=admin.phone_viewed"),
    ]


def percentile(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    # The nearest rank: the smallest value with at least p % of the samples at or below it.
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


def measure(conn, token, path, count, budget):
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    times = []
    size = 0
    started = time.monotonic()
    for i in range(WARM_UP + count):
        t0 = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        ms = (time.perf_counter() - t0) * 1000
        if resp.status != 200:
            sys.exit(f"GET {path}: {resp.status} {body[:300]!r}")
        size = len(body)
        if i >= WARM_UP:
            times.append(ms)
            if time.monotonic() - started > budget:
                break
    return sorted(times), size


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--targets", required=True)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--budget-secs", type=float, default=120)
    ap.add_argument("--label", default="")
    ap.add_argument("--only", default="", help="measure only endpoints whose name contains this")
    ap.add_argument("--json")
    a = ap.parse_args()
    with open(a.targets) as f:
        targets = json.load(f)
    url = urllib.parse.urlparse(a.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=600)
    results = []
    print(f"| {a.label} endpoint | requests | p50 ms | p90 ms | p99 ms | max ms | body bytes |")
    print("|---|---|---|---|---|---|---|")
    def second_page(path):
        conn.request("GET", path, headers={"Authorization": f"Bearer {a.token}"})
        page = json.loads(conn.getresponse().read())
        if page.get("next_before") is None:
            sys.exit(f"{path} has no second page")
        return f"{path}{'&' if '?' in path else '?'}before={page['next_before']}"

    for name, path in endpoints(targets, second_page):
        if a.only and a.only not in name:
            continue
        times, size = measure(conn, a.token, path, a.requests, a.budget_secs)
        row = {"endpoint": name, "path": path, "requests": len(times), "p50": percentile(times, 50),
               "p90": percentile(times, 90), "p99": percentile(times, 99), "max": times[-1], "bytes": size}
        results.append(row)
        print(f"| {name} | {row['requests']} | {row['p50']:.1f} | {row['p90']:.1f} | {row['p99']:.1f} | "
              f"{row['max']:.1f} | {size} |", flush=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"label": a.label, "targets": targets, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
