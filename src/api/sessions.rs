//! `/v1/me/sessions` and `/v1/me/password`: a user's signed-in devices (each a login: one sign-in and its token
//! refreshes), signing them out, and changing the password. A signed-out session's refresh token and access
//! tokens are refused at once and its sockets close with 4001 on every node (docs/protocol.md).

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, AppJson, AppPath, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use crate::accounts::{AccountError, ClientInfo, Login};
use crate::auth::LoginId;
use crate::domain::Password;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, revoke_others)).routes(routes!(revoke)).routes(routes!(change_password))
}

/// One signed-in device: a sign-in and the token refreshes since.
#[derive(Serialize, ToSchema)]
pub struct SignedIn {
    /// The session's id, for `DELETE /v1/me/sessions/{id}`.
    id: Uuid,
    /// When it signed in.
    created_at: DateTime<Utc>,
    /// Its sign-in or latest token refresh.
    last_used_at: DateTime<Utc>,
    /// It ends then unless its refresh token is used before.
    expires_at: DateTime<Utc>,
    /// The device's User-Agent at sign-in (at most 256 characters).
    user_agent: Option<String>,
    /// The address it signed in from; absent for sessions that began before addresses were recorded.
    ip_address: Option<String>,
    /// A coarse place (city, country) for `ip_address`. tanis ships no address-to-place database, so this is
    /// always null for now; clients should show it when present.
    place: Option<String>,
    /// True for the session of the access token that asked.
    current: bool,
    /// The contact conversations this session took over with a new key (`contact.key`), newest first, at most
    /// 20: a session you do not recognise here can read what your contacts send you from then on. Sign it out and
    /// take the conversation back on your own device. Only which conversation and when: never a key.
    contact_keys: Vec<ContactKeyTaken>,
}

/// A contact conversation a session took over.
#[derive(Serialize, ToSchema)]
pub struct ContactKeyTaken {
    /// The contact conversation (`match_id` of `GET /v1/contacts`; it may have ended since).
    match_id: i64,
    /// When the session published its key.
    published_at: DateTime<Utc>,
}

impl From<Login> for SignedIn {
    fn from(l: Login) -> Self {
        Self {
            id: l.id.as_uuid(),
            created_at: l.created_at,
            last_used_at: l.last_used_at,
            expires_at: l.expires_at,
            user_agent: l.user_agent,
            ip_address: l.ip,
            place: None,
            current: l.current,
            contact_keys: l
                .contact_keys
                .into_iter()
                .map(|k| ContactKeyTaken { match_id: k.match_id.get(), published_at: k.at })
                .collect(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now; at most 72 bytes.
    #[schema(max_length = 72)]
    current_password: String,
    /// Under the rules of registration: 8 or more characters, at most 72 bytes (UTF-8), not a common password or
    /// one character repeated (`weak_password` / `password_too_long` otherwise).
    #[schema(min_length = 8, max_length = 72)]
    new_password: String,
}

/// Your signed-in devices, most recently used first (at most 100): sessions that are neither signed out nor
/// expired. `current` marks the one asking; `contact_keys`, the contact conversations each took over.
#[utoipa::path(get, path = "/v1/me/sessions", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Vec<SignedIn>),
              (status = 403, description = "account_banned", body = ErrorBody)))]
async fn list(State(state): State<AppState>, user: AuthUser) -> Result<AppJson<Vec<SignedIn>>, ApiError> {
    let logins = state.accounts.logins(user.id, user.login).await.map_err(|e| state.api_error(e))?;
    Ok(AppJson(logins.into_iter().map(SignedIn::from).collect()))
}

/// Sign out one of your sessions (the current one too, if you name it): its tokens stop working at once and its
/// sockets close with 4001.
#[utoipa::path(delete, path = "/v1/me/sessions/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the session's id from GET /v1/me/sessions")),
    responses((status = 204),
              (status = 403, description = "account_banned", body = ErrorBody),
              (status = 404, description = "not_found: no such session of yours, or it is signed out already", body = ErrorBody)))]
async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    let login = LoginId::from_uuid(id);
    state.accounts.revoke_login(user.id, login).await.map_err(|e| state.api_error(e))?;
    state.hub.signed_out(user.id, vec![login]);
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out every session but the current one ("sign out everywhere else"); to end the current one as well, sign
/// it out by its id or with `POST /v1/auth/logout`.
#[utoipa::path(delete, path = "/v1/me/sessions", tag = "account", security(("bearer" = [])),
    responses((status = 204), (status = 403, description = "account_banned", body = ErrorBody)))]
async fn revoke_others(State(state): State<AppState>, user: AuthUser) -> Result<StatusCode, ApiError> {
    let revoked = state.accounts.revoke_other_logins(user.id, user.login).await.map_err(|e| state.api_error(e))?;
    state.hub.signed_out(user.id, revoked);
    Ok(StatusCode::NO_CONTENT)
}

/// Change your password. The current password is checked like a login (the same limit on failures per phone
/// and per address); on success every other session is signed out (their sockets close with 4001), and this
/// one continues with its tokens.
#[utoipa::path(post, path = "/v1/me/password", tag = "account", security(("bearer" = [])),
    request_body = PasswordChange,
    responses((status = 204),
              (status = 403, description = "wrong_password: the current password is wrong; account_banned", body = ErrorBody),
              (status = 422, description = "weak_password, password_too_long: the new password", body = ErrorBody),
              (status = 429, description = "too_many_attempts, with Retry-After", body = ErrorBody),
              (status = 503, description = "server_busy, with Retry-After", body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
    AppJson(req): AppJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    // The new password's rules first: a request that cannot succeed spends no bcrypt and no attempt.
    let new = Password::parse(req.new_password)?;
    // Longer than any stored password can be: wrong, without a hash.
    let current = Password::for_login(req.current_password)
        .map_err(|_| ApiError::new(ErrorCode::WrongPassword, AccountError::WrongPassword.to_string()))?;
    let revoked = state
        .accounts
        .change_password(user.id, user.login, &current, &new, &client)
        .await
        .map_err(|e| state.api_error(e))?;
    state.hub.signed_out(user.id, revoked);
    Ok(StatusCode::NO_CONTENT)
}
