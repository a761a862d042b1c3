-- `report_calls`: what a report filed from a video call carries (POST /v1/reports/call): the viewer's classifier
-- verdict, if any, and, only when the reporter chose to attach it, one snapshot of the picture, sealed under a key
-- kept outside the database (src/phones/vault.rs). The report itself is a `reports` row like any other (one per
-- reporter and reported user); each call report adds a row here, the newest shown to moderators. The rows also
-- count toward the per-reporter limits. A snapshot goes with evidence retention (`jobs.evidence_retention_days`)
-- and with either account's purge; the verdict stays with the report.
CREATE TABLE report_calls (
    id              INTEGER          PRIMARY KEY AUTOINCREMENT,
    report_id       INTEGER          NOT NULL REFERENCES reports (id) ON DELETE CASCADE,
    reporter_id     INTEGER          NOT NULL,
    verdict_label   TEXT,
    verdict_score   REAL,
    snapshot_type   TEXT             CHECK (snapshot_type IN ('image/jpeg', 'image/png', 'image/webp')),
    snapshot_sealed BLOB,
    snapshot_bytes  INTEGER,
    created_at      TEXT             NOT NULL
);
CREATE INDEX report_calls_report ON report_calls (report_id, id);
-- The per-reporter limits and the "many unconfirmed snapshot reports" signal read by reporter and time.
CREATE INDEX report_calls_reporter ON report_calls (reporter_id, created_at);
-- Retention finds the snapshots still held by age.
CREATE INDEX report_calls_snapshot_age ON report_calls (created_at) WHERE snapshot_sealed IS NOT NULL;
