//! `/v1/rtc/ice-servers`: TURN servers with fresh ephemeral credentials, for a client that needs them outside
//! `match.found` (to pre-warm, or when its credentials expired mid-call).

use axum::extract::State;
use tanis_proto::RtcConfig;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody};
use super::extract::AuthUser;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ice_servers))
}

/// ICE servers for a video call: TURN REST credentials valid for `ttl_secs` and the `relay` policy.
#[utoipa::path(get, path = "/v1/rtc/ice-servers", tag = "video", security(("bearer" = [])),
    responses((status = 200, description = "`{ice_servers: [{urls, username, credential}], ice_transport_policy, ttl_secs}`"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn ice_servers(State(state): State<AppState>, user: AuthUser) -> Result<AppJson<RtcConfig>, ApiError> {
    state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    Ok(AppJson(state.hub.rtc_config()))
}
