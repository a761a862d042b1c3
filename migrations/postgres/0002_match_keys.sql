-- Each side's X25519 public key for the match, so a reconnecting client can be told its peer's key again.
-- Public keys are not secret; the private halves never leave the clients.
ALTER TABLE matches ADD COLUMN user1_public_key TEXT NOT NULL DEFAULT '';
ALTER TABLE matches ADD COLUMN user2_public_key TEXT NOT NULL DEFAULT '';
CREATE INDEX matches_user1_status ON matches (user1_id, status);
CREATE INDEX matches_user2_status ON matches (user2_id, status);
