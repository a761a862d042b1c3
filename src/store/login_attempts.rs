//! Every login attempt, kept for throttling and abuse tracking.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{LoginOutcome, UserId};
use crate::phones::{PhoneLookup, SealedPhone};

#[derive(Debug, Clone)]
pub struct LoginAttempt<'a> {
    /// The phone as typed (normalised), sealed: throttling counts failures by its index.
    pub phone: &'a SealedPhone,
    pub user_id: Option<UserId>,
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
    pub outcome: LoginOutcome,
    pub now: DateTime<Utc>,
}

impl Store {
    pub async fn record_login_attempt(&self, a: &LoginAttempt<'_>) -> Result<(), StoreError> {
        let query = "INSERT INTO login_attempts (phone_sealed, phone_index, user_id, ip, user_agent, outcome, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)";
        on_write_pool!(self, |pool| sqlx::query(query)
            .bind(a.phone.ciphertext())
            .bind(a.phone.index().as_bytes())
            .bind(a.user_id)
            .bind(a.ip)
            .bind(a.user_agent)
            .bind(a.outcome)
            .bind(a.now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Times of the newest failed attempts for a phone number since `since`, newest first, at most `limit`.
    pub async fn recent_failures_for_phone(
        &self,
        phone: &PhoneLookup,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let query = select!(
            "SELECT created_at FROM login_attempts WHERE phone_index IN ($1, $2) AND outcome = 'bad_credentials' \
                     AND created_at > $3 ORDER BY created_at DESC LIMIT $4"
        );
        let [current, previous] = phone.indexes();
        Ok(on_read_pool!(self, |pool| pool
            .scalars(query)
            .bind(current)
            .bind(previous)
            .bind(since)
            .bind(limit)
            .all()
            .await)?)
    }

    /// Times of the newest failed attempts from an IP address since `since`, newest first, at most `limit`.
    pub async fn recent_failures_for_ip(
        &self,
        ip: &str,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let query = select!(
            "SELECT created_at FROM login_attempts WHERE ip = $1 AND outcome = 'bad_credentials' \
                     AND created_at > $2 ORDER BY created_at DESC LIMIT $3"
        );
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(ip).bind(since).bind(limit).all().await)?)
    }

    /// How many attempts are recorded for a phone number (for tests and abuse review).
    pub async fn count_login_attempts(&self, phone: &PhoneLookup) -> Result<i64, StoreError> {
        let query = select!("SELECT COUNT(*) FROM login_attempts WHERE phone_index IN ($1, $2)");
        let [current, previous] = phone.indexes();
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(current).bind(previous).one().await)?)
    }
}
