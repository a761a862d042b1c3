-- Account deletion (issue 15, point 5; src/accounts/deletion.rs, workers/src/purge.rs).
--   deleted_at   the owner asked for deletion (DELETE /v1/me, POST /v1/ban/deletion); a login clears it
--   purge_after  when the purge job may remove the account (deleted_at + auth.deletion_grace_days)
--   purged_at    set only on a tombstone: the row a purged account's kept metadata (matches, message logs,
--                reports, bans, claims, the audit trail) is re-keyed to. A tombstone has no phone, so the phone
--                CHECK of 0014 now lets a purged row hold none at all.
-- SQLite rebuilds the table for the CHECK (its 0018 says why); the columns and constraints are the same.
ALTER TABLE users ADD COLUMN deleted_at TIMESTAMPTZ,
                  ADD COLUMN purge_after TIMESTAMPTZ,
                  ADD COLUMN purged_at TIMESTAMPTZ;
ALTER TABLE users DROP CONSTRAINT users_phone_sealed;
ALTER TABLE users ADD CONSTRAINT users_phone_sealed CHECK (
    ((legacy_phone_number IS NULL) = (phone_sealed IS NOT NULL)
     OR (purged_at IS NOT NULL AND legacy_phone_number IS NULL AND phone_sealed IS NULL))
    AND (phone_sealed IS NULL) = (phone_index IS NULL));
-- The purge job's one question: whose grace period is over.
CREATE INDEX users_purge_after ON users (purge_after) WHERE purge_after IS NOT NULL;

-- The phones of purged accounts whose ban was still running: only the blind index (never the number) and the
-- ban's end (NULL: until lifted), so that the phone cannot register again while the ban runs. The purge job
-- deletes a row once its end has passed.
CREATE TABLE banned_phones (
    phone_index BYTEA PRIMARY KEY,
    ends_at     TIMESTAMPTZ
);
CREATE INDEX banned_phones_ends_at ON banned_phones (ends_at) WHERE ends_at IS NOT NULL;

-- The purge removes an account's login attempts by account as well as by phone: this one by account.
CREATE INDEX login_attempts_user ON login_attempts (user_id) WHERE user_id IS NOT NULL;
