//! The audit trail: structured events mirrored into `system_logs`. Details are JSON and must never
//! hold phone numbers, passwords or message content.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Store, StoreError, on_read_pool, on_write_pool, select};

/// Inserts one entry on whatever connection or transaction the caller holds (a concrete SQLite or
/// PostgreSQL executor inside `on_read_pool!`), so an event is recorded in the same commit as the change it
/// describes. Evaluates to the query's future.
macro_rules! insert_system_log {
    ($executor:expr, $action:expr, $user_id:expr, $details:expr, $now:expr) => {
        sqlx::query("INSERT INTO system_logs (action, user_id, details, created_at) VALUES ($1, $2, $3, $4)")
            .bind($action)
            .bind($user_id)
            .bind(($details).to_string())
            .bind($now)
            .execute($executor)
    };
}
pub(crate) use insert_system_log;

/// One `system_logs` row as read back.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SystemLogRow {
    pub id: i64,
    pub action: String,
    pub user_id: Option<i64>,
    pub details: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    pub async fn log_event(
        &self,
        action: &str,
        user_id: Option<i64>,
        details: &Value,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        on_write_pool!(self, |pool| insert_system_log!(pool, action, user_id, details, now).await.map(|_| ()))?;
        Ok(())
    }

    /// The newest entries about one user, newest first (for moderators and tests).
    pub async fn system_logs_for_user(&self, user_id: i64, limit: i64) -> Result<Vec<SystemLogRow>, StoreError> {
        let query = select!(
            "SELECT id, action, user_id, details, created_at FROM system_logs WHERE user_id = $1 \
                     ORDER BY id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }
}
