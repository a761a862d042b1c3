//! `POST /v1/me/consent`: accepting the current privacy notice. When the operator publishes a new version
//! (`auth.privacy_notice_version`), `GET /v1/me` says `must_accept_privacy_notice` and matching answers
//! `consent_required` until the user accepts it here. Every accepted version is kept with its time.

use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody};
use super::extract::AuthUser;
use super::me::Me;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(accept))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsentRequest {
    /// The version of the notice the user was shown and accepts; it must be the server's current one
    /// (`stale_notice_version` otherwise, with the current version in the message).
    #[schema(example = "2026-11-01", min_length = 1, max_length = 64)]
    version: String,
}

/// Accept the current privacy notice. Accepting it again changes nothing.
#[utoipa::path(post, path = "/v1/me/consent", tag = "account", security(("bearer" = [])), request_body = ConsentRequest,
    responses((status = 200, body = Me),
              (status = 409, description = "stale_notice_version", body = ErrorBody)))]
async fn accept(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<ConsentRequest>,
) -> Result<AppJson<Me>, ApiError> {
    state.accounts.accept_privacy_notice(user.id, &req.version).await.map_err(|e| state.api_error(e))?;
    // A standing cached as "not consented" beside their sockets is read again at the next find.
    state.hub.standing_changed(user.id);
    let row = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    Ok(AppJson(Me::from(&row).with_plan(&state, row.id).await?.with_notice(state.accounts.privacy_notice_version())))
}
