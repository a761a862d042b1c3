//! Broadcasts: an admin's notification to everyone or a group, written in Turkish and English.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Admin;
use crate::api::AppState;
use crate::api::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use crate::domain::BroadcastText;
use crate::notices::Notice;
use crate::store::Audience;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BroadcastRequest {
    /// `all`, `free`, `premium` or `new` (accounts younger than seven days). Banned users are never reached.
    #[schema(example = "all", pattern = "^(all|free|premium|new)$")]
    audience: String,
    /// The Turkish text, 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    tr: String,
    /// The English text, 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    en: String,
}

#[derive(Serialize, ToSchema)]
pub struct BroadcastResult {
    /// Users who got it.
    reached: usize,
}

/// Send a notification to everyone or a group (admins only). Stored for each user, delivered live to those
/// online, and audited (`notification.broadcast`).
#[utoipa::path(post, path = "/v1/admin/broadcasts", tag = "admin", security(("bearer" = [])), request_body = BroadcastRequest,
    responses((status = 200, body = BroadcastResult), (status = 422, description = "invalid_request", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody)))]
pub(super) async fn send(
    State(state): State<AppState>,
    Admin(admin): Admin,
    AppJson(req): AppJson<BroadcastRequest>,
) -> Result<AppJson<BroadcastResult>, ApiError> {
    let audience = Audience::parse(&req.audience)
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidRequest, "audience must be all, free, premium or new"))?;
    let (tr, en) = BroadcastText::parse(&req.tr, &req.en)?.into_texts();
    let notice = Notice::Broadcast { tr, en };
    let now = state.accounts.now();
    let reached = state.store.broadcast(&notice.to_row(), audience, admin, now).await.map_err(ApiError::internal)?;
    state.hub.push_broadcast(&notice, now, &reached);
    Ok(AppJson(BroadcastResult { reached: reached.len() }))
}
