-- Keeping in touch (issue 29): during a match either side may propose to keep in touch (user1_keep_at,
-- user2_keep_at); when both have, the match ends as a match (status completed or cancelled, end_reason 'kept')
-- and its conversation goes on as the two people's contact conversation: open while kept_at is set. Either ending
-- it (or a block, or deleting the account) clears kept_at and sets contact_ended_at. Messages keep their seqs in the
-- one match: a contact conversation is the match's conversation, outliving it.
ALTER TABLE matches ADD COLUMN user1_keep_at TEXT;
ALTER TABLE matches ADD COLUMN user2_keep_at TEXT;
ALTER TABLE matches ADD COLUMN kept_at TEXT;
ALTER TABLE matches ADD COLUMN contact_ended_at TEXT;
-- A user's contacts: a few rows per person, so partial like the active-match indexes (0008).
CREATE INDEX matches_kept_user1 ON matches (user1_id) WHERE kept_at IS NOT NULL;
CREATE INDEX matches_kept_user2 ON matches (user2_id) WHERE kept_at IS NOT NULL;
