//! A call report's snapshot, for staff only: opened from its sealed form on each view, and every view audited
//! (`admin.snapshot_viewed`) before the image leaves. Never cached: `cache-control: no-store`.

use axum::extract::State;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::response::IntoResponse;
use serde_json::json;

use super::Staff;
use crate::api::AppState;
use crate::api::error::{ApiError, AppPath, ErrorBody, ErrorCode};
use crate::domain::AuditAction;

/// The snapshot a call report carries (the newest, while evidence retention keeps it). Audited.
#[utoipa::path(get, path = "/v1/admin/reports/{id}/snapshot", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the report's id")),
    responses((status = 200, description = "the image, of its stored type", content_type = "image/*"),
        (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found: no such report, or it holds no snapshot", body = ErrorBody)))]
pub(super) async fn view(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let not_found = || ApiError::new(ErrorCode::NotFound, "no snapshot for that report");
    let (content_type, sealed) =
        state.store.report_snapshot(id).await.map_err(ApiError::internal)?.ok_or_else(not_found)?;
    let reported = state.store.report_subject(id).await.map_err(ApiError::internal)?.ok_or_else(not_found)?;
    // Recorded before it is shown: a snapshot never leaves without its audit row.
    let details = json!({ "report_id": id });
    let now = state.accounts.now();
    state
        .store
        .log_action(AuditAction::AdminSnapshotViewed, staff.id, reported, &details, now)
        .await
        .map_err(ApiError::internal)?;
    let image = state.hub.reports().snapshots().open(&sealed).map_err(ApiError::internal)?;
    let headers = [
        (CONTENT_TYPE, content_type),
        (CACHE_CONTROL, "no-store".to_owned()),
        (X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
    ];
    Ok((headers, image))
}
