-- no-transaction
-- Phone numbers encrypted at rest (issue 15, point 6; src/phones/). Every phone column becomes a pair:
--   *_sealed  XChaCha20-Poly1305 ciphertext: version, key id, nonce, ciphertext and tag (src/phones/vault.rs);
--   *_index   the blind index, HMAC-SHA256 of the E.164 number under the index key: what lookups and the
--             unique constraints compare.
-- The keys live outside the database, so this file cannot seal anything: the plaintext moves to a `legacy_*`
-- column, nullable, and the server seals it at its next start (or `tanis migrate`) and sets it to NULL in the
-- same statement (src/phones/reseal.rs). A CHECK holds every row to exactly one of the two forms, and a partial
-- index per legacy column (empty once sealed) lets every start see at once that nothing is left to seal. Once
-- every deployment has started on this version the legacy columns are always NULL, and a later migration can drop
-- those indexes and then the columns with a plain DROP COLUMN on both stores.
--
-- Why the tables are rebuilt here (PostgreSQL alters them in place): SQLite cannot drop NOT NULL or UNIQUE from
-- a column (users.phone_number, referrals.invited_phone), so it takes the documented twelve-step rebuild: a new
-- table, the rows copied, the old one dropped, the new one renamed. The old table must be dropped with foreign
-- keys OFF: with them on, DROP TABLE users deletes every row first, and ON DELETE CASCADE would empty matches,
-- messages, bans and the rest. `PRAGMA foreign_keys` is ignored inside a transaction, hence `no-transaction`
-- above: this file opens and commits its own, so the rebuild is still all or nothing. (If the process dies
-- between that COMMIT and sqlx recording the version, the next run fails on `phone_number` no longer existing:
-- record version 14 by hand.) Row ids are copied, and each table's AUTOINCREMENT high-water mark with them, so
-- no id of a deleted row is ever handed out again.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE users_0014 (
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
    UNIQUE (alias_key, tag),
    CONSTRAINT users_phone_sealed CHECK ((legacy_phone_number IS NULL) = (phone_sealed IS NOT NULL)
                                         AND (phone_sealed IS NULL) = (phone_index IS NULL))
);
INSERT INTO users_0014 (id, legacy_phone_number, password_hash, alias, alias_key, tag, role, referral_code, created_at,
                        last_active, location_lat, location_lon, location_updated_at, is_banned, ban_reason, banned_at,
                        is_premium, daily_chat_balance, daily_video_balance, bonus_chat_balance, bonus_video_balance,
                        privacy_consent_at, privacy_notice_version, ban_cleared_at, quota_reset_on, ban_ends_at, locale)
SELECT id, phone_number, password_hash, alias, alias_key, tag, role, referral_code, created_at,
       last_active, location_lat, location_lon, location_updated_at, is_banned, ban_reason, banned_at,
       is_premium, daily_chat_balance, daily_video_balance, bonus_chat_balance, bonus_video_balance,
       privacy_consent_at, privacy_notice_version, ban_cleared_at, quota_reset_on, ban_ends_at, locale
FROM users;

CREATE TABLE referrals_0014 (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    legacy_inviter_phone TEXT,                                 -- plaintext from before 0014; NULL once sealed
    legacy_invited_phone TEXT,
    inviter_id           INTEGER REFERENCES users (id) ON DELETE SET NULL,
    invited_id           INTEGER NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at           TEXT    NOT NULL,
    reward_given         BOOLEAN NOT NULL DEFAULT FALSE,
    rewarded_at          TEXT,
    inviter_phone_sealed BLOB,
    inviter_phone_index  BLOB,
    invited_phone_sealed BLOB,
    invited_phone_index  BLOB,                                 -- unique (referrals_invited_phone_index)
    CONSTRAINT referrals_inviter_phone_sealed CHECK ((legacy_inviter_phone IS NULL) = (inviter_phone_sealed IS NOT NULL)
                                                     AND (inviter_phone_sealed IS NULL) = (inviter_phone_index IS NULL)),
    CONSTRAINT referrals_invited_phone_sealed CHECK ((legacy_invited_phone IS NULL) = (invited_phone_sealed IS NOT NULL)
                                                     AND (invited_phone_sealed IS NULL) = (invited_phone_index IS NULL)),
    CONSTRAINT referrals_not_self CHECK (inviter_phone_index <> invited_phone_index)
);
INSERT INTO referrals_0014 (id, legacy_inviter_phone, legacy_invited_phone, inviter_id, invited_id, created_at,
                            reward_given, rewarded_at)
SELECT id, inviter_phone, invited_phone, inviter_id, invited_id, created_at, reward_given, rewarded_at FROM referrals;

CREATE TABLE login_attempts_0014 (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    legacy_phone_number TEXT,                                  -- plaintext from before 0014; NULL once sealed
    user_id             INTEGER REFERENCES users (id) ON DELETE SET NULL,
    ip                  TEXT    NOT NULL,
    user_agent          TEXT,
    outcome             TEXT    NOT NULL CHECK (outcome IN ('success', 'bad_credentials', 'throttled', 'banned')),
    created_at          TEXT    NOT NULL,
    phone_sealed        BLOB,                                  -- the phone as typed, E.164, sealed
    phone_index         BLOB,                                  -- throttling counts failures by it
    CONSTRAINT login_attempts_phone_sealed CHECK ((legacy_phone_number IS NULL) = (phone_sealed IS NOT NULL)
                                                  AND (phone_sealed IS NULL) = (phone_index IS NULL))
);
INSERT INTO login_attempts_0014 (id, legacy_phone_number, user_id, ip, user_agent, outcome, created_at)
SELECT id, phone_number, user_id, ip, user_agent, outcome, created_at FROM login_attempts;

-- The high-water marks: the old tables' sequence rows go with DROP TABLE, the new tables' are renamed with them.
DELETE FROM sqlite_sequence WHERE name IN ('users_0014', 'referrals_0014', 'login_attempts_0014');
INSERT INTO sqlite_sequence (name, seq)
SELECT name || '_0014', seq FROM sqlite_sequence WHERE name IN ('users', 'referrals', 'login_attempts');

DROP TABLE login_attempts;
DROP TABLE referrals;
DROP TABLE users;
ALTER TABLE users_0014 RENAME TO users;
ALTER TABLE referrals_0014 RENAME TO referrals;
ALTER TABLE login_attempts_0014 RENAME TO login_attempts;

CREATE INDEX users_quota_reset_on ON users (quota_reset_on);
CREATE UNIQUE INDEX users_phone_index ON users (phone_index);
CREATE INDEX referrals_pending ON referrals (reward_given, created_at);
CREATE UNIQUE INDEX referrals_invited_phone_index ON referrals (invited_phone_index);
CREATE INDEX login_attempts_phone ON login_attempts (phone_index, outcome, created_at);
CREATE INDEX login_attempts_ip ON login_attempts (ip, outcome, created_at);
CREATE INDEX users_legacy_phone ON users (id) WHERE legacy_phone_number IS NOT NULL;
CREATE INDEX referrals_legacy_inviter_phone ON referrals (id) WHERE legacy_inviter_phone IS NOT NULL;
CREATE INDEX referrals_legacy_invited_phone ON referrals (id) WHERE legacy_invited_phone IS NOT NULL;
CREATE INDEX login_attempts_legacy_phone ON login_attempts (id) WHERE legacy_phone_number IS NOT NULL;

COMMIT;
PRAGMA foreign_keys = ON;
