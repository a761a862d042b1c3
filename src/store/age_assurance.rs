//! Age assurance sessions (`age_assurances`, migration 0041): one row per session started at the provider, decided
//! once. Only the provider's answer is kept (docs/privacy.md "Age assurance"): never what it looked at.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AssuranceStatus, UserId};

/// A session as stored, and as the user's export shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct AssuranceRow {
    #[serde(skip)]
    pub id: i64,
    /// The provider asked (`yoti`).
    pub provider: String,
    /// The provider's id of the session.
    pub reference: String,
    /// `pending`, `assured`, `refused`, `failed`, `cancelled` or `expired`.
    #[schema(value_type = String)]
    pub status: AssuranceStatus,
    /// The age asked about.
    pub threshold: i32,
    /// Whether the provider found the user at or over `threshold`; null until it decided.
    pub over_threshold: Option<bool>,
    /// How the provider decided, as it names it (`age_estimation`, `doc_scan`, `digital_id`, …); null until then.
    pub method: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the provider's session runs out, as it said.
    pub expires_at: Option<DateTime<Utc>>,
    pub decided_at: Option<DateTime<Utc>>,
}

/// A session just started at the provider.
#[derive(Debug, Clone)]
pub struct NewAssurance<'a> {
    pub user_id: UserId,
    pub provider: &'a str,
    pub reference: &'a str,
    pub threshold: i32,
    pub expires_at: Option<DateTime<Utc>>,
}

/// What the provider decided of a pending session.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    pub status: AssuranceStatus,
    pub over_threshold: Option<bool>,
    pub method: Option<&'a str>,
}

/// The columns of [`AssuranceRow`], in one place for every read.
macro_rules! columns {
    () => {
        "id, provider, reference, status, threshold, over_threshold, method, created_at, expires_at, decided_at"
    };
}

impl Store {
    /// Records a session started at `now`, unless the user started `per_day` or more in the 24 hours before it:
    /// `None` then, and nothing is stored. The user's row is locked first, so two starts at once count each other.
    pub async fn insert_age_assurance(
        &self,
        new: &NewAssurance<'_>,
        now: DateTime<Utc>,
        per_day: i64,
    ) -> Result<Option<AssuranceRow>, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET last_active = last_active WHERE id = $1")
                .bind(new.user_id)
                .execute(&mut *tx)
                .await?;
            let started: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM age_assurances WHERE user_id = $1 AND created_at > $2")
                    .bind(new.user_id)
                    .bind(now - chrono::TimeDelta::days(1))
                    .fetch_one(&mut *tx)
                    .await?;
            if started >= per_day {
                return Ok(None);
            }
            let row: AssuranceRow = sqlx::query_as(concat!(
                "INSERT INTO age_assurances (user_id, provider, reference, status, threshold, created_at, expires_at) \
                 VALUES ($1, $2, $3, 'pending', $4, $5, $6) RETURNING ",
                columns!()
            ))
            .bind(new.user_id)
            .bind(new.provider)
            .bind(new.reference)
            .bind(new.threshold)
            .bind(now)
            .bind(new.expires_at)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(row))
        })
    }

    /// The oldest start among the user's last `per_day` within the 24 hours before `now`, when there are that
    /// many: the next start is allowed a day after it.
    pub async fn age_assurance_limit_since(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
        per_day: i64,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let query = select!(
            "SELECT created_at FROM age_assurances WHERE user_id = $1 AND created_at > $2 \
             ORDER BY created_at DESC LIMIT $3"
        );
        let since = now - chrono::TimeDelta::days(1);
        let starts: Vec<DateTime<Utc>> =
            on_read_pool!(self, |pool| pool.scalars(query).bind(user_id).bind(since).bind(per_day).all().await)?;
        Ok((starts.len() as i64 >= per_day).then(|| starts.last().copied()).flatten())
    }

    /// The user's newest session, if they ever started one.
    pub async fn newest_age_assurance(&self, user_id: UserId) -> Result<Option<AssuranceRow>, StoreError> {
        let query = select!(concat!(
            "SELECT ",
            columns!(),
            " FROM age_assurances WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1"
        ));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).optional().await)?)
    }

    /// Whether a session assured the user at or over `threshold`.
    pub async fn age_assured(&self, user_id: UserId, threshold: i32) -> Result<bool, StoreError> {
        let query = select!(
            "SELECT COUNT(*) FROM age_assurances WHERE user_id = $1 AND status = 'assured' AND threshold >= $2"
        );
        let assured: i64 = on_read_pool!(self, |pool| pool.scalars(query).bind(user_id).bind(threshold).one().await)?;
        Ok(assured > 0)
    }

    /// Stores what the provider decided of session `id` at `now`, if it is still pending (a decision is made
    /// once: a second reader of the same result changes nothing). The row as it is afterwards.
    pub async fn decide_age_assurance(
        &self,
        id: i64,
        decision: &Decision<'_>,
        now: DateTime<Utc>,
    ) -> Result<AssuranceRow, StoreError> {
        let update = "UPDATE age_assurances SET status = $2, over_threshold = $3, method = $4, decided_at = $5 \
                      WHERE id = $1 AND status = 'pending'";
        let read = concat!("SELECT ", columns!(), " FROM age_assurances WHERE id = $1");
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(update)
                .bind(id)
                .bind(decision.status)
                .bind(decision.over_threshold)
                .bind(decision.method)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let row: AssuranceRow = sqlx::query_as(read).bind(id).fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(row)
        })
    }

    /// Every session of the user, newest first, at most `limit` (the export).
    pub async fn export_age_assurances(&self, user_id: UserId, limit: i64) -> Result<Vec<AssuranceRow>, StoreError> {
        let query = select!(concat!(
            "SELECT ",
            columns!(),
            " FROM age_assurances WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }
}
