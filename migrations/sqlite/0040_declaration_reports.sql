-- "Not as declared" (issue 64 point 4; docs/privacy.md "Gender", docs/admin.md "Declarations"): someone matched with
-- a user may report, in one tap, that they were not the gender they declared. The report refunds the reporter's unit
-- for that match (once per match, a few a day) and counts the reporter, once per reported user, with the trust
-- rules' brigade defences. Past `trust.declaration_report_threshold` counting reporters the reported user's
-- declaration stops being used for filtered matching until a moderator clears it, each step with its statement of
-- reasons. A report stores who, whom, which match, the hashed address range and whether it refunded: no gender, no
-- wish, no words. It is a separate table from `reports`: it is not misconduct and never counts toward a ban.
CREATE TABLE declaration_reports (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    reporter_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reported_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    match_id         INTEGER REFERENCES matches (id) ON DELETE SET NULL,
    reporter_network BLOB,                                      -- keyed hash of the address range (src/domain/trust.rs)
    refunded         BOOLEAN NOT NULL,
    created_at       TEXT    NOT NULL,
    UNIQUE (match_id, reporter_id)                              -- one report, and one refund, per match
);
CREATE INDEX declaration_reports_reported ON declaration_reports (reported_id, created_at);
CREATE INDEX declaration_reports_reporter ON declaration_reports (reporter_id, created_at);
-- Since when the declaration is not used for filtered matching (NULL: it is, when declared and consented to), and
-- when a moderator last cleared it: reports made before that no longer count.
ALTER TABLE users ADD COLUMN gender_suspended_at TEXT;
ALTER TABLE users ADD COLUMN gender_cleared_at TEXT;
-- Their statements of reasons: SQLite cannot alter a CHECK, so the table is rebuilt with the two new decisions
-- (nothing references it; its ids are kept).
CREATE TABLE statements_v2 (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id             INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    decision            TEXT    NOT NULL CHECK (decision IN ('ban', 'temporary_ban', 'ban_lifted', 'report_dismissed',
                                                             'report_actioned', 'appeal_accepted', 'appeal_rejected',
                                                             'declaration_suspended', 'declaration_cleared')),
    ban_id              INTEGER REFERENCES bans (id) ON DELETE SET NULL,
    report_id           INTEGER REFERENCES reports (id) ON DELETE SET NULL,
    appeal_id           INTEGER REFERENCES appeals (id) ON DELETE SET NULL,
    facts               TEXT    NOT NULL,
    ground_key          TEXT    NOT NULL,
    ground_clause       TEXT    NOT NULL,
    ground_text         TEXT    NOT NULL,
    ground_url          TEXT    NOT NULL,
    ground_law          TEXT,
    category            TEXT    NOT NULL,
    source              TEXT    NOT NULL CHECK (source IN ('notice', 'voluntary')),
    automated_detection BOOLEAN NOT NULL,
    automated_decision  TEXT    NOT NULL CHECK (automated_decision IN ('fully', 'partially', 'not')),
    content_date        TEXT    NOT NULL,
    starts_at           TEXT    NOT NULL,
    ends_at             TEXT,
    redress             TEXT,
    created_at          TEXT    NOT NULL
);
INSERT INTO statements_v2 SELECT * FROM statements;
DROP TABLE statements;
ALTER TABLE statements_v2 RENAME TO statements;
CREATE INDEX statements_user ON statements (user_id, id);
CREATE INDEX statements_created ON statements (created_at, id);
CREATE INDEX statements_ban ON statements (ban_id);
