//! A user's declared gender as moderators handle it (docs/admin.md "Declarations"): how many people reported it
//! "not as declared", whether that suspended its use in filtered matching, and clearing the suspension. Moderators
//! never see the declared gender itself: what they decide on is the reports, and the user's word against them.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::Staff;
use crate::api::AppState;
use crate::api::error::AppPath;
use crate::api::error::{ApiError, ErrorBody, ErrorCode};
use crate::domain::UserId;
use crate::notices::Notice;
use crate::store::DeclarationCleared;

/// The user's declaration as the trust rules left it.
#[derive(Serialize, ToSchema)]
pub struct DeclarationView {
    /// Since when matching by gender does not use their declaration; null while it does (or nothing is declared).
    suspended_at: Option<DateTime<Utc>>,
    /// When a moderator last cleared it: reports before that no longer count.
    cleared_at: Option<DateTime<Utc>>,
    /// Distinct people who reported them "not as declared" since then, counting or not.
    reporters_since_clearance: i64,
}

pub(super) async fn of(state: &AppState, id: UserId) -> Result<DeclarationView, ApiError> {
    let standing = state.store.declaration_standing(id).await.map_err(ApiError::internal)?;
    let standing = standing.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such user"))?;
    Ok(DeclarationView {
        suspended_at: standing.suspended_at,
        cleared_at: standing.cleared_at,
        reporters_since_clearance: standing.reporters_since_clearance,
    })
}

/// Clear a suspended declaration: matching by gender uses it again, and the "not as declared" reports made until
/// now no longer count. Written with a statement of reasons to the user, their notification and the audit row.
#[utoipa::path(post, path = "/v1/admin/users/{id}/declaration/clearance", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the user's id")),
    responses((status = 204), (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "not_suspended", body = ErrorBody)))]
pub(super) async fn clear(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<UserId>,
) -> Result<StatusCode, ApiError> {
    let now = state.accounts.now();
    let notice = Notice::DeclarationCleared {}.to_row();
    match state.store.clear_declaration(id, staff.id, &notice, now).await.map_err(ApiError::internal)? {
        DeclarationCleared::Cleared => {
            // Matching reads their declaration again.
            state.hub.standing_changed(id);
            Ok(StatusCode::NO_CONTENT)
        }
        DeclarationCleared::NotSuspended => {
            Err(ApiError::new(ErrorCode::NotSuspended, "the user's declaration is not suspended"))
        }
        DeclarationCleared::NoSuchUser => Err(ApiError::new(ErrorCode::NotFound, "no such user")),
    }
}
