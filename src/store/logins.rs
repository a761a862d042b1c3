//! Logins: one row per sign-in (a refresh-token family), what the user sees as their sessions. A login is
//! revoked in the same transaction as its refresh tokens, so `refresh_tokens` keeps refusing refreshes on its
//! own and `logins` answers the access path's one question cheaply: is the login this token names still live?

use chrono::{DateTime, Utc};
use serde_json::json;

use super::system_logs::insert_system_log;
use super::{BeginWrite, NewRefreshToken, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, UserId};

/// A live login as its owner sees it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LoginRow {
    pub family_id: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
}

/// Most logins listed: the most recently used. A user who signs in more often than that without signing out
/// can still revoke them all at once.
const MAX_LISTED: i64 = 100;

/// Revokes every login of the user but `keep` (all when `None`), with their refresh tokens; evaluates to the
/// family ids revoked. Inside a transaction.
macro_rules! revoke_other_logins {
    ($tx:expr, $user_id:expr, $keep:expr, $now:expr) => {
        async {
            let keep: Option<String> = $keep;
            let revoked: Vec<String> = sqlx::query_scalar(
                "UPDATE logins SET revoked_at = $3 \
                 WHERE user_id = $1 AND ($2 IS NULL OR family_id <> $2) AND revoked_at IS NULL RETURNING family_id",
            )
            .bind($user_id)
            .bind(&keep)
            .bind($now)
            .fetch_all(&mut *$tx)
            .await?;
            sqlx::query(
                "UPDATE refresh_tokens SET revoked_at = $3 \
                 WHERE user_id = $1 AND ($2 IS NULL OR family_id <> $2) AND revoked_at IS NULL",
            )
            .bind($user_id)
            .bind(&keep)
            .bind($now)
            .execute(&mut *$tx)
            .await?;
            Ok::<Vec<String>, sqlx::Error>(revoked)
        }
    };
}
pub(super) use revoke_other_logins;

impl Store {
    /// Records a new login and stores its first refresh token, atomically. `ip` is the client's address, when
    /// known.
    pub async fn start_login(
        &self,
        first: &NewRefreshToken,
        ip: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO logins (family_id, user_id, created_at, last_used_at, expires_at, user_agent, ip) \
                 VALUES ($1, $2, $3, $3, $4, $5, $6)",
            )
            .bind(&first.family_id)
            .bind(first.user_id)
            .bind(now)
            .bind(first.expires_at)
            .bind(&first.user_agent)
            .bind(ip)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            sqlx::query(super::tokens::INSERT_TOKEN)
                .bind(first.user_id)
                .bind(&first.family_id)
                .bind(&first.token_hash)
                .bind(now)
                .bind(first.expires_at)
                .bind(&first.user_agent)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Whether the user's login `family_id` exists and is not revoked: the check every access token that names
    /// a login passes, one primary-key read.
    pub async fn login_is_live(&self, user_id: UserId, family_id: &str) -> Result<bool, StoreError> {
        let query = select!("SELECT COUNT(*) FROM logins WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL");
        let live: i64 = on_read_pool!(self, |pool| pool.scalars(query).bind(family_id).bind(user_id).one().await)?;
        Ok(live > 0)
    }

    /// The user's logins that are neither revoked nor expired, most recently used first (at most 100).
    pub async fn live_logins(&self, user_id: UserId, now: DateTime<Utc>) -> Result<Vec<LoginRow>, StoreError> {
        let query = select!(
            "SELECT family_id, created_at, last_used_at, expires_at, user_agent, ip FROM logins \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY last_used_at DESC, family_id LIMIT $3"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(now).bind(MAX_LISTED).all().await)?)
    }

    /// Revokes the user's login `family_id` and its refresh tokens. False when the user has no such login or it
    /// is revoked already: someone else's login is never touched.
    pub async fn revoke_login(&self, user_id: UserId, family_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let revoked = sqlx::query(
                "UPDATE logins SET revoked_at = $3 WHERE family_id = $1 AND user_id = $2 AND revoked_at IS NULL",
            )
            .bind(family_id)
            .bind(user_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if revoked == 0 {
                return Ok(false);
            }
            sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                .bind(family_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Revokes every login of the user but `keep` (all of them when `None`); returns the family ids revoked.
    pub async fn revoke_other_logins(
        &self,
        user_id: UserId,
        keep: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let revoked = revoke_other_logins!(tx, user_id, keep.map(str::to_owned), now).await?;
            tx.commit().await?;
            Ok(revoked)
        })
    }

    /// Stores the user's new password hash and revokes every login but `keep`, with the `auth.password_changed`
    /// audit row, in one transaction; returns the family ids revoked.
    pub async fn change_password(
        &self,
        user_id: UserId,
        password_hash: &str,
        keep: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id)
                .bind(password_hash)
                .execute(&mut *tx)
                .await?;
            let revoked = revoke_other_logins!(tx, user_id, keep.map(str::to_owned), now).await?;
            let details = json!({ "sessions_revoked": revoked.len() });
            insert_system_log!(&mut *tx, AuditAction::AuthPasswordChanged, Some(user_id), &details, now).await?;
            tx.commit().await?;
            Ok(revoked)
        })
    }
}
