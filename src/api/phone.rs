//! `/v1/me/phone/*`: verifying the account's phone with a code, and moving the account to another phone (the
//! code goes to the new one). Codes are 6 digits, live 5 minutes and take 5 guesses; how often one may be
//! asked for is limited per phone and per client address (`[sms]`, docs/errors.md).

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use super::me::Me;
use super::one_time_codes::{CodeRequested, parse_code};
use crate::accounts::{AccountError, ClientInfo};
use crate::domain::{Password, Phone};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_verification))
        .routes(routes!(verify))
        .routes(routes!(request_change))
        .routes(routes!(confirm_change))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeEntry {
    /// The 6 digits received by SMS.
    #[schema(example = "042917", pattern = "^[0-9]{6}$")]
    code: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneChangeRequest {
    /// The new number, in any common format (normalised to E.164, default region TR).
    #[schema(example = "+905321234568", min_length = 1, max_length = 32)]
    phone: String,
    /// The current password; at most 72 bytes.
    #[schema(example = "correct horse battery", max_length = 72)]
    password: String,
}

/// The account as `GET /v1/me` shows it.
async fn me(state: &AppState, row: &crate::store::UserRow) -> Result<AppJson<Me>, ApiError> {
    Ok(AppJson(Me::from(row).with_plan(state, row.id).await?.with_notice(state.accounts.privacy_notice_version())))
}

/// Send a new verification code to your phone (any earlier code stops working).
#[utoipa::path(post, path = "/v1/me/phone/verification", tag = "account", security(("bearer" = [])),
    responses((status = 202, body = CodeRequested),
              (status = 403, description = "account_banned", body = ErrorBody),
              (status = 409, description = "phone_already_verified", body = ErrorBody),
              (status = 429, description = "too_many_codes, with Retry-After", body = ErrorBody),
              (status = 503, description = "sms_unavailable: the SMS provider failed; ask again", body = ErrorBody)))]
async fn request_verification(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
) -> Result<(StatusCode, AppJson<CodeRequested>), ApiError> {
    let sent = state.accounts.request_phone_verification(user.id, &client).await.map_err(|e| state.api_error(e))?;
    Ok((StatusCode::ACCEPTED, AppJson(sent.into())))
}

/// Verify your phone with the code sent to it.
#[utoipa::path(post, path = "/v1/me/phone/verify", tag = "account", security(("bearer" = [])), request_body = CodeEntry,
    responses((status = 200, body = Me),
              (status = 403, description = "account_banned", body = ErrorBody),
              (status = 422, description = "wrong_code (the message says how many attempts are left), code_expired (expired, used, superseded or never asked for)", body = ErrorBody),
              (status = 429, description = "too_many_code_attempts: the code no longer works; ask for a new one", body = ErrorBody)))]
async fn verify(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<CodeEntry>,
) -> Result<AppJson<Me>, ApiError> {
    let code = parse_code(&req.code)?;
    let row = state.accounts.verify_phone(user.id, &code).await.map_err(|e| state.api_error(e))?;
    // A verified phone lifts the limits of unverified accounts (and counts their reports): matching reads it again.
    state.hub.standing_changed(row.id);
    me(&state, &row).await
}

/// Move your account to another phone number: with your password, a code goes to the new number; the number
/// changes when that code comes back (`POST /v1/me/phone/change/verify`).
#[utoipa::path(post, path = "/v1/me/phone/change", tag = "account", security(("bearer" = [])),
    request_body = PhoneChangeRequest,
    responses((status = 202, body = CodeRequested),
              (status = 403, description = "wrong_password (counted like a failed login); account_banned: yours, or the number is a purged banned account's while its ban runs", body = ErrorBody),
              (status = 409, description = "phone_taken: another account has this number", body = ErrorBody),
              (status = 422, description = "invalid_phone; same_phone: it is already yours", body = ErrorBody),
              (status = 429, description = "too_many_attempts (passwords) or too_many_codes, with Retry-After", body = ErrorBody),
              (status = 503, description = "sms_unavailable; server_busy, with Retry-After", body = ErrorBody)))]
async fn request_change(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
    AppJson(req): AppJson<PhoneChangeRequest>,
) -> Result<(StatusCode, AppJson<CodeRequested>), ApiError> {
    let phone = Phone::parse(&req.phone)?;
    // Longer than any stored password can be: wrong, without a hash.
    let password = Password::for_login(req.password)
        .map_err(|_| ApiError::new(ErrorCode::WrongPassword, AccountError::WrongPassword.to_string()))?;
    let sent = state
        .accounts
        .request_phone_change(user.id, &phone, &password, &client)
        .await
        .map_err(|e| state.api_error(e))?;
    Ok((StatusCode::ACCEPTED, AppJson(sent.into())))
}

/// Confirm the new phone number with the code sent to it: the account moves there, verified. The old number no
/// longer signs in.
#[utoipa::path(post, path = "/v1/me/phone/change/verify", tag = "account", security(("bearer" = [])),
    request_body = CodeEntry,
    responses((status = 200, body = Me),
              (status = 403, description = "account_banned", body = ErrorBody),
              (status = 409, description = "phone_taken: another account took the number since the code was sent", body = ErrorBody),
              (status = 422, description = "wrong_code, code_expired", body = ErrorBody),
              (status = 429, description = "too_many_code_attempts", body = ErrorBody)))]
async fn confirm_change(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<CodeEntry>,
) -> Result<AppJson<Me>, ApiError> {
    let code = parse_code(&req.code)?;
    let row = state.accounts.confirm_phone_change(user.id, &code).await.map_err(|e| state.api_error(e))?;
    // The country came with the new number: matching's cached standing carries it.
    state.hub.standing_changed(row.id);
    me(&state, &row).await
}
