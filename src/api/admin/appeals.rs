//! Appeals against bans, as moderators see them: the queue, and accepting (which lifts the ban) or rejecting
//! with a note. The user is notified either way.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Staff;
use crate::api::AppState;
use crate::api::error::{ApiError, AppJson, AppPath, AppQuery, ErrorBody, ErrorCode};
use crate::domain::{AppealStatus, BanReason, ModeratorNote, UserId, handle};
use crate::notices::Notice;
use crate::store::{AppealRow, Decided};

/// An appeal as moderators see it.
#[derive(Serialize, ToSchema)]
pub struct Appeal {
    id: i64,
    ban_id: i64,
    #[schema(value_type = i64)]
    user_id: UserId,
    #[schema(example = "kediadam#9021")]
    handle: String,
    /// The ban's reason code.
    #[schema(value_type = String)]
    reason_code: BanReason,
    /// The user's words.
    text: String,
    created_at: DateTime<Utc>,
    /// `pending`, `accepted` or `rejected`.
    status: String,
    decided_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<i64>)]
    decided_by: Option<UserId>,
    decision_note: Option<String>,
}

impl From<AppealRow> for Appeal {
    fn from(row: AppealRow) -> Self {
        Appeal {
            id: row.id,
            ban_id: row.ban_id,
            user_id: row.user_id,
            handle: handle(&row.alias, &row.tag),
            reason_code: row.reason_code,
            text: row.text,
            created_at: row.created_at,
            status: row.status.as_str().to_owned(),
            decided_at: row.decided_at,
            decided_by: row.decided_by,
            decision_note: row.decision_note,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AppealFilter {
    /// `pending` (the default), `accepted` or `rejected`.
    #[param(pattern = "^(pending|accepted|rejected)$")]
    status: Option<String>,
    /// Appeals after this id: the previous page's `next_after`.
    #[param(minimum = 0)]
    after: Option<i64>,
    /// Appeals per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AppealPage {
    appeals: Vec<Appeal>,
    /// Pass as `after` for the next page; absent on the last page.
    next_after: Option<i64>,
}

/// Appeals with a status, oldest first.
#[utoipa::path(get, path = "/v1/admin/appeals", tag = "admin", security(("bearer" = [])), params(AppealFilter),
    responses((status = 200, body = AppealPage), (status = 400, description = "invalid_parameter", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody)))]
pub(super) async fn list(
    State(state): State<AppState>,
    _: Staff,
    AppQuery(filter): AppQuery<AppealFilter>,
) -> Result<AppJson<AppealPage>, ApiError> {
    let status = AppealStatus::parse(filter.status.as_deref().unwrap_or("pending"));
    let limit = filter.limit.unwrap_or(50);
    let after = filter.after.unwrap_or(0);
    let Some(status) = status.filter(|_| (1..=100).contains(&limit) && after >= 0) else {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "status must be pending, accepted or rejected, limit 1 to 100, after at least 0",
        ));
    };
    let rows = state.store.appeals(status, after, limit + 1).await.map_err(ApiError::internal)?;
    let (rows, next_after) = crate::api::pages::keyset_page(rows, limit, |r| r.id);
    Ok(AppJson(AppealPage { appeals: rows.into_iter().map(Appeal::from).collect(), next_after }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealDecision {
    /// `accept` (the ban is lifted) or `reject`.
    #[schema(example = "reject", pattern = "^(accept|reject)$")]
    decision: String,
    /// Shown to the user when rejected; 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    note: String,
}

/// Accept or reject a pending appeal; the user is notified.
#[utoipa::path(post, path = "/v1/admin/appeals/{id}/decision", tag = "admin", security(("bearer" = [])),
    request_body = AppealDecision, params(("id" = i64, Path, description = "the appeal's id")),
    responses((status = 204), (status = 422, description = "invalid_request", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody), (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "already_decided", body = ErrorBody)))]
pub(super) async fn decide(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<i64>,
    AppJson(req): AppJson<AppealDecision>,
) -> Result<StatusCode, ApiError> {
    let moderator = staff.id;
    let accept = match req.decision.as_str() {
        "accept" => true,
        "reject" => false,
        _ => return Err(ApiError::new(ErrorCode::InvalidRequest, "decision must be accept or reject")),
    };
    let note = ModeratorNote::parse(&req.note)?;
    let now = state.accounts.now();
    // What the user is told: an acceptance lifts the ban; a rejection shows the moderator's note.
    let notice =
        if accept { Notice::AppealAccepted {} } else { Notice::AppealRejected { note: note.as_str().to_owned() } };
    let notice = notice.to_row();
    match state
        .store
        .decide_appeal(id, accept, note.as_str(), &notice, moderator, now)
        .await
        .map_err(ApiError::internal)?
    {
        Decided::Done => Ok(StatusCode::NO_CONTENT),
        Decided::NotFound => Err(ApiError::new(ErrorCode::NotFound, "no such appeal")),
        Decided::AlreadyDecided => Err(ApiError::new(ErrorCode::AlreadyDecided, "the appeal is decided already")),
    }
}
