-- Moderation as records: every ban is a row (reason code, note, optional end, how it was lifted), reports are
-- resolved with a note, a banned user may appeal each ban once, and notifications are rendered from templates in
-- the user's language.

CREATE TABLE bans (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason_code TEXT    NOT NULL,                              -- docs/admin.md lists the codes; shown to the user
    note        TEXT,                                          -- the moderator's; never shown to the user
    banned_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,   -- NULL: a job (the automatic ban)
    created_at  TEXT    NOT NULL,
    ends_at     TEXT,                                          -- NULL: until lifted
    lifted_at   TEXT,
    lifted_by   INTEGER REFERENCES users (id) ON DELETE SET NULL,
    lift_reason TEXT    CHECK (lift_reason IN ('unbanned', 'expired', 'appeal'))
);
CREATE INDEX bans_user ON bans (user_id, id);
CREATE INDEX bans_ending ON bans (ends_at) WHERE lifted_at IS NULL AND ends_at IS NOT NULL;

-- users.ban_reason now holds the current ban's reason code; the ban's end is beside it.
ALTER TABLE users ADD COLUMN ban_ends_at TEXT;
ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'tr' CHECK (locale IN ('tr', 'en'));
INSERT INTO bans (user_id, reason_code, note, created_at)
    SELECT id, CASE ban_reason WHEN 'reported by too many people' THEN 'reports' ELSE 'other' END, ban_reason, banned_at
    FROM users WHERE is_banned;
UPDATE users SET ban_reason = CASE ban_reason WHEN 'reported by too many people' THEN 'reports' ELSE 'other' END
    WHERE is_banned;

ALTER TABLE reports ADD COLUMN resolved_at TEXT;
ALTER TABLE reports ADD COLUMN resolved_by INTEGER REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE reports ADD COLUMN resolution TEXT CHECK (resolution IN ('dismissed', 'actioned'));
ALTER TABLE reports ADD COLUMN resolution_note TEXT;
CREATE INDEX reports_open ON reports (reported_id) WHERE resolved_at IS NULL;

CREATE TABLE appeals (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    ban_id        INTEGER NOT NULL UNIQUE REFERENCES bans (id) ON DELETE CASCADE,   -- one appeal per ban
    user_id       INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    text          TEXT    NOT NULL,
    created_at    TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'rejected')),
    decided_at    TEXT,
    decided_by    INTEGER REFERENCES users (id) ON DELETE SET NULL,
    decision_note TEXT
);
CREATE INDEX appeals_status ON appeals (status, id);

-- A notification names its template and parameters; `message` keeps the English text for older readers.
ALTER TABLE notifications ADD COLUMN template TEXT;
ALTER TABLE notifications ADD COLUMN params TEXT NOT NULL DEFAULT '{}';
CREATE INDEX notifications_list ON notifications (user_id, id);
