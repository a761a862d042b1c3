//! `/v1/auth/*` and `/v1/me`: the account endpoints and their request/response shapes.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use super::me::Me;
use crate::accounts::{AccountError, ClientInfo, IssuedTokens, ProfileChange, Registration, SignedIn};
use crate::auth::RefreshToken;
use crate::domain::{Alias, Interests, Languages, Password, Phone};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
        .routes(routes!(me, update_me))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Any common format; normalised to E.164 with Turkey as the default region. It must be a valid number
    /// of its numbering plan (libphonenumber's metadata), which no schema can say: `invalid_phone` otherwise.
    #[schema(example = "+905321234567", min_length = 1, max_length = 32)]
    phone: String,
    /// 8 or more characters, at most 72 bytes (UTF-8), not a common password or one character repeated:
    /// `weak_password` / `password_too_long` otherwise.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 72)]
    password: String,
    /// 3–20 letters, digits or underscores after NFKC normalisation, and not a staff or system name or a
    /// look-alike of one (`reserved_alias`). The server appends a random tag.
    #[schema(example = "kediadam", min_length = 3, max_length = 200)]
    alias: String,
    /// Someone's referral code, if they invited you.
    #[serde(default)]
    referral_code: Option<String>,
    /// Must be true: consent to the privacy notice, stored with its time and version.
    #[schema(example = true)]
    accept_privacy_notice: bool,
    /// The year you were born: self-attested, only the year is kept. Registration refuses anyone younger than
    /// the server's minimum age (18 by default) counted as this year minus this one: `underage`;
    /// `invalid_birth_year` for a year before 1900 or in the future.
    #[schema(example = 1998, minimum = 1900, maximum = 9999)]
    birth_year: i32,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// As at registration; a number that is not valid gets `invalid_phone`.
    #[schema(min_length = 1, max_length = 32)]
    phone: String,
    /// At most 72 bytes.
    #[schema(max_length = 72)]
    password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    access_token: String,
    access_token_expires_at: DateTime<Utc>,
    refresh_token: String,
    refresh_token_expires_at: DateTime<Utc>,
    #[schema(example = "Bearer")]
    token_type: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Session {
    user: Me,
    tokens: TokenPair,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// A new alias, under the rules of registration; it gets a new tag.
    #[serde(default)]
    #[schema(min_length = 3, max_length = 200)]
    alias: Option<String>,
    /// `{"lat":…,"lon":…}` to set, `null` to clear, absent to keep. Used only for the "nearby"
    /// preference; never shown to anyone.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<LocationInput>)]
    location: Option<Option<LocationInput>>,
    /// `tr` or `en`: the language notifications are written in.
    #[serde(default)]
    #[schema(pattern = "^(tr|en)$")]
    locale: Option<String>,
    /// The topics to list, replacing the old ones: ids of `GET /v1/interests`, at most 10; `[]` clears them.
    #[serde(default)]
    #[schema(max_items = 10)]
    interests: Option<Vec<String>>,
    /// The languages spoken, replacing the old ones: one to three ISO 639-1 codes (`tr`, `en`, `de`, …).
    #[serde(default)]
    #[schema(min_items = 1, max_items = 3)]
    languages: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema, Clone, Copy)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    lat: f64,
    lon: f64,
}

/// Distinguishes `"location": null` (Some(None)) from an absent field (None).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

impl From<IssuedTokens> for TokenPair {
    fn from(t: IssuedTokens) -> Self {
        Self {
            access_token: t.access_token,
            access_token_expires_at: t.access_expires_at,
            refresh_token: t.refresh_token.into_string(),
            refresh_token_expires_at: t.refresh_expires_at,
            token_type: "Bearer",
        }
    }
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses((status = 201, body = Session),
              (status = "4XX", description = "invalid_phone, weak_password, password_too_long, invalid_alias, reserved_alias, consent_required, invalid_birth_year, underage, invalid_referral_code, phone_taken, alias_exhausted, account_banned (the phone of a deleted account whose ban still runs), malformed_json, invalid_request", body = ErrorBody)))]
async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<RegisterRequest>,
) -> Result<(StatusCode, AppJson<Session>), ApiError> {
    let registration = Registration {
        phone: Phone::parse(&req.phone)?,
        password: Password::parse(req.password)?,
        alias: Alias::parse(&req.alias)?,
        referral_code: req.referral_code,
        accepted_privacy_notice: req.accept_privacy_notice,
        birth_year: req.birth_year,
    };
    let (user, tokens) = state.accounts.register(registration, &client).await.map_err(|e| state.api_error(e))?;
    Ok((StatusCode::CREATED, AppJson(Session { user: Me::from(&user), tokens: tokens.into() })))
}

/// Sign in with phone number and password. Signing in while the account waits for deletion undoes the deletion.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = Session),
              (status = 401, description = "invalid_credentials", body = ErrorBody),
              (status = 403, description = "account_banned (the message carries the reason)", body = ErrorBody),
              (status = 429, description = "too_many_attempts, with Retry-After", body = ErrorBody)))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<AppJson<Session>, ApiError> {
    let phone = Phone::parse(&req.phone)?;
    let password = Password::for_login(req.password)
        .map_err(|_| ApiError::new(ErrorCode::InvalidCredentials, AccountError::InvalidCredentials.to_string()))?;
    let signed_in = state.accounts.login(&phone, &password, &client).await.map_err(|e| state.api_error(e))?;
    let SignedIn { user, tokens, country_learnt } = signed_in;
    if country_learnt {
        // Matching may have cached the account without it (another of the user's sockets).
        state.hub.standing_changed(user.id);
    }
    let me = Me::from(&user).with_plan(&state, user.id).await?.with_notice(state.accounts.privacy_notice_version());
    Ok(AppJson(Session { user: me, tokens: tokens.into() }))
}

/// Exchange a refresh token for a new pair. The presented token stops working; presenting it again
/// signs out every session of that login.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair),
              (status = 401, description = "invalid_token, token_expired, token_reused", body = ErrorBody)))]
async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<RefreshRequest>,
) -> Result<AppJson<TokenPair>, ApiError> {
    let tokens = state.accounts.refresh(RefreshToken::presented(req.refresh_token), &client).await.map_err(|e| {
        // A copied token's login is signed out: so are the sockets it opened.
        if let AccountError::TokenReused { user_id, login: Some(login) } = &e {
            state.hub.signed_out(*user_id, vec![*login]);
        }
        state.api_error(e)
    })?;
    Ok(AppJson(tokens.into()))
}

/// Sign out the login this refresh token belongs to: its tokens stop working and its sockets close (4001).
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204), (status = 401, description = "invalid_token", body = ErrorBody)))]
async fn logout(State(state): State<AppState>, AppJson(req): AppJson<RefreshRequest>) -> Result<StatusCode, ApiError> {
    let (user_id, login) =
        state.accounts.logout(RefreshToken::presented(req.refresh_token)).await.map_err(|e| state.api_error(e))?;
    state.hub.signed_out(user_id, login.into_iter().collect());
    Ok(StatusCode::NO_CONTENT)
}

/// Your own account.
#[utoipa::path(get, path = "/v1/me", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn me(State(state): State<AppState>, user: AuthUser) -> Result<AppJson<Me>, ApiError> {
    let row = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    Ok(AppJson(Me::from(&row).with_plan(&state, row.id).await?.with_notice(state.accounts.privacy_notice_version())))
}

/// Change your alias (you get a new tag), location, notification language, interests or languages. Every field
/// is checked before anything is written.
#[utoipa::path(patch, path = "/v1/me", tag = "account", security(("bearer" = [])), request_body = UpdateMe,
    responses((status = 200, body = Me),
              (status = "4XX", description = "invalid_alias, reserved_alias, invalid_location, invalid_interests, invalid_languages, alias_exhausted", body = ErrorBody)))]
async fn update_me(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<UpdateMe>,
) -> Result<AppJson<Me>, ApiError> {
    let locale = match req.locale.as_deref() {
        None => None,
        Some(l) => Some(
            crate::notices::Locale::parse(l)
                .ok_or_else(|| ApiError::new(ErrorCode::InvalidRequest, "locale must be tr or en"))?,
        ),
    };
    let interests = req.interests.as_deref().map(Interests::parse).transpose();
    let interests = interests.map_err(|e| ApiError::new(ErrorCode::InvalidInterests, e.to_string()))?;
    let languages = req.languages.as_deref().map(Languages::parse).transpose();
    let languages = languages.map_err(|e| ApiError::new(ErrorCode::InvalidLanguages, e.to_string()))?;
    let change = ProfileChange {
        alias: req.alias.as_deref().map(Alias::parse).transpose()?,
        location: req.location.map(|l| l.map(|l| (l.lat, l.lon))),
        locale,
        interests,
        languages,
    };
    let row = state.accounts.update_profile(user.id, change).await.map_err(|e| state.api_error(e))?;
    // Matching caches the profile's interests, languages and location beside the user's sockets: read them again.
    state.hub.standing_changed(user.id);
    Ok(AppJson(Me::from(&row).with_plan(&state, row.id).await?.with_notice(state.accounts.privacy_notice_version())))
}
