//! `/v1/ban/*`: what a banned user can still do. A ban revokes every token, so these take the phone number and
//! password like a login (with the same throttling and the same answer for a wrong password or an unknown
//! phone): see the ban's reason code, end and statement of reasons, and file one appeal per ban. Deleting the account
//! (`POST /v1/ban/deletion`, src/api/deletion.rs) and downloading its data (`POST /v1/ban/export`,
//! src/api/export.rs) take the same credentials.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::credentials::{Credentials, banned_user};
use super::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use super::statements::StatementView;
use crate::accounts::ClientInfo;
use crate::domain::{AppealText, BanReason};
use crate::store::UserRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status)).routes(routes!(appeal))
}

/// The appeal against the current ban, as its author sees it.
#[derive(Serialize, ToSchema)]
pub struct AppealState {
    /// `pending`, `accepted` or `rejected`.
    status: String,
    created_at: DateTime<Utc>,
    decided_at: Option<DateTime<Utc>>,
    /// The moderator's note, once decided.
    decision_note: Option<String>,
}

/// The ban as the banned user sees it: never the moderator's private note.
#[derive(Serialize, ToSchema)]
pub struct BanStatus {
    /// One of the reason codes in docs/admin.md (`spam`, `harassment`, …, `reports` for the automatic ban).
    #[schema(example = "spam")]
    reason_code: String,
    banned_at: DateTime<Utc>,
    /// When it ends by itself; absent for a ban until lifted.
    ends_at: Option<DateTime<Utc>>,
    /// Absent until an appeal is filed.
    appeal: Option<AppealState>,
    /// The ban's statement of reasons: what was decided, on what facts and which clause of the terms, how far
    /// automated, until when, and how to appeal. Absent only for a ban older than statements (2026-11).
    statement: Option<StatementView>,
}

/// The signed-in-by-password banned user and their current ban.
async fn banned(
    state: &AppState,
    client: &ClientInfo,
    phone: &str,
    password: String,
) -> Result<(UserRow, i64), ApiError> {
    let user = banned_user(state, client, phone, password).await?;
    let bans = state.store.bans_of(user.id).await.map_err(ApiError::internal)?;
    let current = bans.iter().find(|b| b.lifted_at.is_none()).map(|b| b.id);
    let ban_id = current.ok_or_else(|| ApiError::internal("a banned user without a ban row"))?;
    Ok((user, ban_id))
}

/// See why your account is banned and until when. Works only while banned.
#[utoipa::path(post, path = "/v1/ban/status", tag = "ban", request_body = Credentials,
    responses((status = 200, body = BanStatus),
              (status = 401, description = "invalid_credentials", body = ErrorBody),
              (status = 409, description = "not_banned", body = ErrorBody),
              (status = 429, description = "too_many_attempts, with Retry-After", body = ErrorBody)))]
async fn status(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<Credentials>,
) -> Result<AppJson<BanStatus>, ApiError> {
    let (user, ban_id) = banned(&state, &client, &req.phone, req.password).await?;
    let appeal = state.store.appeal_for_ban(ban_id).await.map_err(ApiError::internal)?;
    let statement = state.store.statement_of_ban(ban_id).await.map_err(ApiError::internal)?;
    Ok(AppJson(BanStatus {
        reason_code: user.ban_reason.map_or("", BanReason::as_str).to_owned(),
        banned_at: user.banned_at.unwrap_or(user.created_at),
        ends_at: user.ban_ends_at,
        appeal: appeal.map(|a| AppealState {
            status: a.status.as_str().to_owned(),
            created_at: a.created_at,
            decided_at: a.decided_at,
            decision_note: a.decision_note,
        }),
        statement: statement.map(StatementView::from),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AppealRequest {
    #[schema(example = "+905551234567", min_length = 1, max_length = 32)]
    phone: String,
    #[schema(max_length = 72)]
    password: String,
    /// Why the ban should be lifted: 1 to 2000 characters.
    #[schema(min_length = 1, max_length = 2000)]
    text: String,
}

/// Appeal against your current ban, once per ban. Moderators accept (the ban is lifted) or reject it; you are
/// notified either way and see the outcome in `POST /v1/ban/status`.
#[utoipa::path(post, path = "/v1/ban/appeal", tag = "ban", request_body = AppealRequest,
    responses((status = 201, description = "filed"),
              (status = 401, description = "invalid_credentials", body = ErrorBody),
              (status = 409, description = "not_banned, appeal_exists", body = ErrorBody),
              (status = 422, description = "invalid_request: text not 1 to 2000 characters; invalid_text", body = ErrorBody),
              (status = 429, description = "too_many_attempts, with Retry-After", body = ErrorBody)))]
async fn appeal(
    State(state): State<AppState>,
    client: ClientInfo,
    AppJson(req): AppJson<AppealRequest>,
) -> Result<StatusCode, ApiError> {
    let text = AppealText::parse(&req.text)?;
    let (user, ban_id) = banned(&state, &client, &req.phone, req.password).await?;
    let now = state.accounts.now();
    match state.store.insert_appeal(user.id, ban_id, text.as_str(), now).await.map_err(ApiError::internal)? {
        Some(_) => Ok(StatusCode::CREATED),
        None => Err(ApiError::new(ErrorCode::AppealExists, "this ban was appealed already")),
    }
}
