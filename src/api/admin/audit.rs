//! The audit trail (`system_logs`): every moderator action with its actor, target and details, browsable with
//! filters and paging.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Staff;
use super::audit_entry::AuditEntry;
use crate::api::AppState;
use crate::api::error::{ApiError, AppJson, AppQuery, ErrorBody, ErrorCode};
use crate::domain::{AuditAction, UserId};
use crate::store::AuditQuery;

/// Most entries per page, and the default.
const MAX_PAGE: i64 = 200;
const DEFAULT_PAGE: i64 = 50;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Only what this moderator or admin did.
    #[param(value_type = Option<i64>)]
    actor: Option<UserId>,
    /// Only entries about this user.
    #[param(value_type = Option<i64>)]
    target: Option<UserId>,
    /// Only this action (`user.banned`, `user.unbanned`, `admin.phone_viewed`, `claim.decided`, …).
    #[param(min_length = 1, max_length = 64)]
    action: Option<String>,
    /// From this instant (inclusive), RFC 3339.
    since: Option<DateTime<Utc>>,
    /// Until this instant (exclusive), RFC 3339.
    until: Option<DateTime<Utc>>,
    /// Entries older than this id: pass the previous page's `next_before`.
    before: Option<i64>,
    /// Entries per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
}

/// A page of the audit trail, newest first.
#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page; absent on the last page.
    next_before: Option<i64>,
}

/// Browse the audit trail, newest first, by actor, target, action and time range.
#[utoipa::path(get, path = "/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(Filters),
    responses((status = 200, body = AuditPage), (status = 400, description = "invalid_parameter", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody)))]
pub(super) async fn browse(
    State(state): State<AppState>,
    _: Staff,
    AppQuery(f): AppQuery<Filters>,
) -> Result<AppJson<AuditPage>, ApiError> {
    let limit = f.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "limit must be 1 to 200"));
    }
    if f.action.as_ref().is_some_and(|a| a.is_empty() || a.len() > 64) {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "action must have 1 to 64 characters"));
    }
    let action = match f.action.as_deref().map(AuditAction::parse) {
        None => None,
        Some(Some(action)) => Some(action),
        // No entry has an action that is not one, so the answer is the empty last page, as it always was.
        Some(None) => return Ok(AppJson(AuditPage { entries: Vec::new(), next_before: None })),
    };
    let query = AuditQuery {
        actor: f.actor,
        target: f.target,
        action,
        since: f.since,
        until: f.until,
        before: f.before,
        limit: limit + 1,
    };
    let rows = state.store.audit_log(&query).await.map_err(ApiError::internal)?;
    let (rows, next_before) = crate::api::pages::keyset_page(rows, limit, |r| r.id);
    Ok(AppJson(AuditPage { entries: rows.into_iter().map(AuditEntry::from).collect(), next_before }))
}
