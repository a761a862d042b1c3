-- The report queue's order kept as rows (issue 61, point 4): migrations/postgres/0038_console_at_scale.sql says why.
-- The same table and index; the triggers are row triggers (SQLite has no statement triggers), each recomputing the
-- affected user's row from their open reports in place. One writer at a time: nothing to lock.
CREATE TABLE report_queue (
    reported_id   INTEGER PRIMARY KEY,
    with_evidence INTEGER NOT NULL,                              -- open reports with verified evidence
    reporters     INTEGER NOT NULL,                              -- distinct reporters of open reports
    open_reports  INTEGER NOT NULL,                              -- open reports (a page shows each user's first 50)
    latest        TEXT    NOT NULL                               -- the newest open report's time
);
CREATE INDEX report_queue_order ON report_queue (with_evidence DESC, reporters DESC, latest DESC, reported_id);

-- Each trigger runs the same two statements for the user it names (`WHO`): the row goes, and comes back from the
-- user's open reports if there are any.
--   DELETE FROM report_queue WHERE reported_id = WHO;
--   INSERT INTO report_queue SELECT <the aggregates> FROM reports r WHERE r.reported_id = WHO
--       AND r.resolved_at IS NULL GROUP BY r.reported_id;
CREATE TRIGGER report_queue_report_inserted AFTER INSERT ON reports WHEN NEW.resolved_at IS NULL
BEGIN
    DELETE FROM report_queue WHERE reported_id = NEW.reported_id;
    INSERT INTO report_queue (reported_id, with_evidence, reporters, open_reports, latest)
    SELECT r.reported_id,
           SUM(CASE WHEN EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = r.id) THEN 1 ELSE 0 END),
           COUNT(DISTINCT r.reporter_id), COUNT(*), MAX(r.created_at)
    FROM reports r WHERE r.reported_id = NEW.reported_id AND r.resolved_at IS NULL GROUP BY r.reported_id;
END;

CREATE TRIGGER report_queue_report_updated AFTER UPDATE OF reported_id, reporter_id, created_at, resolved_at ON reports
WHEN OLD.resolved_at IS NULL OR NEW.resolved_at IS NULL
BEGIN
    DELETE FROM report_queue WHERE reported_id = OLD.reported_id;
    INSERT INTO report_queue (reported_id, with_evidence, reporters, open_reports, latest)
    SELECT r.reported_id,
           SUM(CASE WHEN EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = r.id) THEN 1 ELSE 0 END),
           COUNT(DISTINCT r.reporter_id), COUNT(*), MAX(r.created_at)
    FROM reports r WHERE r.reported_id = OLD.reported_id AND r.resolved_at IS NULL GROUP BY r.reported_id;
    DELETE FROM report_queue WHERE reported_id = NEW.reported_id AND NEW.reported_id <> OLD.reported_id;
    INSERT INTO report_queue (reported_id, with_evidence, reporters, open_reports, latest)
    SELECT r.reported_id,
           SUM(CASE WHEN EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = r.id) THEN 1 ELSE 0 END),
           COUNT(DISTINCT r.reporter_id), COUNT(*), MAX(r.created_at)
    FROM reports r WHERE r.reported_id = NEW.reported_id AND NEW.reported_id <> OLD.reported_id
        AND r.resolved_at IS NULL GROUP BY r.reported_id;
END;

CREATE TRIGGER report_queue_report_deleted AFTER DELETE ON reports WHEN OLD.resolved_at IS NULL
BEGIN
    DELETE FROM report_queue WHERE reported_id = OLD.reported_id;
    INSERT INTO report_queue (reported_id, with_evidence, reporters, open_reports, latest)
    SELECT r.reported_id,
           SUM(CASE WHEN EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = r.id) THEN 1 ELSE 0 END),
           COUNT(DISTINCT r.reporter_id), COUNT(*), MAX(r.created_at)
    FROM reports r WHERE r.reported_id = OLD.reported_id AND r.resolved_at IS NULL GROUP BY r.reported_id;
END;

-- Evidence added or deleted: its report's user, if the report is open (a deleted report is the trigger above's).
CREATE TRIGGER report_queue_evidence_inserted AFTER INSERT ON report_evidence
WHEN EXISTS (SELECT 1 FROM reports WHERE id = NEW.report_id AND resolved_at IS NULL)
BEGIN
    DELETE FROM report_queue WHERE reported_id = (SELECT reported_id FROM reports WHERE id = NEW.report_id);
    INSERT INTO report_queue (reported_id, with_evidence, reporters, open_reports, latest)
    SELECT r.reported_id,
           SUM(CASE WHEN EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = r.id) THEN 1 ELSE 0 END),
           COUNT(DISTINCT r.reporter_id), COUNT(*), MAX(r.created_at)
    FROM reports r WHERE r.reported_id = (SELECT reported_id FROM reports WHERE id = NEW.report_id)
        AND r.resolved_at IS NULL GROUP BY r.reported_id;
END;

CREATE TRIGGER report_queue_evidence_deleted AFTER DELETE ON report_evidence
WHEN EXISTS (SELECT 1 FROM reports WHERE id = OLD.report_id AND resolved_at IS NULL)
BEGIN
    DELETE FROM report_queue WHERE reported_id = (SELECT reported_id FROM reports WHERE id = OLD.report_id);
    INSERT INTO report_queue (reported_id, with_evidence, reporters, open_reports, latest)
    SELECT r.reported_id,
           SUM(CASE WHEN EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = r.id) THEN 1 ELSE 0 END),
           COUNT(DISTINCT r.reporter_id), COUNT(*), MAX(r.created_at)
    FROM reports r WHERE r.reported_id = (SELECT reported_id FROM reports WHERE id = OLD.report_id)
        AND r.resolved_at IS NULL GROUP BY r.reported_id;
END;

-- The rows for the reports already open.
INSERT INTO report_queue (reported_id, with_evidence, reporters, open_reports, latest)
SELECT r.reported_id,
       SUM(CASE WHEN EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = r.id) THEN 1 ELSE 0 END),
       COUNT(DISTINCT r.reporter_id), COUNT(*), MAX(r.created_at)
FROM reports r WHERE r.resolved_at IS NULL GROUP BY r.reported_id;

-- The audit trail (GET /v1/admin/audit) and a user's history on their page read newest first by id, filtered by
-- the user the entry is about, by actor or by action: an index per filter that leads with it and ends with the id,
-- so that a page is a range of it whatever the filter matches (src/store/system_logs.rs `audit_log`; the actor's is
-- 0009's). The user's index replaces the one by time (nothing reads a user's entries by time); the action's by time
-- stays for the dashboard's daily counts. On a large trail building them takes a while at upgrade and holds off
-- writes to `system_logs` meanwhile (docs/operations.md, "Upgrading").
CREATE INDEX IF NOT EXISTS system_logs_user_id ON system_logs (user_id, id);
DROP INDEX IF EXISTS system_logs_user;
CREATE INDEX IF NOT EXISTS system_logs_action_id ON system_logs (action, id);

-- A user's page counts the claims they filed by status (src/store/system_logs.rs `moderation_counts`): without an
-- index leading with the user, every page read the whole table.
CREATE INDEX IF NOT EXISTS claims_user ON claims (user_id, status);
