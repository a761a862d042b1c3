//! `/v1/blocks`: the people you blocked, and lifting a block.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, AppPath, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use crate::domain::handle;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_blocks)).routes(routes!(unblock))
}

#[derive(Serialize, ToSchema)]
pub struct Block {
    /// Pass to `DELETE /v1/blocks/{id}` to lift it.
    id: i64,
    /// The blocked person's current `alias#tag`.
    handle: String,
    created_at: DateTime<Utc>,
}

/// Everyone you blocked, oldest first.
#[utoipa::path(get, path = "/v1/blocks", tag = "moderation", security(("bearer" = [])),
    responses((status = 200, body = Vec<Block>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_blocks(State(state): State<AppState>, user: AuthUser) -> Result<AppJson<Vec<Block>>, ApiError> {
    state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    let rows = state.store.blocks_of(user.id).await.map_err(ApiError::internal)?;
    let blocks = rows
        .into_iter()
        .map(|b| Block { id: b.id, handle: handle(&b.alias, &b.tag), created_at: b.created_at })
        .collect();
    Ok(AppJson(blocks))
}

/// Lift one of your blocks: the two of you may be matched again.
#[utoipa::path(delete, path = "/v1/blocks/{id}", tag = "moderation", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the block's id from GET /v1/blocks")),
    responses((status = 204), (status = 404, description = "not_found: no such block of yours", body = ErrorBody)))]
async fn unblock(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    match state.store.delete_block(user.id, id).await.map_err(ApiError::internal)? {
        Some(blocked) => {
            // Matching cached the block on the nodes holding either side's sockets.
            for user in [user.id, blocked] {
                state.hub.standing_changed(user);
            }
            Ok(StatusCode::NO_CONTENT)
        }
        None => Err(ApiError::new(ErrorCode::NotFound, "no such block")),
    }
}
