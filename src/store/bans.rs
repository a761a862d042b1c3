//! Bans as records (reason code, note, optional end, how each was lifted): imposing one and lifting it. Each change
//! commits with its audit row, its statement of reasons (statements.rs) and the user's notification, which the
//! caller renders (`crate::notices`). Appeals against bans are in appeals.rs; the report queue in reports/queue.rs.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::notifications::insert_notification;
use super::statements::{build, insert_statement, tally_reports};
use super::system_logs::insert_system_log;
use super::{BeginWrite, NewNotification, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, BanReason, UserId};

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

/// Ends the user's current ban inside a transaction: the user row, the ban row, the notification and the audit
/// row (`$notice`, a [`NewNotification`]). Evaluates to the number of users unbanned (0: not banned).
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
pub(crate) use lift_ban;

impl Store {
    /// Bans the user: the ban row, the user's flags, every refresh token revoked, the user's `notice` and the
    /// audit row, in one transaction. The new ban's id; `None` when there is no such user or they are banned
    /// already.
    pub async fn ban_user(&self, ban: &NewBan<'_>, notice: &NewNotification) -> Result<Option<i64>, StoreError> {
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
            insert_notification!(&mut *tx, ban.user_id, notice, ban.now).await?;
            let tally = tally_reports!(tx, ban.user_id).await?;
            let statement = build::ban(&self.citations, ban, ban_id, &tally, moderator.is_some());
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

    /// Lifts the user's ban, with the user's `notice` and the `user.unbanned` audit row in the same transaction.
    /// False when they are not banned (or do not exist).
    pub async fn unban_user(
        &self,
        user_id: UserId,
        lift: Lift,
        notice: &NewNotification,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let (reason, actor, by) = match lift {
            Lift::Unbanned { moderator } => ("unbanned", moderator, json!({ "moderator": moderator })),
            Lift::Expired => ("expired", None, json!({ "job": "ban_expiry" })),
        };
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let current: Option<(i64, BanReason, DateTime<Utc>)> =
                sqlx::query_as("SELECT id, reason_code, created_at FROM bans WHERE user_id = $1 AND lifted_at IS NULL")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let lifted = lift_ban!(tx, user_id, reason, actor, notice, &by, now).await?;
            if lifted > 0
                && let Some(ban) = current
            {
                let moderated = matches!(lift, Lift::Unbanned { .. });
                let statement = build::lift(&self.citations, user_id, ban, moderated, now);
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
}

/// The moderator named by a ban's `by`; `None` when a job acted.
fn acting_moderator(by: &serde_json::Value) -> Option<i64> {
    by.get("moderator").and_then(serde_json::Value::as_i64)
}
