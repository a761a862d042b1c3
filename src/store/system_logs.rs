//! The audit trail: structured events mirrored into `system_logs`. Details are JSON and must never
//! hold phone numbers, passwords or message content.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, UserId};

/// Inserts one entry on whatever connection or transaction the caller holds (a concrete SQLite or
/// PostgreSQL executor inside `on_read_pool!`), so an event is recorded in the same commit as the change it
/// describes. Evaluates to the query's future.
/// `$action` is an [`AuditAction`](crate::domain::AuditAction), nothing else.
/// `actor = …` names who acted (a moderator or admin); without it the actor is the system (a job, the user), and
/// the statement does not name the column (so it also runs on a schema from before migration 0009).
macro_rules! insert_system_log {
    ($executor:expr, $action:expr, $user_id:expr, $details:expr, $now:expr) => {
        sqlx::query("INSERT INTO system_logs (action, user_id, details, created_at) VALUES ($1, $2, $3, $4)")
            .bind($crate::domain::AuditAction::as_str($action))
            .bind($user_id)
            .bind(($details).to_string())
            .bind($now)
            .execute($executor)
    };
    ($executor:expr, $action:expr, $user_id:expr, $details:expr, $now:expr, actor = $actor:expr) => {
        sqlx::query(
            "INSERT INTO system_logs (action, user_id, details, created_at, actor_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind($crate::domain::AuditAction::as_str($action))
        .bind($user_id)
        .bind(($details).to_string())
        .bind($now)
        .bind($actor)
        .execute($executor)
    };
}
pub(crate) use insert_system_log;

/// One `system_logs` row as read back.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SystemLogRow {
    pub id: i64,
    pub action: AuditAction,
    pub user_id: Option<UserId>,
    /// The moderator or admin who acted; `None` for the system.
    pub actor_id: Option<UserId>,
    pub details: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    pub async fn log_event(
        &self,
        action: AuditAction,
        user_id: Option<UserId>,
        details: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_write_pool!(self, |pool| insert_system_log!(pool, action, user_id, details, now).await.map(|_| ()))?;
        Ok(())
    }

    /// The newest entries about one user, newest first (for moderators and tests).
    pub async fn system_logs_for_user(&self, user_id: UserId, limit: i64) -> Result<Vec<SystemLogRow>, StoreError> {
        let query = select!(
            "SELECT id, action, user_id, actor_id, details, created_at FROM system_logs WHERE user_id = $1 \
                     ORDER BY id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    /// Records that `actor` acted on `user_id` (`action`, `details`), e.g. an admin reading a phone number.
    pub async fn log_action(
        &self,
        action: AuditAction,
        actor: UserId,
        user_id: UserId,
        details: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_write_pool!(self, |pool| insert_system_log!(
            pool,
            action,
            Some(user_id),
            details,
            now,
            actor = Some(actor)
        )
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The audit trail, newest first, filtered; `before` pages (the smallest id of the previous page).
    pub async fn audit_log(&self, q: &AuditQuery) -> Result<Vec<SystemLogRow>, StoreError> {
        // An absent filter is a NULL parameter, and `before` is always bound (the largest id when absent), so that
        // the page is an id range. The text names one present filter outright, the first of target, actor and
        // action, so that the index leading with it (`system_logs_user_id`, `system_logs_actor`,
        // `system_logs_action_id`: 0009, 0038) serves it newest first whatever the values: with only
        // `$n IS NULL OR …` terms no index applies, and a filter matching few rows read the trail back to its
        // first entry (SQLite plans without the values; PostgreSQL's generic plan does too).
        macro_rules! audit {
            ($leading:literal) => {
                select!(concat!(
                    "SELECT id, action, user_id, actor_id, details, created_at FROM system_logs WHERE ",
                    $leading,
                    " AND ($1 IS NULL OR actor_id = $1) AND ($2 IS NULL OR user_id = $2) \
                     AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR created_at >= $4) \
                     AND ($5 IS NULL OR created_at < $5) AND id < $6 ORDER BY id DESC LIMIT $7"
                ))
            };
        }
        let query = if q.target.is_some() {
            audit!("user_id = $2")
        } else if q.actor.is_some() {
            audit!("actor_id = $1")
        } else if q.action.is_some() {
            audit!("action = $3")
        } else {
            audit!("id < $6")
        };
        Ok(on_read_pool!(self, |pool| pool
            .rows(query)
            .bind(q.actor)
            .bind(q.target)
            .bind(q.action.map(AuditAction::as_str))
            .bind(q.since)
            .bind(q.until)
            .bind(q.before.unwrap_or(i64::MAX))
            .bind(q.limit)
            .all()
            .await)?)
    }
}

/// Filters of [`Store::audit_log`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<UserId>,
    pub target: Option<UserId>,
    pub action: Option<AuditAction>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before: Option<i64>,
    pub limit: i64,
}

impl Store {
    /// What a moderator sees of a user beyond their row: distinct reporters (all time, and since the last
    /// clearance, which is what the automatic ban counts), the clearance, and claims by status.
    pub async fn moderation_counts(&self, user_id: UserId) -> Result<ModerationCounts, StoreError> {
        let reporters = select!(
            "SELECT COUNT(DISTINCT r.reporter_id), \
                    COUNT(DISTINCT CASE WHEN u.ban_cleared_at IS NULL OR r.created_at > u.ban_cleared_at \
                                        THEN r.reporter_id END) \
             FROM reports r JOIN users u ON u.id = r.reported_id WHERE r.reported_id = $1"
        );
        let cleared = select!("SELECT ban_cleared_at FROM users WHERE id = $1");
        let claims = select!("SELECT status, COUNT(*) FROM claims WHERE user_id = $1 GROUP BY status ORDER BY status");
        let (reporters, since_clearance): (i64, i64) =
            on_read_pool!(self, |pool| pool.rows(reporters).bind(user_id).one().await)?;
        let cleared_at: Option<Option<DateTime<Utc>>> =
            on_read_pool!(self, |pool| pool.scalars(cleared).bind(user_id).optional().await)?;
        let claims: Vec<(String, i64)> = on_read_pool!(self, |pool| pool.rows(claims).bind(user_id).all().await)?;
        Ok(ModerationCounts {
            reporters,
            reporters_since_clearance: since_clearance,
            cleared_at: cleared_at.flatten(),
            claims,
        })
    }
}

/// See [`Store::moderation_counts`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModerationCounts {
    pub reporters: i64,
    pub reporters_since_clearance: i64,
    /// When a moderator last lifted a ban (the automatic-ban count starts again there).
    pub cleared_at: Option<DateTime<Utc>>,
    /// (status, count), by status.
    pub claims: Vec<(String, i64)>,
}
