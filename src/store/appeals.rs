//! Appeals against bans: a banned user's one appeal per ban, and a moderator's decision on it, which commits with
//! its statement of reasons, its audit row and the user's notification (rendered by the caller) and, when it
//! accepts an appeal against a ban that still holds, the ban's lifting.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::bans::lift_ban;
use super::notifications::insert_notification;
use super::statements::{build, insert_statement};
use super::system_logs::insert_system_log;
use super::{BeginWrite, NewNotification, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AppealStatus, AuditAction, BanReason, UserId};

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
    pub status: AppealStatus,
    pub decided_at: Option<DateTime<Utc>>,
    pub decided_by: Option<UserId>,
    pub decision_note: Option<String>,
}

/// What a decision on an appeal or a report found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decided {
    Done,
    NotFound,
    /// Decided before (or, for an appeal, its ban is already over).
    AlreadyDecided,
}

impl Store {
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
    pub async fn appeals(&self, status: AppealStatus, after: i64, limit: i64) -> Result<Vec<AppealRow>, StoreError> {
        let query = select!(
            "SELECT a.id, a.ban_id, a.user_id, u.alias, u.tag, b.reason_code, a.text, a.created_at, a.status, \
             a.decided_at, a.decided_by, a.decision_note \
             FROM appeals a JOIN users u ON u.id = a.user_id JOIN bans b ON b.id = a.ban_id \
             WHERE a.status = $1 AND a.id > $2 ORDER BY a.id LIMIT $3"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(status).bind(after).bind(limit).all().await)?)
    }

    /// Accepts (lifting the ban, if it still holds) or rejects a pending appeal, telling the user `notice`; the
    /// decision's audit row names the moderator.
    pub async fn decide_appeal(
        &self,
        appeal_id: i64,
        accept: bool,
        note: &str,
        notice: &NewNotification,
        moderator: UserId,
        now: DateTime<Utc>,
    ) -> Result<Decided, StoreError> {
        let status = if accept { AppealStatus::Accepted } else { AppealStatus::Rejected };
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let appeal: Option<(UserId, i64, AppealStatus)> =
                sqlx::query_as("SELECT user_id, ban_id, status FROM appeals WHERE id = $1")
                    .bind(appeal_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((user_id, ban_id, current)) = appeal else { return Ok(Decided::NotFound) };
            if current != AppealStatus::Pending {
                return Ok(Decided::AlreadyDecided);
            }
            let (reason, banned_at, held): (BanReason, DateTime<Utc>, bool) =
                sqlx::query_as("SELECT reason_code, created_at, lifted_at IS NULL FROM bans WHERE id = $1")
                    .bind(ban_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let decided = (appeal_id, accept, accept && held);
            let statement = build::appeal(&self.citations, user_id, (ban_id, reason, banned_at), decided, now);
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
                // Only the ban appealed against: one that ended meanwhile (expired, lifted) stays as it is.
                let holds: Option<i64> = sqlx::query_scalar("SELECT id FROM bans WHERE id = $1 AND lifted_at IS NULL")
                    .bind(ban_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if holds.is_some() {
                    lift_ban!(tx, user_id, "appeal", Some(moderator), notice, &by, now).await?;
                } else {
                    insert_notification!(&mut *tx, user_id, notice, now).await?;
                }
            } else {
                insert_notification!(&mut *tx, user_id, notice, now).await?;
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
}
