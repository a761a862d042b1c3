//! Subscriptions by hand (admins only): grant or extend premium, or end it now — for support cases and payments
//! outside the billing provider. Audited as `subscription.changed` with the admin.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::TimeDelta;
use serde::Deserialize;
use utoipa::ToSchema;

use super::Admin;
use crate::api::AppState;
use crate::api::error::{ApiError, AppJson, AppPath, ErrorBody, ErrorCode};
use crate::domain::UserId;
use crate::store::{PlanChange, PlanOutcome, PlanSource};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The plan's name, 1 to 64 characters.
    #[schema(example = "premium_support", min_length = 1, max_length = 64, pattern = "^[a-z0-9_]+$")]
    plan: String,
    /// Days from now, 1 to 366.
    #[schema(minimum = 1, maximum = 366)]
    #[serde(deserialize_with = "crate::api::extract::integer")]
    days: i64,
}

fn answer(state: &AppState, user_id: UserId, outcome: PlanOutcome) -> Result<StatusCode, ApiError> {
    match outcome {
        PlanOutcome::Applied { .. } | PlanOutcome::Duplicate => {
            state.hub.standing_changed(user_id);
            Ok(StatusCode::NO_CONTENT)
        }
        PlanOutcome::NoSuchUser => Err(ApiError::new(ErrorCode::NotFound, "no such user")),
        PlanOutcome::NoSubscription => Err(ApiError::new(ErrorCode::NotFound, "no active subscription")),
    }
}

/// Grant or extend premium until `days` from now (admins only); today's balance is topped up at once.
#[utoipa::path(put, path = "/v1/admin/users/{id}/subscription", tag = "admin", security(("bearer" = [])), request_body = Grant,
    params(("id" = i64, Path, description = "the user's id")),
    responses((status = 204), (status = 422, description = "invalid_request", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody), (status = 404, description = "not_found", body = ErrorBody)))]
pub(super) async fn grant(
    State(state): State<AppState>,
    Admin(admin): Admin,
    AppPath(id): AppPath<UserId>,
    AppJson(req): AppJson<Grant>,
) -> Result<StatusCode, ApiError> {
    let plan_ok = !req.plan.is_empty()
        && req.plan.len() <= 64
        && req.plan.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !plan_ok || !(1..=366).contains(&req.days) {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "plan must be 1 to 64 of a-z, 0-9, _ and days 1 to 366"));
    }
    let now = state.accounts.now();
    let change = PlanChange::Run { plan: &req.plan, ends_at: now + TimeDelta::days(req.days) };
    let outcome = state
        .store
        .change_plan(id, change, PlanSource::Admin(admin), state.premium_units(), now)
        .await
        .map_err(ApiError::internal)?;
    answer(&state, id, outcome)
}

/// End the user's subscription now (admins only).
#[utoipa::path(delete, path = "/v1/admin/users/{id}/subscription", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the user's id")),
    responses((status = 204), (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found: no such user or no active subscription", body = ErrorBody)))]
pub(super) async fn end(
    State(state): State<AppState>,
    Admin(admin): Admin,
    AppPath(id): AppPath<UserId>,
) -> Result<StatusCode, ApiError> {
    let now = state.accounts.now();
    let outcome = state
        .store
        .change_plan(id, PlanChange::End, PlanSource::Admin(admin), state.premium_units(), now)
        .await
        .map_err(ApiError::internal)?;
    answer(&state, id, outcome)
}
