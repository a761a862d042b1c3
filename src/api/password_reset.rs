//! `/v1/auth/password-reset`: a forgotten password, reset with a code sent to the account's verified phone. The
//! request answers the same whether or not the phone has such an account, so it tells nobody who uses tanis;
//! the confirmation signs out every session of the account (their sockets close with 4001).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody};
use super::one_time_codes::{CodeRequested, parse_code};
use crate::accounts::ClientInfo;
use crate::domain::{Password, Phone};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(request)).routes(routes!(confirm))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The account's phone number, in any common format.
    #[schema(example = "+905321234567", min_length = 1, max_length = 32)]
    phone: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirmation {
    #[schema(example = "+905321234567", min_length = 1, max_length = 32)]
    phone: String,
    /// The 6 digits received by SMS.
    #[schema(example = "042917", pattern = "^[0-9]{6}$")]
    code: String,
    /// Under the rules of registration: 8 or more characters, at most 72 bytes (UTF-8), not a common password or
    /// one character repeated (`weak_password` / `password_too_long`, checked before the code is looked at).
    #[schema(min_length = 8, max_length = 72)]
    new_password: String,
}

/// Ask for a password reset code. If the phone belongs to an account whose phone is verified, a code is sent to
/// it; the answer is the same either way, and the limits on codes apply either way.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, body = CodeRequested),
              (status = 422, description = "invalid_phone", body = ErrorBody),
              (status = 429, description = "too_many_codes, with Retry-After", body = ErrorBody)))]
async fn request(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<ResetRequest>,
) -> Result<(StatusCode, AppJson<CodeRequested>), ApiError> {
    let phone = Phone::parse(&req.phone)?;
    let sent = state.accounts.request_password_reset(&phone, &client).await.map_err(|e| state.api_error(e))?;
    Ok((StatusCode::ACCEPTED, AppJson(sent.into())))
}

/// Set a new password with the code. Every session of the account is signed out (refresh tokens refused, sockets
/// closed with 4001); sign in with the new password. A banned account may reset its password; the ban still
/// applies at sign-in.
#[utoipa::path(post, path = "/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirmation,
    responses((status = 204),
              (status = 422, description = "invalid_phone, weak_password, password_too_long (no guess spent); wrong_code (the message says how many attempts are left), code_expired (expired, used, superseded or never asked for)", body = ErrorBody),
              (status = 429, description = "too_many_code_attempts: the code no longer works; ask for a new one", body = ErrorBody),
              (status = 503, description = "server_busy, with Retry-After", body = ErrorBody)))]
async fn confirm(
    State(state): State<AppState>,
    AppJson(req): AppJson<ResetConfirmation>,
) -> Result<StatusCode, ApiError> {
    let phone = Phone::parse(&req.phone)?;
    // The new password's rules first: a password that cannot be set spends no guess of the code.
    let new = Password::parse(req.new_password)?;
    let code = parse_code(&req.code)?;
    let (user_id, revoked) =
        state.accounts.confirm_password_reset(&phone, &code, &new).await.map_err(|e| state.api_error(e))?;
    state.hub.signed_out(user_id, revoked);
    Ok(StatusCode::NO_CONTENT)
}
