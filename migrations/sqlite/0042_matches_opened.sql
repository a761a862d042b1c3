-- `users.matches_opened`: how many matches were ever opened for the user, counted by the opening that pays for each
-- (issue 74 point 2). A request to be matched carries the count its node knew when it was asked; a match opened
-- since (a higher count) spent it, and the opening refuses a stale copy of it. A count, not a time: the asking
-- node's wall clock and the opening node's never meet, so no skew between them can refuse a new request or let a
-- spent one pay again. `last_matched_at` still decides for a request a node of the previous release queued.
ALTER TABLE users ADD COLUMN matches_opened INTEGER NOT NULL DEFAULT 0;
