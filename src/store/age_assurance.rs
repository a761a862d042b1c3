//! Age assurance sessions (`age_assurances`, migration 0041): one row per session started at the provider, decided
//! once. Only the provider's answer is kept (docs/privacy.md "Age assurance"): never what it looked at. And the calls
//! made to the provider for each user (`age_assurance_calls`, migration 0044), which its daily limits count.

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

/// A call to the provider, as the daily limits count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderCall {
    /// A session created (`POST /v1/me/age-assurance`).
    Start,
    /// A session's result read (`POST /v1/me/age-assurance/check`).
    Check,
}

impl ProviderCall {
    fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Check => "check",
        }
    }
}

impl Store {
    /// Counts a call of `kind` to the provider for the user at `now`, before it is made, unless `per_day` of that
    /// kind were counted in the 24 hours before: then nothing is counted and the answer is the oldest of them (the
    /// next call is allowed a day after it). A call that then fails stays counted: each may cost the operator a
    /// check. The user's row is locked first, so two calls at once count each other; their calls older than a day
    /// go in the same transaction.
    pub async fn count_age_assurance_call(
        &self,
        user_id: UserId,
        kind: ProviderCall,
        now: DateTime<Utc>,
        per_day: i64,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let since = now - chrono::TimeDelta::days(1);
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET last_active = last_active WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM age_assurance_calls WHERE user_id = $1 AND created_at <= $2")
                .bind(user_id)
                .bind(since)
                .execute(&mut *tx)
                .await?;
            let calls: Vec<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT created_at FROM age_assurance_calls WHERE user_id = $1 AND kind = $2 \
                 ORDER BY created_at DESC LIMIT $3",
            )
            .bind(user_id)
            .bind(kind.as_str())
            .bind(per_day)
            .fetch_all(&mut *tx)
            .await?;
            if calls.len() as i64 >= per_day {
                tx.commit().await?;
                return Ok(calls.last().copied());
            }
            sqlx::query("INSERT INTO age_assurance_calls (user_id, kind, created_at) VALUES ($1, $2, $3)")
                .bind(user_id)
                .bind(kind.as_str())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(None)
        })
    }

    /// Records a session the provider created at `now` (its call was counted: [`Store::count_age_assurance_call`]).
    pub async fn insert_age_assurance(
        &self,
        new: &NewAssurance<'_>,
        now: DateTime<Utc>,
    ) -> Result<AssuranceRow, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
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
            Ok(row)
        })
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
