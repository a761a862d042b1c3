//! Ads: admins create and change them (audited); each impression is an `ad_views` row, which a click of that user
//! marks, so impressions and clicks are counted per ad.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::system_logs::insert_system_log;
use super::{BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, UserId};

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct AdRow {
    pub id: i64,
    pub title: String,
    pub content: String,
    pub target_group: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: Option<DateTime<Utc>>,
    pub impressions: i64,
    pub clicks: i64,
}

/// A change to an ad; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct AdChange<'a> {
    pub title: Option<&'a str>,
    pub content: Option<&'a str>,
    pub target_group: Option<&'a str>,
    pub active: Option<bool>,
}

/// What a click found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Click {
    Counted,
    /// The user's latest view of the ad was clicked already.
    AlreadyCounted,
    /// The ad was never shown to this user.
    NotShown,
}

macro_rules! ad_columns {
    () => {
        "a.id, a.title, a.content, a.target_group, a.active, a.created_at, a.updated_at, \
         (SELECT COUNT(*) FROM ad_views v WHERE v.ad_id = a.id) AS impressions, \
         (SELECT COUNT(v.clicked_at) FROM ad_views v WHERE v.ad_id = a.id) AS clicks"
    };
}

impl Store {
    /// Creates an active ad, audited as `ad.created` with the admin; its id.
    pub async fn insert_ad(
        &self,
        title: &str,
        content: &str,
        target_group: &str,
        admin: UserId,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO ads (title, content, target_group, active, created_at) VALUES ($1, $2, $3, TRUE, $4) RETURNING id",
            )
            .bind(title)
            .bind(content)
            .bind(target_group)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let details = json!({ "ad_id": id, "target_group": target_group });
            insert_system_log!(&mut *tx, AuditAction::AdCreated, None::<UserId>, &details, now, actor = Some(admin))
                .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Changes an ad, audited as `ad.updated`; false when there is no such ad.
    pub async fn update_ad(
        &self,
        id: i64,
        change: &AdChange<'_>,
        admin: UserId,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query(
                "UPDATE ads SET title = COALESCE($2, title), content = COALESCE($3, content), \
                 target_group = COALESCE($4, target_group), active = COALESCE($5, active), updated_at = $6 WHERE id = $1",
            )
            .bind(id)
            .bind(change.title)
            .bind(change.content)
            .bind(change.target_group)
            .bind(change.active)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Ok(false);
            }
            let details = json!({
                "ad_id": id, "title": change.title.is_some(), "content": change.content.is_some(),
                "target_group": change.target_group, "active": change.active,
            });
            insert_system_log!(&mut *tx, AuditAction::AdUpdated, None::<UserId>, &details, now, actor = Some(admin))
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Every ad with its impressions and clicks, newest first.
    pub async fn ads(&self) -> Result<Vec<AdRow>, StoreError> {
        let query = select!(concat!("SELECT ", ad_columns!(), " FROM ads a ORDER BY a.id DESC"));
        Ok(on_read_pool!(self, |pool| pool.rows(query).all().await)?)
    }

    /// The ads that may be shown now.
    pub async fn active_ads(&self) -> Result<Vec<AdRow>, StoreError> {
        let query = select!(concat!("SELECT ", ad_columns!(), " FROM ads a WHERE a.active = TRUE ORDER BY a.id"));
        Ok(on_read_pool!(self, |pool| pool.rows(query).all().await)?)
    }

    /// Records that `user_id` was shown `ad_id`.
    pub async fn record_ad_view(&self, ad_id: i64, user_id: UserId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "INSERT INTO ad_views (ad_id, user_id, shown_at) VALUES ($1, $2, $3)";
        on_write_pool!(self, |pool| sqlx::query(query)
            .bind(ad_id)
            .bind(user_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Counts a click on the user's latest view of the ad, once.
    pub async fn click_ad(&self, ad_id: i64, user_id: UserId, now: DateTime<Utc>) -> Result<Click, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let view: Option<(i64, Option<DateTime<Utc>>)> = sqlx::query_as(
                "SELECT id, clicked_at FROM ad_views WHERE ad_id = $1 AND user_id = $2 ORDER BY id DESC LIMIT 1",
            )
            .bind(ad_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = match view {
                None => Click::NotShown,
                Some((_, Some(_))) => Click::AlreadyCounted,
                Some((id, None)) => {
                    sqlx::query("UPDATE ad_views SET clicked_at = $2 WHERE id = $1")
                        .bind(id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    Click::Counted
                }
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }
}
