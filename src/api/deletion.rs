//! `DELETE /v1/me` and `POST /v1/ban/deletion`: deleting one's account (docs/privacy.md). Both take the password
//! again and answer when the account will be purged, and how many contact conversations ended; until then,
//! signing in undoes the deletion, but not the end of those contacts. A banned user has no
//! tokens (the ban signed them out), so they ask with phone and password like `/v1/ban/status`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use crate::accounts::{AccountError, ClientInfo, DeletionRequested};
use crate::domain::{Password, Phone};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(delete_me)).routes(routes!(delete_banned))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMe {
    /// Your password, again; at most 72 bytes.
    #[schema(max_length = 72)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteBanned {
    #[schema(example = "+905551234567", min_length = 1, max_length = 32)]
    phone: String,
    #[schema(max_length = 72)]
    password: String,
}

/// A deletion accepted: the account is gone for everyone now, and purged at `purge_after`.
#[derive(Serialize, ToSchema)]
pub struct DeletionScheduled {
    /// From then on the purge removes the account (within the hour); signing in before then undoes the deletion.
    /// Asking again keeps this date.
    purge_after: DateTime<Utc>,
    /// The contact conversations this deletion ended, for both sides (0 when asked again). Signing in before
    /// `purge_after` restores the account, **not** these: each contact must be made again in a new match.
    contacts_ended: usize,
}

/// Delete your account. The password is checked like a login (the same limit on failures per phone and per
/// address). At once every session is signed out (sockets close with 4001), your match ends (the stranger is
/// told you left), every contact conversation ends for both sides, and you leave the queue; the account is purged
/// after `auth.deletion_grace_days` (30 by default) unless you sign in before then, which undoes it — but does not
/// bring the contacts back (`contacts_ended` says how many ended; a client says so before the user confirms).
/// What the purge removes and what it keeps without a link to you: docs/privacy.md.
#[utoipa::path(delete, path = "/v1/me", tag = "account", security(("bearer" = [])), request_body = DeleteMe,
    responses((status = 202, body = DeletionScheduled),
              (status = 403, description = "wrong_password: the password is wrong; account_banned", body = ErrorBody),
              (status = 429, description = "too_many_attempts, with Retry-After", body = ErrorBody),
              (status = 503, description = "server_busy, with Retry-After", body = ErrorBody)))]
async fn delete_me(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
    AppJson(req): AppJson<DeleteMe>,
) -> Result<(StatusCode, AppJson<DeletionScheduled>), ApiError> {
    // Longer than any stored password can be: wrong, without a hash.
    let password = Password::for_login(req.password)
        .map_err(|_| ApiError::new(ErrorCode::WrongPassword, AccountError::WrongPassword.to_string()))?;
    let deleted = state.accounts.request_deletion(user.id, &password, &client).await.map_err(|e| state.api_error(e))?;
    Ok(scheduled(&state, deleted).await)
}

/// Delete your banned account, with phone number and password (a ban leaves you no session). Works only while
/// banned. The account is purged after the grace period like any other; signing in cannot undo it while the ban
/// runs. The ban outlives the account: until it ends, the phone number cannot register again.
#[utoipa::path(post, path = "/v1/ban/deletion", tag = "ban", request_body = DeleteBanned,
    responses((status = 202, body = DeletionScheduled),
              (status = 401, description = "invalid_credentials", body = ErrorBody),
              (status = 409, description = "not_banned: sign in and use DELETE /v1/me", body = ErrorBody),
              (status = 429, description = "too_many_attempts, with Retry-After", body = ErrorBody),
              (status = 503, description = "server_busy, with Retry-After", body = ErrorBody)))]
async fn delete_banned(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<DeleteBanned>,
) -> Result<(StatusCode, AppJson<DeletionScheduled>), ApiError> {
    let phone = Phone::parse(&req.phone)?;
    let password = Password::for_login(req.password)
        .map_err(|_| ApiError::new(ErrorCode::InvalidCredentials, AccountError::InvalidCredentials.to_string()))?;
    let deleted =
        state.accounts.request_banned_deletion(&phone, &password, &client).await.map_err(|e| state.api_error(e))?;
    Ok(scheduled(&state, deleted).await)
}

/// Makes the committed deletion live on every node and answers it.
async fn scheduled(state: &AppState, deleted: DeletionRequested) -> (StatusCode, AppJson<DeletionScheduled>) {
    let DeletionRequested { user_id, purge_after, revoked, ended, contacts_ended } = deleted;
    state.hub.account_deleted(user_id, revoked, ended, &contacts_ended).await;
    (StatusCode::ACCEPTED, AppJson(DeletionScheduled { purge_after, contacts_ended: contacts_ended.len() }))
}
