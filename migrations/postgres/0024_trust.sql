-- Trust (issue 30, point 3; docs/admin.md "Trust: who counts toward the automatic ban").
-- Where a report came from: a keyed hash of the reporter's address range (IPv4 /24, IPv6 /48), never the address.
-- Reports from one range are a burst that goes to a moderator instead of banning. NULL when the address was not
-- known (and for reports before this migration). Cleared when the reporter's account is purged.
ALTER TABLE reports ADD COLUMN reporter_network BYTEA;
-- A user the automatic ban put up for human review instead of banning, and why (burst_created, burst_network).
-- The review is open until a moderator resolves one of their reports or clears their reports after it was asked.
ALTER TABLE users ADD COLUMN review_requested_at TIMESTAMPTZ;
ALTER TABLE users ADD COLUMN review_reason TEXT CHECK (review_reason IN ('burst_created', 'burst_network'));
