//! The report queue moderators work through: open reports grouped by the user they concern, a moderator's
//! resolution of one (with its statement of reasons and audit row, in one transaction), and clearance, after which
//! earlier reports no longer count toward the automatic ban.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::holds::child_safety_in;
use crate::domain::{AuditAction, MatchId, ReportResolution, UserId};
use crate::store::notifications::insert_notification;
use crate::store::statements::{build, insert_statement};
use crate::store::system_logs::insert_system_log;
use crate::store::{BeginWrite, NewNotification, Store, StoreError, on_read_pool, on_write_pool, select};

/// One open report in the queue, with the reported user's place in it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct QueuedReport {
    pub reported_id: UserId,
    pub reported_alias: String,
    pub reported_tag: String,
    pub reported_banned: bool,
    /// Distinct reporters with an open report about this user.
    pub reporters: i64,
    /// The user's open reports, of which the queue holds the first few.
    pub open_reports: i64,
    /// Of the user's open reports, those with verified evidence: they come first in the queue.
    pub with_evidence: i64,
    pub id: i64,
    pub reporter_id: UserId,
    pub reporter_alias: String,
    pub reporter_tag: String,
    pub match_id: Option<MatchId>,
    pub reason: String,
    pub details: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The decision the report had before new evidence reopened it (`dismissed`, `actioned`); it stands for the
    /// automatic ban and quarantine until a moderator decides again. `None`: never decided.
    pub previous_resolution: Option<ReportResolution>,
}

/// What resolving a report did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Resolved now: whom it concerned, why it was filed and when (the decision's time histogram).
    Done {
        reported: UserId,
        reason: String,
        filed_at: DateTime<Utc>,
    },
    NotFound,
    AlreadyDecided,
}

/// A report as its resolution reads it: whom it concerns, and whether it is open.
#[derive(Debug, sqlx::FromRow)]
struct ReportToResolve {
    reported_id: UserId,
    reporter_id: UserId,
    reason: String,
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Open reports, grouped by reported user: users with the most open reports carrying verified evidence first
    /// (a moderator can decide on what they read), then the most distinct reporters, then the most recently
    /// reported; `limit` users from the `offset`th. Of each user's reports, those with evidence first, then by age,
    /// at most `per_user` (an account everyone reports has thousands open: the page would be megabytes, and a
    /// moderator decides on the first few; `open_reports` says how many there are).
    ///
    /// The users' order is read from `report_queue` (migration 0038): those aggregates of each user's open
    /// reports, kept by triggers as the reports and their evidence change, so a page is a range of its index
    /// rather than a grouping of every open report in the database. Whether a report has evidence is a scalar
    /// subquery, one probe of the evidence's index per report (as in `trust_reports`).
    pub async fn report_queue(&self, limit: i64, offset: i64, per_user: i64) -> Result<Vec<QueuedReport>, StoreError> {
        let query = select!(
            "SELECT g.reported_id, ru.alias AS reported_alias, ru.tag AS reported_tag, ru.is_banned AS reported_banned, \
             g.reporters, g.open_reports, g.with_evidence, o.id, o.reporter_id, pu.alias AS reporter_alias, \
             pu.tag AS reporter_tag, o.match_id, o.reason, o.details, o.created_at, o.resolution AS previous_resolution \
             FROM (SELECT q.reported_id, q.reporters, q.open_reports, q.latest, q.with_evidence FROM report_queue q \
                   ORDER BY q.with_evidence DESC, q.reporters DESC, q.latest DESC, q.reported_id LIMIT $1 OFFSET $2) g \
             JOIN (SELECT r.id, r.reported_id, r.reporter_id, r.match_id, r.reason, r.details, r.created_at, \
                          r.resolution, ROW_NUMBER() OVER (PARTITION BY r.reported_id ORDER BY \
                              CASE WHEN (SELECT MIN(e.report_id) FROM report_evidence e WHERE e.report_id = r.id) \
                                   IS NULL THEN 1 ELSE 0 END, r.id) AS n \
                   FROM reports r WHERE r.resolved_at IS NULL AND r.reported_id IN \
                       (SELECT q.reported_id FROM report_queue q \
                        ORDER BY q.with_evidence DESC, q.reporters DESC, q.latest DESC, q.reported_id \
                        LIMIT $1 OFFSET $2)) o ON o.reported_id = g.reported_id AND o.n <= $3 \
             JOIN users ru ON ru.id = g.reported_id JOIN users pu ON pu.id = o.reporter_id \
             ORDER BY g.with_evidence DESC, g.reporters DESC, g.latest DESC, g.reported_id, o.n"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(limit).bind(offset).bind(per_user).all().await)?)
    }

    /// The child-safety lane of the queue (docs/admin.md, "Child safety first"): the users with open reports of
    /// `reason` (a child-safety one: [`crate::domain::Lane::CHILD_SAFETY_REASONS`]), the one whose oldest such
    /// report has waited longest first, at most `limit` users; and of each, those reports alone, oldest first, at
    /// most `per_user`. The rows are the queue's, with the user's figures of all their open reports.
    pub async fn child_safety_queue(
        &self,
        reason: &str,
        limit: i64,
        per_user: i64,
    ) -> Result<Vec<QueuedReport>, StoreError> {
        let query = select!(
            "SELECT q.reported_id, ru.alias AS reported_alias, ru.tag AS reported_tag, ru.is_banned AS reported_banned, \
             q.reporters, q.open_reports, q.with_evidence, o.id, o.reporter_id, pu.alias AS reporter_alias, \
             pu.tag AS reporter_tag, o.match_id, o.reason, o.details, o.created_at, o.resolution AS previous_resolution \
             FROM (SELECT reported_id, MIN(created_at) AS first_at FROM reports \
                   WHERE resolved_at IS NULL AND reason = $1 GROUP BY reported_id \
                   ORDER BY first_at, reported_id LIMIT $2) l \
             JOIN report_queue q ON q.reported_id = l.reported_id \
             JOIN (SELECT r.id, r.reported_id, r.reporter_id, r.match_id, r.reason, r.details, r.created_at, \
                          r.resolution, ROW_NUMBER() OVER (PARTITION BY r.reported_id ORDER BY r.id) AS n \
                   FROM reports r WHERE r.resolved_at IS NULL AND r.reason = $1) o \
                 ON o.reported_id = l.reported_id AND o.n <= $3 \
             JOIN users ru ON ru.id = l.reported_id JOIN users pu ON pu.id = o.reporter_id \
             ORDER BY l.first_at, l.reported_id, o.n"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(reason).bind(limit).bind(per_user).all().await)?)
    }

    /// Resolves an open report (`dismissed`: it no longer counts toward the automatic ban; `actioned`) with
    /// the moderator's note, audited; the decision on the last open child-safety report about the user ends a hold
    /// on their video matching, with `lift_notice`.
    pub async fn resolve_report(
        &self,
        report_id: i64,
        resolution: ReportResolution,
        note: &str,
        moderator: UserId,
        lift_notice: &NewNotification,
        now: DateTime<Utc>,
    ) -> Result<Resolved, StoreError> {
        // When the hold on the user's video began, if it is on and no child-safety report about them is open any more.
        const STILL_HELD: &str = concat!(
            "SELECT video_held_at FROM users u WHERE id = $1 AND video_held_at IS NOT NULL AND NOT EXISTS \
             (SELECT 1 FROM reports r WHERE r.reported_id = u.id AND r.resolved_at IS NULL AND r.reason IN ",
            child_safety_in!(),
            ")"
        );
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let report: Option<ReportToResolve> = sqlx::query_as(
                "SELECT reported_id, reporter_id, reason, created_at, resolved_at FROM reports WHERE id = $1",
            )
            .bind(report_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(ReportToResolve {
                reported_id: reported,
                reporter_id: reporter,
                reason,
                created_at: filed_at,
                resolved_at,
            }) = report
            else {
                return Ok(Resolved::NotFound);
            };
            if resolved_at.is_some() {
                return Ok(Resolved::AlreadyDecided);
            }
            // The reported user's row first: on PostgreSQL it holds back a concurrent decision on their other
            // child-safety report, and a hold being put on, until this commits, so the check for the last open one
            // below sees theirs (SQLite's writer is one already).
            sqlx::query("UPDATE users SET video_held_at = video_held_at WHERE id = $1")
                .bind(reported)
                .execute(&mut *tx)
                .await?;
            let with_evidence: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_evidence WHERE report_id = $1")
                .bind(report_id)
                .fetch_one(&mut *tx)
                .await?;
            // Who the decision concerns (docs/admin.md "Statements of reasons"): an upheld report, the reported
            // user; a dismissed one, the reporter, whose notice it answers (DSA Art. 16(5)).
            let actioned = resolution == ReportResolution::Actioned;
            let concerns = if actioned { reported } else { reporter };
            let statement = build::report(
                &self.citations,
                concerns,
                (report_id, reason.as_str(), filed_at),
                actioned,
                with_evidence,
                now,
            );
            insert_statement!(&mut *tx, &statement).await?;
            sqlx::query(
                "UPDATE reports SET resolved_at = $2, resolved_by = $3, resolution = $4, resolution_note = $5 WHERE id = $1",
            )
            .bind(report_id)
            .bind(now)
            .bind(moderator)
            .bind(resolution)
            .bind(note)
            .execute(&mut *tx)
            .await?;
            let details = json!({ "report_id": report_id, "resolution": resolution, "note": note });
            insert_system_log!(
                &mut *tx,
                AuditAction::ReportResolved,
                Some(reported),
                &details,
                now,
                actor = Some(moderator)
            )
            .await?;
            // The decision on the last open child-safety report about them ends a hold on their video matching,
            // either way (docs/admin.md "Child safety first").
            let held_at: Option<DateTime<Utc>> =
                sqlx::query_scalar(STILL_HELD).bind(reported).fetch_optional(&mut *tx).await?.flatten();
            if let Some(held_at) = held_at {
                sqlx::query("UPDATE users SET video_held_at = NULL WHERE id = $1")
                    .bind(reported)
                    .execute(&mut *tx)
                    .await?;
                let lifted = build::video_hold_lifted(&self.citations, reported, (report_id, &reason), held_at, now);
                insert_statement!(&mut *tx, &lifted).await?;
                insert_notification!(&mut *tx, reported, lift_notice, now).await?;
                let details = json!({ "report_id": report_id });
                insert_system_log!(
                    &mut *tx,
                    AuditAction::UserVideoHoldLifted,
                    Some(reported),
                    &details,
                    now,
                    actor = Some(moderator)
                )
                .await?;
            }
            tx.commit().await?;
            Ok(Resolved::Done { reported, reason, filed_at })
        })
    }

    /// Clearance: reports made until now no longer count toward the user's automatic ban. False: no such user.
    pub async fn clear_reports(
        &self,
        user_id: UserId,
        moderator: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let cleared = sqlx::query("UPDATE users SET ban_cleared_at = $2 WHERE id = $1")
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if cleared > 0 {
                insert_system_log!(
                    &mut *tx,
                    AuditAction::UserReportsCleared,
                    Some(user_id),
                    &json!({}),
                    now,
                    actor = Some(moderator)
                )
                .await?;
            }
            tx.commit().await?;
            Ok(cleared > 0)
        })
    }
}
