-- Who took a contact conversation over (issue 47, point 3): one row per `contact.key`, naming the session (login)
-- whose socket published it, so that GET /v1/me/sessions shows what each session took over and a stolen token's
-- takeover is there for the owner to see. No key is kept: only which conversation and when. family_id is NULL for a
-- token that names no login. Deleted with the account (purge); listed only for sessions still signed in.
CREATE TABLE contact_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id    TEXT,                                      -- logins.family_id: the session
    match_id     BIGINT NOT NULL,                           -- the contact conversation
    published_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX contact_keys_user ON contact_keys (user_id, published_at);
