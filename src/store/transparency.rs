//! The counts of a period for the operator's transparency report (`GET /v1/admin/transparency`, docs/admin.md
//! "Transparency report"): notices (reports) by reason, decisions by a moderator and by the automatic ban, how long
//! decisions took, appeals and reversals. Counts and durations only: nothing here names anyone.

use chrono::{DateTime, Utc};

use super::{Select, Store, StoreError, on_read_pool, select};

/// The decisions whose time is counted, at most: the newest of the period (a year of a busy service has more).
pub const WAITS_SAMPLE: i64 = 200_000;

/// One report decided in the period: why it was filed, and the seconds from filing to decision.
pub type Wait = (String, f64);

/// What happened in `[from, to)`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeriodCounts {
    /// Reports filed, by reason.
    pub notices: Vec<(String, i64)>,
    /// Reports a moderator resolved, by resolution (`actioned`, `dismissed`).
    pub resolutions: Vec<(String, i64)>,
    /// The reports decided, newest first, at most [`WAITS_SAMPLE`].
    pub waits: Vec<Wait>,
    /// Bans by the automatic ban (no moderator), and by moderators.
    pub automated_bans: i64,
    pub moderator_bans: i64,
    /// Users the automatic ban put up for review instead of banning them.
    pub reviews: i64,
    /// Appeals filed; decided; and of those accepted (the ban reversed).
    pub appeals: i64,
    pub appeals_decided: i64,
    pub reversed: i64,
}

impl Store {
    /// The counts of `[from, to)`, each one indexed range read.
    pub async fn period_counts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<PeriodCounts, StoreError> {
        let notices = select!(
            "SELECT reason, COUNT(*) FROM reports WHERE created_at >= $1 AND created_at < $2 GROUP BY reason \
             ORDER BY reason"
        );
        let resolutions = select!(
            "SELECT resolution, COUNT(*) FROM reports WHERE resolved_at >= $1 AND resolved_at < $2 \
             GROUP BY resolution ORDER BY resolution"
        );
        let waits = select!(
            "SELECT reason, created_at, resolved_at FROM reports WHERE resolved_at >= $1 AND resolved_at < $2 \
             ORDER BY resolved_at DESC LIMIT $3"
        );
        let notices: Vec<(String, i64)> =
            on_read_pool!(self, |pool| pool.rows(notices).bind(from).bind(to).all().await)?;
        let resolutions: Vec<(String, i64)> =
            on_read_pool!(self, |pool| pool.rows(resolutions).bind(from).bind(to).all().await)?;
        let waits: Vec<(String, DateTime<Utc>, DateTime<Utc>)> =
            on_read_pool!(self, |pool| pool.rows(waits).bind(from).bind(to).bind(WAITS_SAMPLE).all().await)?;
        Ok(PeriodCounts {
            notices,
            resolutions,
            waits: waits.into_iter().map(|(reason, filed, decided)| (reason, (decided - filed).as_seconds_f64())).collect(),
            automated_bans: self.count_between(from, to, select!(
                "SELECT COUNT(*) FROM bans WHERE created_at >= $1 AND created_at < $2 AND banned_by IS NULL"
            ))
            .await?,
            moderator_bans: self.count_between(from, to, select!(
                "SELECT COUNT(*) FROM bans WHERE created_at >= $1 AND created_at < $2 AND banned_by IS NOT NULL"
            ))
            .await?,
            reviews: self.count_between(from, to, select!(
                "SELECT COUNT(*) FROM system_logs WHERE created_at >= $1 AND created_at < $2 \
                 AND action = 'user.review_requested'"
            ))
            .await?,
            appeals: self.count_between(from, to, select!("SELECT COUNT(*) FROM appeals WHERE created_at >= $1 AND created_at < $2")).await?,
            appeals_decided: self.count_between(from, to, select!(
                "SELECT COUNT(*) FROM appeals WHERE decided_at >= $1 AND decided_at < $2 AND status <> 'pending'"
            ))
            .await?,
            reversed: self.count_between(from, to, select!(
                "SELECT COUNT(*) FROM appeals WHERE decided_at >= $1 AND decided_at < $2 AND status = 'accepted'"
            ))
            .await?,
        })
    }

    async fn count_between(&self, from: DateTime<Utc>, to: DateTime<Utc>, sql: Select) -> Result<i64, StoreError> {
        Ok(on_read_pool!(self, |pool| pool.scalars(sql).bind(from).bind(to).one().await)?)
    }
}
