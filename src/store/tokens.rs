//! Refresh tokens: stored as SHA-256 hashes, grouped in families (one login and all its rotations).

use chrono::{DateTime, Utc};

use super::{BeginWrite, NewRefreshToken, RefreshTokenRow, Store, StoreError, on_read_pool, on_write_pool, select};

pub(super) const INSERT_TOKEN: &str = "INSERT INTO refresh_tokens (user_id, family_id, token_hash, created_at, expires_at, user_agent) \
                            VALUES ($1, $2, $3, $4, $5, $6)";

/// The outcome of presenting a token for rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The old token is now used and the new one stored.
    Rotated,
    /// Someone used or revoked it first (a concurrent refresh); nothing was stored.
    AlreadyConsumed,
}

impl Store {
    pub async fn insert_refresh_token(&self, new: &NewRefreshToken, now: DateTime<Utc>) -> Result<(), StoreError> {
        on_write_pool!(self, |pool| sqlx::query(INSERT_TOKEN)
            .bind(new.user_id)
            .bind(&new.family_id)
            .bind(&new.token_hash)
            .bind(now)
            .bind(new.expires_at)
            .bind(&new.user_agent)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    pub async fn refresh_token_by_hash(&self, hash: &[u8]) -> Result<Option<RefreshTokenRow>, StoreError> {
        let query = select!(
            "SELECT id, user_id, family_id, created_at, expires_at, used_at, revoked_at \
                     FROM refresh_tokens WHERE token_hash = $1"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(hash).optional().await)?)
    }

    /// Marks `old_id` used and stores its successor, atomically. The conditional update makes two
    /// concurrent refreshes with the same token produce one rotation and one [`Rotation::AlreadyConsumed`].
    pub async fn rotate_refresh_token(
        &self,
        old_id: i64,
        new: &NewRefreshToken,
        now: DateTime<Utc>,
    ) -> Result<Rotation, StoreError> {
        // Tests make two refreshes of one token meet here: both have read the token as unused.
        self.fail_points.rendezvous("refresh.before_rotate").await;
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let consumed = sqlx::query(
                "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
            )
            .bind(old_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if consumed == 0 {
                return Ok(Rotation::AlreadyConsumed);
            }
            sqlx::query(INSERT_TOKEN)
                .bind(new.user_id)
                .bind(&new.family_id)
                .bind(&new.token_hash)
                .bind(now)
                .bind(new.expires_at)
                .bind(&new.user_agent)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
            // The login was used now. A family begun by a node that predates `logins` (a rolling upgrade) gets
            // its row here, so the access token about to name it is not refused.
            sqlx::query(
                "INSERT INTO logins (family_id, user_id, created_at, last_used_at, expires_at, user_agent) \
                 VALUES ($1, $2, $3, $3, $4, $5) \
                 ON CONFLICT (family_id) DO UPDATE SET last_used_at = excluded.last_used_at, \
                 expires_at = excluded.expires_at",
            )
            .bind(&new.family_id)
            .bind(new.user_id)
            .bind(now)
            .bind(new.expires_at)
            .bind(&new.user_agent)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Rotation::Rotated)
        })
    }

    /// Revokes every token of the family that is not revoked yet, and its login; returns how many tokens were.
    pub async fn revoke_token_family(&self, family_id: &str, now: DateTime<Utc>) -> Result<u64, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let done =
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                    .bind(family_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            sqlx::query("UPDATE logins SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                .bind(family_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(done)
        })
    }
}
