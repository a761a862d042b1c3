//! Development-only bulk accounts for the load generator: creating 100 000 users through bcrypt would take
//! hours, so every seeded user shares one precomputed hash. `tanis dev seed-users` refuses production mode.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, on_write_pool};

/// Rows per insert transaction.
const BATCH: usize = 1000;

impl Store {
    /// Inserts `count` users `<prefix>_<n>` with phone numbers `+90533<n padded to 7>` (valid numbers, so the
    /// login storm can sign them in) and the given hash;
    /// returns their ids in order. Existing ones are left alone (seeding twice is harmless).
    pub async fn seed_users(
        &self,
        prefix: &str,
        count: usize,
        password_hash: &str,
        quota_day: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let mut seeded = Vec::with_capacity(count);
        for start in (0..count).step_by(BATCH) {
            let end = (start + BATCH).min(count);
            on_write_pool!(self, |pool| {
                let mut tx = pool.begin_write().await?;
                for n in start..end {
                    let phone = format!("+90533{n:07}");
                    let alias = format!("{prefix}_{n}");
                    let id: Option<i64> = sqlx::query_scalar(
                        "INSERT INTO users (phone_number, password_hash, alias, alias_key, tag, referral_code, created_at, \
                         last_active, daily_chat_balance, daily_video_balance, privacy_consent_at, privacy_notice_version, \
                         quota_reset_on) VALUES ($1, $2, $3, $3, '0000', $4, $5, $5, 1000000, 1000000, $5, 'seed', $6) \
                         ON CONFLICT (phone_number) DO NOTHING RETURNING id",
                    )
                    .bind(&phone)
                    .bind(password_hash)
                    .bind(&alias)
                    .bind(format!("SEED{n}"))
                    .bind(now)
                    .bind(quota_day)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let id = match id {
                        Some(id) => id,
                        None => {
                            sqlx::query_scalar("SELECT id FROM users WHERE phone_number = $1")
                                .bind(&phone)
                                .fetch_one(&mut *tx)
                                .await?
                        }
                    };
                    seeded.push((id, phone));
                }
                tx.commit().await?;
                Ok::<(), StoreError>(())
            })?;
        }
        Ok(seeded)
    }
}
