-- The last outcome of each background job, written by whichever process ran it, so that any node can report a
-- stalled job (GET /healthz/jobs) even when the jobs run in a separate `tanis worker` process.
CREATE TABLE job_runs (
    job             TEXT PRIMARY KEY,
    last_success_at TEXT,
    last_failure_at TEXT,
    last_error      TEXT,
    failures_in_row INTEGER NOT NULL DEFAULT 0
);
