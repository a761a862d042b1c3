//! `/v1/claims`: file a claim on a match and see your claims' verdicts.

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
use crate::claims::{self, FileError};
use crate::domain::MatchId;
use crate::store::OwnClaim;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(file_claim, list_claims))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClaim {
    #[serde(deserialize_with = "super::extract::integer")]
    #[schema(value_type = i64)]
    match_id: MatchId,
}

#[derive(Serialize, ToSchema)]
pub struct Claim {
    id: i64,
    #[schema(value_type = i64)]
    match_id: MatchId,
    claim_time: DateTime<Utc>,
    /// `pending`, `approved` (one unit of the match's kind refunded as a bonus unit) or `rejected`.
    status: String,
    processed_at: Option<DateTime<Utc>>,
    /// Why it was approved or rejected.
    reason: Option<String>,
}

impl From<OwnClaim> for Claim {
    fn from(c: OwnClaim) -> Self {
        Self {
            id: c.id,
            match_id: c.match_id,
            claim_time: c.claim_time,
            status: c.status.as_str().to_owned(),
            processed_at: c.processed_at,
            reason: c.reason,
        }
    }
}

/// Claim a unit back for a match that got no reply (text) or whose call never connected (video). Decided
/// by a job within a minute once the 2-hour window has passed.
#[utoipa::path(post, path = "/v1/claims", tag = "claims", security(("bearer" = [])), request_body = NewClaim,
    responses((status = 201, body = Claim),
              (status = 404, description = "not_matched: you were not in that match", body = ErrorBody),
              (status = 409, description = "claim_exists: one claim per match", body = ErrorBody)))]
async fn file_claim(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<NewClaim>,
) -> Result<(StatusCode, AppJson<Claim>), ApiError> {
    state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    match claims::file(&state.store, user.id, req.match_id, state.accounts.now()).await {
        Ok(claim) => Ok((StatusCode::CREATED, AppJson(claim.into()))),
        Err(e @ FileError::NotMatched) => Err(ApiError::new(ErrorCode::NotMatched, e.to_string())),
        Err(e @ FileError::Exists) => Err(ApiError::new(ErrorCode::ClaimExists, e.to_string())),
        Err(FileError::Store(e)) => Err(ApiError::internal(e)),
    }
}

/// Your claims, oldest first.
#[utoipa::path(get, path = "/v1/claims", tag = "claims", security(("bearer" = [])),
    responses((status = 200, body = Vec<Claim>), (status = 401, body = ErrorBody)))]
async fn list_claims(State(state): State<AppState>, user: AuthUser) -> Result<AppJson<Vec<Claim>>, ApiError> {
    state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    let claims = state.store.claims_of(user.id).await.map_err(ApiError::internal)?;
    Ok(AppJson(claims.into_iter().map(Claim::from).collect()))
}
