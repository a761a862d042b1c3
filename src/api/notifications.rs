//! `/v1/notifications`: the user's notifications, newest first, in their language (`locale` in `PATCH /v1/me`),
//! the unread count, and marking them read. Online users also get each new one as a `notification` frame.

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, AppJson, AppQuery, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use crate::domain::NotificationKind;
use crate::notices::Locale;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(mark_read))
}

/// One notification, in the reader's language.
#[derive(Serialize, ToSchema)]
pub struct NotificationView {
    id: i64,
    /// `system`, `match`, `claim` or `ad`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: NotificationKind,
    text: String,
    created_at: DateTime<Utc>,
    read: bool,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Notifications older than this id: the previous page's `next_before`.
    #[param(minimum = 1)]
    before: Option<i64>,
    /// Per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct NotificationPage {
    notifications: Vec<NotificationView>,
    /// Unread notifications in all.
    unread: i64,
    /// Pass as `before` for the next page; absent on the last page.
    next_before: Option<i64>,
}

/// Your notifications, newest first, with the unread count.
#[utoipa::path(get, path = "/v1/notifications", tag = "account", security(("bearer" = [])), params(Page),
    responses((status = 200, body = NotificationPage), (status = 400, description = "invalid_parameter", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    AppQuery(page): AppQuery<Page>,
) -> Result<AppJson<NotificationPage>, ApiError> {
    let limit = page.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) || page.before.is_some_and(|b| b < 1) {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "limit must be 1 to 100 and before at least 1"));
    }
    let me = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    let locale = Locale::parse(&me.locale).unwrap_or_default();
    let rows = state.store.notifications_of(me.id, page.before, limit + 1).await.map_err(ApiError::internal)?;
    let (rows, next_before) = crate::api::pages::keyset_page(rows, limit, |r| r.id);
    let unread = state.store.unread_count(me.id).await.map_err(ApiError::internal)?;
    let notifications = rows
        .iter()
        .map(|r| NotificationView {
            id: r.id,
            kind: r.kind,
            text: r.text(locale),
            created_at: r.created_at,
            read: r.read,
        })
        .collect();
    Ok(AppJson(NotificationPage { notifications, unread, next_before }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkRead {
    /// Marks every notification of yours up to this id (inclusive) read: pass the newest one you showed.
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "super::extract::integer")]
    up_to: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Unread {
    unread: i64,
}

/// Mark your notifications read, up to an id; answers the unread count left.
#[utoipa::path(post, path = "/v1/notifications/read", tag = "account", security(("bearer" = [])), request_body = MarkRead,
    responses((status = 200, body = Unread), (status = 422, description = "invalid_request", body = ErrorBody),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn mark_read(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<MarkRead>,
) -> Result<AppJson<Unread>, ApiError> {
    if req.up_to < 1 {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "up_to must be at least 1"));
    }
    let me = state.accounts.current_user(user.id).await.map_err(|e| state.api_error(e))?;
    state.store.mark_read(me.id, req.up_to).await.map_err(ApiError::internal)?;
    let unread = state.store.unread_count(me.id).await.map_err(ApiError::internal)?;
    Ok(AppJson(Unread { unread }))
}
