-- The age gate and consent per privacy-notice version (issue 15).
-- birth_year: self-attested at registration (NULL for accounts made before the gate existed).
ALTER TABLE users ADD COLUMN birth_year INTEGER;
-- Every acceptance of a privacy-notice version, kept for the user's export and for proof of consent.
-- users.privacy_notice_version / privacy_consent_at stay as the latest acceptance, which matching checks.
CREATE TABLE privacy_consents (
    user_id        BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    notice_version TEXT        NOT NULL,
    accepted_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, notice_version)
);
INSERT INTO privacy_consents (user_id, notice_version, accepted_at)
SELECT id, privacy_notice_version, privacy_consent_at FROM users;
