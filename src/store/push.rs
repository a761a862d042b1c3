//! Devices registered for push, and the push outbox: one row per device and push, sent by the push job.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{Locale, UserId};

/// A push to queue, rendered by the caller (`crate::push`): its payload in each language and its collapse key.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedPush {
    /// For devices set to Turkish (the default).
    pub tr: String,
    /// For devices set to English.
    pub en: String,
    /// Pushes with the same key replace one another while waiting.
    pub collapse_key: Option<String>,
}

/// One waiting push, with the device token it goes to.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PushRow {
    pub id: i64,
    pub device_id: i64,
    pub push_token: String,
    pub payload: String,
    pub attempts: i32,
}

impl Store {
    /// Registers the device for `user_id`. A token another account registered moves to this one (one app on one
    /// device, signed in as someone else: a shared phone, a sign-out and sign-in): the other account's device is
    /// deleted first, and with it every push still waiting for it (`push_outbox` cascades), so nothing of the other
    /// account reaches the device after the move. The same owner's token is updated in place (and the owner set
    /// again: of two accounts registering one token at once, the later insert wins, as it would have).
    pub async fn upsert_device(
        &self,
        user_id: UserId,
        token: &str,
        platform: &str,
        locale: Locale,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let query = "INSERT INTO devices (user_id, platform, push_token, created_at, last_seen_at, locale) \
                     VALUES ($1, $2, $3, $4, $4, $5) ON CONFLICT (push_token) DO UPDATE SET \
                     user_id = excluded.user_id, platform = excluded.platform, last_seen_at = excluded.last_seen_at, locale = excluded.locale";
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM devices WHERE push_token = $1 AND user_id <> $2")
                .bind(token)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(query)
                .bind(user_id)
                .bind(platform)
                .bind(token)
                .bind(now)
                .bind(locale.as_str())
                .execute(&mut *tx)
                .await?;
            tx.commit().await
        })?;
        Ok(())
    }

    /// Removes the user's device with this token; false when they have none.
    pub async fn delete_device(&self, user_id: UserId, token: &str) -> Result<bool, StoreError> {
        let query = "DELETE FROM devices WHERE user_id = $1 AND push_token = $2";
        let deleted = on_write_pool!(self, |pool| sqlx::query(query)
            .bind(user_id)
            .bind(token)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(deleted > 0)
    }

    /// Forgets a device whose token the push service no longer knows.
    pub async fn forget_device(&self, device_id: i64) -> Result<(), StoreError> {
        on_write_pool!(self, |pool| sqlx::query("DELETE FROM devices WHERE id = $1")
            .bind(device_id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Queues `push` for every device of the user, in each device's language; a push with the same collapse key
    /// still waiting for a device is kept instead. How many were queued.
    pub async fn enqueue_push(
        &self,
        user_id: UserId,
        push: impl Into<QueuedPush>,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let QueuedPush { tr, en, collapse_key: collapse } = push.into();
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let queued = sqlx::query(
                "INSERT INTO push_outbox (device_id, payload, collapse_key, not_before, created_at) \
                 SELECT id, CASE WHEN locale = 'en' THEN $2 ELSE $3 END, $4, $5, $5 FROM devices WHERE user_id = $1 \
                 ON CONFLICT (device_id, collapse_key) WHERE collapse_key IS NOT NULL DO NOTHING",
            )
            .bind(user_id)
            .bind(&en)
            .bind(&tr)
            .bind(&collapse)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(usize::try_from(queued).unwrap_or(usize::MAX))
        })
    }

    /// Pushes due by `now`, oldest first, at most `limit`.
    pub async fn due_pushes(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<PushRow>, StoreError> {
        let query = select!(
            "SELECT p.id, p.device_id, d.push_token, p.payload, p.attempts FROM push_outbox p \
             JOIN devices d ON d.id = p.device_id WHERE p.not_before <= $1 ORDER BY p.not_before, p.id LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(now).bind(limit).all().await)?)
    }

    /// The push is done with (sent, or given up).
    pub async fn push_done(&self, id: i64) -> Result<(), StoreError> {
        on_write_pool!(self, |pool| sqlx::query("DELETE FROM push_outbox WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The push is tried again at `not_before`.
    pub async fn push_later(&self, id: i64, not_before: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "UPDATE push_outbox SET attempts = attempts + 1, not_before = $2 WHERE id = $1";
        on_write_pool!(self, |pool| sqlx::query(query).bind(id).bind(not_before).execute(pool).await.map(|_| ()))?;
        Ok(())
    }
}
