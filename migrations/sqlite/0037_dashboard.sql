-- The moderators' dashboard (GET /v1/admin/dashboard) counts rows by day over the last weeks: each of its counts
-- is a range read on one of these. (On a large existing database, building them takes a while at upgrade, and
-- holds off writes to these tables meanwhile: docs/operations.md, "Upgrading".)
CREATE INDEX IF NOT EXISTS matches_created ON matches (created_at);
CREATE INDEX IF NOT EXISTS reports_created ON reports (created_at);
CREATE INDEX IF NOT EXISTS reports_resolved ON reports (resolved_at) WHERE resolved_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS bans_created ON bans (created_at);
CREATE INDEX IF NOT EXISTS appeals_created ON appeals (created_at);
CREATE INDEX IF NOT EXISTS appeals_decided ON appeals (decided_at) WHERE decided_at IS NOT NULL;
