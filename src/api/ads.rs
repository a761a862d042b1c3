//! `POST /v1/ads/{id}/click`: the app reports that the user tapped an ad it was shown (the `ad` frame).

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppPath, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use crate::store::Click;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(click))
}

/// Count a click on an ad you were shown; once per showing.
#[utoipa::path(post, path = "/v1/ads/{id}/click", tag = "account", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the ad's id, from the `ad` frame")),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "not_found: you were not shown this ad", body = ErrorBody)))]
async fn click(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<i64>,
) -> Result<StatusCode, ApiError> {
    let me = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    match state.store.click_ad(id, me.id, state.accounts.now()).await.map_err(ApiError::internal)? {
        Click::Counted | Click::AlreadyCounted => Ok(StatusCode::NO_CONTENT),
        Click::NotShown => Err(ApiError::new(ErrorCode::NotFound, "you were not shown this ad")),
    }
}
