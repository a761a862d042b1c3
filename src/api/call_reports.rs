//! `POST /v1/reports/call`: a report of the stranger of a video match, made from the call (docs/protocol.md, "Video
//! safety"). It is a report like the socket's `report` (one per reporter and reported user), with what the viewer's
//! device had: its classifier's verdict, and one snapshot only when the reporter chose to attach it. The server
//! cannot verify either (it never sees the call): moderators are told so, and neither adds weight toward the
//! automatic ban. The snapshot is sealed before it is stored, under a key kept outside the database.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use tanis_proto::{MatchKind, ReportReason};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use crate::accounts::ClientInfo;
use crate::domain::MatchId;
use crate::domain::call_reports::{self, MAX_SNAPSHOT_BYTES, Refusal};
use crate::domain::evidence::MAX_DETAILS;
use crate::domain::trust::address_range;
use crate::store::{CallLimits, Filed, NewCall, NewReport, SealedSnapshot};

/// Call reports one user may file: a burst, and a day's worth (a flood of them is itself a signal, and each may
/// carry a quarter of a megabyte).
const LIMITS: CallLimits = CallLimits { per_ten_minutes: 5, per_day: 20 };

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
    /// `spam`, `harassment`, `nudity`, `hate`, `scam`, `underage` or `other`.
    #[schema(value_type = String, example = "nudity", pattern = "^(spam|harassment|nudity|hate|scam|underage|other)$")]
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
    if req.reason_code == ReportReason::NotAsDeclared {
        let message = "not_as_declared is reported from the match, with the socket's report frame";
        return Err(ApiError::new(ErrorCode::InvalidRequest, message));
    }
    if req.details.as_ref().is_some_and(|d| d.chars().count() > MAX_DETAILS) {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "details are limited to 1000 characters"));
    }
    if let Some(v) = &req.verdict {
        call_reports::check_verdict(&v.label, v.score).map_err(refused)?;
    }
    let image = match &req.snapshot {
        None => None,
        Some(s) => {
            // Decoding stops being worth it past the cap: refuse by length first.
            if s.data.len() > MAX_SNAPSHOT_BYTES.div_ceil(3) * 4 {
                return Err(refused(Refusal::TooLarge));
            }
            let bytes = STANDARD
                .decode(&s.data)
                .map_err(|_| ApiError::new(ErrorCode::InvalidRequest, "snapshot.data is not standard base64"))?;
            let content_type = call_reports::check_snapshot(&s.content_type, &bytes).map_err(refused)?;
            Some((content_type, bytes))
        }
    };
    let row = state.store.match_of_participant(req.match_id, user.id).await.map_err(ApiError::internal)?;
    let Some(row) = row else {
        return Err(ApiError::new(ErrorCode::NotMatched, "you were not in that match"));
    };
    if row.kind != MatchKind::Video {
        return Err(ApiError::new(ErrorCode::NotVideo, "a call report is for a video match; report a chat by socket"));
    }
    let reported = row.peer_of(user.id).expect("a participant has a peer");
    let vault = state.accounts.phones();
    let sealed = image.as_ref().map(|(content_type, bytes)| (*content_type, vault.seal_snapshot(bytes), bytes.len()));
    let network = client.known_ip().and_then(|ip| ip.parse().ok()).map(|ip| vault.network_hash(&address_range(ip)));
    let report = NewReport {
        reporter_id: user.id,
        reported_id: reported,
        match_id: req.match_id,
        reason: req.reason_code.as_str(),
        details: req.details.as_deref(),
        evidence: &[],
        network: network.as_deref(),
        call: Some(NewCall {
            verdict: req.verdict.as_ref().map(|v| (v.label.as_str(), v.score)),
            snapshot: sealed.as_ref().map(|(content_type, sealed, bytes)| SealedSnapshot {
                content_type,
                sealed,
                bytes: i32::try_from(*bytes).expect("under the cap"),
            }),
            limits: LIMITS,
        }),
        now: state.accounts.now(),
    };
    match state.store.insert_report(&report).await.map_err(ApiError::internal)? {
        Filed::New | Filed::Reopened => {
            // One more open report may quarantine them: matching reads their standing again.
            state.hub.standing_changed(reported);
            Ok(StatusCode::NO_CONTENT)
        }
        Filed::Repeat => Ok(StatusCode::NO_CONTENT),
        Filed::Limited => Err(ApiError::new(ErrorCode::RateLimited, "too many call reports; try again later")),
        Filed::Replayed => unreachable!("a call report reveals no message"),
    }
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::TooLarge => ApiError::new(ErrorCode::SnapshotTooLarge, "the snapshot is over 262144 bytes"),
        Refusal::NotAnImage => {
            ApiError::new(ErrorCode::SnapshotType, "the snapshot is not a JPEG, PNG or WebP image of its declared type")
        }
        Refusal::BadVerdict => ApiError::new(
            ErrorCode::InvalidRequest,
            "verdict.label must be 1 to 64 characters without control characters, and verdict.score 0 to 1",
        ),
    }
}
