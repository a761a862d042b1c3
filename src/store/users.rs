//! Accounts: creation with referral, lookups, profile changes and roles.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::system_logs::insert_system_log;
use super::{BeginWrite, NewUser, Referrer, Store, StoreError, UserRow, on_read_pool, on_write_pool, select};
use crate::domain::{AuditAction, Country, Interests, Languages, Role, UserId};
use crate::phones::{PhoneLookup, SealedPhone};

/// The column list of [`UserRow`], as a literal so `concat!` builds whole `&'static str` queries from it.
macro_rules! user_columns {
    () => {
        "id, password_hash, alias, alias_key, tag, role, referral_code, created_at, last_active, \
         location_lat, location_lon, location_updated_at, is_banned, ban_reason, banned_at, is_premium, \
         daily_chat_balance, daily_video_balance, bonus_chat_balance, bonus_video_balance, privacy_consent_at, \
         privacy_notice_version, ban_ends_at, locale, birth_year, deleted_at, phone_verified_at, interests, languages, \
         country, gender, gender_consent_at, gender_suspended_at, matches_opened, video_held_at"
    };
}

impl Store {
    /// Creates the account and, when invited, its referral row, in one transaction. A unique violation
    /// (phone, alias#tag or referral code taken meanwhile) comes back as [`StoreError::Conflict`] with
    /// nothing stored.
    pub async fn insert_user(&self, new: &NewUser) -> Result<UserRow, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let user: UserRow = sqlx::query_as(concat!(
                "INSERT INTO users (phone_sealed, password_hash, alias, alias_key, tag, referral_code, created_at, ",
                "last_active, daily_chat_balance, daily_video_balance, privacy_consent_at, privacy_notice_version, quota_reset_on, ",
                "birth_year, phone_index, country) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $7, $10, $11, $12, $13, $14) ",
                "RETURNING ",
                user_columns!()
            ))
            .bind(new.phone.ciphertext())
            .bind(&new.password_hash)
            .bind(&new.alias)
            .bind(&new.alias_key)
            .bind(&new.tag)
            .bind(&new.referral_code)
            .bind(new.now)
            .bind(new.daily_chat_balance)
            .bind(new.daily_video_balance)
            .bind(&new.privacy_notice_version)
            .bind(&new.quota_day)
            .bind(new.birth_year)
            .bind(new.phone.index().as_bytes())
            .bind(new.country.as_ref().map_or("", Country::as_str))
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            sqlx::query("INSERT INTO privacy_consents (user_id, notice_version, accepted_at) VALUES ($1, $2, $3)")
                .bind(user.id)
                .bind(&new.privacy_notice_version)
                .bind(new.now)
                .execute(&mut *tx)
                .await?;
            if let Some(referrer) = &new.referrer {
                sqlx::query(
                    "INSERT INTO referrals (inviter_phone_sealed, inviter_phone_index, invited_phone_sealed, \
                     invited_phone_index, inviter_id, invited_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(referrer.phone.ciphertext())
                .bind(referrer.phone.index().as_bytes())
                .bind(new.phone.ciphertext())
                .bind(new.phone.index().as_bytes())
                .bind(referrer.id)
                .bind(user.id)
                .bind(new.now)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_write)?;
            }
            let details = json!({ "referred": new.referrer.is_some() });
            insert_system_log!(&mut *tx, AuditAction::UserRegistered, Some(user.id), &details, new.now).await?;
            tx.commit().await?;
            Ok(user)
        })
    }

    pub async fn user_by_id(&self, id: UserId) -> Result<Option<UserRow>, StoreError> {
        let query = select!(concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1"));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(id).optional().await)?)
    }

    /// The account behind a phone number, found by its blind index (`phones::PhoneVault::lookup`).
    pub async fn user_by_phone(&self, phone: &PhoneLookup) -> Result<Option<UserRow>, StoreError> {
        let query = select!(concat!("SELECT ", user_columns!(), " FROM users WHERE phone_index IN ($1, $2)"));
        let [current, previous] = phone.indexes();
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(current).bind(previous).optional().await)?)
    }

    /// The user with this handle (`alias#tag`; the alias compared case-insensitively, as at registration).
    pub async fn user_by_handle(&self, alias_key: &str, tag: &str) -> Result<Option<UserRow>, StoreError> {
        let query = select!(concat!("SELECT ", user_columns!(), " FROM users WHERE alias_key = $1 AND tag = $2"));
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(alias_key).bind(tag).optional().await)?)
    }

    pub async fn phone_exists(&self, phone: &PhoneLookup) -> Result<bool, StoreError> {
        let query = select!("SELECT COUNT(*) FROM users WHERE phone_index IN ($1, $2)");
        let [current, previous] = phone.indexes();
        let count: i64 = on_read_pool!(self, |pool| pool.scalars(query).bind(current).bind(previous).one().await)?;
        Ok(count > 0)
    }

    /// The user's phone number as stored, sealed: for the admin view, which opens it (and audits that). `None`
    /// also for the tombstone of a purged account, which has none.
    pub async fn sealed_phone(&self, user_id: UserId) -> Result<Option<Vec<u8>>, StoreError> {
        let query = select!("SELECT phone_sealed FROM users WHERE id = $1");
        let sealed: Option<Option<Vec<u8>>> =
            on_read_pool!(self, |pool| pool.scalars(query).bind(user_id).optional().await)?;
        Ok(sealed.flatten())
    }

    /// The owner of a referral code, if the code exists.
    pub async fn referrer_by_code(&self, code: &str) -> Result<Option<Referrer>, StoreError> {
        let query = select!("SELECT id, phone_sealed, phone_index FROM users WHERE referral_code = $1");
        let row: Option<(UserId, Vec<u8>, Vec<u8>)> =
            on_read_pool!(self, |pool| pool.rows(query).bind(code).optional().await)?;
        Ok(row.and_then(|(id, sealed, index)| Some(Referrer { id, phone: SealedPhone::from_stored(sealed, &index)? })))
    }

    /// Every tag in use under one alias key (at most 10 000 short strings).
    pub async fn tags_in_use(&self, alias_key: &str) -> Result<Vec<String>, StoreError> {
        let query = select!("SELECT tag FROM users WHERE alias_key = $1");
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(alias_key).all().await)?)
    }

    /// Gives the user a new alias with a new tag. [`StoreError::Conflict`] when alias#tag is taken.
    pub async fn update_alias(
        &self,
        user_id: UserId,
        alias: &str,
        alias_key: &str,
        tag: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let query = "UPDATE users SET alias = $2, alias_key = $3, tag = $4, last_active = $5 WHERE id = $1";
        on_write_pool!(self, |pool| sqlx::query(query)
            .bind(user_id)
            .bind(alias)
            .bind(alias_key)
            .bind(tag)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(StoreError::from_write)?;
        Ok(())
    }

    /// Sets the topics the user's profile lists.
    pub async fn set_interests(&self, user_id: UserId, interests: Interests) -> Result<(), StoreError> {
        let query = "UPDATE users SET interests = $2 WHERE id = $1";
        let stored = interests.to_stored();
        on_write_pool!(self, |pool| sqlx::query(query).bind(user_id).bind(&stored).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Sets the languages the user speaks.
    pub async fn set_languages(&self, user_id: UserId, languages: Languages) -> Result<(), StoreError> {
        let query = "UPDATE users SET languages = $2 WHERE id = $1";
        let stored = languages.to_stored();
        on_write_pool!(self, |pool| sqlx::query(query).bind(user_id).bind(&stored).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Declares the gender matching may use, with the consent to that use given `at`; `None` withdraws both (the
    /// declaration is deleted, not kept aside).
    pub async fn set_gender(
        &self,
        user_id: UserId,
        declared: Option<(tanis_proto::Gender, DateTime<Utc>)>,
    ) -> Result<(), StoreError> {
        let query = "UPDATE users SET gender = $2, gender_consent_at = $3 WHERE id = $1";
        let (gender, at) = (declared.map(|(g, _)| g.as_str()), declared.map(|(_, at)| at));
        on_write_pool!(self, |pool| sqlx::query(query)
            .bind(user_id)
            .bind(gender)
            .bind(at)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Records the country of an account that had none (made before migration 0021), learnt from the phone at a
    /// sign-in. A country already known is left as it is: the phone it came from is the one signed in with.
    pub async fn learn_country(&self, user_id: UserId, country: Country) -> Result<(), StoreError> {
        let query = "UPDATE users SET country = $2 WHERE id = $1 AND country = ''";
        on_write_pool!(self, |pool| sqlx::query(query)
            .bind(user_id)
            .bind(country.as_str())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Sets or clears (None) the user's location.
    pub async fn update_location(
        &self,
        user_id: UserId,
        location: Option<(f64, f64)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let query = "UPDATE users SET location_lat = $2, location_lon = $3, location_updated_at = $4 WHERE id = $1";
        let (lat, lon) = location.unzip();
        let updated_at = location.map(|_| now);
        on_write_pool!(self, |pool| sqlx::query(query)
            .bind(user_id)
            .bind(lat)
            .bind(lon)
            .bind(updated_at)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    pub async fn touch_last_active(&self, user_id: UserId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "UPDATE users SET last_active = $2 WHERE id = $1";
        on_write_pool!(self, |pool| sqlx::query(query)
            .bind(user_id)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Sets the role from the server's command line. Returns false when there is no such user.
    pub async fn set_role(&self, user_id: UserId, role: Role, now: DateTime<Utc>) -> Result<bool, StoreError> {
        self.set_role_by(user_id, role, None, now).await
    }

    /// Sets the role, recording `actor` (the admin who changed it; `None` from the command line) in the
    /// `user.role_changed` audit row of the same transaction. Returns false when there is no such user.
    pub async fn set_role_by(
        &self,
        user_id: UserId,
        role: Role,
        actor: Option<UserId>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let changed = sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
                .bind(user_id)
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if changed == 0 {
                return Ok(false);
            }
            let details = json!({ "role": role.as_str() });
            insert_system_log!(&mut *tx, AuditAction::UserRoleChanged, Some(user_id), &details, now, actor = actor)
                .await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}
