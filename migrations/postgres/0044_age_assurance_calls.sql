-- Each call made to the age assurance provider for a user (issue 77 point 6): a session started or a result read,
-- answered or not, since each may cost the operator a check under its key. The per-user daily limits count them
-- (age_assurance.max_starts_per_day, max_checks_per_day). Who and when only; a user's calls older than a day go
-- when they next call, and all of them with the account's purge.
CREATE TABLE age_assurance_calls (
    id         BIGSERIAL   PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT        NOT NULL CHECK (kind IN ('start', 'check')),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX age_assurance_calls_user ON age_assurance_calls (user_id, kind, created_at);
