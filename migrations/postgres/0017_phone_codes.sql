-- Phone verification and password reset by one-time code (issue 15, points 1 and 2; src/accounts/codes.rs).
-- phone_verified_at: when the account's current phone proved itself with a code (registration's, or the new
-- phone's on a change); NULL: never. Accounts made before this migration start unverified, and so do their
-- pending referral rewards (they wait for the invited user's verified phone: workers/src/referrals.rs).
ALTER TABLE users ADD COLUMN phone_verified_at TIMESTAMPTZ;

-- Every request for a code, sent or not: the resend limits count these rows and the person's data export and
-- an investigation read them. The phone is sealed and indexed like every phone column (src/phones), and the code
-- is kept only as an HMAC under a key derived from the phone keys, over the phone's index and the code
-- (src/phones/vault.rs): a copy of the database alone cannot tell a code.
CREATE TABLE phone_codes (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purpose      TEXT        NOT NULL CHECK (purpose IN ('verify', 'change', 'reset')),
    -- NULL: a reset asked for a phone no account has (recorded all the same: the limits count it).
    user_id      BIGINT      REFERENCES users (id) ON DELETE CASCADE,
    phone_sealed BYTEA       NOT NULL,                      -- where the code went (the NEW phone for a change)
    phone_index  BYTEA       NOT NULL,
    -- sent:     a code was made and handed to the SMS provider
    -- failed:   a code was made but the provider refused or timed out: it can never be used
    -- refused:  the resend limits refused the request; no code
    -- not_sent: a reset for a phone with no verified account; no code (the client is told the same as for sent)
    outcome      TEXT        NOT NULL CHECK (outcome IN ('sent', 'failed', 'refused', 'not_sent')),
    code_hash    BYTEA,                                     -- NULL when no code was made
    created_at   TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,                      -- created_at + 5 minutes (created_at without a code)
    attempts     INTEGER     NOT NULL DEFAULT 0 CHECK (attempts >= 0), -- guesses spent on it, at most 5
    consumed_at  TIMESTAMPTZ,                               -- used: a code works once
    ip           TEXT        NOT NULL,                      -- the client's address (trusted_proxies honoured)
    user_agent   TEXT,                                      -- at most 256 characters
    CONSTRAINT phone_codes_code CHECK ((code_hash IS NOT NULL) = (outcome IN ('sent', 'failed')))
);
-- The resend limits: codes to one phone, and from one address, in the last hour.
CREATE INDEX phone_codes_phone ON phone_codes (phone_index, created_at);
CREATE INDEX phone_codes_ip ON phone_codes (ip, created_at);
-- A user's newest code of a purpose: the only one that can still be used.
CREATE INDEX phone_codes_user ON phone_codes (user_id, purpose, id);
