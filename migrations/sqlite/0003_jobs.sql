-- When a moderator last lifted a ban: only reports made after it count toward a new automatic ban.
ALTER TABLE users ADD COLUMN ban_cleared_at TEXT;
-- The local date (quotas.timezone) of the user's last daily reset, so the reset job is idempotent per day.
ALTER TABLE users ADD COLUMN quota_reset_on TEXT NOT NULL DEFAULT '';
CREATE INDEX users_quota_reset_on ON users (quota_reset_on);
CREATE INDEX reports_reported_reporter ON reports (reported_id, reporter_id);
CREATE INDEX message_logs_match_sender ON message_logs (match_id, sender_id, sent_at);
