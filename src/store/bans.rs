//! Bans as records (reason code, note, optional end, how each was lifted), appeals against them, and the
//! report queue moderators work through. Each change commits with its audit row, its statement of reasons
//! (src/store/statements.rs) and, where the user is told, their notification.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::statements::{build, insert_statement, tally_reports};
use super::system_logs::insert_system_log;
use super::{BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, BanReason, MatchId, UserId};
use crate::notices::Notice;

/// A ban to impose.
#[derive(Debug, Clone)]
pub struct NewBan<'a> {
    pub user_id: UserId,
    /// The user is shown it.
    pub reason_code: BanReason,
    /// The moderator's note; never shown to the user.
    pub note: Option<&'a str>,
    /// `None`: until lifted.
    pub ends_at: Option<DateTime<Utc>>,
    /// Who banned (`{"moderator": id}`, `{"job": "auto_ban", …}`), for the audit row.
    pub by: &'a serde_json::Value,
    pub now: DateTime<Utc>,
}

impl<'a> NewBan<'a> {
    /// A ban until lifted, without a note.
    pub fn permanent(user_id: UserId, reason_code: BanReason, by: &'a serde_json::Value, now: DateTime<Utc>) -> Self {
        Self { user_id, reason_code, note: None, ends_at: None, by, now }
    }
}

/// How a ban ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lift {
    /// A moderator lifted it (`moderator` is `None` from the command line or a test).
    Unbanned { moderator: Option<UserId> },
    /// Its time ran out (the moderation job).
    Expired,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BanRow {
    pub id: i64,
    pub user_id: UserId,
    pub reason_code: BanReason,
    pub note: Option<String>,
    pub banned_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lifted_by: Option<UserId>,
    pub lift_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AppealRow {
    pub id: i64,
    pub ban_id: i64,
    pub user_id: UserId,
    pub alias: String,
    pub tag: String,
    pub reason_code: BanReason,
    pub text: String,
    pub created_at: DateTime<Utc>,
    pub status: String,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<UserId>,
    pub decision_note: Option<String>,
}

/// One open report in the queue, with the reported user's place in it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct QueuedReport {
    pub reported_id: UserId,
    pub reported_alias: String,
    pub reported_tag: String,
    pub reported_banned: bool,
    /// Distinct reporters with an open report about this user.
    pub reporters: i64,
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
    pub previous_resolution: Option<String>,
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

/// What a decision on an appeal or a report found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Done,
    NotFound,
    /// Decided before (or, for an appeal, its ban is already over).
    AlreadyDecided,
}

/// Ends the user's current ban inside a transaction: the user row, the ban row, the notification and the audit
/// row. Evaluates to the number of users unbanned (0: not banned).
macro_rules! lift_ban {
    ($tx:expr, $user_id:expr, $lift_reason:expr, $actor:expr, $notice:expr, $by:expr, $now:expr) => {
        async {
            let lifted = sqlx::query(
                "UPDATE users SET is_banned = FALSE, ban_reason = NULL, banned_at = NULL, ban_ends_at = NULL, \
                 ban_cleared_at = $2 WHERE id = $1 AND is_banned = TRUE",
            )
            .bind($user_id)
            .bind($now)
            .execute(&mut *$tx)
            .await?
            .rows_affected();
            if lifted == 0 {
                return Ok::<u64, sqlx::Error>(0);
            }
            sqlx::query(
                "UPDATE bans SET lifted_at = $2, lifted_by = $3, lift_reason = $4 WHERE user_id = $1 AND lifted_at IS NULL",
            )
            .bind($user_id)
            .bind($now)
            .bind($actor)
            .bind($lift_reason)
            .execute(&mut *$tx)
            .await?;
            insert_notification!(&mut *$tx, $user_id, $notice, $now).await?;
            let details = json!({ "by": $by, "lift_reason": $lift_reason });
            insert_system_log!(&mut *$tx, AuditAction::UserUnbanned, Some($user_id), &details, $now, actor = $actor)
                .await?;
            Ok(lifted)
        }
    };
}

/// Inserts a notification rendered from `notice` (its English text kept in `message`); evaluates to a query
/// result future.
macro_rules! insert_notification {
    ($executor:expr, $user_id:expr, $notice:expr, $now:expr) => {{
        let notice: &Notice = $notice;
        let (template, params) = notice.to_columns();
        sqlx::query(
            "INSERT INTO notifications (user_id, message, type, created_at, template, params) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($user_id)
        .bind(notice.render(crate::notices::Locale::En))
        .bind(notice.kind())
        .bind($now)
        .bind(template)
        .bind(params)
        .execute($executor)
    }};
}
pub(crate) use insert_notification;

impl Store {
    /// Bans the user: the ban row, the user's flags, every refresh token revoked, a notification and the audit
    /// row, in one transaction. The new ban's id; `None` when there is no such user or they are banned already.
    pub async fn ban_user(&self, ban: &NewBan<'_>) -> Result<Option<i64>, StoreError> {
        let moderator = acting_moderator(ban.by);
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let banned = sqlx::query(
                "UPDATE users SET is_banned = TRUE, ban_reason = $2, banned_at = $3, ban_ends_at = $4 \
                 WHERE id = $1 AND is_banned = FALSE",
            )
            .bind(ban.user_id)
            .bind(ban.reason_code)
            .bind(ban.now)
            .bind(ban.ends_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if banned == 0 {
                return Ok(None);
            }
            let ban_id: i64 = sqlx::query_scalar(
                "INSERT INTO bans (user_id, reason_code, note, banned_by, created_at, ends_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(ban.user_id)
            .bind(ban.reason_code)
            .bind(ban.note)
            .bind(moderator)
            .bind(ban.now)
            .bind(ban.ends_at)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(ban.user_id)
                .bind(ban.now)
                .execute(&mut *tx)
                .await?;
            // Their access tokens die with the logins (their sockets are closed with 4003 by the caller).
            sqlx::query("UPDATE logins SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(ban.user_id)
                .bind(ban.now)
                .execute(&mut *tx)
                .await?;
            let notice = Notice::Banned { reason_code: ban.reason_code, ends_at: ban.ends_at };
            insert_notification!(&mut *tx, ban.user_id, &notice, ban.now).await?;
            let tally = tally_reports!(tx, ban.user_id).await?;
            let statement = build::ban(&self.moderation, ban, ban_id, &tally, moderator.is_some());
            self.fail_points.check("ban.before_statement")?;
            insert_statement!(&mut *tx, &statement).await?;
            self.fail_points.check("ban.before_audit")?;
            let details = json!({
                "ban_id": ban_id, "reason": ban.reason_code, "note": ban.note, "ends_at": ban.ends_at, "by": ban.by,
            });
            insert_system_log!(
                &mut *tx,
                AuditAction::UserBanned,
                Some(ban.user_id),
                &details,
                ban.now,
                actor = moderator
            )
            .await?;
            tx.commit().await?;
            Ok(Some(ban_id))
        })
    }

    /// Lifts the user's ban, with the user's notification and the `user.unbanned` audit row in the same
    /// transaction. False when they are not banned (or do not exist).
    pub async fn unban_user(&self, user_id: UserId, lift: Lift, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let (reason, actor, notice, by) = match lift {
            Lift::Unbanned { moderator } => {
                ("unbanned", moderator, Notice::Unbanned {}, json!({ "moderator": moderator }))
            }
            Lift::Expired => ("expired", None, Notice::BanExpired {}, json!({ "job": "ban_expiry" })),
        };
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let current: Option<(i64, BanReason, DateTime<Utc>)> =
                sqlx::query_as("SELECT id, reason_code, created_at FROM bans WHERE user_id = $1 AND lifted_at IS NULL")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let lifted = lift_ban!(tx, user_id, reason, actor, &notice, &by, now).await?;
            if lifted > 0
                && let Some(ban) = current
            {
                let moderated = matches!(lift, Lift::Unbanned { .. });
                let statement = build::lift(&self.moderation, user_id, ban, moderated, now);
                insert_statement!(&mut *tx, &statement).await?;
            }
            tx.commit().await?;
            Ok(lifted > 0)
        })
    }

    /// Users whose temporary ban has run out by `now`, at most `limit`.
    pub async fn expired_bans(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<UserId>, StoreError> {
        let query = select!(
            "SELECT user_id FROM bans WHERE lifted_at IS NULL AND ends_at IS NOT NULL AND ends_at <= $1 \
             ORDER BY ends_at LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(now).bind(limit).all().await)?)
    }

    /// Every ban of the user, newest first.
    pub async fn bans_of(&self, user_id: UserId) -> Result<Vec<BanRow>, StoreError> {
        let query = select!(
            "SELECT id, user_id, reason_code, note, banned_by, created_at, ends_at, lifted_at, lifted_by, lift_reason \
             FROM bans WHERE user_id = $1 ORDER BY id DESC"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).all().await)?)
    }

    /// The user's appeal against ban `ban_id`, if they filed one.
    pub async fn appeal_for_ban(&self, ban_id: i64) -> Result<Option<AppealRow>, StoreError> {
        let query = select!(
            "SELECT a.id, a.ban_id, a.user_id, u.alias, u.tag, b.reason_code, a.text, a.created_at, a.status, \
             a.decided_at, a.decided_by, a.decision_note \
             FROM appeals a JOIN users u ON u.id = a.user_id JOIN bans b ON b.id = a.ban_id WHERE a.ban_id = $1"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(ban_id).optional().await)?)
    }

    /// Files the user's one appeal against ban `ban_id`; `None` when they appealed it already.
    pub async fn insert_appeal(
        &self,
        user_id: UserId,
        ban_id: i64,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO appeals (ban_id, user_id, text, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (ban_id) DO NOTHING RETURNING id",
            )
            .bind(ban_id)
            .bind(user_id)
            .bind(text)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(id) = id {
                let details = json!({ "appeal_id": id, "ban_id": ban_id });
                insert_system_log!(&mut *tx, AuditAction::AppealFiled, Some(user_id), &details, now).await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Appeals with `status`, oldest first, after id `after` (paging), at most `limit`.
    pub async fn appeals(&self, status: &str, after: i64, limit: i64) -> Result<Vec<AppealRow>, StoreError> {
        let query = select!(
            "SELECT a.id, a.ban_id, a.user_id, u.alias, u.tag, b.reason_code, a.text, a.created_at, a.status, \
             a.decided_at, a.decided_by, a.decision_note \
             FROM appeals a JOIN users u ON u.id = a.user_id JOIN bans b ON b.id = a.ban_id \
             WHERE a.status = $1 AND a.id > $2 ORDER BY a.id LIMIT $3"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(status).bind(after).bind(limit).all().await)?)
    }

    /// Accepts (lifting the ban, if it still holds) or rejects a pending appeal, notifying the user; the
    /// decision's audit row names the moderator.
    pub async fn decide_appeal(
        &self,
        appeal_id: i64,
        accept: bool,
        note: &str,
        moderator: UserId,
        now: DateTime<Utc>,
    ) -> Result<Decided, StoreError> {
        let status = if accept { "accepted" } else { "rejected" };
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let appeal: Option<(UserId, i64, String)> =
                sqlx::query_as("SELECT user_id, ban_id, status FROM appeals WHERE id = $1")
                    .bind(appeal_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((user_id, ban_id, current)) = appeal else { return Ok(Decided::NotFound) };
            if current != "pending" {
                return Ok(Decided::AlreadyDecided);
            }
            let (reason, banned_at, held): (BanReason, DateTime<Utc>, bool) =
                sqlx::query_as("SELECT reason_code, created_at, lifted_at IS NULL FROM bans WHERE id = $1")
                    .bind(ban_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let decided = (appeal_id, accept, accept && held);
            let statement = build::appeal(&self.moderation, user_id, (ban_id, reason, banned_at), decided, now);
            sqlx::query(
                "UPDATE appeals SET status = $2, decided_at = $3, decided_by = $4, decision_note = $5 WHERE id = $1",
            )
            .bind(appeal_id)
            .bind(status)
            .bind(now)
            .bind(moderator)
            .bind(note)
            .execute(&mut *tx)
            .await?;
            if accept {
                let by = json!({ "moderator": moderator, "appeal_id": appeal_id });
                let notice = Notice::AppealAccepted {};
                // Only the ban appealed against: one that ended meanwhile (expired, lifted) stays as it is.
                let holds: Option<i64> = sqlx::query_scalar("SELECT id FROM bans WHERE id = $1 AND lifted_at IS NULL")
                    .bind(ban_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if holds.is_some() {
                    lift_ban!(tx, user_id, "appeal", Some(moderator), &notice, &by, now).await?;
                } else {
                    insert_notification!(&mut *tx, user_id, &notice, now).await?;
                }
            } else {
                let notice = Notice::AppealRejected { note: note.to_owned() };
                insert_notification!(&mut *tx, user_id, &notice, now).await?;
            }
            insert_statement!(&mut *tx, &statement).await?;
            let details = json!({ "appeal_id": appeal_id, "ban_id": ban_id, "status": status, "note": note });
            insert_system_log!(
                &mut *tx,
                AuditAction::AppealDecided,
                Some(user_id),
                &details,
                now,
                actor = Some(moderator)
            )
            .await?;
            tx.commit().await?;
            Ok(Decided::Done)
        })
    }

    /// Open reports, grouped by reported user: users with the most open reports carrying verified evidence first
    /// (a moderator can decide on what they read), then the most distinct reporters, then the most recently
    /// reported; `limit` users from the `offset`th. Each user's reports with evidence come first, then by age.
    pub async fn report_queue(&self, limit: i64, offset: i64) -> Result<Vec<QueuedReport>, StoreError> {
        let query = select!(
            "SELECT g.reported_id, ru.alias AS reported_alias, ru.tag AS reported_tag, ru.is_banned AS reported_banned, \
             g.reporters, g.with_evidence, r.id, r.reporter_id, pu.alias AS reporter_alias, pu.tag AS reporter_tag, \
             r.match_id, r.reason, r.details, r.created_at, r.resolution AS previous_resolution \
             FROM (SELECT q.reported_id, COUNT(DISTINCT q.reporter_id) AS reporters, MAX(q.created_at) AS latest, \
                   SUM(CASE WHEN EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = q.id) THEN 1 ELSE 0 END) \
                   AS with_evidence \
                   FROM reports q WHERE q.resolved_at IS NULL GROUP BY q.reported_id \
                   ORDER BY with_evidence DESC, reporters DESC, latest DESC, q.reported_id LIMIT $1 OFFSET $2) g \
             JOIN reports r ON r.reported_id = g.reported_id AND r.resolved_at IS NULL \
             JOIN users ru ON ru.id = g.reported_id JOIN users pu ON pu.id = r.reporter_id \
             ORDER BY g.with_evidence DESC, g.reporters DESC, g.latest DESC, g.reported_id, \
             CASE WHEN EXISTS (SELECT 1 FROM report_evidence e WHERE e.report_id = r.id) THEN 0 ELSE 1 END, r.id"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(limit).bind(offset).all().await)?)
    }

    /// Resolves an open report (`dismissed`: it no longer counts toward the automatic ban; `actioned`) with
    /// the moderator's note, audited.
    pub async fn resolve_report(
        &self,
        report_id: i64,
        resolution: &str,
        note: &str,
        moderator: UserId,
        now: DateTime<Utc>,
    ) -> Result<Decided, StoreError> {
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
                return Ok(Decided::NotFound);
            };
            if resolved_at.is_some() {
                return Ok(Decided::AlreadyDecided);
            }
            let with_evidence: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM report_evidence WHERE report_id = $1")
                .bind(report_id)
                .fetch_one(&mut *tx)
                .await?;
            // Who the decision concerns (docs/admin.md "Statements of reasons"): an upheld report, the reported
            // user; a dismissed one, the reporter, whose notice it answers (DSA Art. 16(5)).
            let actioned = resolution == "actioned";
            let concerns = if actioned { reported } else { reporter };
            let report = (report_id, reason.as_str(), filed_at);
            let statement = build::report(&self.moderation, concerns, report, actioned, with_evidence, now);
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
            tx.commit().await?;
            Ok(Decided::Done)
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

/// The moderator named by a ban's `by`; `None` when a job acted.
fn acting_moderator(by: &serde_json::Value) -> Option<i64> {
    by.get("moderator").and_then(serde_json::Value::as_i64)
}
