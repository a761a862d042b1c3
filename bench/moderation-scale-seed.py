#!/usr/bin/env python3
"""Writes the SQL that fills a tanis database with a large operator's moderation data (issue 61, point 4).

    bench/moderation-scale-seed.py --dialect postgres --users 1000000 --reports 1000000 | psql -v ON_ERROR_STOP=1 URL
    bench/moderation-scale-seed.py --dialect sqlite   --users 1000000 --reports 1000000 | sqlite3 FILE

Run by bench/moderation-scale.sh, which says where this fits; never by the tests. The database must be one that
`tanis migrate` made (every table and constraint of migrations/), holding no rows of these tables but the few
accounts the bench made through tanis itself (`tanis dev seed-users 1`, whose password hash the bulk users share).
One description, two dialects: every row is computed in SQL from its number (PostgreSQL `generate_series`, SQLite a
recursive CTE), so both stores get the same rows. "Random" choices are a multiplicative hash of the row's number,
so a run is reproducible; times count back from --now (epoch seconds).

What it makes, for U users and R reports (the defaults: 1 000 000 each):
  users          U accounts, ids BASE+1 … BASE+U, created over two years, 70 % with a verified phone. Their phone
                 numbers (+90532…) go in `legacy_phone_number`, the plaintext form of before migration 0014: the
                 next `tanis migrate` seals each one under the database's phone keys exactly as an upgrade does
                 (src/phones/reseal.rs), so every account is a valid one (and can sign in with the shared password).
                 The last 20 are staff: 19 moderators and an admin (who resolved the reports and imposed the bans).
  reports        R reports, one per (reporter, reported) pair as the schema demands, about a heavy-tailed set of
                 reported users: report k is about the user of rank ⌊0.6U·((k−½)/R)³⌋+1, so rank r gets about
                 R·(∛r − ∛(r−1))/∛(0.6U) reports: the most reported account ~12 000 (a spammer everyone reports),
                 the 2nd ~3 100, the 10th ~800, the 1 000th ~40, and most reported users one or two.
                 OPEN % of them are open (default 30 %: a team behind on its queue), 1 % of the open ones reopened
                 (a previous `dismissed`); the rest resolved by a moderator within three days, a quarter actioned.
                 Filed over the last 180 days.
  matches        one per report (the match it was filed from), 20 % video.
  report_evidence  5 % of reports carry 1–3 verified messages.
  report_calls   1 % of reports (video ones) came from a call: a classifier verdict, half with a sealed snapshot
                 (2 KiB of bytes standing for one: the queue shows only its type and size).
  bans           ~21 000 running bans (half of the 2 000 most reported users, by the automatic ban; 2 % of
                 everyone, by a moderator, some with an end) and ~10 000 lifted ones in users' histories; 500
                 reported users under an open review.
  claims         ~100 000 refund claims on 10 % of the matches.
  system_logs    the audit trail those rows leave, ~2.5 million entries in time order: user.registered (U),
                 phone.verified (70 % of U), report.resolved (each resolved report, naming its moderator),
                 user.banned / user.unbanned, claim.decided, hourly job runs, and a few hundred admin.phone_viewed.
"""

import argparse
import sys

BASE = 1000  # bulk user n has id BASE + n; the accounts tanis made itself keep the ids below
STAFF = 20  # the last STAFF users: moderators, the very last an admin
DAY = 86400


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dialect", choices=["postgres", "sqlite"], required=True)
    ap.add_argument("--users", type=int, default=1_000_000)
    ap.add_argument("--reports", type=int, default=1_000_000)
    ap.add_argument("--open-percent", type=int, default=30)
    ap.add_argument("--now", type=int, required=True, help="epoch seconds every time counts back from")
    ap.add_argument("--password-hash-of", default="bench_0",
                    help="alias of the account (made by `tanis dev seed-users`) whose bcrypt hash the users share")
    a = ap.parse_args()
    if a.reports > a.users * (a.users - 1):
        sys.exit("more reports than (reporter, reported) pairs")
    sys.stdout.write(Seed(a).sql())


class Seed:
    def __init__(self, a):
        self.a = a
        self.pg = a.dialect == "postgres"

    # Dialect helpers: each returns an SQL expression.
    def series(self, name, count):
        """A one-column relation `name` of 1..count."""
        if self.pg:
            return f"generate_series(CAST(1 AS BIGINT), {count}) AS {name}({name})"
        return (f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) "
                f"SELECT n AS {name} FROM s) AS {name}")

    def at(self, seconds_ago):
        """The instant `seconds_ago` (an integer expression) before --now, as the store writes it."""
        if self.pg:
            return f"to_timestamp({self.a.now} - ({seconds_ago}))"
        # What sqlx writes for a DateTime<Utc> with whole seconds (RFC 3339, +00:00).
        return f"strftime('%Y-%m-%dT%H:%M:%S+00:00', {self.a.now} - ({seconds_ago}), 'unixepoch')"

    def text(self, expr):
        return f"CAST({expr} AS TEXT)"

    def pad(self, expr, width):
        if self.pg:
            return f"lpad(CAST({expr} AS TEXT), {width}, '0')"
        return f"substr('{'0' * width}' || ({expr}), -{width}, {width})"

    def bytes_of(self, text_expr):
        return f"convert_to({text_expr}, 'UTF8')" if self.pg else f"CAST({text_expr} AS BLOB)"

    def filler(self, n):
        """n bytes standing for a sealed snapshot."""
        return f"decode(repeat('5a', {n}), 'hex')" if self.pg else f"zeroblob({n})"

    def intdiv(self, num, den):
        return f"(({num}) / ({den}))"  # both dialects truncate integer division

    def floor_real(self, expr):
        return f"CAST(floor({expr}) AS BIGINT)" if self.pg else f"CAST({expr} AS INTEGER)"

    @staticmethod
    def h(expr, salt):
        """A reproducible hash of an integer expression: 0 … 2^32-1."""
        return f"(((({expr}) * 7 + {salt}) * 2654435761) % 4294967296)"

    def insert(self, table, columns):
        over = " OVERRIDING SYSTEM VALUE" if self.pg and "id" in columns else ""
        return f"INSERT INTO {table} ({', '.join(columns)}){over}\n"

    def sql(self):
        a = self.a
        U, R = a.users, a.reports
        pool = U * 6 // 10  # users who may be reported
        first_staff = U - STAFF + 1
        h, at, series = self.h, self.at, self.series
        out = []
        w = out.append
        if self.pg:
            w("\\set ON_ERROR_STOP on\nSET synchronous_commit = off;\nBEGIN;\n")
        else:
            w(".bail on\nPRAGMA foreign_keys = ON;\nPRAGMA cache_size = -200000;\nBEGIN;\n")

        # Reported user of rank r (1 = most reported) → user n: a permutation, so the heavy ones are spread out.
        def user_of_rank(r):
            return f"((({r}) * 48271) % {U} + 1)"

        def moderator_for(n):
            return f"({BASE} + {first_staff} + ({n}) % {STAFF})"

        # ---- users
        w("-- The 2 500 most reported users (rank r, user n): half of the first 2 000 banned, 500 under review.\n")
        w(f"CREATE TEMP TABLE bench_heavy AS SELECT r, {user_of_rank('r')} AS n FROM {series('r', 2500)};\n")
        w("CREATE INDEX bench_heavy_n ON bench_heavy (n);\n")
        # A running ban: 2 % of everyone (by a moderator), and the odd ranks among the 2 000 most reported
        # (the automatic ban). Staff are never banned.
        mod_banned = f"{h('n', 1)} % 50 = 0"
        lifted = f"n < {first_staff} AND {h('n', 1)} % 100 = 1 AND age > banned_ago + 61 * {DAY}"
        auto_banned = "EXISTS (SELECT 1 FROM bench_heavy b WHERE b.n = u.n AND b.r <= 2000 AND b.r % 2 = 1)"
        review_rank = "(SELECT b.r FROM bench_heavy b WHERE b.n = u.n AND b.r > 2000)"
        w(f"CREATE TEMP TABLE bench_users AS SELECT n, "
          f"CASE WHEN n < {first_staff} AND {auto_banned} THEN 'auto' "
          f"WHEN n < {first_staff} AND {mod_banned} THEN 'mod' END AS ban, "
          f"{review_rank} AS review_rank, "
          f"{h('n', 2)} % (730 * {DAY}) + {DAY} AS age, "  # account age, seconds
          f"{h('n', 3)} % (20 * {DAY}) + 3600 AS banned_ago "
          f"FROM (SELECT n FROM {series('n', U)}) AS u;\n")
        ban_ends = f"CASE WHEN ban = 'mod' AND {h('n', 6)} % 3 = 0 THEN {at(f'banned_ago - 30 * {DAY}')} END"
        tag = self.pad(f"{h('n', 4)} % 10000", 4)
        seen_ago = f"{h('n', 5)} % (CASE WHEN age < 30 * {DAY} THEN age ELSE 30 * {DAY} END)"
        review_at = f"CASE WHEN review_rank IS NOT NULL THEN {at(f'(review_rank % 5 + 1) * {DAY}')} END"
        review_reason = ("CASE WHEN review_rank IS NULL THEN NULL WHEN review_rank % 2 = 0 THEN 'burst_created' "
                         "ELSE 'burst_network' END")
        w(self.insert("users", [
            "id", "legacy_phone_number", "password_hash", "alias", "alias_key", "tag", "role", "referral_code",
            "created_at", "last_active", "is_banned", "ban_reason", "banned_at", "ban_ends_at",
            "daily_chat_balance", "daily_video_balance", "privacy_consent_at", "privacy_notice_version",
            "quota_reset_on", "locale", "birth_year", "phone_verified_at", "review_requested_at", "review_reason"]))
        w(f"SELECT {BASE} + n, '+90532' || {self.pad('n', 7)}, "
          f"(SELECT password_hash FROM users WHERE alias = '{a.password_hash_of}'), 'u' || n, 'u' || n, {tag}, "
          f"CASE WHEN n = {U} THEN 'admin' WHEN n >= {first_staff} THEN 'moderator' ELSE 'user' END, "
          f"'BENCH' || n, {at('age')}, {at(seen_ago)}, ban IS NOT NULL, "
          f"CASE ban WHEN 'auto' THEN 'reports' WHEN 'mod' THEN 'spam' END, "
          f"CASE WHEN ban IS NOT NULL THEN {at('banned_ago')} END, {ban_ends}, 10, 3, {at('age')}, '2026-11-01', "
          f"'', CASE WHEN {h('n', 7)} % 4 = 0 THEN 'en' ELSE 'tr' END, 1960 + {h('n', 8)} % 45, "
          f"CASE WHEN {h('n', 9)} % 10 < 7 THEN {at('age - 60')} END, {review_at}, {review_reason}\n"
          f"FROM bench_users ORDER BY n;\n")

        # ---- reports, and the matches they were filed from
        real = "DOUBLE PRECISION" if self.pg else "REAL"
        candidates = R + R // 100 + 100  # a few more than R: see below
        u = f"((CAST(k AS {real}) - 0.5) / {candidates})"
        rank = f"({self.floor_real(f'{pool} * {u} * {u} * {u}')} + 1)"
        decided = f"{h('k', 13)} % (72 * 3600) + 60"
        w("-- Report k: about the user of rank(k), by a reporter spread over everyone by a permutation of k.\n")
        w(f"CREATE TEMP TABLE bench_reports AS SELECT k, reported, "
          f"CASE WHEN rep1 = reported THEN rep2 ELSE rep1 END AS reporter, filed_ago, "
          f"{h('k', 11)} % 100 < {a.open_percent} AS open, {h('k', 12)} % 100 = 0 AS reopened, "
          f"CASE WHEN {decided} < filed_ago THEN {decided} ELSE filed_ago - 1 END AS decided_after, "
          f"{first_staff} + {h('k', 14)} % {STAFF} AS moderator, {h('k', 15)} % 4 = 0 AS actioned\n"
          f"FROM (SELECT k, {user_of_rank(rank)} AS reported, ((k * 104729) % {U}) + 1 AS rep1, "
          f"((k * 104729 + 499999) % {U}) + 1 AS rep2, {h('k', 10)} % (180 * {DAY}) + 900 AS filed_ago "
          f"FROM {series('k', candidates)}) AS x;\n")
        # One report per (reporter, reported) and none about oneself (the schema's rule, and the server's): the
        # rare candidate breaking either goes, and the first R that remain are the reports.
        w("DELETE FROM bench_reports WHERE reporter = reported OR k NOT IN "
          "(SELECT MIN(k) FROM bench_reports GROUP BY reporter, reported);\n")
        w(f"DELETE FROM bench_reports WHERE k > (SELECT MAX(k) FROM "
          f"(SELECT k FROM bench_reports ORDER BY k LIMIT {R}) AS kept);\n")
        w(f"SELECT CASE WHEN (SELECT COUNT(*) FROM bench_reports) = {R} THEN 'reports: {R}' "
          f"ELSE 'too few distinct (reporter, reported) pairs' END;\n")
        w(self.insert("matches", ["id", "user1_id", "user2_id", "type", "created_at", "expired_at", "status",
                                  "ended_at", "end_reason"]))
        w(f"SELECT k, {BASE} + reporter, {BASE} + reported, CASE WHEN k % 5 = 0 THEN 'video' ELSE 'text' END, "
          f"{at('filed_ago + 600')}, {at(f'filed_ago + 600 - {DAY}')}, 'completed', {at('filed_ago + 300')}, "
          f"'left' FROM bench_reports ORDER BY k;\n")
        reason = (f"CASE {h('k', 16)} % 6 WHEN 0 THEN 'spam' WHEN 1 THEN 'harassment' WHEN 2 THEN 'hate' "
                  "WHEN 3 THEN 'sexual_content' WHEN 4 THEN 'scam' ELSE 'other' END")
        w(self.insert("reports", ["id", "reporter_id", "reported_id", "match_id", "reason", "details", "created_at",
                                  "resolved_at", "resolved_by", "resolution", "resolution_note"]))
        w(f"SELECT k, {BASE} + reporter, {BASE} + reported, k, {reason}, "
          f"CASE WHEN k % 3 = 0 THEN 'bench report ' || k END, {at('filed_ago')}, "
          f"CASE WHEN NOT open THEN {at('filed_ago - decided_after')} END, "
          f"CASE WHEN NOT open THEN {BASE} + moderator END, "
          f"CASE WHEN open AND reopened THEN 'dismissed' WHEN open THEN NULL WHEN actioned THEN 'actioned' "
          f"ELSE 'dismissed' END, CASE WHEN NOT open OR reopened THEN 'bench decision' END "
          f"FROM bench_reports ORDER BY k;\n")

        # ---- verified evidence on 5 % of reports, 1 to 3 messages each
        text = self.bytes_of("'bench evidence ' || k || ' message ' || s")
        w(self.insert("report_evidence", ["report_id", "match_id", "seq", "sent_at", "plaintext", "verdict",
                                          "verified_at"]))
        w(f"SELECT k, k, s, {at('filed_ago + 500 - s * 10')}, {text}, 'verified', {at('filed_ago')} "
          f"FROM bench_reports, (SELECT s FROM {series('s', 3)}) AS m WHERE k % 20 = 0 AND s <= 1 + k % 3 "
          f"ORDER BY k, s;\n")

        # ---- call reports on 1 % (all from video matches), half of them with a snapshot
        snap = "k % 200 = 5"
        w(self.insert("report_calls", ["report_id", "reporter_id", "verdict_label", "verdict_score",
                                       "snapshot_type", "snapshot_sealed", "snapshot_bytes", "created_at"]))
        w(f"SELECT k, {BASE} + reporter, 'nudity', 0.91, CASE WHEN {snap} THEN 'image/jpeg' END, "
          f"CASE WHEN {snap} THEN {self.filler(2048)} END, CASE WHEN {snap} THEN 2000 END, {at('filed_ago')} "
          f"FROM bench_reports WHERE k % 100 = 5 ORDER BY k;\n")

        # ---- bans: the running ones, then lifted ones in users' histories
        w(self.insert("bans", ["user_id", "reason_code", "note", "banned_by", "created_at", "ends_at", "lifted_at",
                               "lifted_by", "lift_reason"]))
        w(f"SELECT {BASE} + n, CASE ban WHEN 'auto' THEN 'reports' ELSE 'spam' END, "
          f"CASE ban WHEN 'mod' THEN 'bench ban' END, CASE ban WHEN 'mod' THEN {moderator_for('n')} END, "
          f"{at('banned_ago')}, {ban_ends}, NULL, NULL, NULL FROM bench_users WHERE ban IS NOT NULL\n"
          f"UNION ALL SELECT {BASE} + n, 'harassment', 'bench ban, lifted', {moderator_for('n')}, "
          f"{at(f'banned_ago + 60 * {DAY}')}, NULL, {at(f'banned_ago + 50 * {DAY}')}, {moderator_for('n')}, "
          f"'unbanned' FROM bench_users WHERE {lifted};\n")

        # ---- refund claims on 10 % of the matches
        w(self.insert("claims", ["user_id", "match_id", "claim_time", "status", "processed_at", "reason"]))
        w(f"SELECT {BASE} + reporter, k, {at('filed_ago + 200')}, "
          f"CASE WHEN k % 100 < 3 THEN 'pending' WHEN k % 100 < 40 THEN 'rejected' ELSE 'approved' END, "
          f"CASE WHEN k % 100 >= 3 THEN {at('filed_ago')} END, CASE WHEN k % 100 >= 3 THEN 'bench' END "
          f"FROM bench_reports WHERE k % 10 = 3 ORDER BY k;\n")

        # ---- the audit trail those rows leave, written oldest first (ids in time order, as a server writes them)
        resolution = "CASE WHEN actioned THEN 'actioned' ELSE 'dismissed' END"
        ban_code = "CASE ban WHEN 'auto' THEN 'reports' ELSE 'spam' END"
        w("CREATE TEMP TABLE bench_audit (ago BIGINT, action TEXT, user_id BIGINT, actor_id BIGINT, details TEXT);\n")
        w("INSERT INTO bench_audit\n"
          f"SELECT age, 'user.registered', {BASE} + n, CAST(NULL AS BIGINT), '{{\"referred\":false}}' FROM bench_users\n"
          f"UNION ALL SELECT age - 60, 'phone.verified', {BASE} + n, NULL, '{{\"code_id\":' || n || '}}' "
          f"FROM bench_users WHERE {h('n', 9)} % 10 < 7\n"
          f"UNION ALL SELECT filed_ago - decided_after, 'report.resolved', {BASE} + reported, {BASE} + moderator, "
          f"'{{\"report_id\":' || k || ',\"resolution\":\"' || {resolution} || '\",\"note\":\"bench decision\"}}' "
          f"FROM bench_reports WHERE NOT open\n"
          f"UNION ALL SELECT banned_ago, 'user.banned', {BASE} + n, CASE ban WHEN 'mod' THEN {moderator_for('n')} END, "
          f"'{{\"reason_code\":\"' || {ban_code} || '\"}}' FROM bench_users WHERE ban IS NOT NULL\n"
          f"UNION ALL SELECT banned_ago + 60 * {DAY}, 'user.banned', {BASE} + n, {moderator_for('n')}, "
          f"'{{\"reason_code\":\"harassment\"}}' FROM bench_users WHERE {lifted}\n"
          f"UNION ALL SELECT banned_ago + 50 * {DAY}, 'user.unbanned', {BASE} + n, {moderator_for('n')}, '{{}}' "
          f"FROM bench_users WHERE {lifted}\n"
          f"UNION ALL SELECT filed_ago, 'claim.decided', {BASE} + reporter, NULL, '{{\"claim\":\"bench\"}}' "
          f"FROM bench_reports WHERE k % 10 = 3 AND k % 100 >= 3\n"
          f"UNION ALL SELECT j * 3600, CASE WHEN j % 2 = 0 THEN 'job.expiry' ELSE 'job.claims' END, NULL, NULL, "
          f"'{{\"job\":\"bench\"}}' FROM (SELECT j FROM {series('j', 180 * 24)}) AS runs\n"
          f"UNION ALL SELECT {h('j', 17)} % (180 * {DAY}), 'admin.phone_viewed', "
          f"{BASE} + 1 + {h('j', 18)} % {U - STAFF}, {BASE} + {U}, '{{\"via\":\"GET /v1/admin/users\"}}' "
          f"FROM (SELECT j FROM {series('j', 300)}) AS views;\n")
        w(self.insert("system_logs", ["action", "user_id", "actor_id", "details", "created_at"]))
        w(f"SELECT action, user_id, actor_id, details, {at('ago')} FROM bench_audit ORDER BY ago DESC;\n")

        if self.pg:
            # The rows above were given their ids: the identity sequences go on after them.
            for t in ("users", "matches", "reports"):
                w(f"DO $$ BEGIN PERFORM setval(pg_get_serial_sequence('{t}', 'id'), (SELECT MAX(id) FROM {t})); END $$;\n")
        w("DROP TABLE bench_audit;\nDROP TABLE bench_reports;\nDROP TABLE bench_users;\nDROP TABLE bench_heavy;\n")
        w("COMMIT;\n")
        return "".join(out)


if __name__ == "__main__":
    main()
