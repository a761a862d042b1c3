-- Statements of reasons (issue 30, docs/admin.md "Statements of reasons"): every moderation decision — a ban, a
-- temporary ban, a lifted ban, a dismissed or actioned report, an appeal decided — carries one, written in the
-- decision's own transaction. It concerns one user (the banned user; the reported user for an actioned report;
-- the reporter for a dismissed one) and is what that user is shown and exports. Its text is generated: counts and
-- codes, never a moderator's note, a reporter's identity or anyone's words, so the operator's JSON Lines export
-- (`GET /v1/admin/statements`) can leave the database without personal data. The ground is copied from the
-- configuration as it was when the decision was taken: changing the terms later rewrites no statement.
CREATE TABLE statements (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id             INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    decision            TEXT    NOT NULL CHECK (decision IN ('ban', 'temporary_ban', 'ban_lifted', 'report_dismissed',
                                                             'report_actioned', 'appeal_accepted', 'appeal_rejected')),
    ban_id              INTEGER REFERENCES bans (id) ON DELETE SET NULL,
    report_id           INTEGER REFERENCES reports (id) ON DELETE SET NULL,
    appeal_id           INTEGER REFERENCES appeals (id) ON DELETE SET NULL,
    facts               TEXT    NOT NULL,
    ground_key          TEXT    NOT NULL,                   -- a ban reason code: its clause in [moderation.grounds]
    ground_clause       TEXT    NOT NULL,
    ground_text         TEXT    NOT NULL,
    ground_url          TEXT    NOT NULL,
    ground_law          TEXT,                               -- set: the ground is illegal content under this law
    category            TEXT    NOT NULL,                   -- the DSA Transparency Database's STATEMENT_CATEGORY_*
    source              TEXT    NOT NULL CHECK (source IN ('notice', 'voluntary')),
    automated_detection BOOLEAN NOT NULL,
    automated_decision  TEXT    NOT NULL CHECK (automated_decision IN ('fully', 'partially', 'not')),
    content_date        TEXT    NOT NULL,                   -- when what the decision is about happened
    starts_at           TEXT    NOT NULL,
    ends_at             TEXT,                               -- a temporary ban's end
    redress             TEXT,                               -- how to contest it; NULL where nothing is restricted
    created_at          TEXT    NOT NULL
);
CREATE INDEX statements_user ON statements (user_id, id);
CREATE INDEX statements_created ON statements (created_at, id);
CREATE INDEX statements_ban ON statements (ban_id);
