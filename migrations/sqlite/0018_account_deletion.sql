-- no-transaction
-- Account deletion (issue 15, point 5; src/accounts/deletion.rs, workers/src/purge.rs).
--   deleted_at   the owner asked for deletion (DELETE /v1/me, POST /v1/ban/deletion); a login clears it
--   purge_after  when the purge job may remove the account (deleted_at + auth.deletion_grace_days)
--   purged_at    set only on a tombstone: the row a purged account's kept metadata (matches, message logs,
--                reports, bans, claims, the audit trail) is re-keyed to. A tombstone has no phone, so the phone
--                CHECK of 0014 now lets a purged row hold none at all.
--
-- SQLite cannot change a CHECK in place, so `users` is rebuilt exactly as 0014 rebuilt it (read its header for
-- why foreign keys are off and why this file holds its own transaction): a new table with every column, the rows
-- and the AUTOINCREMENT high-water mark copied (a purged account's id must never be handed out again), the old
-- table dropped, the new one renamed, its indexes made again.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE users_0018 (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    legacy_phone_number    TEXT,                               -- plaintext from before 0014; NULL once sealed
    password_hash          TEXT    NOT NULL,                   -- bcrypt
    alias                  TEXT    NOT NULL,
    alias_key              TEXT    NOT NULL,                   -- lower-cased alias: tags are unique per key
    tag                    TEXT    NOT NULL,                   -- four digits, shown as alias#tag
    role                   TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    referral_code          TEXT    NOT NULL UNIQUE,            -- what this user shares to invite others
    created_at             TEXT    NOT NULL,
    last_active            TEXT    NOT NULL,
    location_lat           REAL,
    location_lon           REAL,
    location_updated_at    TEXT,
    is_banned              BOOLEAN NOT NULL DEFAULT FALSE,
    ban_reason             TEXT,
    banned_at              TEXT,
    is_premium             BOOLEAN NOT NULL DEFAULT FALSE,
    daily_chat_balance     INTEGER NOT NULL CHECK (daily_chat_balance >= 0),
    daily_video_balance    INTEGER NOT NULL CHECK (daily_video_balance >= 0),
    bonus_chat_balance     INTEGER NOT NULL DEFAULT 0 CHECK (bonus_chat_balance >= 0),   -- referral/refund units: spent after daily ones, never reset
    bonus_video_balance    INTEGER NOT NULL DEFAULT 0 CHECK (bonus_video_balance >= 0),
    privacy_consent_at     TEXT    NOT NULL,
    privacy_notice_version TEXT    NOT NULL,
    ban_cleared_at         TEXT,
    quota_reset_on         TEXT    NOT NULL DEFAULT '',
    ban_ends_at            TEXT,
    locale                 TEXT    NOT NULL DEFAULT 'tr' CHECK (locale IN ('tr', 'en')),
    phone_sealed           BLOB,                               -- the login name, E.164, sealed; never shown to peers
    phone_index            BLOB,                               -- its blind index: unique (users_phone_index)
    birth_year             INTEGER,
    phone_verified_at      TEXT,
    deleted_at             TEXT,
    purge_after            TEXT,
    purged_at              TEXT,
    UNIQUE (alias_key, tag),
    CONSTRAINT users_phone_sealed CHECK (((legacy_phone_number IS NULL) = (phone_sealed IS NOT NULL)
                                          OR (purged_at IS NOT NULL AND legacy_phone_number IS NULL AND phone_sealed IS NULL))
                                         AND (phone_sealed IS NULL) = (phone_index IS NULL))
);
INSERT INTO users_0018 (id, legacy_phone_number, password_hash, alias, alias_key, tag, role, referral_code, created_at,
                        last_active, location_lat, location_lon, location_updated_at, is_banned, ban_reason, banned_at,
                        is_premium, daily_chat_balance, daily_video_balance, bonus_chat_balance, bonus_video_balance,
                        privacy_consent_at, privacy_notice_version, ban_cleared_at, quota_reset_on, ban_ends_at, locale,
                        phone_sealed, phone_index, birth_year, phone_verified_at)
SELECT id, legacy_phone_number, password_hash, alias, alias_key, tag, role, referral_code, created_at,
       last_active, location_lat, location_lon, location_updated_at, is_banned, ban_reason, banned_at,
       is_premium, daily_chat_balance, daily_video_balance, bonus_chat_balance, bonus_video_balance,
       privacy_consent_at, privacy_notice_version, ban_cleared_at, quota_reset_on, ban_ends_at, locale,
       phone_sealed, phone_index, birth_year, phone_verified_at
FROM users;

DELETE FROM sqlite_sequence WHERE name = 'users_0018';
INSERT INTO sqlite_sequence (name, seq) SELECT 'users_0018', seq FROM sqlite_sequence WHERE name = 'users';

DROP TABLE users;
ALTER TABLE users_0018 RENAME TO users;

CREATE INDEX users_quota_reset_on ON users (quota_reset_on);
CREATE UNIQUE INDEX users_phone_index ON users (phone_index);
CREATE INDEX users_legacy_phone ON users (id) WHERE legacy_phone_number IS NOT NULL;
-- The purge job's one question: whose grace period is over.
CREATE INDEX users_purge_after ON users (purge_after) WHERE purge_after IS NOT NULL;

-- The phones of purged accounts whose ban was still running: only the blind index (never the number) and the
-- ban's end (NULL: until lifted), so that the phone cannot register again while the ban runs. The purge job
-- deletes a row once its end has passed.
CREATE TABLE banned_phones (
    phone_index BLOB PRIMARY KEY,
    ends_at     TEXT
);
CREATE INDEX banned_phones_ends_at ON banned_phones (ends_at) WHERE ends_at IS NOT NULL;

-- The purge removes an account's login attempts by account as well as by phone: this one by account.
CREATE INDEX login_attempts_user ON login_attempts (user_id) WHERE user_id IS NOT NULL;

COMMIT;
PRAGMA foreign_keys = ON;
