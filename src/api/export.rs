//! `GET /v1/me/export`: everything tanis holds about the caller, as one JSON document to download (KVKK's right
//! of access; docs/privacy.md). The sections are read by `store::export`, which owns the rule that another
//! person appears only by handle; this module adds the profile (with the caller's own phone, opened from the
//! vault) and renders notifications. How often, how much and what of a push token: [`crate::accounts::export`].

use axum::Extension;
use axum::extract::State;
use axum::http::header::CONTENT_DISPOSITION;
use axum::response::IntoResponse;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::credentials::{Credentials, banned_user};
use super::error::{ApiError, AppJson, ErrorBody, ErrorCode};
use super::extract::AuthUser;
use super::statements::StatementView;
use crate::accounts::ClientInfo;
use crate::accounts::export::{ExportCooldown, SECTION_LIMIT, Sections, file_name, masked_push_token};
use crate::domain::{BanReason, NotificationKind, Role, handle};
use crate::notices::Locale;
use crate::store::export::{
    ExportedAppeal, ExportedBan, ExportedBlock, ExportedClaim, ExportedContactKey, ExportedLoginAttempt, ExportedMatch,
    ExportedPhoneCode, ExportedReport, ExportedSession, ExportedSubscription,
};
use crate::store::{AssuranceRow, UserRow};

pub fn router() -> OpenApiRouter<AppState> {
    // One limiter per application (the router is built once per app), not a process-wide static.
    OpenApiRouter::new()
        .routes(routes!(export))
        .routes(routes!(banned_export))
        .layer(Extension(ExportCooldown::default()))
}

/// Everything tanis holds about one user. Other people appear only by handle (`alias#tag`, as it is now).
#[derive(Serialize, ToSchema)]
pub struct Export {
    /// When the document was made.
    generated_at: DateTime<Utc>,
    /// Most rows in one list; a longer history keeps the newest (see `truncated`).
    section_limit: i64,
    /// The lists that held more rows than `section_limit`.
    truncated: Vec<String>,
    profile: Profile,
    /// Every privacy notice version accepted, oldest first.
    consents: Vec<ExportedConsent>,
    sessions: Vec<ExportedSession>,
    /// The contact conversations your sessions took over by publishing a new key: which and when, newest first.
    contact_keys: Vec<ExportedContactKey>,
    login_attempts: Vec<ExportedLoginAttempt>,
    /// One-time codes asked for on the account (never the codes themselves).
    phone_codes: Vec<ExportedPhoneCode>,
    /// Age assurance sessions started at the provider, newest first: its answer and its reference, never what it
    /// looked at.
    age_assurances: Vec<AssuranceRow>,
    matches: Vec<ExportedMatch>,
    claims: Vec<ExportedClaim>,
    reports: Vec<ExportedReport>,
    blocks: Vec<ExportedBlock>,
    notifications: Vec<ExportedNotification>,
    subscriptions: Vec<ExportedSubscription>,
    devices: Vec<ExportedDevice>,
    bans: Vec<ExportedBan>,
    appeals: Vec<ExportedAppeal>,
    /// The statement of reasons of every moderation decision concerning you: your bans and their lifting, your
    /// appeals' outcomes, a report about you that was upheld, and a report of yours that was dismissed.
    statements: Vec<StatementView>,
}

/// The account row.
#[derive(Serialize, ToSchema)]
pub struct Profile {
    #[schema(example = "kediadam#9021")]
    handle: String,
    alias: String,
    tag: String,
    /// The account's own phone number (E.164); null only if it cannot be opened.
    phone: Option<String>,
    /// When that phone was verified with a code; null: not verified.
    phone_verified_at: Option<DateTime<Utc>>,
    /// The phone number's country (ISO 3166-1 alpha-2), which premium finds may restrict matching to; null while
    /// not known (an account made before it was kept, until its next sign-in). Never shown to other users.
    #[schema(example = "TR")]
    country: Option<String>,
    #[schema(value_type = String)]
    role: Role,
    is_premium: bool,
    daily_text_balance: i32,
    daily_video_balance: i32,
    bonus_text_balance: i32,
    bonus_video_balance: i32,
    locale: String,
    /// The topics the profile lists and the languages spoken.
    interests: Vec<&'static str>,
    languages: Vec<&'static str>,
    location: Option<ExportedLocation>,
    /// The gender declared for matching, and when its use there was consented to (`PUT /v1/me/gender`).
    #[schema(value_type = Option<String>)]
    gender: Option<tanis_proto::Gender>,
    gender_consent_at: Option<DateTime<Utc>>,
    /// Since when matching by gender does not use it (reported untrue; docs/privacy.md "Gender").
    gender_suspended_at: Option<DateTime<Utc>>,
    birth_year: Option<i32>,
    referral_code: String,
    created_at: DateTime<Utc>,
    last_active: DateTime<Utc>,
    privacy_notice_version: String,
    privacy_consent_at: DateTime<Utc>,
    is_banned: bool,
    #[schema(value_type = Option<String>)]
    ban_reason: Option<BanReason>,
    ban_ends_at: Option<DateTime<Utc>>,
}

/// One privacy notice version the user accepted.
#[derive(Serialize, ToSchema)]
pub struct ExportedConsent {
    #[schema(example = "2026-11-01")]
    version: String,
    accepted_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedLocation {
    lat: f64,
    lon: f64,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedNotification {
    /// `system`, `match`, `claim` or `ad`.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    kind: NotificationKind,
    /// In the account's language.
    text: String,
    created_at: DateTime<Utc>,
    read: bool,
}

#[derive(Serialize, ToSchema)]
pub struct ExportedDevice {
    platform: String,
    /// The push token's last four characters: enough to recognise the device, useless to send to it.
    #[schema(example = "…a1b2")]
    push_token: String,
    locale: String,
    created_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
}

/// Download everything tanis holds about you, as one JSON document. One export per minute.
#[utoipa::path(get, path = "/v1/me/export", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = Export, content_type = "application/json",
               headers(("Content-Disposition" = String,
                        description = "attachment; filename=\"tanis-export-<handle>-<date>.json\""))),
              (status = 429, description = "too_many_attempts: one export per minute; see Retry-After", body = ErrorBody)))]
async fn export(
    State(state): State<AppState>,
    Extension(cooldown): Extension<ExportCooldown>,
    user: AuthUser,
) -> Result<impl IntoResponse, ApiError> {
    // A banned account keeps this right: read the row directly, not through `current_user`, which refuses bans.
    let row = state
        .store
        .user_by_id(user.id)
        .await
        .map_err(ApiError::internal)?
        // An account waiting for the purge has no valid session (every one was signed out); a login undoes that.
        .filter(|row| row.deleted_at.is_none())
        .ok_or_else(|| ApiError::new(ErrorCode::InvalidToken, "the access token is not valid"))?;
    document(&state, &cooldown, row).await
}

/// The same document for a banned user, who has no session (a ban signs every one out): phone number and password,
/// checked like a login (the same throttle, recorded). Works only while banned, and also while a banned account
/// waits for its purge.
#[utoipa::path(post, path = "/v1/ban/export", tag = "ban", request_body = Credentials,
    responses((status = 200, body = Export, content_type = "application/json",
               headers(("Content-Disposition" = String,
                        description = "attachment; filename=\"tanis-export-<handle>-<date>.json\""))),
              (status = 401, description = "invalid_credentials", body = ErrorBody),
              (status = 409, description = "not_banned: sign in and use GET /v1/me/export", body = ErrorBody),
              (status = 429, description = "too_many_attempts: failed sign-ins, or one export per minute; see Retry-After", body = ErrorBody)))]
async fn banned_export(
    State(state): State<AppState>,
    Extension(cooldown): Extension<ExportCooldown>,
    client: ClientInfo,
    AppJson(req): AppJson<Credentials>,
) -> Result<impl IntoResponse, ApiError> {
    let row = banned_user(&state, &client, &req.phone, req.password).await?;
    document(&state, &cooldown, row).await
}

/// Everything about the account `row`, once its owner is known.
async fn document(
    state: &AppState,
    cooldown: &ExportCooldown,
    row: UserRow,
) -> Result<impl IntoResponse + use<>, ApiError> {
    let now = state.accounts.now();
    cooldown.take(row.id, now).map_err(|wait| {
        ApiError::new(ErrorCode::TooManyAttempts, "one export per minute; try again later").retry_after(wait)
    })?;

    let sealed = state.store.sealed_phone(row.id).await.map_err(ApiError::internal)?;
    // A phone that cannot be opened (a wrong key: the start-up check makes that rare) leaves the rest of the
    // export standing: the profile says null and only the login attempts that name the account are listed.
    let phone = sealed.and_then(|s| {
        state
            .accounts
            .phones()
            .open(&s)
            .inspect_err(|e| tracing::warn!(user = row.id.get(), "export: phone not opened: {e}"))
            .ok()
    });
    let lookup = phone.as_ref().map(|p| state.accounts.phones().lookup(p));

    let store = &state.store;
    let id = row.id;
    let fetch = Sections::FETCH;
    let mut bound = Sections::default();
    let consents = store.consents_of(id).await.map_err(ApiError::internal)?;
    let consents =
        consents.into_iter().map(|c| ExportedConsent { version: c.notice_version, accepted_at: c.accepted_at });
    let consents = bound.keep("consents", consents.collect());
    let sessions = bound.keep("sessions", store.export_sessions(id, fetch).await.map_err(ApiError::internal)?);
    let contact_keys =
        bound.keep("contact_keys", store.export_contact_keys(id, fetch).await.map_err(ApiError::internal)?);
    let attempts = store.export_login_attempts(id, lookup.as_ref(), fetch).await.map_err(ApiError::internal)?;
    let login_attempts = bound.keep("login_attempts", attempts);
    let phone_codes = bound.keep("phone_codes", store.export_phone_codes(id, fetch).await.map_err(ApiError::internal)?);
    let age_assurances =
        bound.keep("age_assurances", store.export_age_assurances(id, fetch).await.map_err(ApiError::internal)?);
    let matches = bound.keep("matches", store.export_matches(id, fetch).await.map_err(ApiError::internal)?);
    let claims = bound.keep("claims", store.export_claims(id, fetch).await.map_err(ApiError::internal)?);
    let reports = bound.keep("reports", store.export_reports(id, fetch).await.map_err(ApiError::internal)?);
    let blocks = bound.keep("blocks", store.export_blocks(id, fetch).await.map_err(ApiError::internal)?);
    let notifications =
        bound.keep("notifications", store.export_notifications(id, fetch).await.map_err(ApiError::internal)?);
    let subscriptions =
        bound.keep("subscriptions", store.export_subscriptions(id, fetch).await.map_err(ApiError::internal)?);
    let devices = bound.keep("devices", store.export_devices(id, fetch).await.map_err(ApiError::internal)?);
    let bans = bound.keep("bans", store.export_bans(id, fetch).await.map_err(ApiError::internal)?);
    let appeals = bound.keep("appeals", store.export_appeals(id, fetch).await.map_err(ApiError::internal)?);
    let statements = bound.keep("statements", store.statements_of(id, fetch).await.map_err(ApiError::internal)?);
    let statements = statements.into_iter().map(StatementView::from).collect();
    let locale = Locale::parse(&row.locale).unwrap_or_default();
    let notifications = notifications
        .into_iter()
        .map(|n| ExportedNotification { text: n.text(locale), kind: n.kind, created_at: n.created_at, read: n.read })
        .collect();
    let devices = devices
        .into_iter()
        .map(|d| ExportedDevice {
            push_token: masked_push_token(&d.push_token),
            platform: d.platform,
            locale: d.locale,
            created_at: d.created_at,
            last_seen_at: d.last_seen_at,
        })
        .collect();

    let handle = handle(&row.alias, &row.tag);
    let disposition = format!("attachment; filename=\"{}\"", file_name(&handle, now.date_naive()));
    let location = match (row.location_lat, row.location_lon) {
        (Some(lat), Some(lon)) => Some(ExportedLocation { lat, lon, updated_at: row.location_updated_at }),
        _ => None,
    };
    let (interests, languages) = (row.interests().ids().collect(), row.languages().codes().collect());
    let country = row.country().map(|c| c.to_string());
    let gender = row.declared_gender();
    let profile = Profile {
        handle,
        alias: row.alias,
        tag: row.tag,
        phone: phone.map(|p| p.as_str().to_owned()),
        phone_verified_at: row.phone_verified_at,
        country,
        role: row.role,
        is_premium: row.is_premium,
        daily_text_balance: row.daily_chat_balance,
        daily_video_balance: row.daily_video_balance,
        bonus_text_balance: row.bonus_chat_balance,
        bonus_video_balance: row.bonus_video_balance,
        locale: row.locale,
        interests,
        languages,
        location,
        gender,
        gender_consent_at: gender.and(row.gender_consent_at),
        gender_suspended_at: gender.and(row.gender_suspended_at),
        birth_year: row.birth_year,
        referral_code: row.referral_code,
        created_at: row.created_at,
        last_active: row.last_active,
        privacy_notice_version: row.privacy_notice_version,
        privacy_consent_at: row.privacy_consent_at,
        is_banned: row.is_banned,
        ban_reason: row.ban_reason,
        ban_ends_at: row.ban_ends_at,
    };
    let export = Export {
        generated_at: now,
        section_limit: SECTION_LIMIT as i64,
        truncated: bound.truncated(),
        profile,
        consents,
        sessions,
        contact_keys,
        login_attempts,
        phone_codes,
        age_assurances,
        matches,
        claims,
        reports,
        blocks,
        notifications,
        subscriptions,
        devices,
        bans,
        appeals,
        statements,
    };
    Ok(([(CONTENT_DISPOSITION, disposition)], AppJson(export)))
}
