-- Child safety first (issue 77 point 2; docs/admin.md "Child safety first"): a report that the reported user appears
-- to be under 18, or of child sexual abuse, from a reporter the trust rules count and outside any burst, holds the
-- reported user's video matching at once, until a moderator has decided every such report about them. Each step has
-- its statement of reasons: the hold (automatic) and its end (the moderator's decision).
ALTER TABLE users ADD COLUMN video_held_at TEXT;
-- SQLite cannot alter a CHECK: the statements table is rebuilt with the two new decisions (nothing references it;
-- its ids are kept).
CREATE TABLE statements_v3 (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id             INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    decision            TEXT    NOT NULL CHECK (decision IN ('ban', 'temporary_ban', 'ban_lifted', 'report_dismissed',
                                                             'report_actioned', 'appeal_accepted', 'appeal_rejected',
                                                             'declaration_suspended', 'declaration_cleared',
                                                             'video_held', 'video_hold_lifted')),
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
INSERT INTO statements_v3 SELECT * FROM statements;
DROP TABLE statements;
ALTER TABLE statements_v3 RENAME TO statements;
CREATE INDEX statements_user ON statements (user_id, id);
CREATE INDEX statements_created ON statements (created_at, id);
CREATE INDEX statements_ban ON statements (ban_id);
