//! Ads (admins only): create, change or deactivate, and see each one's impressions and clicks. `target_group` is
//! the vocabulary of [`crate::ads`]: `all`, `new`, `near:<lat>,<lon>,<km>`.

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Admin;
use crate::ads::Target;
use crate::api::AppState;
use crate::api::error::{ApiError, AppJson, AppPath, ErrorBody, ErrorCode};
use crate::domain::{AdContent, AdTitle};
use crate::store::{AdChange, AdRow};

#[derive(Serialize, ToSchema)]
pub struct Ad {
    id: i64,
    title: String,
    content: String,
    /// `all`, `new` or `near:<lat>,<lon>,<km>`.
    target_group: String,
    active: bool,
    created_at: DateTime<Utc>,
    updated_at: Option<DateTime<Utc>>,
    /// Times shown.
    impressions: i64,
    /// Impressions that were clicked.
    clicks: i64,
}

impl From<AdRow> for Ad {
    fn from(a: AdRow) -> Self {
        Ad {
            id: a.id,
            title: a.title,
            content: a.content,
            target_group: a.target_group,
            active: a.active,
            created_at: a.created_at,
            updated_at: a.updated_at,
            impressions: a.impressions,
            clicks: a.clicks,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAd {
    /// 1 to 100 characters.
    #[schema(min_length = 1, max_length = 100)]
    title: String,
    /// 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    content: String,
    /// `all`, `new` (accounts in their first seven days) or `near:<lat>,<lon>,<km>` (km 1–2000).
    #[schema(
        example = "near:41.01,28.97,50",
        pattern = r"^(all|new|near:-?[0-9]+(\.[0-9]+)?,-?[0-9]+(\.[0-9]+)?,[0-9]+(\.[0-9]+)?)$"
    )]
    target_group: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdUpdate {
    #[schema(min_length = 1, max_length = 100)]
    title: Option<String>,
    #[schema(min_length = 1, max_length = 1000)]
    content: Option<String>,
    /// As when creating the ad.
    #[schema(pattern = r"^(all|new|near:-?[0-9]+(\.[0-9]+)?,-?[0-9]+(\.[0-9]+)?,[0-9]+(\.[0-9]+)?)$")]
    target_group: Option<String>,
    /// False deactivates the ad (it is no longer shown); true shows it again.
    active: Option<bool>,
}

/// The `target_group` an admin wrote, refused unless [`Target`] reads it.
fn target(value: &str) -> Result<(), ApiError> {
    Target::parse(value).map(|_| ()).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidRequest,
            "target_group must be all, new or near:<lat>,<lon>,<km> (docs/admin.md)",
        )
    })
}

/// Every ad with its impressions and clicks, newest first (admins only).
#[utoipa::path(get, path = "/v1/admin/ads", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<Ad>), (status = 403, description = "forbidden", body = ErrorBody)))]
pub(super) async fn list(State(state): State<AppState>, _: Admin) -> Result<AppJson<Vec<Ad>>, ApiError> {
    let ads = state.store.ads().await.map_err(ApiError::internal)?;
    Ok(AppJson(ads.into_iter().map(Ad::from).collect()))
}

/// Create an ad, active at once (admins only).
#[utoipa::path(post, path = "/v1/admin/ads", tag = "admin", security(("bearer" = [])), request_body = NewAd,
    responses((status = 201, body = Ad), (status = 422, description = "invalid_request", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody)))]
pub(super) async fn create(
    State(state): State<AppState>,
    Admin(admin): Admin,
    AppJson(req): AppJson<NewAd>,
) -> Result<(StatusCode, AppJson<Ad>), ApiError> {
    let title = AdTitle::parse(req.title)?;
    let content = AdContent::parse(req.content)?;
    target(&req.target_group)?;
    let now = state.accounts.now();
    let id = state
        .store
        .insert_ad(title.as_str(), content.as_str(), &req.target_group, admin, now)
        .await
        .map_err(ApiError::internal)?;
    state.hub.ads_changed();
    let ads = state.store.ads().await.map_err(ApiError::internal)?;
    let ad = ads.into_iter().find(|a| a.id == id).ok_or_else(|| ApiError::internal("the new ad is gone"))?;
    Ok((StatusCode::CREATED, AppJson(Ad::from(ad))))
}

/// Change an ad, or deactivate it with `{"active": false}` (admins only).
#[utoipa::path(patch, path = "/v1/admin/ads/{id}", tag = "admin", security(("bearer" = [])), request_body = AdUpdate,
    params(("id" = i64, Path, description = "the ad's id")),
    responses((status = 204), (status = 422, description = "invalid_request", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody), (status = 404, description = "not_found", body = ErrorBody)))]
pub(super) async fn update(
    State(state): State<AppState>,
    Admin(admin): Admin,
    AppPath(id): AppPath<i64>,
    AppJson(req): AppJson<AdUpdate>,
) -> Result<StatusCode, ApiError> {
    let title = req.title.map(AdTitle::parse).transpose()?;
    let content = req.content.map(AdContent::parse).transpose()?;
    if let Some(group) = &req.target_group {
        target(group)?;
    }
    let change = AdChange {
        title: title.as_ref().map(AdTitle::as_str),
        content: content.as_ref().map(AdContent::as_str),
        target_group: req.target_group.as_deref(),
        active: req.active,
    };
    let now = state.accounts.now();
    if !state.store.update_ad(id, &change, admin, now).await.map_err(ApiError::internal)? {
        return Err(ApiError::new(ErrorCode::NotFound, "no such ad"));
    }
    state.hub.ads_changed();
    Ok(StatusCode::NO_CONTENT)
}
