//! The job queue's own tables (apalis: `apalis.jobs` on PostgreSQL, `Jobs` on SQLite), which apalis 1.0 fills
//! with a row per run and never empties: every node's cron queues about 27 runs a minute (docs/operations.md,
//! "Redis Cluster"), 39 000 rows a day, each kept after it finished. The expiry job deletes the finished ones.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError};

impl Store {
    /// Deletes at most `limit` runs that finished before `cutoff`: done, killed, or failed with no attempt left
    /// (a failed run with attempts left is still queued); how many. `done_at` is the database's clock when apalis
    /// acknowledged the run: a timestamp on PostgreSQL, epoch seconds on SQLite.
    pub async fn delete_finished_runs_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, StoreError> {
        let deleted = match &self.backend {
            Backend::Postgres { write, .. } => {
                let query = "DELETE FROM apalis.jobs WHERE id IN (SELECT id FROM apalis.jobs \
                             WHERE (status IN ('Done', 'Killed') OR (status = 'Failed' AND attempts >= max_attempts)) \
                             AND done_at < $1 LIMIT $2)";
                sqlx::query(query).bind(cutoff).bind(limit).execute(write).await?.rows_affected()
            }
            Backend::Sqlite { write, .. } => {
                let query = "DELETE FROM Jobs WHERE id IN (SELECT id FROM Jobs \
                             WHERE (status IN ('Done', 'Killed') OR (status = 'Failed' AND attempts >= max_attempts)) \
                             AND done_at < $1 LIMIT $2)";
                sqlx::query(query).bind(cutoff.timestamp()).bind(limit).execute(write).await?.rows_affected()
            }
        };
        Ok(deleted)
    }
}
