//! The figures of the moderators' dashboard (`GET /v1/admin/dashboard`, docs/admin.md "The console"): counts by
//! UTC day and over the last minutes, read from the rows themselves. Each count is one indexed range read
//! (migration 0037); a day is the first ten characters of a stored time on SQLite (sqlx writes RFC 3339 in UTC)
//! and `to_char` in UTC on PostgreSQL, so both stores group alike.

use chrono::{DateTime, Utc};

use super::{Backend, Store, StoreError, select};

/// One daily count: its UTC day (`YYYY-MM-DD`) and how many.
pub type Daily = Vec<(String, i64)>;

/// The open reports: how many, the oldest's time, and how many were filed within 1 h, 24 h and 7 d of `now`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OpenReports {
    pub count: i64,
    pub oldest_at: Option<DateTime<Utc>>,
    pub under_1h: i64,
    pub under_24h: i64,
    pub under_7d: i64,
}

/// The open reports of one reason: how many, and when the oldest was filed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OpenByReason {
    pub reason: String,
    pub count: i64,
    pub oldest_at: Option<DateTime<Utc>>,
}

/// The daily series the dashboard charts, each from `since` on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DailySeries {
    pub reports: Daily,
    pub decisions: Daily,
    /// Bans made by no moderator: the automatic ban's.
    pub auto_bans: Daily,
    pub reviews: Daily,
    pub appeals: Daily,
    /// Appeals accepted, by the day they were decided.
    pub overturned: Daily,
    pub matches: Daily,
    /// Video matches whose call either side reported on (`rtc.stats`) or that connected.
    pub calls: Daily,
    pub calls_connected: Daily,
}

/// The same count grouped by UTC day on each store: `(SQLite, PostgreSQL)` statements binding `$1` (since).
macro_rules! daily {
    ($table:literal, $at:literal, $filter:expr) => {
        (
            select!(concat!(
                "SELECT substr(",
                $at,
                ", 1, 10) AS day, COUNT(*) FROM ",
                $table,
                " WHERE ",
                $at,
                " >= $1",
                $filter,
                " GROUP BY 1 ORDER BY 1"
            )),
            select!(concat!(
                "SELECT to_char(",
                $at,
                " AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, COUNT(*) FROM ",
                $table,
                " WHERE ",
                $at,
                " >= $1",
                $filter,
                " GROUP BY 1 ORDER BY 1"
            )),
        )
    };
}

/// A video match with a call: reported on by either side, or connected.
macro_rules! a_call {
    () => {
        " AND type = 'video' AND (call_connected_at IS NOT NULL OR user1_call_report_at IS NOT NULL \
         OR user2_call_report_at IS NOT NULL)"
    };
}

impl Store {
    /// The open reports at `now`.
    pub async fn open_reports(&self, now: DateTime<Utc>) -> Result<OpenReports, StoreError> {
        let query = select!(
            "SELECT COUNT(*) AS count, MIN(created_at) AS oldest_at, \
             COALESCE(SUM(CASE WHEN created_at > $1 THEN 1 ELSE 0 END), 0) AS under_1h, \
             COALESCE(SUM(CASE WHEN created_at > $2 THEN 1 ELSE 0 END), 0) AS under_24h, \
             COALESCE(SUM(CASE WHEN created_at > $3 THEN 1 ELSE 0 END), 0) AS under_7d \
             FROM reports WHERE resolved_at IS NULL"
        );
        let ago = |hours| now - chrono::TimeDelta::hours(hours);
        Ok(super::on_read_pool!(self, |pool| pool
            .rows(query)
            .bind(ago(1))
            .bind(ago(24))
            .bind(ago(24 * 7))
            .one()
            .await)?)
    }

    /// Open reports by reason: how many, and when the oldest was filed (the report lanes' metrics,
    /// src/api/ops.rs).
    pub async fn open_reports_by_reason(&self) -> Result<Vec<OpenByReason>, StoreError> {
        let query = select!(
            "SELECT reason, COUNT(*) AS count, MIN(created_at) AS oldest_at FROM reports WHERE resolved_at IS NULL \
             GROUP BY reason"
        );
        Ok(super::on_read_pool!(self, |pool| pool.rows(query).all().await)?)
    }

    /// How long reports decided since `since` waited from filing to decision, in seconds, newest decisions first
    /// and at most `limit` of them (the median of a recent sample).
    pub async fn decision_waits(&self, since: DateTime<Utc>, limit: i64) -> Result<Vec<f64>, StoreError> {
        let query = select!(
            "SELECT created_at, resolved_at FROM reports WHERE resolved_at >= $1 ORDER BY resolved_at DESC LIMIT $2"
        );
        let rows: Vec<(DateTime<Utc>, DateTime<Utc>)> =
            super::on_read_pool!(self, |pool| pool.rows(query).bind(since).bind(limit).all().await)?;
        Ok(rows.into_iter().map(|(filed, decided)| (decided - filed).as_seconds_f64()).collect())
    }

    /// Every daily series from `since`.
    pub async fn daily_series(&self, since: DateTime<Utc>) -> Result<DailySeries, StoreError> {
        Ok(DailySeries {
            reports: self.daily(daily!("reports", "created_at", ""), since).await?,
            decisions: self.daily(daily!("reports", "resolved_at", ""), since).await?,
            auto_bans: self.daily(daily!("bans", "created_at", " AND banned_by IS NULL"), since).await?,
            reviews: self
                .daily(daily!("system_logs", "created_at", " AND action = 'user.review_requested'"), since)
                .await?,
            appeals: self.daily(daily!("appeals", "created_at", ""), since).await?,
            overturned: self.daily(daily!("appeals", "decided_at", " AND status = 'accepted'"), since).await?,
            matches: self.daily(daily!("matches", "created_at", ""), since).await?,
            calls: self.daily(daily!("matches", "created_at", a_call!()), since).await?,
            calls_connected: self
                .daily(daily!("matches", "created_at", " AND type = 'video' AND call_connected_at IS NOT NULL"), since)
                .await?,
        })
    }

    /// Matches opened and messages stored since `since`, on every node.
    pub async fn recent_activity(&self, since: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
        let matches = select!("SELECT COUNT(*) FROM matches WHERE created_at >= $1");
        // Every message keeps its franking commitment through the report window: this partial index has them all.
        let messages = select!("SELECT COUNT(*) FROM message_logs WHERE sent_at >= $1 AND commitment IS NOT NULL");
        let matches = super::on_read_pool!(self, |pool| pool.scalars(matches).bind(since).one().await)?;
        let messages = super::on_read_pool!(self, |pool| pool.scalars(messages).bind(since).one().await)?;
        Ok((matches, messages))
    }

    /// Video calls reported on or connected among matches opened since `since`, and of those the connected.
    pub async fn call_outcomes(&self, since: DateTime<Utc>) -> Result<(i64, i64), StoreError> {
        let query = select!(concat!(
            "SELECT COUNT(*), COALESCE(SUM(CASE WHEN call_connected_at IS NOT NULL THEN 1 ELSE 0 END), 0) \
             FROM matches WHERE created_at >= $1",
            a_call!()
        ));
        Ok(super::on_read_pool!(self, |pool| pool.rows(query).bind(since).one().await)?)
    }

    async fn daily(
        &self,
        (sqlite, postgres): (super::Select, super::Select),
        since: DateTime<Utc>,
    ) -> Result<Daily, StoreError> {
        Ok(match &self.backend {
            Backend::Sqlite { read, .. } => read.rows(sqlite).bind(since).all().await?,
            Backend::Postgres { read, .. } => read.rows(postgres).bind(since).all().await?,
        })
    }
}
