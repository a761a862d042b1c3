-- The report queue's order kept as rows (issue 61, point 4). GET /v1/admin/reports orders the users with open
-- reports by three aggregates of those reports: how many carry verified evidence, how many distinct reporters, the
-- newest one's time. Computing them for each page grouped every open report in the database (at 1 000 000 reports,
-- 300 000 of them open, about a second a page: BENCHMARKS.md, "Issue 61, point 4"). `report_queue` holds them, with
-- how many reports are open (a page shows each user's first 50 and that count), one row per user with at least one
-- open report, and a page is a range of its index.
--
-- Triggers on `reports` and `report_evidence` keep it in the transaction that changes them, whatever the change
-- (a report filed, resolved, reopened, its evidence added or deleted by retention, a purge re-keying or deleting
-- rows): each affected user's row is recomputed from their open reports, never adjusted, so it is always what the
-- grouping computed. Before recomputing, the trigger takes the row's lock (making the row if needed), so that two
-- transactions changing one user's reports recompute one after the other, the second (a new statement: READ
-- COMMITTED reads anew) seeing the first's commit; users are locked in id order. No foreign key to `users`: the
-- row goes with the user's last open report, and a row made for a user being deleted would fail one.
CREATE TABLE report_queue (
    reported_id   BIGINT      PRIMARY KEY,
    with_evidence BIGINT      NOT NULL,                          -- open reports with verified evidence
    reporters     BIGINT      NOT NULL,                          -- distinct reporters of open reports
    open_reports  BIGINT      NOT NULL,                          -- open reports (a page shows each user's first 50)
    latest        TIMESTAMPTZ NOT NULL                           -- the newest open report's time
);
CREATE INDEX report_queue_order ON report_queue (with_evidence DESC, reporters DESC, latest DESC, reported_id);

CREATE FUNCTION report_queue_refresh(affected BIGINT[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    who BIGINT;
BEGIN
    FOR who IN SELECT DISTINCT a FROM unnest(affected) AS a WHERE a IS NOT NULL ORDER BY a LOOP
        INSERT INTO report_queue AS q (reported_id, with_evidence, reporters, open_reports, latest)
            VALUES (who, 0, 0, 0, 'epoch')
            ON CONFLICT (reported_id) DO UPDATE SET reporters = q.reporters;
        UPDATE report_queue q SET with_evidence = a.with_evidence, reporters = a.reporters,
            open_reports = a.open_reports, latest = a.latest
            FROM (SELECT SUM(CASE WHEN EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = r.id) THEN 1 ELSE 0 END)
                         AS with_evidence, COUNT(DISTINCT r.reporter_id) AS reporters, COUNT(*) AS open_reports,
                         MAX(r.created_at) AS latest
                  FROM reports r WHERE r.reported_id = who AND r.resolved_at IS NULL) a
            WHERE q.reported_id = who AND a.reporters > 0;
        DELETE FROM report_queue q WHERE q.reported_id = who
            AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.reported_id = who AND r.resolved_at IS NULL);
    END LOOP;
END
$$;

-- The users whose open reports a statement changed: those of rows open before or after it.
CREATE FUNCTION report_queue_reports_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_queue_refresh(ARRAY(SELECT reported_id FROM inserted WHERE resolved_at IS NULL));
    RETURN NULL;
END
$$;
CREATE FUNCTION report_queue_reports_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_queue_refresh(ARRAY(
        SELECT unnest(ARRAY[o.reported_id, n.reported_id]) FROM old_rows o JOIN new_rows n ON n.id = o.id
        WHERE (o.resolved_at IS NULL OR n.resolved_at IS NULL)
          AND (o.reported_id, o.reporter_id, o.created_at, o.resolved_at)
              IS DISTINCT FROM (n.reported_id, n.reporter_id, n.created_at, n.resolved_at)));
    RETURN NULL;
END
$$;
CREATE FUNCTION report_queue_reports_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_queue_refresh(ARRAY(SELECT reported_id FROM deleted WHERE resolved_at IS NULL));
    RETURN NULL;
END
$$;
-- Evidence added or deleted: its report's user, if the report is open (a report deleted with its evidence is
-- the trigger above's).
CREATE FUNCTION report_queue_evidence_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_queue_refresh(ARRAY(
        SELECT r.reported_id FROM changed e JOIN reports r ON r.id = e.report_id WHERE r.resolved_at IS NULL));
    RETURN NULL;
END
$$;

CREATE TRIGGER report_queue_reports_inserted AFTER INSERT ON reports REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION report_queue_reports_inserted();
CREATE TRIGGER report_queue_reports_updated AFTER UPDATE ON reports REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION report_queue_reports_updated();
CREATE TRIGGER report_queue_reports_deleted AFTER DELETE ON reports REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION report_queue_reports_deleted();
CREATE TRIGGER report_queue_evidence_inserted AFTER INSERT ON report_evidence REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION report_queue_evidence_changed();
CREATE TRIGGER report_queue_evidence_deleted AFTER DELETE ON report_evidence REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION report_queue_evidence_changed();

-- The rows for the reports already open (the triggers above exist already: a report filed meanwhile waits for
-- this transaction, holding off writes to `reports` until it commits).
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
