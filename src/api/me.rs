//! [`Me`]: the account as its owner sees it, the answer of `GET /v1/me`, of signing in, and of the phone and
//! privacy-consent endpoints. Not a handler: the handler modules that answer with it share it from here.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use crate::accounts::must_accept_notice;
use crate::domain::{Role, UserId, handle};
use crate::store::{AssuranceRow, UserRow};

#[derive(Serialize, ToSchema)]
pub struct Balances {
    daily_text: i32,
    daily_video: i32,
    /// Referral and refund units: spent after the daily ones, never reset.
    bonus_text: i32,
    bonus_video: i32,
}

#[derive(Serialize, ToSchema)]
pub struct Location {
    lat: f64,
    lon: f64,
}

/// What a user sees of their own account. Peers only ever see `handle`.
#[derive(Serialize, ToSchema)]
pub struct Me {
    #[schema(example = "kediadam#9021")]
    handle: String,
    alias: String,
    tag: String,
    #[schema(value_type = String)]
    role: Role,
    is_premium: bool,
    balances: Balances,
    referral_code: String,
    location: Option<Location>,
    /// `tr` or `en`: the language of notifications.
    locale: String,
    /// The topics the profile lists (ids of `GET /v1/interests`); matching may prefer people who share them.
    #[schema(example = json!(["music", "chess"]))]
    interests: Vec<&'static str>,
    /// The languages spoken (ISO 639-1); never paired with someone who speaks none of them. The notification
    /// language until chosen.
    #[schema(example = json!(["tr", "en"]))]
    languages: Vec<&'static str>,
    /// The gender declared for matching (`PUT /v1/me/gender`), shown to its owner only; absent when not said.
    #[schema(value_type = Option<String>, example = "woman")]
    gender: Option<tanis_proto::Gender>,
    /// When the consent to use it in matching was given; absent with it.
    gender_consent_at: Option<DateTime<Utc>>,
    /// Since when matching by gender does not use it: enough people matched with you reported it untrue, until a
    /// moderator clears it (your statements of reasons say why). Absent while it is used.
    gender_suspended_at: Option<DateTime<Utc>>,
    /// The running subscription; absent on the free plan.
    plan: Option<Plan>,
    /// Where your age assurance stands, and what this server asks it for (`POST /v1/me/age-assurance`).
    age_assurance: Option<AgeAssuranceView>,
    created_at: DateTime<Utc>,
    /// The privacy notice version this user accepted last.
    #[schema(example = "2026-11-01")]
    privacy_notice_version: String,
    /// The server's current version: the one to show and send to `POST /v1/me/consent`.
    #[schema(example = "2026-11-01")]
    current_privacy_notice_version: String,
    /// True when the current version is not the one accepted: matching refuses with `consent_required` until it
    /// is accepted (`POST /v1/me/consent`).
    must_accept_privacy_notice: bool,
    /// True once the phone number proved itself with a code (`POST /v1/me/phone/verify`, or a phone change).
    /// Password reset and the referral reward need it.
    phone_verified: bool,
}

/// A running subscription as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct Plan {
    #[schema(example = "premium_monthly")]
    name: String,
    /// Premium until then.
    ends_at: DateTime<Utc>,
    /// False once cancelled: premium stays until `ends_at`, then ends.
    renews: bool,
}

/// Where a user's age assurance stands, as `GET /v1/me` and `POST /v1/me/age-assurance/check` show it.
#[derive(Serialize, ToSchema)]
pub struct AgeAssuranceView {
    /// What this server asks an assured age for: `none`, `video`, `gender_filter` (a find with `seeking`) or
    /// `everything`; a `match.find` it covers is refused with `age_assurance_required` until `assured`.
    #[schema(example = "video")]
    required_for: &'static str,
    /// Whether this server offers age assurance at all (a provider is configured).
    offered: bool,
    /// A provider found you at or over the server's threshold.
    assured: bool,
    /// Your newest session, if you started one.
    latest: Option<AssuranceRow>,
}

impl AgeAssuranceView {
    /// The view of `user_id`'s assurance, read from the store.
    pub(super) async fn read(state: &AppState, user_id: UserId) -> Result<Self, ApiError> {
        let age = state.age.state(user_id).await.map_err(ApiError::internal)?;
        Ok(Self {
            required_for: state.age.required_for().as_str(),
            offered: state.age.offered(),
            assured: age.assured,
            latest: age.latest,
        })
    }
}

impl Me {
    /// Whether the user must accept the server's current privacy notice version.
    pub(super) fn with_notice(mut self, current: &str) -> Self {
        self.must_accept_privacy_notice = must_accept_notice(&self.privacy_notice_version, current);
        current.clone_into(&mut self.current_privacy_notice_version);
        self
    }

    /// With what the store holds beside the account row: the running subscription and the age assurance.
    pub(super) async fn with_plan(mut self, state: &AppState, user_id: UserId) -> Result<Self, ApiError> {
        let plan = state.store.current_plan(user_id, state.accounts.now()).await.map_err(ApiError::internal)?;
        self.plan = plan.map(|p| Plan { name: p.plan_name, ends_at: p.end_date, renews: p.cancelled_at.is_none() });
        self.age_assurance = Some(AgeAssuranceView::read(state, user_id).await?);
        Ok(self)
    }
}

impl From<&UserRow> for Me {
    fn from(u: &UserRow) -> Self {
        Self {
            handle: handle(&u.alias, &u.tag),
            alias: u.alias.clone(),
            tag: u.tag.clone(),
            role: u.role,
            is_premium: u.is_premium,
            balances: Balances {
                daily_text: u.daily_chat_balance,
                daily_video: u.daily_video_balance,
                bonus_text: u.bonus_chat_balance,
                bonus_video: u.bonus_video_balance,
            },
            referral_code: u.referral_code.clone(),
            location: u.location_lat.zip(u.location_lon).map(|(lat, lon)| Location { lat, lon }),
            locale: u.locale.clone(),
            interests: u.interests().ids().collect(),
            languages: u.languages().codes().collect(),
            gender: u.declared_gender(),
            gender_consent_at: u.declared_gender().and(u.gender_consent_at),
            gender_suspended_at: u.declared_gender().and(u.gender_suspended_at),
            plan: None,
            age_assurance: None,
            created_at: u.created_at,
            privacy_notice_version: u.privacy_notice_version.clone(),
            // As registered; `with_notice` compares with the server's current version.
            current_privacy_notice_version: u.privacy_notice_version.clone(),
            must_accept_privacy_notice: false,
            phone_verified: u.phone_verified_at.is_some(),
        }
    }
}
