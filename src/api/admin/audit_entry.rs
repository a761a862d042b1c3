//! [`AuditEntry`]: one entry of the audit trail as staff see it, in the trail itself (`GET /v1/admin/audit`) and
//! in a user's history (`GET /v1/admin/users/{id}`). Not a handler: `audit` and `users` share it from here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{AuditAction, UserId};
use crate::store::SystemLogRow;

/// One entry of the audit trail.
#[derive(Serialize, ToSchema)]
pub struct AuditEntry {
    id: i64,
    #[schema(example = "user.banned", value_type = String)]
    action: AuditAction,
    /// The user the entry is about.
    #[schema(value_type = Option<i64>)]
    target_id: Option<UserId>,
    /// The moderator or admin who acted; absent when the system did (a job, the user themself).
    #[schema(value_type = Option<i64>)]
    actor_id: Option<UserId>,
    /// Structured details (never phone numbers, passwords or message content).
    #[schema(value_type = Object)]
    details: serde_json::Value,
    created_at: DateTime<Utc>,
}

impl From<SystemLogRow> for AuditEntry {
    fn from(row: SystemLogRow) -> Self {
        AuditEntry {
            id: row.id,
            action: row.action,
            target_id: row.user_id,
            actor_id: row.actor_id,
            details: serde_json::from_str(&row.details).unwrap_or(serde_json::Value::Null),
            created_at: row.created_at,
        }
    }
}
