//! Extractors that turn request parts into the caller's identity and origin.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;

use super::AppState;
use super::error::{ApiError, ErrorCode};
use crate::accounts::ClientInfo;
use crate::auth::{LoginId, TokenError};
use crate::domain::{Role, UserId};

/// The user a valid access token names. Handlers that take it are authenticated; the role check for
/// moderator endpoints reads `role`.
///
/// A token that names a login (every token a sign-in or refresh issues) is refused once that login is signed
/// out, before the token expires: one primary-key read per authenticated request, which is what makes a
/// revocation or a password change take effect at once rather than up to `access_token_ttl_secs` later.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: UserId,
    pub role: Role,
    /// The login (session) the token belongs to; `None` for a token that names none (`TokenFields::sid`).
    pub login: Option<LoginId>,
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = header
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .ok_or_else(|| ApiError::new(ErrorCode::MissingToken, "send `Authorization: Bearer <access token>`"))?;
        let fields = state.accounts.jwt().verify(token.trim(), state.accounts.now()).map_err(|e| match e {
            TokenError::Expired => ApiError::new(ErrorCode::TokenExpired, "the access token has expired; refresh it"),
            TokenError::Invalid => ApiError::new(ErrorCode::InvalidToken, "the access token is not valid"),
        })?;
        let id =
            fields.sub.parse().map_err(|_| ApiError::new(ErrorCode::InvalidToken, "the access token is not valid"))?;
        let login = fields.login();
        if let Some(login) = login {
            let live = state.store.login_is_live(id, &login.to_string()).await.map_err(ApiError::internal)?;
            if !live {
                // A ban signs every session out too; its tokens are answered with the ban and its reason, as
                // before sessions were checked (`account_banned`).
                state.accounts.current_user(id).await.map_err(|e| state.api_error(e))?;
                return Err(ApiError::new(ErrorCode::InvalidToken, "this session was signed out; sign in again"));
            }
        }
        Ok(Self { id, role: fields.role, login })
    }
}

/// Longest user agent kept; the rest of a longer header is dropped.
const MAX_USER_AGENT: usize = 256;

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        // From one of our own proxies, the rightmost X-Forwarded-For entry is the address the proxy saw;
        // entries to its left are whatever the client claimed and are ignored. From anyone else, the header is.
        let from_proxy = peer.is_some_and(|peer| state.config.trusted_proxies.iter().any(|net| net.contains(&peer)));
        let forwarded = from_proxy
            .then(|| {
                parts.headers.get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next().map(|s| s.trim().to_owned())
            })
            .flatten()
            .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok());
        let ip = forwarded.or(peer.map(|p| p.to_string())).unwrap_or_else(|| ClientInfo::UNKNOWN_IP.into());
        let user_agent = parts.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()).map(|ua| {
            let cut = ua.char_indices().nth(MAX_USER_AGENT).map_or(ua.len(), |(i, _)| i);
            ua[..cut].to_owned()
        });
        Ok(Self { ip, user_agent })
    }
}

/// An integer body field as JSON Schema (and so the OpenAPI document) defines one: `3000` and also `3000.0`
/// (schemathesis sent the latter, and a generated client may). A fraction or a value out of range is refused.
/// Ids too (`T` is then the id's type).
pub fn integer<'de, D: serde::Deserializer<'de>, T: From<i64>>(deserializer: D) -> Result<T, D::Error> {
    use serde::Deserialize;
    match serde_json::Number::deserialize(deserializer)? {
        n if n.is_i64() => Ok(T::from(n.as_i64().expect("checked"))),
        n => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 => Ok(T::from(f as i64)),
            _ => Err(serde::de::Error::custom(format!("{n} is not a 64-bit integer"))),
        },
    }
}
