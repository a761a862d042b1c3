-- Phone numbers encrypted at rest (issue 15, point 6; src/phones/). Every phone column becomes a pair:
--   *_sealed  XChaCha20-Poly1305 ciphertext: version, key id, nonce, ciphertext and tag (src/phones/vault.rs);
--   *_index   the blind index, HMAC-SHA256 of the E.164 number under the index key: what lookups and the
--             unique constraints compare.
-- The keys live outside the database, so this file cannot seal anything: the plaintext moves to a `legacy_*`
-- column, nullable, and the server seals it at its next start (or `tanis migrate`) and sets it to NULL in the
-- same statement (src/phones/reseal.rs), then rewrites the three tables (VACUUM FULL) so no old row version keeps
-- it. A CHECK holds every row to exactly one of the two forms, and a partial index per legacy column (empty once
-- sealed) lets every start see at once that nothing is left to seal. Once every deployment has started on this
-- version the legacy columns are always NULL, and a later migration can drop them (their indexes go with them).
-- SQLite gets the same columns and constraints by rebuilding the tables (its 0014 says why).

ALTER TABLE users RENAME COLUMN phone_number TO legacy_phone_number;
ALTER TABLE users ALTER COLUMN legacy_phone_number DROP NOT NULL;
ALTER TABLE users DROP CONSTRAINT users_phone_number_key;
ALTER TABLE users ADD COLUMN phone_sealed BYTEA, ADD COLUMN phone_index BYTEA;
ALTER TABLE users ADD CONSTRAINT users_phone_sealed CHECK ((legacy_phone_number IS NULL) = (phone_sealed IS NOT NULL)
                                                            AND (phone_sealed IS NULL) = (phone_index IS NULL));
CREATE UNIQUE INDEX users_phone_index ON users (phone_index);

ALTER TABLE referrals RENAME COLUMN inviter_phone TO legacy_inviter_phone;
ALTER TABLE referrals RENAME COLUMN invited_phone TO legacy_invited_phone;
ALTER TABLE referrals ALTER COLUMN legacy_inviter_phone DROP NOT NULL,
                      ALTER COLUMN legacy_invited_phone DROP NOT NULL;
ALTER TABLE referrals DROP CONSTRAINT referrals_invited_phone_key, DROP CONSTRAINT referrals_check;
ALTER TABLE referrals ADD COLUMN inviter_phone_sealed BYTEA, ADD COLUMN inviter_phone_index BYTEA,
                      ADD COLUMN invited_phone_sealed BYTEA, ADD COLUMN invited_phone_index BYTEA;
ALTER TABLE referrals
    ADD CONSTRAINT referrals_inviter_phone_sealed CHECK ((legacy_inviter_phone IS NULL) = (inviter_phone_sealed IS NOT NULL)
                                                         AND (inviter_phone_sealed IS NULL) = (inviter_phone_index IS NULL)),
    ADD CONSTRAINT referrals_invited_phone_sealed CHECK ((legacy_invited_phone IS NULL) = (invited_phone_sealed IS NOT NULL)
                                                         AND (invited_phone_sealed IS NULL) = (invited_phone_index IS NULL)),
    ADD CONSTRAINT referrals_not_self CHECK (inviter_phone_index <> invited_phone_index);
CREATE UNIQUE INDEX referrals_invited_phone_index ON referrals (invited_phone_index);

ALTER TABLE login_attempts RENAME COLUMN phone_number TO legacy_phone_number;
ALTER TABLE login_attempts ALTER COLUMN legacy_phone_number DROP NOT NULL;
DROP INDEX login_attempts_phone;
ALTER TABLE login_attempts ADD COLUMN phone_sealed BYTEA, ADD COLUMN phone_index BYTEA;
ALTER TABLE login_attempts
    ADD CONSTRAINT login_attempts_phone_sealed CHECK ((legacy_phone_number IS NULL) = (phone_sealed IS NOT NULL)
                                                      AND (phone_sealed IS NULL) = (phone_index IS NULL));
CREATE INDEX login_attempts_phone ON login_attempts (phone_index, outcome, created_at);

CREATE INDEX users_legacy_phone ON users (id) WHERE legacy_phone_number IS NOT NULL;
CREATE INDEX referrals_legacy_inviter_phone ON referrals (id) WHERE legacy_inviter_phone IS NOT NULL;
CREATE INDEX referrals_legacy_invited_phone ON referrals (id) WHERE legacy_invited_phone IS NOT NULL;
CREATE INDEX login_attempts_legacy_phone ON login_attempts (id) WHERE legacy_phone_number IS NOT NULL;
