//! One-time codes sent to phones (`phone_codes`, migration 0017): every request recorded, the resend limits'
//! counts read in the same transaction as the request is written, a user's newest codes read back, guesses
//! counted atomically, and a code's use written in the same transaction as what it unlocks (a verified phone, a
//! new phone, a new password). The rules (limits, verdicts) are `accounts::code_rules`'; the store only counts
//! and writes.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::logins::revoke_other_logins;
use super::system_logs::insert_system_log;
use super::{BackendKind, BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, CodePurpose, Country, UserId};
use crate::phones::{PhoneLookup, SealedPhone};

/// A request for a code, as it is recorded.
#[derive(Debug, Clone)]
pub struct NewCodeRequest<'a> {
    pub purpose: CodePurpose,
    /// `None`: a reset for a phone no account has.
    pub user_id: Option<UserId>,
    /// Where the code goes.
    pub phone: &'a SealedPhone,
    /// The same phone under every index key in use, for the per-phone limit.
    pub lookup: &'a PhoneLookup,
    /// The code's HMAC; `None` when no code is sent (a reset for a phone without a verified account).
    pub code_hash: Option<[u8; 32]>,
    pub expires_at: DateTime<Utc>,
    pub ip: &'a str,
    pub user_agent: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// The earlier requests the resend limits count: those since the window's start, refused ones left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecentRequests {
    /// To this phone, newest first: when, and whether it failed to send (a failed send does not hold off the next
    /// request, but counts towards the hourly limit: each cost a call to the provider).
    pub to_phone: Vec<(DateTime<Utc>, bool)>,
    /// From this client address, newest first.
    pub from_ip: Vec<DateTime<Utc>>,
}

/// What became of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded as sent (or as not sent, without a code); the row's id.
    Accepted { id: i64 },
    /// Recorded as refused by the limits, which allow the next request then.
    Refused { until: DateTime<Utc> },
}

/// One of a user's codes, as read back to check a guess.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CodeRow {
    pub id: i64,
    pub phone_sealed: Vec<u8>,
    pub phone_index: Vec<u8>,
    pub code_hash: Vec<u8>,
    /// `sent` or `failed`.
    pub outcome: String,
    pub expires_at: DateTime<Utc>,
    pub attempts: i32,
    pub consumed_at: Option<DateTime<Utc>>,
}

/// Marks code `$1` used at `$2`, if it is unused, was sent and has not expired; evaluates to the rows changed (0
/// or 1). Inside a transaction, before what the code unlocks.
macro_rules! consume_code {
    ($tx:expr, $id:expr, $now:expr) => {
        async {
            sqlx::query(
                "UPDATE phone_codes SET consumed_at = $2 \
                 WHERE id = $1 AND consumed_at IS NULL AND outcome = 'sent' AND expires_at > $2",
            )
            .bind($id)
            .bind($now)
            .execute(&mut *$tx)
            .await
            .map(|r| r.rows_affected())
        }
    };
}

impl Store {
    /// Records a request for a code. The earlier requests the limits count are read in the same transaction, and
    /// `refuse` (the rules, given them) says until when to refuse; the row is written as refused then, without the
    /// code. Concurrent requests for one phone are serialised (SQLite: one writer; PostgreSQL: a transaction lock
    /// on the phone), so two of them cannot both slip under a limit.
    pub async fn record_code_request(
        &self,
        new: &NewCodeRequest<'_>,
        since: DateTime<Utc>,
        (phone_limit, ip_limit): (i64, i64),
        refuse: impl FnOnce(&RecentRequests) -> Option<DateTime<Utc>> + Send,
    ) -> Result<Recorded, StoreError> {
        let [current, previous] = new.lookup.indexes();
        // The first eight bytes of the phone's index: a lock key no other lock of tanis uses by chance.
        let lock_key = i64::from_be_bytes(current[..8].try_into().expect("an index is 32 bytes"));
        let postgres = self.kind() == BackendKind::Postgres;
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(lock_key).execute(&mut *tx).await?;
            }
            let to_phone: Vec<(DateTime<Utc>, bool)> = sqlx::query_as(
                "SELECT created_at, outcome = 'failed' FROM phone_codes WHERE phone_index IN ($1, $2) \
                 AND created_at > $3 AND outcome <> 'refused' ORDER BY created_at DESC LIMIT $4",
            )
            .bind(current)
            .bind(previous)
            .bind(since)
            .bind(phone_limit)
            .fetch_all(&mut *tx)
            .await?;
            let from_ip: Vec<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT created_at FROM phone_codes WHERE ip = $1 AND created_at > $2 AND outcome <> 'refused' \
                 ORDER BY created_at DESC LIMIT $3",
            )
            .bind(new.ip)
            .bind(since)
            .bind(ip_limit)
            .fetch_all(&mut *tx)
            .await?;
            let refused = refuse(&RecentRequests { to_phone, from_ip });
            let (outcome, code_hash, expires_at) = match (refused, &new.code_hash) {
                (Some(_), _) => ("refused", None, new.now),
                (None, Some(hash)) => ("sent", Some(hash.as_slice()), new.expires_at),
                (None, None) => ("not_sent", None, new.now),
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO phone_codes (purpose, user_id, phone_sealed, phone_index, outcome, code_hash, created_at, \
                 expires_at, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            )
            .bind(new.purpose)
            .bind(new.user_id)
            .bind(new.phone.ciphertext())
            .bind(new.phone.index().as_bytes())
            .bind(outcome)
            .bind(code_hash)
            .bind(new.now)
            .bind(expires_at)
            .bind(new.ip)
            .bind(new.user_agent)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(match refused {
                Some(until) => Recorded::Refused { until },
                None => Recorded::Accepted { id },
            })
        })
    }

    /// The provider did not take code `id`: it can never be used.
    pub async fn code_send_failed(&self, id: i64) -> Result<(), StoreError> {
        let query = "UPDATE phone_codes SET outcome = 'failed' WHERE id = $1";
        on_write_pool!(self, |pool| sqlx::query(query).bind(id).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The user's newest codes of `purpose` (sent or failed), newest first, at most `limit`: the first is the only
    /// one that may still work; the others are superseded.
    pub async fn latest_codes(
        &self,
        user_id: UserId,
        purpose: CodePurpose,
        limit: i64,
    ) -> Result<Vec<CodeRow>, StoreError> {
        let query = select!(
            "SELECT id, phone_sealed, phone_index, code_hash, outcome, expires_at, attempts, consumed_at \
             FROM phone_codes WHERE user_id = $1 AND purpose = $2 AND code_hash IS NOT NULL ORDER BY id DESC LIMIT $3"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(purpose).bind(limit).all().await)?)
    }

    /// Spends one guess on code `id`, unless `max` are spent already: one statement, so concurrent guesses can
    /// never spend more. Returns the guesses spent now, or `None` when none was left.
    pub async fn spend_code_attempt(&self, id: i64, max: i32) -> Result<Option<i32>, StoreError> {
        let query = "UPDATE phone_codes SET attempts = attempts + 1 WHERE id = $1 AND attempts < $2 RETURNING attempts";
        Ok(on_write_pool!(self, |pool| sqlx::query_scalar(query).bind(id).bind(max).fetch_optional(pool).await)?)
    }

    /// Uses verification code `id`: the user's phone, if it is still the one the code went to (`phone_index`), is
    /// verified, with its audit row. False, and nothing written, when the code is no longer usable or the phone
    /// changed since.
    pub async fn redeem_verification_code(
        &self,
        id: i64,
        user_id: UserId,
        phone_index: &[u8],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if consume_code!(tx, id, now).await? == 0 {
                return Ok(false);
            }
            let verified = sqlx::query("UPDATE users SET phone_verified_at = $3 WHERE id = $1 AND phone_index = $2")
                .bind(user_id)
                .bind(phone_index)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if verified == 0 {
                return Ok(false);
            }
            insert_system_log!(&mut *tx, AuditAction::PhoneVerified, Some(user_id), &json!({ "code_id": id }), now)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Uses phone-change code `id`: the account's phone becomes `phone` (the one the code went to), verified, and
    /// its country that phone's (`None`: not known), with its audit row. False when the code is no longer usable; [`StoreError::Conflict`] when another account has
    /// taken the phone meanwhile. Nothing is written unless all of it is.
    pub async fn redeem_phone_change_code(
        &self,
        id: i64,
        user_id: UserId,
        phone: &SealedPhone,
        country: Option<Country>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if consume_code!(tx, id, now).await? == 0 {
                return Ok(false);
            }
            let query = "UPDATE users SET phone_sealed = $2, phone_index = $3, phone_verified_at = $4, country = $5 \
                         WHERE id = $1";
            sqlx::query(query)
                .bind(user_id)
                .bind(phone.ciphertext())
                .bind(phone.index().as_bytes())
                .bind(now)
                .bind(country.as_ref().map_or("", Country::as_str))
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
            insert_system_log!(&mut *tx, AuditAction::PhoneChanged, Some(user_id), &json!({ "code_id": id }), now)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Uses password-reset code `id`: the user's password hash becomes `password_hash` and every login of the user
    /// (every refresh-token family) is revoked, with the audit row, in one transaction. Returns the family ids
    /// revoked, or `None` (nothing written) when the code is no longer usable.
    pub async fn redeem_password_reset_code(
        &self,
        id: i64,
        user_id: UserId,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if consume_code!(tx, id, now).await? == 0 {
                return Ok(None);
            }
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id)
                .bind(password_hash)
                .execute(&mut *tx)
                .await?;
            let revoked = revoke_other_logins!(tx, user_id, None, now).await?;
            let details = json!({ "code_id": id, "sessions_revoked": revoked.len() });
            insert_system_log!(&mut *tx, AuditAction::AuthPasswordReset, Some(user_id), &details, now).await?;
            tx.commit().await?;
            Ok(Some(revoked))
        })
    }
}
