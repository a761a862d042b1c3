//! Notifications: a user's list (newest first), the unread count, marking read, and broadcasts. Each row holds a
//! template and its parameters, written as the caller rendered them ([`NewNotification`], from
//! `crate::notices`); the text is rendered in the reader's language there too, never here.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::system_logs::insert_system_log;
use super::{BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, Locale, NotificationKind, UserId};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct NotificationRow {
    pub id: i64,
    pub user_id: UserId,
    pub kind: NotificationKind,
    pub message: String,
    pub template: Option<String>,
    pub params: String,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

/// A notification to write, as its columns.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    /// The `type` column.
    pub kind: NotificationKind,
    /// The template's name and its parameters (JSON): what readers render in their language.
    pub template: String,
    pub params: String,
    /// The English text, for a server that does not know the template (the `message` column).
    pub message: String,
}

/// Inserts `$notification` (a [`NewNotification`]) for `$user_id`; evaluates to a query result future.
macro_rules! insert_notification {
    ($executor:expr, $user_id:expr, $notification:expr, $now:expr) => {{
        let n: &$crate::store::NewNotification = $notification;
        sqlx::query(
            "INSERT INTO notifications (user_id, message, type, created_at, template, params) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind($user_id)
        .bind(&n.message)
        .bind(n.kind)
        .bind($now)
        .bind(&n.template)
        .bind(&n.params)
        .execute($executor)
    }};
}
pub(crate) use insert_notification;

/// A user a broadcast reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    /// Their notification.
    pub id: i64,
    pub user_id: UserId,
    pub locale: Locale,
}

/// Who a broadcast reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    Everyone,
    Free,
    Premium,
    /// Accounts younger than seven days at the time of sending.
    New,
}

impl Audience {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all" => Some(Self::Everyone),
            "free" => Some(Self::Free),
            "premium" => Some(Self::Premium),
            "new" => Some(Self::New),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Everyone => "all",
            Self::Free => "free",
            Self::Premium => "premium",
            Self::New => "new",
        }
    }
}

macro_rules! notification_columns {
    () => {
        "id, user_id, type AS kind, message, template, params, created_at, read"
    };
}

impl Store {
    /// The user's notifications older than id `before` (all when `None`), newest first, at most `limit`.
    pub async fn notifications_of(
        &self,
        user_id: UserId,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let query = select!(concat!(
            "SELECT ",
            notification_columns!(),
            " FROM notifications WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"
        ));
        let before = before.unwrap_or(i64::MAX);
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(before).bind(limit).all().await)?)
    }

    /// The user's unread notifications created at or after `since`, oldest first: what a run that created some
    /// delivers live.
    pub async fn unread_since(
        &self,
        user_id: UserId,
        since: DateTime<Utc>,
    ) -> Result<Vec<NotificationRow>, StoreError> {
        let query = select!(concat!(
            "SELECT ",
            notification_columns!(),
            " FROM notifications WHERE user_id = $1 AND read = FALSE AND created_at >= $2 ORDER BY id LIMIT 100"
        ));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(since).all().await)?)
    }

    pub async fn unread_count(&self, user_id: UserId) -> Result<i64, StoreError> {
        let query = select!("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read = FALSE");
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(user_id).one().await)?)
    }

    /// Marks the user's notifications up to id `up_to` (inclusive) read; how many changed. Only their own.
    pub async fn mark_read(&self, user_id: UserId, up_to: i64) -> Result<u64, StoreError> {
        let query = "UPDATE notifications SET read = TRUE WHERE user_id = $1 AND id <= $2 AND read = FALSE";
        Ok(on_write_pool!(self, |pool| sqlx::query(query)
            .bind(user_id)
            .bind(up_to)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Sets the language the user's notifications are written in.
    pub async fn set_locale(&self, user_id: UserId, locale: Locale) -> Result<(), StoreError> {
        let query = "UPDATE users SET locale = $2 WHERE id = $1";
        on_write_pool!(self, |pool| sqlx::query(query)
            .bind(user_id)
            .bind(locale.as_str())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The broadcast `notice` to every active (not banned) user of `audience`, with its audit row naming the
    /// admin, in one transaction. Each user reached with their notification's id and language.
    pub async fn broadcast(
        &self,
        notice: &NewNotification,
        audience: Audience,
        admin: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Reached>, StoreError> {
        // The audit row names the notice as its template and parameters.
        let params: serde_json::Value = serde_json::from_str(&notice.params).unwrap_or_default();
        let logged = json!({ "template": notice.template, "params": params });
        let new_since = now - chrono::TimeDelta::days(7);
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let reached: Vec<(i64, UserId)> = sqlx::query_as(
                "INSERT INTO notifications (user_id, message, type, created_at, template, params) \
                 SELECT id, $1, 'system', $2, $3, $4 FROM users WHERE is_banned = FALSE AND purged_at IS NULL AND \
                 ($5 = 'all' OR ($5 = 'free' AND is_premium = FALSE) OR ($5 = 'premium' AND is_premium = TRUE) \
                  OR ($5 = 'new' AND created_at >= $6)) \
                 RETURNING id, user_id",
            )
            .bind(&notice.message)
            .bind(now)
            .bind(&notice.template)
            .bind(&notice.params)
            .bind(audience.as_str())
            .bind(new_since)
            .fetch_all(&mut *tx)
            .await?;
            // The few who chose English; everyone else reads Turkish, the default.
            let english: std::collections::HashSet<UserId> =
                sqlx::query_scalar("SELECT id FROM users WHERE locale = 'en' AND is_banned = FALSE")
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
            let details = json!({ "audience": audience.as_str(), "reached": reached.len(), "notice": logged });
            insert_system_log!(
                &mut *tx,
                AuditAction::NotificationBroadcast,
                None::<UserId>,
                &details,
                now,
                actor = Some(admin)
            )
            .await?;
            tx.commit().await?;
            Ok(reached
                .into_iter()
                .map(|(id, user_id)| Reached {
                    id,
                    user_id,
                    locale: if english.contains(&user_id) { Locale::En } else { Locale::Tr },
                })
                .collect())
        })
    }
}
