//! What a report filed from a video call carries beyond a report (migration 0036): the viewer's classifier verdict
//! and, only when the reporter chose it, one sealed snapshot. Stored with the report by
//! [`Store::insert_report`](crate::store::Store::insert_report); read here for moderators, and deleted with evidence
//! retention and with either account. The store holds sealed bytes only: the key is the snapshot vault's
//! (`crate::reports::SnapshotVault`).

use chrono::{DateTime, Utc};

use crate::domain::UserId;
use crate::store::{Backend, Store, StoreError, id_list, on_read_pool, on_write_pool, select};

/// The call part of a report being filed.
#[derive(Debug, Clone)]
pub struct NewCall<'a> {
    /// The viewer's classifier output when they reported: its label and score (0 to 1).
    pub verdict: Option<(&'a str, f64)>,
    pub snapshot: Option<SealedSnapshot<'a>>,
    /// The most call reports one reporter may file: refused beyond either count.
    pub limits: CallLimits,
}

/// A snapshot as stored: its checked content type, its sealed bytes, and its size before sealing.
#[derive(Debug, Clone)]
pub struct SealedSnapshot<'a> {
    pub content_type: &'a str,
    pub sealed: &'a [u8],
    pub bytes: i32,
}

/// Call reports one reporter may file in ten minutes and in a day.
#[derive(Debug, Clone, Copy)]
pub struct CallLimits {
    pub per_ten_minutes: i64,
    pub per_day: i64,
}

/// The newest call part of a report, as the queue shows it (never the snapshot's bytes).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CallRow {
    pub report_id: i64,
    pub verdict_label: Option<String>,
    pub verdict_score: Option<f64>,
    pub snapshot_type: Option<String>,
    pub snapshot_bytes: Option<i32>,
}

/// One reporter's [`SnapshotSignal`], as [`Store::snapshot_signals`] reads it.
#[derive(sqlx::FromRow)]
struct SignalRow {
    reporter_id: UserId,
    filed: i64,
    dismissed: i64,
}

/// A reporter's snapshot call reports: how many reports they attached one to, and how many of those a moderator
/// dismissed. Many filed and mostly dismissed is a signal about the reporter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct SnapshotSignal {
    pub filed: i64,
    pub dismissed: i64,
}

impl Store {
    /// The newest call part of each of `report_ids` that has one.
    pub async fn calls_of(&self, report_ids: &[i64]) -> Result<Vec<CallRow>, StoreError> {
        // One statement for the whole list (a page of the report queue can hold thousands of reports): the ids as
        // one parameter, an array on PostgreSQL and a JSON array on SQLite; each report's newest through
        // `report_calls_report`.
        let rows = match &self.backend {
            Backend::Postgres { read, .. } => {
                let query = select!(
                    "SELECT c.report_id, c.verdict_label, c.verdict_score, c.snapshot_type, c.snapshot_bytes \
                     FROM report_calls c WHERE c.report_id = ANY($1) \
                     AND c.id = (SELECT MAX(n.id) FROM report_calls n WHERE n.report_id = c.report_id) \
                     ORDER BY c.report_id"
                );
                read.rows(query).bind(report_ids).all().await?
            }
            Backend::Sqlite { read, .. } => {
                let query = select!(
                    "SELECT c.report_id, c.verdict_label, c.verdict_score, c.snapshot_type, c.snapshot_bytes \
                     FROM report_calls c WHERE c.report_id IN (SELECT value FROM json_each($1)) \
                     AND c.id = (SELECT MAX(n.id) FROM report_calls n WHERE n.report_id = c.report_id) \
                     ORDER BY c.report_id"
                );
                read.rows(query).bind(id_list(report_ids)).all().await?
            }
        };
        Ok(rows)
    }

    /// The reporter's snapshot reports made since `since` (the reports they attached a snapshot to), and how many
    /// of those reports were dismissed.
    pub async fn snapshot_signal(&self, reporter: UserId, since: DateTime<Utc>) -> Result<SnapshotSignal, StoreError> {
        let query = select!(
            "SELECT COUNT(*) AS filed, COALESCE(SUM(CASE WHEN r.resolution = 'dismissed' THEN 1 ELSE 0 END), 0) \
             AS dismissed FROM reports r WHERE r.id IN (SELECT c.report_id FROM report_calls c \
             WHERE c.reporter_id = $1 AND c.created_at >= $2 AND c.snapshot_type IS NOT NULL)"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(reporter).bind(since).one().await)?)
    }

    /// [`Store::snapshot_signal`] of each of `reporters`, in one statement (a page of the report queue names
    /// thousands of reporters); a reporter with no snapshot report since `since` is left out (their signal is
    /// [`SnapshotSignal::default`]).
    pub async fn snapshot_signals(
        &self,
        reporters: &[UserId],
        since: DateTime<Utc>,
    ) -> Result<Vec<(UserId, SnapshotSignal)>, StoreError> {
        let ids: Vec<i64> = reporters.iter().map(|r| r.get()).collect();
        let rows: Vec<SignalRow> = match &self.backend {
            Backend::Postgres { read, .. } => {
                let query = select!(
                    "SELECT s.reporter_id, COUNT(*) AS filed, \
                     COALESCE(SUM(CASE WHEN r.resolution = 'dismissed' THEN 1 ELSE 0 END), 0) AS dismissed \
                     FROM (SELECT DISTINCT c.reporter_id, c.report_id FROM report_calls c \
                           WHERE c.reporter_id = ANY($1) AND c.created_at >= $2 AND c.snapshot_type IS NOT NULL) s \
                     JOIN reports r ON r.id = s.report_id GROUP BY s.reporter_id"
                );
                read.rows(query).bind(&ids[..]).bind(since).all().await?
            }
            Backend::Sqlite { read, .. } => {
                let query = select!(
                    "SELECT s.reporter_id, COUNT(*) AS filed, \
                     COALESCE(SUM(CASE WHEN r.resolution = 'dismissed' THEN 1 ELSE 0 END), 0) AS dismissed \
                     FROM (SELECT DISTINCT c.reporter_id, c.report_id FROM report_calls c \
                           WHERE c.reporter_id IN (SELECT value FROM json_each($1)) AND c.created_at >= $2 \
                           AND c.snapshot_type IS NOT NULL) s \
                     JOIN reports r ON r.id = s.report_id GROUP BY s.reporter_id"
                );
                read.rows(query).bind(id_list(&ids)).bind(since).all().await?
            }
        };
        Ok(rows
            .into_iter()
            .map(|r| (r.reporter_id, SnapshotSignal { filed: r.filed, dismissed: r.dismissed }))
            .collect())
    }

    /// The newest snapshot still held for a report, opened by nobody here: its content type and sealed bytes.
    pub async fn report_snapshot(&self, report_id: i64) -> Result<Option<(String, Vec<u8>)>, StoreError> {
        let query = select!(
            "SELECT snapshot_type, snapshot_sealed FROM report_calls \
             WHERE report_id = $1 AND snapshot_sealed IS NOT NULL ORDER BY id DESC LIMIT 1"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(report_id).optional().await)?)
    }

    /// Deletes at most `limit` snapshots taken before `cutoff` (evidence retention), keeping the rest of their call
    /// part; how many.
    pub async fn delete_snapshots_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, StoreError> {
        let query = "UPDATE report_calls SET snapshot_sealed = NULL, snapshot_type = NULL, snapshot_bytes = NULL \
                     WHERE id IN (SELECT id FROM report_calls WHERE snapshot_sealed IS NOT NULL AND created_at < $1 \
                     ORDER BY created_at LIMIT $2)";
        Ok(on_write_pool!(self, |pool| sqlx::query(query)
            .bind(cutoff)
            .bind(limit)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }
}
