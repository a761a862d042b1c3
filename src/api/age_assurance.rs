//! `POST /v1/me/age-assurance` and `POST /v1/me/age-assurance/check`: a user proves their age to the provider on
//! the provider's page, then the server reads and keeps its answer (issue 64 point 5; docs/privacy.md "Age
//! assurance"). `GET /v1/me` shows where it stands (`age_assurance`). The flow is `crate::age`'s; this module maps
//! it to HTTP.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use super::me::AgeAssuranceView;
use crate::age::AgeError;
use crate::domain::AssuranceStatus;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(start)).routes(routes!(check))
}

/// A session started at the provider: open `url` (the provider's page) for the user, then check.
#[derive(Serialize, ToSchema)]
pub struct AgeAssuranceStarted {
    /// The provider's page, where the user proves their age; it sends them back to the server's return URL.
    #[schema(example = "https://age.yoti.com?sessionId=affa597b-84fd-4481-a6c0-d3c30c43155e&sdkId=…")]
    url: String,
    /// The provider's id of the session.
    reference: String,
    /// `pending`.
    #[schema(value_type = String, example = "pending")]
    status: AssuranceStatus,
    /// When the session at the provider runs out, if it said.
    expires_at: Option<DateTime<Utc>>,
}

/// Start proving your age at the server's age assurance provider. Answers the provider's page to open; when the
/// user comes back, `POST /v1/me/age-assurance/check`. No session is stored if the provider does not answer; the
/// attempt counts toward the day's limit all the same.
#[utoipa::path(post, path = "/v1/me/age-assurance", tag = "account", security(("bearer" = [])),
    responses((status = 201, body = AgeAssuranceStarted),
              (status = 404, description = "age_assurance_not_offered: this server has no provider", body = ErrorBody),
              (status = 409, description = "age_already_assured", body = ErrorBody),
              (status = 429, description = "rate_limited: age_assurance.max_starts_per_day starts in 24 hours, failed ones included; see Retry-After", body = ErrorBody),
              (status = 503, description = "age_assurance_unavailable: the provider refused or did not answer; nothing stored", body = ErrorBody)))]
async fn start(
    State(state): State<AppState>,
    user: AuthUser,
) -> Result<(axum::http::StatusCode, AppJson<AgeAssuranceStarted>), ApiError> {
    // Through the account service: a banned or deleted account is refused as everywhere else.
    let row = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    let started = state.age.start(row.id).await.map_err(refusal)?;
    let session = started.session;
    let answer = AgeAssuranceStarted {
        url: started.url,
        reference: session.reference,
        status: session.status,
        expires_at: session.expires_at,
    };
    Ok((axum::http::StatusCode::CREATED, AppJson(answer)))
}

/// Read your newest session's result from the provider and keep it. A session decided already is answered as
/// kept; one still open at the provider stays `pending` (check again later).
#[utoipa::path(post, path = "/v1/me/age-assurance/check", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = AgeAssuranceView),
              (status = 404, description = "age_assurance_not_offered, or not_found: no session started", body = ErrorBody),
              (status = 429, description = "rate_limited: age_assurance.max_checks_per_day reads of a pending session's result at the provider in 24 hours, failed ones included; see Retry-After", body = ErrorBody),
              (status = 503, description = "age_assurance_unavailable: the provider refused or did not answer; nothing stored", body = ErrorBody)))]
async fn check(State(state): State<AppState>, user: AuthUser) -> Result<AppJson<AgeAssuranceView>, ApiError> {
    let row = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    let checked = state.age.check(row.id).await.map_err(refusal)?;
    if checked.status == AssuranceStatus::Assured {
        // Matching caches what it knows of the user beside their sockets: read it again at the next find.
        state.hub.standing_changed(row.id);
    }
    Ok(AppJson(AgeAssuranceView::read(&state, row.id).await?))
}

/// What the client is told of a flow that could not go on.
fn refusal(e: AgeError) -> ApiError {
    match e {
        AgeError::NotOffered => {
            ApiError::new(ErrorCode::AgeAssuranceNotOffered, "this server does not offer age assurance")
        }
        AgeError::AlreadyAssured => ApiError::new(ErrorCode::AgeAlreadyAssured, "your age is assured already"),
        AgeError::RateLimited { retry_after_secs } => {
            ApiError::new(ErrorCode::RateLimited, "too many calls to the age assurance provider today; try again later")
                .retry_after(retry_after_secs)
        }
        AgeError::NotStarted => {
            ApiError::new(ErrorCode::NotFound, "no age assurance started: POST /v1/me/age-assurance first")
        }
        AgeError::Provider(cause) => {
            ApiError::new(ErrorCode::AgeAssuranceUnavailable, "the age assurance provider did not answer; try again")
                .log(cause)
        }
        AgeError::Store(cause) => ApiError::internal(cause),
    }
}
