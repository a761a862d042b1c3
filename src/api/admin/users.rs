//! Moderators on users: look one up, ban, unban, clear their reports; admins set roles.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::audit_entry::AuditEntry;
use super::declarations::{self, DeclarationView};
use super::standing::{self, TrustStanding};
use super::{Admin, Staff};
use crate::api::AppState;
use crate::api::error::{ApiError, AppJson, AppPath, AppQuery, ErrorBody, ErrorCode};
use crate::domain::{
    AuditAction, BanDuration, BanReason, ModeratorNote, Role, RoleRefusal, TypedHandle, UserId, handle,
};
use crate::moderation;
use crate::notices::Notice;
use crate::store::{BanRow, Lift, NewBan};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BanRequest {
    /// The reason code, shown to the user: `spam`, `harassment`, `hate`, `sexual_content`, `underage`,
    /// `child_sexual_abuse`, `scam`, `impersonation`, `violence`, `reports` or `other` (docs/admin.md).
    #[schema(
        example = "spam",
        pattern = "^(spam|harassment|hate|sexual_content|underage|child_sexual_abuse|scam|impersonation|violence|reports|other)$"
    )]
    reason: String,
    /// The moderator's note for the audit trail and other moderators; never shown to the user. At most 1000
    /// characters.
    #[schema(max_length = 1000)]
    note: Option<String>,
    /// Hours until the ban is lifted by itself, 1 to 8760; absent: until a moderator lifts it.
    #[schema(minimum = 1, maximum = 8760)]
    duration_hours: Option<i64>,
}

/// Ban a user: their sockets close, their match ends, and they cannot sign in until the ban ends or is lifted.
#[utoipa::path(post, path = "/v1/admin/users/{id}/ban", tag = "admin", security(("bearer" = [])), request_body = BanRequest,
    params(("id" = i64, Path, description = "the user's id")),
    responses((status = 204), (status = 422, description = "invalid_request", body = ErrorBody),
        (status = 403, description = "forbidden: the caller is not staff, or the user is (an admin demotes them first)", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody), (status = 409, description = "already_banned", body = ErrorBody)))]
pub(super) async fn ban(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<UserId>,
    AppJson(req): AppJson<BanRequest>,
) -> Result<StatusCode, ApiError> {
    let moderator = staff.id;
    let Some(reason_code) = BanReason::parse(&req.reason) else {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "reason must be one of the reason codes (docs/admin.md)"));
    };
    let note = ModeratorNote::optional(req.note.as_deref())?;
    let duration = req.duration_hours.map(BanDuration::from_hours).transpose()?;
    let user = state.store.user_by_id(id).await.map_err(ApiError::internal)?;
    let user = user.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such user"))?;
    user.role.bannable().map_err(refusal)?;
    let now = state.accounts.now();
    let by = json!({ "moderator": moderator });
    let order = NewBan {
        user_id: id,
        reason_code,
        note: note.as_ref().map(ModeratorNote::as_str),
        ends_at: duration.map(|d| d.ends_at(now)),
        by: &by,
        now,
    };
    // The ban and its audit row (naming the moderator) commit together.
    if moderation::ban(state.hub.site(), &order).await.map_err(ApiError::internal)? {
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(refused(&state, id, ErrorCode::AlreadyBanned, "the user is banned already").await)
}

/// A refusal of the rules on roles, as the client sees it.
fn refusal(e: RoleRefusal) -> ApiError {
    let code = match e {
        RoleRefusal::SelfDemotion => ErrorCode::InvalidRequest,
        RoleRefusal::StaffNotBannable => ErrorCode::Forbidden,
    };
    ApiError::new(code, e.to_string())
}

/// Why a ban or unban changed nothing: the user is in the other state (`code`), or does not exist.
async fn refused(state: &AppState, id: UserId, code: ErrorCode, message: &str) -> ApiError {
    match state.store.user_by_id(id).await {
        Ok(Some(_)) => ApiError::new(code, message),
        Ok(None) => ApiError::new(ErrorCode::NotFound, "no such user"),
        Err(e) => ApiError::internal(e),
    }
}

/// Lift a ban. Reports made before now no longer count toward an automatic ban.
#[utoipa::path(post, path = "/v1/admin/users/{id}/unban", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the user's id")),
    responses((status = 204), (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody), (status = 409, description = "not_banned", body = ErrorBody)))]
pub(super) async fn unban(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<UserId>,
) -> Result<StatusCode, ApiError> {
    let moderator = staff.id;
    let now = state.accounts.now();
    let lift = Lift::Unbanned { moderator: Some(moderator) };
    let notice = Notice::Unbanned {}.to_row();
    if state.store.unban_user(id, lift, &notice, now).await.map_err(ApiError::internal)? {
        return Ok(StatusCode::NO_CONTENT);
    }
    Err(refused(&state, id, ErrorCode::NotBanned, "the user is not banned").await)
}

/// Clearance: the reports made about the user until now no longer count toward an automatic ban (they stay in
/// the history).
#[utoipa::path(post, path = "/v1/admin/users/{id}/clearance", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the user's id")),
    responses((status = 204), (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody)))]
pub(super) async fn clear_reports(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<UserId>,
) -> Result<StatusCode, ApiError> {
    let moderator = staff.id;
    let now = state.accounts.now();
    match state.store.clear_reports(id, moderator, now).await.map_err(ApiError::internal)? {
        true => {
            // Cleared reports end quarantine and any open review (docs/admin.md "Trust").
            state.hub.standing_changed(id);
            Ok(StatusCode::NO_CONTENT)
        }
        false => Err(ApiError::new(ErrorCode::NotFound, "no such user")),
    }
}

/// One ban in a user's history.
#[derive(Serialize, ToSchema)]
pub struct BanEntry {
    id: i64,
    #[schema(value_type = String)]
    reason_code: BanReason,
    /// The moderator's note.
    note: Option<String>,
    /// The moderator who banned; absent for the automatic ban.
    #[schema(value_type = Option<i64>)]
    banned_by: Option<UserId>,
    created_at: DateTime<Utc>,
    /// Absent: until lifted.
    ends_at: Option<DateTime<Utc>>,
    lifted_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<i64>)]
    lifted_by: Option<UserId>,
    /// `unbanned`, `expired` or `appeal`.
    lift_reason: Option<String>,
}

impl From<BanRow> for BanEntry {
    fn from(b: BanRow) -> Self {
        BanEntry {
            id: b.id,
            reason_code: b.reason_code,
            note: b.note,
            banned_by: b.banned_by,
            created_at: b.created_at,
            ends_at: b.ends_at,
            lifted_at: b.lifted_at,
            lifted_by: b.lifted_by,
            lift_reason: b.lift_reason,
        }
    }
}

/// A user as moderators see them: never message content (it is end-to-end encrypted), and the phone number only
/// for admins.
#[derive(Serialize, ToSchema)]
pub struct UserView {
    #[schema(value_type = i64)]
    id: UserId,
    #[schema(example = "kediadam#9021")]
    handle: String,
    /// `user`, `moderator` or `admin`.
    #[schema(value_type = String)]
    role: Role,
    /// `active` or `banned`.
    status: &'static str,
    /// The current ban's reason code.
    #[schema(value_type = Option<String>)]
    ban_reason: Option<BanReason>,
    banned_at: Option<DateTime<Utc>>,
    /// When the current ban ends by itself.
    ban_ends_at: Option<DateTime<Utc>>,
    /// Every ban, newest first.
    bans: Vec<BanEntry>,
    created_at: DateTime<Utc>,
    account_age_days: i64,
    last_active: DateTime<Utc>,
    is_premium: bool,
    /// Today's units left: `daily_text`, `daily_video`, `bonus_text`, `bonus_video`.
    quota: BTreeMap<&'static str, i32>,
    /// Distinct users who reported them, ever.
    reporters: i64,
    /// Distinct reporters since the last clearance: the automatic ban counts these.
    reporters_since_clearance: i64,
    cleared_at: Option<DateTime<Utc>>,
    /// Claims they filed, by status (`pending`, `approved`, `rejected`).
    claims: BTreeMap<String, i64>,
    /// What the trust rules make of them now.
    trust: TrustStanding,
    /// "Not as declared" reports about them and whether those suspended their declared gender's use in matching
    /// (never the declared gender itself).
    declaration: DeclarationView,
    /// The audit trail about them, newest first (bans, unbans, role changes, claims, …), at most 50.
    history: Vec<AuditEntry>,
    /// Only when an admin asked for it (`phone=true`), and every such view is in the audit trail
    /// (`admin.phone_viewed`).
    phone_number: Option<String>,
}

/// Look a user up by id: status, ban history, report counts, account age, claims and quota use.
#[utoipa::path(get, path = "/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = i64, Path, description = "the user's id"), Reveal),
    responses((status = 200, body = UserView), (status = 403, description = "forbidden", body = ErrorBody),
        (status = 404, description = "not_found", body = ErrorBody)))]
pub(super) async fn view(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<UserId>,
    AppQuery(Reveal { phone }): AppQuery<Reveal>,
) -> Result<AppJson<UserView>, ApiError> {
    let row = state.store.user_by_id(id).await.map_err(ApiError::internal)?;
    let row = row.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such user"))?;
    user_view(&state, staff, row, phone == Some(true)).await.map(AppJson)
}

/// Whether an admin asks to see the phone number.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Reveal {
    /// `true`: an admin sees `phone_number`, and the view is audited first (`admin.phone_viewed`). Ignored for
    /// moderators, who never see it. Without it nobody does, so looking a user up is not a phone view.
    phone: Option<bool>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Lookup {
    /// `alias#tag`, as strangers see it (the alias in any case).
    #[param(example = "kediadam#9021", pattern = "^[^#]+#[0-9]{4}$")]
    handle: String,
    /// As for `GET /v1/admin/users/{id}`: `true` shows an admin the phone number, audited.
    phone: Option<bool>,
}

/// Look a user up by their handle (`alias#tag`).
#[utoipa::path(get, path = "/v1/admin/users", tag = "admin", security(("bearer" = [])), params(Lookup),
    responses((status = 200, body = UserView), (status = 400, description = "invalid_parameter", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody), (status = 404, description = "not_found", body = ErrorBody)))]
pub(super) async fn lookup(
    State(state): State<AppState>,
    staff: Staff,
    AppQuery(Lookup { handle, phone }): AppQuery<Lookup>,
) -> Result<AppJson<UserView>, ApiError> {
    let handle = TypedHandle::parse(&handle)?;
    let row = state.store.user_by_handle(handle.key(), &handle.tag().to_string()).await.map_err(ApiError::internal)?;
    let row = row.ok_or_else(|| ApiError::new(ErrorCode::NotFound, "no such user"))?;
    user_view(&state, staff, row, phone == Some(true)).await.map(AppJson)
}

/// The user as staff see them; with the phone number when an admin asked for it (`phone`), audited first.
async fn user_view(
    state: &AppState,
    staff: Staff,
    row: crate::store::UserRow,
    phone: bool,
) -> Result<UserView, ApiError> {
    let counts = state.store.moderation_counts(row.id).await.map_err(ApiError::internal)?;
    let history = state.store.system_logs_for_user(row.id, 50).await.map_err(ApiError::internal)?;
    let bans = state.store.bans_of(row.id).await.map_err(ApiError::internal)?;
    let now = state.accounts.now();
    let phone_number = if staff.admin && phone {
        // Recorded before it is shown: a phone number never leaves without its audit row.
        let details = json!({ "via": "GET /v1/admin/users" });
        state
            .store
            .log_action(AuditAction::AdminPhoneViewed, staff.id, row.id, &details, now)
            .await
            .map_err(ApiError::internal)?;
        // Opened only here, for an admin; an unopenable phone (wrong key: the start-up check makes that rare) is
        // an internal error, logged without the bytes.
        let sealed = state.store.sealed_phone(row.id).await.map_err(ApiError::internal)?;
        let phone =
            sealed.map(|sealed| state.accounts.phones().open(&sealed)).transpose().map_err(ApiError::internal)?;
        phone.map(|phone| phone.as_str().to_owned())
    } else {
        None
    };
    Ok(UserView {
        id: row.id,
        handle: handle(&row.alias, &row.tag),
        role: row.role,
        status: if row.is_banned { "banned" } else { "active" },
        ban_reason: row.ban_reason,
        banned_at: row.banned_at,
        ban_ends_at: row.ban_ends_at,
        bans: bans.into_iter().map(BanEntry::from).collect(),
        created_at: row.created_at,
        account_age_days: (now - row.created_at).num_days(),
        last_active: row.last_active,
        is_premium: row.is_premium,
        quota: BTreeMap::from([
            ("daily_text", row.daily_chat_balance),
            ("daily_video", row.daily_video_balance),
            ("bonus_text", row.bonus_chat_balance),
            ("bonus_video", row.bonus_video_balance),
        ]),
        reporters: counts.reporters,
        reporters_since_clearance: counts.reporters_since_clearance,
        cleared_at: counts.cleared_at,
        claims: counts.claims.into_iter().collect(),
        trust: standing::of(state, &row, now).await?,
        declaration: declarations::of(state, row.id).await?,
        history: history.into_iter().map(AuditEntry::from).collect(),
        phone_number,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// `user`, `moderator` or `admin`.
    #[schema(example = "moderator", pattern = "^(user|moderator|admin)$")]
    role: String,
}

/// Make a user a moderator or an admin, or back a plain user (admins only). Takes effect on their next admin
/// request: the role is read from the database every time.
#[utoipa::path(put, path = "/v1/admin/users/{id}/role", tag = "admin", security(("bearer" = [])), request_body = RoleRequest,
    params(("id" = i64, Path, description = "the user's id")),
    responses((status = 204), (status = 422, description = "invalid_request", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody), (status = 404, description = "not_found", body = ErrorBody)))]
pub(super) async fn set_role(
    State(state): State<AppState>,
    Admin(admin): Admin,
    AppPath(id): AppPath<UserId>,
    AppJson(req): AppJson<RoleRequest>,
) -> Result<StatusCode, ApiError> {
    let role = Role::parse(&req.role).map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))?;
    role.may_be_given(admin, id).map_err(refusal)?;
    let now = state.accounts.now();
    match state.store.set_role_by(id, role, Some(admin), now).await.map_err(ApiError::internal)? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::new(ErrorCode::NotFound, "no such user")),
    }
}
