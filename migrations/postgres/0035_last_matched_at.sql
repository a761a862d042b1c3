-- `users.last_matched_at`: when the user's latest match was opened. A request to be matched that is older than it
-- was spent on that match: the opening refuses a stale copy of it (one adopted from a node that died between its
-- commit and its settle) instead of matching the user again without their asking. NULL: never matched since.
ALTER TABLE users ADD COLUMN last_matched_at TIMESTAMPTZ;
