//! `/v1/devices`: the app registers the device's push token (with its platform and language) after sign-in, and
//! removes it on sign-out. Pushes reach the user only while they have no open socket.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use crate::notices::Locale;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(register, remove))
}

/// Longest push token accepted (FCM tokens are about 160 bytes).
const MAX_TOKEN: usize = 4096;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// The FCM registration token.
    #[schema(min_length = 1, max_length = 4096, pattern = "^[A-Za-z0-9_:.-]+$")]
    token: String,
    /// `android`, `ios` or `web`.
    #[schema(pattern = "^(android|ios|web)$")]
    platform: String,
    /// `tr` or `en`: the language of this device's pushes (default `tr`).
    #[schema(pattern = "^(tr|en)$")]
    locale: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceToken {
    #[schema(min_length = 1, max_length = 4096, pattern = "^[A-Za-z0-9_:.-]+$")]
    token: String,
}

fn valid_token(token: &str) -> Result<(), ApiError> {
    let ok = !token.is_empty()
        && token.len() <= MAX_TOKEN
        && token.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'.' | b'-'));
    ok.then_some(())
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidRequest, "token must be 1 to 4096 of A-Z a-z 0-9 _ : . -"))
}

/// Register this device for push (again: its platform and language are updated). A token another account
/// registered moves to this one, without the pushes still waiting for the other account.
#[utoipa::path(post, path = "/v1/devices", tag = "account", security(("bearer" = [])), request_body = Device,
    responses((status = 204), (status = 422, description = "invalid_request", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<Device>,
) -> Result<StatusCode, ApiError> {
    valid_token(&req.token)?;
    if !matches!(req.platform.as_str(), "android" | "ios" | "web") {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "platform must be android, ios or web"));
    }
    let locale = match req.locale.as_deref() {
        None => Locale::Tr,
        Some(l) => {
            Locale::parse(l).ok_or_else(|| ApiError::new(ErrorCode::InvalidRequest, "locale must be tr or en"))?
        }
    };
    let me = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    let now = state.accounts.now();
    state.store.upsert_device(me.id, &req.token, &req.platform, locale, now).await.map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove this device (on sign-out): it gets no more pushes.
#[utoipa::path(delete, path = "/v1/devices", tag = "account", security(("bearer" = [])), request_body = DeviceToken,
    responses((status = 204), (status = 404, description = "not_found: no such device of yours", body = ErrorBody),
        (status = 422, description = "invalid_request", body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<DeviceToken>,
) -> Result<StatusCode, ApiError> {
    valid_token(&req.token)?;
    match state.store.delete_device(user.id, &req.token).await.map_err(ApiError::internal)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(ErrorCode::NotFound, "no such device of yours")),
    }
}
