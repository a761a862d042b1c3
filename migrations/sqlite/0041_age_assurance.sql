-- Age assurance by an outside provider (issue 64 point 5; docs/privacy.md "Age assurance"): one row per session a
-- user started at the provider (POST /v1/me/age-assurance), decided once when its result is read. What is kept is
-- the provider's answer and nothing it looked at: the provider's name and its session's id (its reference, to ask
-- it again or answer an audit), where the session stands, whether the user was found at or over `threshold`, the
-- method the provider reports (`age_estimation`, `doc_scan`, …), and when. Never a document, an image, a birth
-- date or an estimated age. The rows go with the account's purge (and with the row, should it ever be deleted).
CREATE TABLE age_assurances (
    id             INTEGER      PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider       TEXT         NOT NULL,
    reference      TEXT         NOT NULL,
    status         TEXT         NOT NULL
                   CHECK (status IN ('pending', 'assured', 'refused', 'failed', 'cancelled', 'expired')),
    threshold      INTEGER      NOT NULL,
    -- NULL until the provider decided: true at or over the threshold, false under it.
    over_threshold BOOLEAN,
    method         TEXT,
    created_at     TEXT         NOT NULL,
    -- When the provider's session runs out, as it said; NULL if it did not.
    expires_at     TEXT,
    decided_at     TEXT,
    UNIQUE (provider, reference)
);
-- A user's newest session, whether one assures them, and the starts of the last day (the rate limit).
CREATE INDEX age_assurances_user ON age_assurances (user_id, created_at);
