//! The facts the trust rules (src/domain/trust.rs) decide on, and the human review the automatic ban asks for
//! instead of banning. Reads and one marker; no rule lives here.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::system_logs::insert_system_log;
use super::{Backend, BeginWrite, Store, StoreError, id_list, on_read_pool, on_write_pool, select};
use crate::domain::trust::{Account, Report};
use crate::domain::{AuditAction, Lane, UserId};

/// A user's review is open: asked for since their last clearance, and no report of theirs resolved since.
macro_rules! review_open {
    ($u:literal) => {
        concat!(
            $u,
            ".review_requested_at IS NOT NULL AND (",
            $u,
            ".ban_cleared_at IS NULL OR ",
            $u,
            ".review_requested_at > ",
            $u,
            ".ban_cleared_at) AND NOT EXISTS (SELECT 1 FROM reports x WHERE x.reported_id = ",
            $u,
            ".id AND x.resolved_at >= ",
            $u,
            ".review_requested_at)"
        )
    };
}

/// One report about a user with its reporter's facts, as read.
#[derive(sqlx::FromRow)]
struct ReportFactRow {
    reporter_created_at: DateTime<Utc>,
    reporter_verified: bool,
    reporter_banned: bool,
    reporter_network: Option<Vec<u8>>,
    has_evidence: bool,
    open: bool,
    reason: String,
}

impl Store {
    /// Users the automatic ban should look at: not banned, not purged, not under an open review, with at least
    /// `min_reporters` distinct reporters since their last clearance (dismissed reports left out). The trust
    /// rules then decide on each; `min_reporters` only spares them the users who cannot reach the threshold.
    pub async fn auto_ban_candidates(&self, min_reporters: i64) -> Result<Vec<UserId>, StoreError> {
        let query = select!(concat!(
            "SELECT r.reported_id FROM reports r JOIN users u ON u.id = r.reported_id \
             WHERE u.is_banned = FALSE AND u.purged_at IS NULL AND NOT (",
            review_open!("u"),
            ") AND (u.ban_cleared_at IS NULL OR r.created_at > u.ban_cleared_at) \
             AND (r.resolution IS NULL OR r.resolution <> 'dismissed') \
             GROUP BY r.reported_id HAVING COUNT(DISTINCT r.reporter_id) >= $1"
        ));
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(min_reporters).all().await)?)
    }

    /// The reports about `user_id` since their last clearance that a moderator did not dismiss, each with what
    /// the trust rules need of it and of its reporter.
    ///
    /// Whether a report has evidence is a scalar subquery, one probe of the evidence's index per report: written
    /// as EXISTS, PostgreSQL hashed the whole evidence table for a user with thousands of reports (BENCHMARKS.md,
    /// "Issue 61, point 4").
    pub async fn trust_reports(&self, user_id: UserId) -> Result<Vec<Report>, StoreError> {
        let query = select!(
            "SELECT p.created_at AS reporter_created_at, \
             CASE WHEN p.phone_verified_at IS NULL THEN FALSE ELSE TRUE END AS reporter_verified, \
             p.is_banned AS reporter_banned, r.reporter_network, \
             CASE WHEN (SELECT MIN(e.report_id) FROM report_evidence e WHERE e.report_id = r.id) IS NULL THEN FALSE \
             ELSE TRUE END AS has_evidence, CASE WHEN r.resolved_at IS NULL THEN TRUE ELSE FALSE END AS open, r.reason \
             FROM reports r JOIN users u ON u.id = r.reported_id JOIN users p ON p.id = r.reporter_id \
             WHERE r.reported_id = $1 AND (u.ban_cleared_at IS NULL OR r.created_at > u.ban_cleared_at) \
             AND (r.resolution IS NULL OR r.resolution <> 'dismissed') ORDER BY r.id"
        );
        let rows: Vec<ReportFactRow> = on_read_pool!(self, |pool| pool.rows(query).bind(user_id).all().await)?;
        Ok(rows
            .into_iter()
            .map(|r| Report {
                reporter: Account {
                    created_at: r.reporter_created_at,
                    phone_verified: r.reporter_verified,
                    banned: r.reporter_banned,
                },
                network: r.reporter_network,
                has_evidence: r.has_evidence,
                open: r.open,
                child_safety: Lane::of(&r.reason) == Lane::ChildSafety,
            })
            .collect())
    }

    /// Puts the user up for human review instead of the automatic ban (`why`: burst_created, burst_network),
    /// with its audit row naming the job. False when there is no such user, they are banned, or a review of
    /// theirs is open already.
    pub async fn request_review(&self, user_id: UserId, why: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        const MARK: &str = concat!(
            "UPDATE users SET review_requested_at = $2, review_reason = $3 WHERE id = $1 AND is_banned = FALSE \
             AND NOT (",
            review_open!("users"),
            ")"
        );
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let marked = sqlx::query(MARK).bind(user_id).bind(now).bind(why).execute(&mut *tx).await?.rows_affected();
            if marked > 0 {
                let details = json!({ "job": "auto_ban", "review": why });
                insert_system_log!(&mut *tx, AuditAction::UserReviewRequested, Some(user_id), &details, now).await?;
            }
            tx.commit().await?;
            Ok(marked > 0)
        })
    }

    /// Whom a report is about; `None` when there is no such report.
    pub async fn report_subject(&self, report_id: i64) -> Result<Option<UserId>, StoreError> {
        let query = select!("SELECT reported_id FROM reports WHERE id = $1");
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(report_id).optional().await)?)
    }

    /// What the video safety policy weighs of a user ([`crate::domain::trust::caution`]): their account, and
    /// whether a review of theirs is open. `None`: no such user.
    pub async fn caution_facts(&self, user_id: UserId) -> Result<Option<(Account, bool)>, StoreError> {
        let query = select!(concat!(
            "SELECT u.created_at, u.phone_verified_at IS NOT NULL, u.is_banned, ",
            review_open!("u"),
            " FROM users u WHERE u.id = $1"
        ));
        let row: Option<(DateTime<Utc>, bool, bool, bool)> =
            on_read_pool!(self, |pool| pool.rows(query).bind(user_id).optional().await)?;
        Ok(row.map(|(created_at, phone_verified, banned, review)| {
            (Account { created_at, phone_verified, banned }, review)
        }))
    }

    /// Of these users, those under an open review, with why.
    pub async fn open_reviews(&self, user_ids: &[UserId]) -> Result<Vec<(UserId, String)>, StoreError> {
        // One statement for the list (a page of the report queue, up to 100 users): the ids as one parameter, an
        // array on PostgreSQL and a JSON array on SQLite; each a primary-key read.
        let ids: Vec<i64> = user_ids.iter().map(|u| u.get()).collect();
        let open = match &self.backend {
            Backend::Postgres { read, .. } => {
                let query = select!(concat!(
                    "SELECT u.id, u.review_reason FROM users u WHERE u.id = ANY($1) AND ",
                    review_open!("u"),
                    " ORDER BY u.id"
                ));
                read.rows(query).bind(&ids[..]).all().await?
            }
            Backend::Sqlite { read, .. } => {
                let query = select!(concat!(
                    "SELECT u.id, u.review_reason FROM users u WHERE u.id IN (SELECT value FROM json_each($1)) AND ",
                    review_open!("u"),
                    " ORDER BY u.id"
                ));
                read.rows(query).bind(id_list(&ids)).all().await?
            }
        };
        Ok(open)
    }
}
