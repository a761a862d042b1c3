//! Consent to the privacy notice, per version: every acceptance is kept (the user's export, proof of consent),
//! and the account row holds the latest, which matching checks against the current version.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::UserId;

/// One accepted version of the privacy notice.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct Consent {
    pub notice_version: String,
    pub accepted_at: DateTime<Utc>,
}

impl Store {
    /// Records that the user accepted `version` now and makes it their latest. The first acceptance of a version
    /// is the one kept; accepting it again changes nothing. False when nothing changed (or there is no such user).
    pub async fn accept_privacy_notice(
        &self,
        user_id: UserId,
        version: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let added = sqlx::query(
                "INSERT INTO privacy_consents (user_id, notice_version, accepted_at) \
                 SELECT id, $2, $3 FROM users WHERE id = $1 ON CONFLICT (user_id, notice_version) DO NOTHING",
            )
            .bind(user_id)
            .bind(version)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let latest = sqlx::query(
                "UPDATE users SET privacy_notice_version = $2, privacy_consent_at = $3 \
                 WHERE id = $1 AND privacy_notice_version <> $2",
            )
            .bind(user_id)
            .bind(version)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            Ok(added + latest > 0)
        })
    }

    /// Every version the user accepted, oldest first.
    pub async fn consents_of(&self, user_id: UserId) -> Result<Vec<Consent>, StoreError> {
        let query = select!(
            "SELECT notice_version, accepted_at FROM privacy_consents WHERE user_id = $1 ORDER BY accepted_at, notice_version"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).all().await)?)
    }
}
