-- Who acted, as a column of the audit trail: moderators browse it by actor (GET /v1/admin/audit). Until now the
-- actor was only inside `details` (`{"by": {"moderator": id}}`); those rows are filled in from there.
ALTER TABLE system_logs ADD COLUMN actor_id INTEGER REFERENCES users (id) ON DELETE SET NULL;
UPDATE system_logs SET actor_id = json_extract(details, '$.by.moderator')
    WHERE action IN ('user.banned', 'user.unbanned') AND EXISTS (SELECT 1 FROM users WHERE users.id = json_extract(details, '$.by.moderator'));
CREATE INDEX system_logs_actor ON system_logs (actor_id, id);
