//! Development-only bulk accounts for the load generator: creating 100 000 users through bcrypt would take
//! hours, so every seeded user shares one precomputed hash. `tanis dev seed-users` refuses production mode.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, on_write_pool};
use crate::domain::UserId;
use crate::phones::SealedPhone;

/// Rows per insert transaction.
const BATCH: usize = 1000;

/// The phone number of seeded user `n`: `+90533<n padded to 7>`, a valid number, so the login storm can sign in
/// with it.
pub fn seed_phone(n: usize) -> String {
    format!("+90533{n:07}")
}

impl Store {
    /// Inserts user `<prefix>_<n>` with phone `phones[n]` (sealed by the caller: the store holds no key; normally
    /// [`seed_phone`]`(n)`) and the given hash for every `n`; returns their ids in order. They have accepted
    /// `privacy_notice_version` (matching wants the current one). Existing ones are left alone (seeding twice is
    /// harmless: the phone's blind index finds them).
    pub async fn seed_users(
        &self,
        prefix: &str,
        phones: &[SealedPhone],
        password_hash: &str,
        privacy_notice_version: &str,
        quota_day: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<UserId>, StoreError> {
        let mut seeded = Vec::with_capacity(phones.len());
        for (start, chunk) in phones.chunks(BATCH).enumerate().map(|(i, chunk)| (i * BATCH, chunk)) {
            on_write_pool!(self, |pool| {
                let mut tx = pool.begin_write().await?;
                for (n, phone) in (start..).zip(chunk) {
                    let alias = format!("{prefix}_{n}");
                    let id: Option<UserId> = sqlx::query_scalar(
                        "INSERT INTO users (phone_sealed, phone_index, password_hash, alias, alias_key, tag, referral_code, \
                         created_at, last_active, daily_chat_balance, daily_video_balance, privacy_consent_at, \
                         privacy_notice_version, quota_reset_on) VALUES ($1, $2, $3, $4, $4, '0000', $5, $6, $6, 1000000, \
                         1000000, $6, $7, $8) ON CONFLICT (phone_index) DO NOTHING RETURNING id",
                    )
                    .bind(phone.ciphertext())
                    .bind(phone.index().as_bytes())
                    .bind(password_hash)
                    .bind(&alias)
                    .bind(format!("SEED{n}"))
                    .bind(now)
                    .bind(privacy_notice_version)
                    .bind(quota_day)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let id = match id {
                        Some(id) => id,
                        None => {
                            sqlx::query_scalar("SELECT id FROM users WHERE phone_index = $1")
                                .bind(phone.index().as_bytes())
                                .fetch_one(&mut *tx)
                                .await?
                        }
                    };
                    seeded.push(id);
                }
                tx.commit().await?;
                Ok::<(), StoreError>(())
            })?;
        }
        Ok(seeded)
    }
}
