-- Sessions (issue 15, point 3): one row per login, i.e. per refresh-token family, for the user's list of
-- signed-in devices and for revoking them. Access tokens name their login (the JWT's `sid`), and a revoked row
-- refuses them before they expire. `refresh_tokens.revoked_at` still refuses a refresh; every revocation sets
-- both in one transaction.
CREATE TABLE logins (
    family_id    TEXT PRIMARY KEY,                          -- refresh_tokens.family_id
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   TIMESTAMPTZ NOT NULL,                      -- the sign-in
    last_used_at TIMESTAMPTZ NOT NULL,                      -- the sign-in or its latest refresh
    expires_at   TIMESTAMPTZ NOT NULL,                      -- its newest refresh token's expiry
    user_agent   TEXT,                                      -- at sign-in, at most 256 characters
    ip           TEXT,                                      -- client address at sign-in (trusted_proxies honoured)
    revoked_at   TIMESTAMPTZ                                -- signed out: logout, revocation, password change, ban
);
CREATE INDEX logins_user ON logins (user_id, last_used_at);

-- Logins made before this migration, from their tokens: the first token's time and user agent, the latest
-- refresh; no address was recorded then. A family whose every token is revoked was signed out.
INSERT INTO logins (family_id, user_id, created_at, last_used_at, expires_at, user_agent, ip, revoked_at)
SELECT family_id, MIN(user_id), MIN(created_at), MAX(created_at), MAX(expires_at),
       (SELECT t.user_agent FROM refresh_tokens t WHERE t.family_id = r.family_id ORDER BY t.id LIMIT 1),
       NULL,
       CASE WHEN COUNT(revoked_at) = COUNT(*) THEN MAX(revoked_at) END
FROM refresh_tokens r
GROUP BY family_id;
