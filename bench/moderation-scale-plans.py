#!/usr/bin/env python3
"""Prints the query plans of the moderators' console reads as SQL for psql or sqlite3 (issue 61, point 4).

    bench/moderation-scale-plans.py --dialect postgres --targets targets.json | psql -X -q DATABASE_URL
    bench/moderation-scale-plans.py --dialect sqlite --targets targets.json | sqlite3 FILE

Run by `PLANS=1 bench/moderation-scale.sh …` on the database it seeded (targets.json names the users asked
about). PostgreSQL: EXPLAIN (ANALYZE, BUFFERS) of each statement as the server prepares it, with the values bound,
then, for the audit trail, the generic plan a prepared statement settles on after five runs (what the server
mostly executes). SQLite: EXPLAIN QUERY PLAN, and the statement's time with its values bound.

The statements are copied from the store (src/store/report_queue.rs, evidence.rs, report_calls.rs,
system_logs.rs, trust.rs, users.rs, bans.rs): keep them in step when those change.
"""

import argparse
import json

# (name, the statement with $n parameters, its arguments as SQL expressions). A page's report ids and reporters
# are read from the database, as the handler gets them from the page.
# A page's reports: at most 50 per user (the API's REPORTS_PER_USER; which 50 does not change the plans).
PAGE_OPEN = ("SELECT v FROM (SELECT r.id AS v, ROW_NUMBER() OVER (PARTITION BY r.reported_id ORDER BY r.id) AS n "
             "FROM reports r WHERE r.reported_id IN ({users}) AND r.resolved_at IS NULL) p WHERE p.n <= 50")
PAGE_USERS = ("SELECT q.reported_id FROM report_queue q ORDER BY q.with_evidence DESC, q.reporters DESC, "
              "q.latest DESC, q.reported_id LIMIT 20")
PAGE_REPORTERS = ("SELECT DISTINCT r.reporter_id AS v FROM (SELECT r.reporter_id, ROW_NUMBER() OVER (PARTITION BY "
                  "r.reported_id ORDER BY r.id) AS n FROM reports r WHERE r.reported_id IN ({users}) "
                  "AND r.resolved_at IS NULL) r WHERE r.n <= 50")

QUEUE = ("SELECT g.reported_id, ru.alias AS reported_alias, ru.tag AS reported_tag, ru.is_banned AS reported_banned, "
         "g.reporters, g.open_reports, g.with_evidence, o.id, o.reporter_id, pu.alias AS reporter_alias, "
         "pu.tag AS reporter_tag, o.match_id, o.reason, o.details, o.created_at, o.resolution AS previous_resolution "
         "FROM (SELECT q.reported_id, q.reporters, q.open_reports, q.latest, q.with_evidence FROM report_queue q "
         "ORDER BY q.with_evidence DESC, q.reporters DESC, q.latest DESC, q.reported_id LIMIT $1 OFFSET $2) g "
         "JOIN (SELECT r.id, r.reported_id, r.reporter_id, r.match_id, r.reason, r.details, r.created_at, "
         "r.resolution, ROW_NUMBER() OVER (PARTITION BY r.reported_id ORDER BY "
         "CASE WHEN (SELECT MIN(e.report_id) FROM report_evidence e WHERE e.report_id = r.id) "
         "IS NULL THEN 1 ELSE 0 END, r.id) AS n "
         "FROM reports r WHERE r.resolved_at IS NULL AND r.reported_id IN "
         "(SELECT q.reported_id FROM report_queue q "
         "ORDER BY q.with_evidence DESC, q.reporters DESC, q.latest DESC, q.reported_id "
         "LIMIT $1 OFFSET $2)) o ON o.reported_id = g.reported_id AND o.n <= $3 "
         "JOIN users ru ON ru.id = g.reported_id JOIN users pu ON pu.id = o.reporter_id "
         "ORDER BY g.with_evidence DESC, g.reporters DESC, g.latest DESC, g.reported_id, o.n")

IDS = {"postgres": "= ANY($1)", "sqlite": "IN (SELECT value FROM json_each($1))"}


def statements(d, t):
    ids = IDS[d]
    heavy, typical = t["heavy_user"]["id"], t["typical_user"]["id"]
    alias, tag = t["heavy_user"]["handle"].split("#")
    since = "now() - interval '30 days'" if d == "postgres" else "strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now', '-30 days')"

    def id_array(select):
        return f"ARRAY({select})" if d == "postgres" else f"(SELECT json_group_array(v) FROM ({select}))"

    page_ids = id_array(PAGE_OPEN.format(users=PAGE_USERS))
    page_reporters = id_array(PAGE_REPORTERS.format(users=PAGE_USERS))
    user_columns = "id, alias, tag, role, is_banned, created_at"  # trimmed: the plan is the same
    audit = ("SELECT id, action, user_id, actor_id, details, created_at FROM system_logs WHERE {lead} "
             "AND ($1 IS NULL OR actor_id = $1) AND ($2 IS NULL OR user_id = $2) AND ($3 IS NULL OR action = $3) "
             "AND ($4 IS NULL OR created_at >= $4) AND ($5 IS NULL OR created_at < $5) AND id < $6 "
             "ORDER BY id DESC LIMIT $7")
    null = "NULL"
    big = "9223372036854775807"
    review_open = ("u.review_requested_at IS NOT NULL AND (u.ban_cleared_at IS NULL OR u.review_requested_at > "
                   "u.ban_cleared_at) AND NOT EXISTS (SELECT 1 FROM reports x WHERE x.reported_id = u.id AND "
                   "x.resolved_at >= u.review_requested_at)")
    return [
        ("report queue: first page (GET /v1/admin/reports)", QUEUE, ["20", "0", "50"]),
        ("report queue: offset 100 000", QUEUE, ["20", "100000", "50"]),
        ("report queue: evidence of the first page", "SELECT report_id, match_id, seq, sent_at, plaintext, "
         f"verified_at FROM report_evidence WHERE report_id {ids} ORDER BY report_id, match_id, seq", [page_ids]),
        ("report queue: call reports of the first page", "SELECT c.report_id, c.verdict_label, c.verdict_score, "
         f"c.snapshot_type, c.snapshot_bytes FROM report_calls c WHERE c.report_id {ids} AND c.id = "
         "(SELECT MAX(n.id) FROM report_calls n WHERE n.report_id = c.report_id) ORDER BY c.report_id", [page_ids]),
        ("report queue: snapshot signals of the first page reporters", "SELECT s.reporter_id, COUNT(*) AS filed, "
         "COALESCE(SUM(CASE WHEN r.resolution = 'dismissed' THEN 1 ELSE 0 END), 0) AS dismissed FROM (SELECT "
         f"DISTINCT c.reporter_id, c.report_id FROM report_calls c WHERE c.reporter_id {ids} AND c.created_at >= $2 "
         "AND c.snapshot_type IS NOT NULL) s JOIN reports r ON r.id = s.report_id GROUP BY s.reporter_id",
         [page_reporters, since]),
        ("user page: by handle (most reported)", f"SELECT {user_columns} FROM users WHERE alias_key = $1 AND tag = $2",
         [f"'{alias.lower()}'", f"'{tag}'"]),
        ("user page: distinct reporters (most reported)", "SELECT COUNT(DISTINCT r.reporter_id), COUNT(DISTINCT "
         "CASE WHEN u.ban_cleared_at IS NULL OR r.created_at > u.ban_cleared_at THEN r.reporter_id END) "
         "FROM reports r JOIN users u ON u.id = r.reported_id WHERE r.reported_id = $1", [str(heavy)]),
        ("user page: claims by status (typical)", "SELECT status, COUNT(*) FROM claims WHERE user_id = $1 "
         "GROUP BY status ORDER BY status", [str(typical)]),
        ("user page: history, 50 newest (most reported)", "SELECT id, action, user_id, actor_id, details, created_at "
         "FROM system_logs WHERE user_id = $1 ORDER BY id DESC LIMIT $2", [str(heavy), "50"]),
        ("user page: bans (most reported)", "SELECT id, user_id, reason_code, note, banned_by, created_at, ends_at, "
         "lifted_at, lifted_by, lift_reason FROM bans WHERE user_id = $1 ORDER BY id DESC", [str(heavy)]),
        ("user page: trust reports (most reported)", "SELECT p.created_at AS reporter_created_at, CASE WHEN "
         "p.phone_verified_at IS NULL THEN FALSE ELSE TRUE END AS reporter_verified, p.is_banned AS reporter_banned, "
         "r.reporter_network, CASE WHEN (SELECT MIN(e.report_id) FROM report_evidence e WHERE e.report_id = r.id) "
         "IS NULL THEN FALSE ELSE TRUE END AS has_evidence, CASE WHEN r.resolved_at IS NULL THEN TRUE ELSE FALSE END AS open "
         "FROM reports r JOIN users u ON u.id = r.reported_id JOIN users p ON p.id = r.reporter_id "
         "WHERE r.reported_id = $1 AND (u.ban_cleared_at IS NULL OR r.created_at > u.ban_cleared_at) "
         "AND (r.resolution IS NULL OR r.resolution <> 'dismissed') ORDER BY r.id", [str(heavy)]),
        ("user page: open review (most reported)", f"SELECT u.id, u.review_reason FROM users u WHERE u.id = $1 AND "
         f"{review_open}", [str(heavy)]),
        ("user page: snapshot signal as a reporter (typical)", "SELECT COUNT(*) AS filed, COALESCE(SUM(CASE WHEN "
         "r.resolution = 'dismissed' THEN 1 ELSE 0 END), 0) AS dismissed FROM reports r WHERE r.id IN (SELECT "
         "c.report_id FROM report_calls c WHERE c.reporter_id = $1 AND c.created_at >= $2 AND c.snapshot_type IS "
         "NOT NULL)", [str(typical), since]),
        ("audit trail: newest page", audit.format(lead="id < $6"), [null, null, null, null, null, big, "51"]),
        ("audit trail: Older, half-way down", audit.format(lead="id < $6"),
         [null, null, null, null, null, str(t["middle_audit_id"]), "51"]),
        ("audit trail: by target (typical)", audit.format(lead="user_id = $2"),
         [null, str(typical), null, null, null, big, "51"]),
        ("audit trail: by actor (a moderator)", audit.format(lead="actor_id = $1"),
         [str(t["moderator"]), null, null, null, null, big, "51"]),
        ("audit trail: by action (admin.phone_viewed, rare)", audit.format(lead="action = $3"),
         [null, null, "'admin.phone_viewed'", null, null, big, "51"]),
    ]


# PostgreSQL: the type of each statement's parameters, as sqlx binds them (psql's PREPARE cannot always infer them).
PG_TYPES = {  # the first key a statement's name contains
    "evidence": ["bigint[]"], "call reports": ["bigint[]"], "snapshot signals": ["bigint[]", "timestamptz"],
    "report queue": ["bigint", "bigint", "bigint"],
    "by handle": ["text", "text"], "history": ["bigint", "bigint"], "snapshot signal as": ["bigint", "timestamptz"],
    "audit trail": ["bigint", "bigint", "text", "timestamptz", "timestamptz", "bigint", "bigint"],
}


def pg_types(name, count):
    for key, types in PG_TYPES.items():
        if key in name:
            return types
    return ["bigint"] * count


def postgres(stmts):
    out = ["\\timing off"]
    for i, (name, sql, args) in enumerate(stmts):
        out.append(f"\\echo '--- {name}'")
        out.append(f"PREPARE p{i}({', '.join(pg_types(name, len(args)))}) AS {sql};")
        # EXECUTE takes no subquery: a page's ids are read into psql variables first.
        values = []
        for n, arg in enumerate(args):
            if arg.startswith("ARRAY("):
                out.append(f"SELECT {arg} AS v{i}_{n} \\gset")
                values.append(f":'v{i}_{n}'")
            else:
                values.append(arg)
        out.append(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) EXECUTE p{i}({', '.join(values)});")
        if name.startswith("audit trail"):
            out.append("\\echo '    (the generic plan, which a prepared statement may settle on)'")
            out.append("SET plan_cache_mode = force_generic_plan;")
            out.append(f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE p{i}({', '.join(values)});")
            out.append("RESET plan_cache_mode;")
        out.append(f"DEALLOCATE p{i};")
    return "\n".join(out) + "\n"


def sqlite(stmts):
    out = [".timer off"]
    for name, sql, args in stmts:
        out.append(f".print '--- {name}'")
        out.append(".parameter clear")
        out.append(f"EXPLAIN QUERY PLAN {sql};")
        for n, value in enumerate(args, start=1):
            out.append(f".parameter set $" + str(n) + f" \"{value}\"")
        out.append(".timer on")
        out.append(f"SELECT COUNT(*) AS rows FROM ({sql});")
        out.append(".timer off")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dialect", choices=["postgres", "sqlite"], required=True)
    ap.add_argument("--targets", required=True)
    a = ap.parse_args()
    with open(a.targets) as f:
        t = json.load(f)
    stmts = statements(a.dialect, t)
    print(postgres(stmts) if a.dialect == "postgres" else sqlite(stmts), end="")


if __name__ == "__main__":
    main()
