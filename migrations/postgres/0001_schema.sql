-- tanis schema, PostgreSQL dialect. migrations/sqlite/0001_schema.sql is the same schema for SQLite;
-- tests/api/store_conformance.rs fails when the two disagree on tables or columns.
-- Times are written by the server (TIMESTAMPTZ here, ISO-8601 UTC text in SQLite).

CREATE TABLE users (
    id                     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_number           TEXT    NOT NULL UNIQUE,            -- E.164, the login name; never shown to peers
    password_hash          TEXT    NOT NULL,                   -- bcrypt
    alias                  TEXT    NOT NULL,
    alias_key              TEXT    NOT NULL,                   -- lower-cased alias: tags are unique per key
    tag                    TEXT    NOT NULL,                   -- four digits, shown as alias#tag
    role                   TEXT    NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'moderator', 'admin')),
    referral_code          TEXT    NOT NULL UNIQUE,            -- what this user shares to invite others
    created_at             TIMESTAMPTZ    NOT NULL,
    last_active            TIMESTAMPTZ    NOT NULL,
    location_lat           DOUBLE PRECISION,
    location_lon           DOUBLE PRECISION,
    location_updated_at    TIMESTAMPTZ,
    is_banned              BOOLEAN NOT NULL DEFAULT FALSE,
    ban_reason             TEXT,
    banned_at              TIMESTAMPTZ,
    is_premium             BOOLEAN NOT NULL DEFAULT FALSE,
    daily_chat_balance     INTEGER NOT NULL CHECK (daily_chat_balance >= 0),
    daily_video_balance    INTEGER NOT NULL CHECK (daily_video_balance >= 0),
    bonus_chat_balance     INTEGER NOT NULL DEFAULT 0 CHECK (bonus_chat_balance >= 0),   -- referral/refund units: spent after daily ones, never reset
    bonus_video_balance    INTEGER NOT NULL DEFAULT 0 CHECK (bonus_video_balance >= 0),
    privacy_consent_at     TIMESTAMPTZ    NOT NULL,
    privacy_notice_version TEXT    NOT NULL,
    UNIQUE (alias_key, tag)
);

CREATE TABLE subscriptions (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    plan_name  TEXT    NOT NULL,
    start_date TIMESTAMPTZ    NOT NULL,
    end_date   TIMESTAMPTZ    NOT NULL,
    is_active  BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE INDEX subscriptions_user ON subscriptions (user_id);
CREATE INDEX subscriptions_active_end ON subscriptions (is_active, end_date);

CREATE TABLE matches (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user1_id          BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user2_id          BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type              TEXT    NOT NULL CHECK (type IN ('text', 'video')),
    created_at        TIMESTAMPTZ    NOT NULL,
    expired_at        TIMESTAMPTZ    NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('active', 'expired', 'cancelled', 'completed')),
    ended_at          TIMESTAMPTZ,
    end_reason        TEXT,
    call_connected_at TIMESTAMPTZ,                                   -- video: when the call connected (claim verdict)
    call_ended_at     TIMESTAMPTZ,
    CHECK (user1_id <> user2_id)
);
CREATE INDEX matches_user1 ON matches (user1_id, created_at);
CREATE INDEX matches_user2 ON matches (user2_id, created_at);
CREATE INDEX matches_status_expiry ON matches (status, expired_at);

CREATE TABLE messages (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    match_id      BIGINT  NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    sender_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    receiver_id   BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seq           BIGINT  NOT NULL,                           -- strictly increasing within a match
    client_msg_id TEXT    NOT NULL,                           -- the sender's idempotency key
    content       TEXT    NOT NULL,                           -- end-to-end ciphertext (base64); never plaintext
    nonce         TEXT    NOT NULL,
    created_at    TIMESTAMPTZ    NOT NULL,
    UNIQUE (match_id, seq),
    UNIQUE (match_id, sender_id, client_msg_id)
);
CREATE INDEX messages_created ON messages (created_at);

CREATE TABLE message_logs (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,        -- metadata only; outlives the 24 h content expiry
    sender_id       BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    receiver_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    match_id        BIGINT  NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    seq             BIGINT  NOT NULL,
    sent_at         TIMESTAMPTZ    NOT NULL,
    delivered       BOOLEAN NOT NULL DEFAULT FALSE,
    delivered_at    TIMESTAMPTZ,
    device_info     TEXT,
    connection_type TEXT    NOT NULL CHECK (connection_type IN ('text', 'video')),
    UNIQUE (match_id, seq)
);
CREATE INDEX message_logs_sender ON message_logs (sender_id, sent_at);

CREATE TABLE claims (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    match_id     BIGINT  NOT NULL REFERENCES matches (id) ON DELETE CASCADE,
    claim_time   TIMESTAMPTZ    NOT NULL,
    status       TEXT    NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    processed_at TIMESTAMPTZ,
    reason       TEXT,                                        -- why it was approved or rejected
    UNIQUE (match_id, user_id)                                -- once per match and participant
);
CREATE INDEX claims_pending ON claims (status, claim_time);

CREATE TABLE blocks (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    blocker_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ    NOT NULL,
    UNIQUE (blocker_id, blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id);

CREATE TABLE reports (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    reporter_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reported_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    match_id    BIGINT  REFERENCES matches (id) ON DELETE SET NULL,
    reason      TEXT    NOT NULL,
    details     TEXT,
    created_at  TIMESTAMPTZ    NOT NULL,
    UNIQUE (reporter_id, reported_id)                         -- one reporter counts once
);
CREATE INDEX reports_reported ON reports (reported_id, created_at);

CREATE TABLE ads (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title        TEXT    NOT NULL,
    content      TEXT    NOT NULL,
    target_group TEXT    NOT NULL DEFAULT 'all',
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   TIMESTAMPTZ    NOT NULL
);

CREATE TABLE notifications (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    message    TEXT    NOT NULL,
    type       TEXT    NOT NULL CHECK (type IN ('system', 'match', 'claim', 'ad')),
    created_at TIMESTAMPTZ    NOT NULL,
    read       BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX notifications_user ON notifications (user_id, read, created_at);

CREATE TABLE referrals (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    inviter_phone TEXT    NOT NULL,
    invited_phone TEXT    NOT NULL UNIQUE,
    inviter_id    BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    invited_id    BIGINT  NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at    TIMESTAMPTZ    NOT NULL,
    reward_given  BOOLEAN NOT NULL DEFAULT FALSE,
    rewarded_at   TIMESTAMPTZ,
    CHECK (inviter_phone <> invited_phone)
);
CREATE INDEX referrals_pending ON referrals (reward_given, created_at);

CREATE TABLE system_logs (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    action     TEXT    NOT NULL,
    user_id    BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    details    TEXT    NOT NULL DEFAULT '{}',                 -- JSON; never phone numbers or message content
    created_at TIMESTAMPTZ    NOT NULL
);
CREATE INDEX system_logs_action ON system_logs (action, created_at);
CREATE INDEX system_logs_user ON system_logs (user_id, created_at);

CREATE TABLE refresh_tokens (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id  TEXT    NOT NULL,                              -- all rotations of one login; reuse revokes the family
    token_hash BYTEA   NOT NULL UNIQUE,                       -- SHA-256 of the opaque token; the token is never stored
    created_at TIMESTAMPTZ    NOT NULL,
    expires_at TIMESTAMPTZ    NOT NULL,
    used_at    TIMESTAMPTZ,                                          -- rotated: presenting it again is reuse
    revoked_at TIMESTAMPTZ,
    user_agent TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE login_attempts (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_number TEXT    NOT NULL,
    user_id      BIGINT  REFERENCES users (id) ON DELETE SET NULL,
    ip           TEXT    NOT NULL,
    user_agent   TEXT,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('success', 'bad_credentials', 'throttled', 'banned')),
    created_at   TIMESTAMPTZ    NOT NULL
);
CREATE INDEX login_attempts_phone ON login_attempts (phone_number, outcome, created_at);
CREATE INDEX login_attempts_ip ON login_attempts (ip, outcome, created_at);

CREATE TABLE devices (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    platform     TEXT    NOT NULL CHECK (platform IN ('android', 'ios', 'web')),
    push_token   TEXT    NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ    NOT NULL,
    last_seen_at TIMESTAMPTZ    NOT NULL
);
CREATE INDEX devices_user ON devices (user_id);
