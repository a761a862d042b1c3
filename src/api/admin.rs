//! `/v1/admin/*`: moderator actions. Every endpoint requires the `moderator` or `admin` role, re-read from
//! the database on each request (a demoted moderator's token stops working at once).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, AppPath, ErrorBody, ErrorCode};
use super::extract::AuthUser;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ban)).routes(routes!(unban))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// Shown to the user when they try to sign in.
    reason: String,
}

/// The acting moderator's id, or 403.
async fn moderator(state: &AppState, user: &AuthUser) -> Result<i64, ApiError> {
    let row = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    match row.role.as_str() {
        "moderator" | "admin" => Ok(row.id),
        _ => Err(ApiError::new(ErrorCode::Forbidden, "this needs the moderator role")),
    }
}

/// Ban a user: their sockets close, their match ends, and they cannot sign in.
#[utoipa::path(post, path = "/v1/admin/users/{id}/ban", tag = "admin", security(("bearer" = [])), request_body = BanRequest,
    params(("id" = i64, Path, description = "the user's id")),
    responses((status = 204), (status = 403, description = "forbidden", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn ban(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<i64>,
    AppJson(req): AppJson<BanRequest>,
) -> Result<StatusCode, ApiError> {
    let moderator = moderator(&state, &user).await?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "reason must have 1 to 200 characters"));
    }
    // The ban and its audit row (naming the moderator) commit together.
    match state.hub.ban(id, reason, &json!({ "moderator": moderator })).await.map_err(ApiError::internal)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(ErrorCode::NotFound, "no such user")),
    }
}

/// Lift a ban. Reports made before now no longer count toward an automatic ban.
#[utoipa::path(post, path = "/v1/admin/users/{id}/unban", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the user's id")),
    responses((status = 204), (status = 403, description = "forbidden", body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn unban(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    let moderator = moderator(&state, &user).await?;
    let now = state.accounts.now();
    match state.store.unban_user(id, &json!({ "moderator": moderator }), now).await.map_err(ApiError::internal)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(ErrorCode::NotFound, "no such user")),
    }
}
