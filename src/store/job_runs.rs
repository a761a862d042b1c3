//! The last outcome of each background job (`job_runs`), so any node can tell an operator that a job stalled.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, on_read_pool, on_write_pool, select};

/// Longest error text kept; the full error is in the log of the process that ran the job.
const MAX_ERROR: usize = 500;

/// One job's last outcomes.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JobRunRow {
    pub job: String,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub failures_in_row: i32,
    /// When a process first scheduled the job.
    pub scheduled_since: Option<DateTime<Utc>>,
}

impl Store {
    /// Records one run of `job`: a success when `error` is `None`.
    pub async fn record_job_run(&self, job: &str, error: Option<&str>, now: DateTime<Utc>) -> Result<(), StoreError> {
        let (success, failure) = if error.is_none() { (Some(now), None) } else { (None, Some(now)) };
        let error = error.map(|e| e.chars().take(MAX_ERROR).collect::<String>());
        let query = "INSERT INTO job_runs (job, last_success_at, last_failure_at, last_error, failures_in_row, \
                       scheduled_since) \
                     VALUES ($1, $2, $3, $4, CASE WHEN $2 IS NULL THEN 1 ELSE 0 END, COALESCE($2, $3)) \
                     ON CONFLICT (job) DO UPDATE SET \
                       last_success_at = COALESCE(excluded.last_success_at, job_runs.last_success_at), \
                       last_failure_at = COALESCE(excluded.last_failure_at, job_runs.last_failure_at), \
                       last_error = COALESCE(excluded.last_error, job_runs.last_error), \
                       failures_in_row = CASE WHEN excluded.last_success_at IS NULL \
                                              THEN job_runs.failures_in_row + 1 ELSE 0 END";
        on_write_pool!(self, |pool| sqlx::query(query)
            .bind(job)
            .bind(success)
            .bind(failure)
            .bind(error)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Records that `job` is scheduled from `now` on, unless it was scheduled before.
    pub async fn record_job_scheduled(&self, job: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "INSERT INTO job_runs (job, scheduled_since) VALUES ($1, $2) ON CONFLICT (job) DO UPDATE \
                     SET scheduled_since = COALESCE(job_runs.scheduled_since, excluded.scheduled_since)";
        on_write_pool!(self, |pool| sqlx::query(query).bind(job).bind(now).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Every job that has been scheduled or has run at least once.
    pub async fn job_runs(&self) -> Result<Vec<JobRunRow>, StoreError> {
        let query = select!(
            "SELECT job, last_success_at, last_failure_at, last_error, failures_in_row, scheduled_since \
             FROM job_runs ORDER BY job"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).all().await)?)
    }
}
