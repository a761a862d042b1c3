//! `POST /v1/billing/events`: the billing provider's webhook (see [`crate::billing`] for the signature). The only
//! endpoint authenticated by a signature instead of a user's token.

use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppBytes, AppJson, ErrorBody, ErrorCode, decode_body};
use crate::billing::{self, Event};
use crate::store::{PlanOutcome, PlanSource};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive))
}

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "tanis-signature";

#[derive(Serialize, ToSchema)]
pub struct Received {
    /// False when this event id was applied before (nothing changed this time).
    applied: bool,
    /// Whether the user is premium now; absent for a repeated event.
    premium: Option<bool>,
}

/// Receive a subscription event from the billing provider. Signed with the shared secret in `Tanis-Signature`
/// (`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`), within the replay window, applied once per event id.
#[utoipa::path(post, path = "/v1/billing/events", tag = "billing", request_body = Event,
    params(("Tanis-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<raw body>\">")),
    responses((status = 200, body = Received),
              (status = 401, description = "invalid_signature", body = ErrorBody),
              (status = 404, description = "not_found: no such user, or no subscription to cancel or end", body = ErrorBody),
              (status = 422, description = "invalid_request", body = ErrorBody),
              (status = 503, description = "unavailable: billing is not configured", body = ErrorBody)))]
async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppBytes(body): AppBytes,
) -> Result<AppJson<Received>, ApiError> {
    let config = &state.config.billing;
    let secret = config
        .webhook_secret
        .as_deref()
        .ok_or_else(|| ApiError::new(ErrorCode::Unavailable, "billing is not configured"))?;
    let header = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let now = state.accounts.now();
    let window = i64::try_from(config.replay_window_secs).unwrap_or(i64::MAX);
    // Nothing of the body is read before its signature holds.
    billing::verify(secret.as_bytes(), header, &body, now, window)
        .map_err(|e| ApiError::new(ErrorCode::InvalidSignature, e.to_string()))?;
    // Decoded as every other body is: U+0000 anywhere is `invalid_text`, broken JSON `malformed_json`.
    let event: Event = decode_body(&body)?;
    if event.id.is_empty() || event.id.len() > 128 || event.plan.is_empty() || event.plan.len() > 64 {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "id must have 1 to 128 bytes and plan 1 to 64"));
    }
    let change = event.plan_change(now).map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))?;
    let source = PlanSource::Billing { event_id: &event.id, event: event.kind.as_str() };
    let outcome = state
        .store
        .change_plan(event.user_id, change, source, state.premium_units(), now)
        .await
        .map_err(ApiError::internal)?;
    match outcome {
        PlanOutcome::Applied { premium } => {
            // Balances and premium changed behind matching's back: every node drops what it cached.
            state.hub.standing_changed(event.user_id);
            Ok(AppJson(Received { applied: true, premium: Some(premium) }))
        }
        PlanOutcome::Duplicate => Ok(AppJson(Received { applied: false, premium: None })),
        PlanOutcome::NoSuchUser => Err(ApiError::new(ErrorCode::NotFound, "no such user")),
        PlanOutcome::NoSubscription => Err(ApiError::new(ErrorCode::NotFound, "no active subscription")),
    }
}
