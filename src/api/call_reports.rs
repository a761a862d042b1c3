//! `POST /v1/reports/call`: a report of the stranger of a video match, made from the call (docs/protocol.md, "Video
//! safety"). It is a report like the socket's `report` (one per reporter and reported user), with what the viewer's
//! device had: its classifier's verdict, and one snapshot only when the reporter chose to attach it. The server
//! cannot verify either (it never sees the call): moderators are told so, and neither adds weight toward the
//! automatic ban. This is its door: the body parsed (the snapshot decoded) and handed to [`crate::reports`], which
//! checks, seals and stores it; the refusal answered in the API's words.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tanis_proto::ReportReason;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use crate::accounts::ClientInfo;
use crate::domain::MatchId;
use crate::domain::call_reports::{self, MAX_SNAPSHOT_BYTES};
use crate::domain::trust::address_range;
use crate::reports::{self, Filing, Refusal, Reporter};

pub fn router() -> OpenApiRouter<AppState> {
    // A snapshot in base64 is a third larger than the image: this route alone takes bodies past `max_body_bytes`.
    OpenApiRouter::new().routes(routes!(file)).layer(DefaultBodyLimit::max(MAX_SNAPSHOT_BYTES / 3 * 4 + 16 * 1024))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallReport {
    #[serde(deserialize_with = "super::extract::integer")]
    #[schema(value_type = i64)]
    match_id: MatchId,
    /// `spam`, `harassment`, `nudity`, `hate`, `scam`, `underage`, `child_sexual_abuse` or `other`.
    #[schema(value_type = String, example = "nudity", pattern = "^(spam|harassment|nudity|hate|scam|underage|child_sexual_abuse|other)$")]
    reason_code: ReportReason,
    /// The reporter's own words, at most 1000 characters.
    #[schema(max_length = 1000)]
    details: Option<String>,
    /// The viewer's classifier output when they reported, if their app runs one.
    verdict: Option<Verdict>,
    /// One picture of the call, only when the reporter chose to attach it.
    snapshot: Option<Snapshot>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    #[schema(example = "Porn", max_length = 64)]
    label: String,
    #[schema(minimum = 0, maximum = 1, example = 0.93)]
    score: f64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// `image/jpeg`, `image/png` or `image/webp`; the bytes must be that type.
    #[schema(example = "image/jpeg")]
    content_type: String,
    /// The image, standard base64; at most 262144 bytes decoded.
    data: String,
}

/// Report the stranger of a video match from the call, with the classifier's verdict and, only if the reporter
/// chooses, one snapshot. Nothing is stored on any error.
#[utoipa::path(post, path = "/v1/reports/call", tag = "reports", security(("bearer" = [])), request_body = CallReport,
    responses((status = 204),
        (status = 404, description = "not_matched: you were not in that match", body = ErrorBody),
        (status = 413, description = "snapshot_too_large: over 262144 bytes decoded (or payload_too_large: the body)",
            body = ErrorBody),
        (status = 415, description = "snapshot_type: not a JPEG, PNG or WebP image of the type it declares",
            body = ErrorBody),
        (status = 422, description = "invalid_request (a verdict or details out of bounds, bad base64), or \
            not_video: that match is not a video match", body = ErrorBody),
        (status = 429, description = "rate_limited: more than 5 call reports in 10 minutes or 20 in a day",
            body = ErrorBody)))]
async fn file(
    State(state): State<AppState>,
    user: AuthUser,
    client: ClientInfo,
    AppJson(req): AppJson<CallReport>,
) -> Result<StatusCode, ApiError> {
    state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    let snapshot = match req.snapshot {
        None => None,
        Some(s) => {
            // Decoding stops being worth it past the cap: refuse by length first.
            if s.data.len() > MAX_SNAPSHOT_BYTES.div_ceil(3) * 4 {
                return Err(refused(Refusal::Call(call_reports::Refusal::TooLarge)));
            }
            let bytes = STANDARD
                .decode(&s.data)
                .map_err(|_| ApiError::new(ErrorCode::InvalidRequest, "snapshot.data is not standard base64"))?;
            Some(reports::Snapshot { content_type: s.content_type, bytes })
        }
    };
    let vault = state.accounts.phones();
    let network = client.known_ip().and_then(|ip| ip.parse().ok()).map(|ip| vault.network_hash(&address_range(ip)));
    let by = Reporter { user_id: user.id, match_id: req.match_id, network: network.as_deref() };
    let verdict = req.verdict.map(|v| (v.label, v.score));
    let filing = Filing::Call { reason: req.reason_code, details: req.details, verdict, snapshot };
    state.hub.reports().file(by, filing).await.map_err(refused)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The API's words for a refusal.
fn refused(refusal: Refusal) -> ApiError {
    let (code, message) = match refusal {
        Refusal::Store(e) => return ApiError::internal(e),
        Refusal::DeclaredFromCall => {
            (ErrorCode::InvalidRequest, "not_as_declared is reported from the match, with the socket's report frame")
        }
        Refusal::DetailsTooLong => (ErrorCode::InvalidRequest, "details are limited to 1000 characters"),
        Refusal::NotMatched => (ErrorCode::NotMatched, "you were not in that match"),
        Refusal::NotVideo => (ErrorCode::NotVideo, "a call report is for a video match; report a chat by socket"),
        Refusal::Limited => (ErrorCode::RateLimited, "too many call reports; try again later"),
        Refusal::Call(call_reports::Refusal::TooLarge) => {
            (ErrorCode::SnapshotTooLarge, "the snapshot is over 262144 bytes")
        }
        Refusal::Call(call_reports::Refusal::NotAnImage) => {
            (ErrorCode::SnapshotType, "the snapshot is not a JPEG, PNG or WebP image of its declared type")
        }
        Refusal::Call(call_reports::Refusal::BadVerdict) => (
            ErrorCode::InvalidRequest,
            "verdict.label must be 1 to 64 characters without control characters, and verdict.score 0 to 1",
        ),
        // A call report reveals no message, and is never `not_as_declared` by this door.
        Refusal::TooManyReveals | Refusal::DeclaredTakesNothing | Refusal::Evidence(..) | Refusal::Replayed => {
            unreachable!("a call report carries no evidence")
        }
    };
    ApiError::new(code, message)
}
