//! Rows as the store reads and writes them. Column types decode the same from SQLite and PostgreSQL.

use chrono::{DateTime, Utc};

use crate::domain::{BanReason, Country, Interests, Languages, Role, UserId};
use crate::phones::SealedPhone;

/// A `users` row. Never sent to clients as is: the API picks what a user may see of themselves. Without the
/// phone number: only the admin view reads it (`Store::sealed_phone`), so no row in memory carries it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UserRow {
    pub id: UserId,
    pub password_hash: String,
    pub alias: String,
    pub alias_key: String,
    pub tag: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub referral_code: String,
    pub created_at: DateTime<Utc>,
    pub last_active: DateTime<Utc>,
    pub location_lat: Option<f64>,
    pub location_lon: Option<f64>,
    pub location_updated_at: Option<DateTime<Utc>>,
    pub is_banned: bool,
    /// The current ban's reason code; `None` when not banned.
    pub ban_reason: Option<BanReason>,
    pub banned_at: Option<DateTime<Utc>>,
    pub is_premium: bool,
    pub daily_chat_balance: i32,
    pub daily_video_balance: i32,
    pub bonus_chat_balance: i32,
    pub bonus_video_balance: i32,
    pub privacy_consent_at: DateTime<Utc>,
    pub privacy_notice_version: String,
    /// When the current ban ends by itself; `None` for a ban until lifted (or no ban).
    pub ban_ends_at: Option<DateTime<Utc>>,
    /// `tr` or `en`: the language of their notifications.
    pub locale: String,
    /// Self-attested at registration; `None` for accounts made before the age gate.
    pub birth_year: Option<i32>,
    /// When the current phone proved itself with a one-time code; `None`: not verified.
    pub phone_verified_at: Option<DateTime<Utc>>,
    /// When the owner asked for the account's deletion; `None` unless it waits for the purge (a login undoes it).
    pub deleted_at: Option<DateTime<Utc>>,
    /// As stored: topic ids joined by `,` ([`UserRow::interests`] reads them).
    pub interests: String,
    /// As stored: ISO 639-1 codes joined by `,`, empty when never chosen ([`UserRow::languages`] reads them).
    pub languages: String,
    /// As stored: the phone number's ISO 3166-1 alpha-2 country, empty while not known ([`UserRow::country`]).
    pub country: String,
    /// As stored: the declared gender (`woman`, `man`, `non_binary`), `None` when not said ([`UserRow::gender`]).
    pub gender: Option<String>,
    /// When the owner consented to the declared gender's use in matching; set and cleared with it.
    pub gender_consent_at: Option<DateTime<Utc>>,
    /// Since when enough people reported the declaration untrue that matching by gender does not use it, until a
    /// moderator clears it (docs/admin.md "Declarations"); the owner still sees and exports it.
    pub gender_suspended_at: Option<DateTime<Utc>>,
    /// How many matches were ever opened for the user: a request asked at a lower count was spent
    /// ([`crate::store::batch::opening::Asked`]).
    pub matches_opened: i64,
    /// Since when a child-safety report holds their video matching, until a moderator has decided every such report
    /// about them (docs/admin.md "Child safety first").
    pub video_held_at: Option<DateTime<Utc>>,
}

impl UserRow {
    /// The declared gender matching may use: declared, consented to, and not suspended.
    pub fn gender(&self) -> Option<tanis_proto::Gender> {
        self.declared_gender().filter(|_| self.gender_suspended_at.is_none())
    }

    /// The declared gender as its owner sees it: declared and consented to, suspended or not.
    pub fn declared_gender(&self) -> Option<tanis_proto::Gender> {
        self.gender_consent_at.and(self.gender.as_deref().and_then(tanis_proto::Gender::parse))
    }

    /// The topics the profile lists.
    pub fn interests(&self) -> Interests {
        Interests::from_stored(&self.interests)
    }

    /// The languages the owner speaks; their notification language when they never chose.
    pub fn languages(&self) -> Languages {
        Languages::from_stored(&self.languages, &self.locale)
    }

    /// The languages the owner chose; empty when they never did. Matching refuses only on these.
    pub fn chosen_languages(&self) -> Languages {
        Languages::from_stored(&self.languages, "")
    }

    /// The country of the phone number; `None` while not known (an account made before migration 0021 that has not
    /// signed in since).
    pub fn country(&self) -> Option<Country> {
        Country::from_stored(&self.country)
    }
}

/// Everything needed to create an account in one transaction.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub phone: SealedPhone,
    pub password_hash: String,
    pub alias: String,
    pub alias_key: String,
    pub tag: String,
    pub referral_code: String,
    pub daily_chat_balance: i32,
    pub daily_video_balance: i32,
    pub privacy_notice_version: String,
    /// Self-attested, already checked against the minimum age.
    pub birth_year: i32,
    /// The phone number's country; `None` for a number of no single country.
    pub country: Option<Country>,
    /// The local date (quota time zone) of registration: today's units are already full.
    pub quota_day: String,
    /// The inviter, when the user registered with someone's referral code.
    pub referrer: Option<Referrer>,
    pub now: DateTime<Utc>,
}

/// The owner of a referral code, with their phone as stored (copied into the referral row).
#[derive(Debug, Clone, PartialEq)]
pub struct Referrer {
    pub id: UserId,
    pub phone: SealedPhone,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct RefreshTokenRow {
    pub id: i64,
    pub user_id: UserId,
    pub family_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub user_id: UserId,
    pub family_id: String,
    pub token_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
}
