//! Age assurance as a seam (issue 64 point 5): a user proves their age to an outside provider on the provider's
//! own page, and the server keeps the provider's answer (docs/privacy.md "Age assurance"). This module owns the
//! flow — start a session at the provider ([`AgeAssurance::start`]), read its result and store it once
//! ([`AgeAssurance::check`]) — and how a result becomes a stored decision ([`decide`], pure). What a find needs an
//! assured age for is a rule of its own (`crate::domain::age`), applied by matching's admission.
//!
//! Nothing is stored half-way: a session is stored only once the provider created it, and a result only once
//! the provider gave one. What is stored before asking is that the user is about to (`ProviderCall`): every call is
//! made under the operator's key and counts toward the daily limits, answered or not. Face-based estimation is the
//! provider's, never done here.

pub mod yoti;

use chrono::{DateTime, TimeDelta, Utc};

use crate::clock::SharedClock;
use crate::config::{AgeAssuranceConfig, AgeProvider};
use crate::domain::{AssuranceStatus, RequiredFor, UserId};
use crate::store::{AssuranceRow, Decision, NewAssurance, ProviderCall, Store, StoreError};
use yoti::{ProviderError, SessionResult, Yoti};

/// Why an assurance could not be started or checked.
#[derive(Debug, thiserror::Error)]
pub enum AgeError {
    /// The server has no provider (`age_assurance.provider = "none"`).
    #[error("age assurance is not offered by this server")]
    NotOffered,
    /// The user already holds an assurance at or over the threshold.
    #[error("your age is assured already")]
    AlreadyAssured,
    /// `age_assurance.max_starts_per_day` starts, or `max_checks_per_day` checks that asked the provider, in the
    /// last 24 hours, answered or not; the next is allowed in this many seconds.
    #[error("too many calls to the age assurance provider today")]
    RateLimited { retry_after_secs: u64 },
    /// A check with no session started.
    #[error("no age assurance was started")]
    NotStarted,
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session started at the provider: where to send the user, and the row stored for it.
#[derive(Debug, Clone)]
pub struct Started {
    pub url: String,
    pub session: AssuranceRow,
}

/// What a user's account says of their age assurance.
#[derive(Debug, Clone)]
pub struct AgeState {
    /// A session assured them at or over the server's threshold.
    pub assured: bool,
    /// Their newest session, if any.
    pub latest: Option<AssuranceRow>,
}

/// The provider's answer as it is stored: `None` while the user has not finished (and the session has not run
/// out at `now`). `threshold` is the age asked about; an `OVER` session's `age` is the threshold the provider
/// found the user at or over, which must reach it. A state the provider adds later is read as not finished.
pub fn decide(result: &SessionResult, threshold: u8, now: DateTime<Utc>) -> Result<Option<Decided>, ProviderError> {
    let decided = |status, over_threshold| {
        Ok(Some(Decided { status, over_threshold, method: result.method.as_deref().and_then(method_name) }))
    };
    match result.status.as_str() {
        "COMPLETE" => match result.age {
            Some(age) if age >= i64::from(threshold) => decided(AssuranceStatus::Assured, Some(true)),
            // Complete, at a lower age than asked (a session made for another threshold): it assures nothing.
            Some(_) => decided(AssuranceStatus::Refused, Some(false)),
            None => Err(ProviderError::Malformed("a complete session without its age")),
        },
        "FAIL" => decided(AssuranceStatus::Refused, Some(false)),
        "ERROR" => decided(AssuranceStatus::Failed, None),
        "CANCELLED" => decided(AssuranceStatus::Cancelled, None),
        _ if result.expires_at().is_some_and(|end| end <= now) => decided(AssuranceStatus::Expired, None),
        "PENDING" | "IN_PROGRESS" => Ok(None),
        other => {
            tracing::warn!(
                status = other,
                "age assurance: a session state the provider did not document; read as pending"
            );
            Ok(None)
        }
    }
}

/// A stored decision, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub status: AssuranceStatus,
    pub over_threshold: Option<bool>,
    pub method: Option<String>,
}

/// The method as stored: the provider's name in lower case (`AGE_ESTIMATION` → `age_estimation`), letters, digits
/// and `_` only, at most 32 characters; anything else is not kept.
fn method_name(method: &str) -> Option<String> {
    let name = method.to_ascii_lowercase();
    let plain = (1..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then_some(name)
}

/// The age assurance flow over the configured provider and the store.
pub struct AgeAssurance {
    provider: Option<Yoti>,
    store: Store,
    clock: SharedClock,
    settings: AgeAssuranceConfig,
}

impl AgeAssurance {
    pub fn new(settings: &AgeAssuranceConfig, store: Store, clock: SharedClock) -> anyhow::Result<Self> {
        let provider = match settings.provider {
            AgeProvider::None => None,
            AgeProvider::Yoti => Some(Yoti::new(settings)?),
        };
        Ok(Self { provider, store, clock, settings: settings.clone() })
    }

    pub fn required_for(&self) -> RequiredFor {
        self.settings.required_for
    }

    pub fn offered(&self) -> bool {
        self.provider.is_some()
    }

    /// Why video goes without an assured age on this server, when the operator waived it.
    pub fn video_waiver(&self) -> Option<&str> {
        self.settings.video_waiver()
    }

    fn threshold(&self) -> i32 {
        self.settings.threshold.into()
    }

    fn provider(&self) -> Result<&Yoti, AgeError> {
        self.provider.as_ref().ok_or(AgeError::NotOffered)
    }

    /// The user's assurance as it stands.
    pub async fn state(&self, user_id: UserId) -> Result<AgeState, StoreError> {
        let assured = self.store.age_assured(user_id, self.threshold()).await?;
        Ok(AgeState { assured, latest: self.store.newest_age_assurance(user_id).await? })
    }

    /// Starts a session at the provider and stores it pending; where to send the user. Refused when the user is
    /// assured already or made `max_starts_per_day` starts in a day, a failed one included (each may cost the
    /// operator a check); a provider failure stores no session.
    pub async fn start(&self, user_id: UserId) -> Result<Started, AgeError> {
        let provider = self.provider()?;
        let now = self.clock.now();
        if self.store.age_assured(user_id, self.threshold()).await? {
            return Err(AgeError::AlreadyAssured);
        }
        self.count(user_id, ProviderCall::Start, self.settings.max_starts_per_day, now).await?;
        let created = provider.create_session().await?;
        let new = NewAssurance {
            user_id,
            provider: "yoti",
            reference: &created.id,
            threshold: self.threshold(),
            expires_at: created.expires_at,
        };
        let session = self.store.insert_age_assurance(&new, now).await?;
        Ok(Started { url: provider.page_url(&created.id), session })
    }

    /// Reads the result of the user's newest session from the provider and stores it, if the provider decided;
    /// a session decided already is answered as stored, without asking again. A read of the provider counts toward
    /// `max_checks_per_day`, a failed one too; a provider failure stores nothing else.
    pub async fn check(&self, user_id: UserId) -> Result<AssuranceRow, AgeError> {
        let provider = self.provider()?;
        let latest = self.store.newest_age_assurance(user_id).await?.ok_or(AgeError::NotStarted)?;
        if latest.status != AssuranceStatus::Pending {
            return Ok(latest);
        }
        self.count(user_id, ProviderCall::Check, self.settings.max_checks_per_day, self.clock.now()).await?;
        let result = provider.result(&latest.reference).await?;
        let now = self.clock.now();
        let threshold = u8::try_from(latest.threshold).unwrap_or(u8::MAX);
        let Some(decided) = decide(&result, threshold, now)? else { return Ok(latest) };
        let decision = Decision {
            status: decided.status,
            over_threshold: decided.over_threshold,
            method: decided.method.as_deref(),
        };
        Ok(self.store.decide_age_assurance(latest.id, &decision, now).await?)
    }

    /// Counts a call about to be made to the provider, or refuses it past the day's `per_day`.
    async fn count(
        &self,
        user_id: UserId,
        call: ProviderCall,
        per_day: u32,
        now: DateTime<Utc>,
    ) -> Result<(), AgeError> {
        match self.store.count_age_assurance_call(user_id, call, now, per_day.into()).await? {
            Some(oldest) => Err(rate_limited(oldest, now)),
            None => Ok(()),
        }
    }
}

/// Refused for a daily limit: the next call of the kind is allowed a day after the oldest one counted.
fn rate_limited(oldest: DateTime<Utc>, now: DateTime<Utc>) -> AgeError {
    let wait = (oldest + TimeDelta::days(1) - now).num_seconds().max(1);
    AgeError::RateLimited { retry_after_secs: u64::try_from(wait).unwrap_or(1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn result(status: &str, age: Option<i64>, method: Option<&str>) -> SessionResult {
        SessionResult {
            id: "s".into(),
            status: status.into(),
            age,
            method: method.map(str::to_owned),
            expires_at: Some("2026-12-01T12:15:00Z".into()),
        }
    }

    fn decided(status: AssuranceStatus, over: Option<bool>, method: Option<&str>) -> Option<Decided> {
        Some(Decided { status, over_threshold: over, method: method.map(str::to_owned) })
    }

    #[test]
    fn each_provider_state_is_stored_as_what_it_means() {
        use AssuranceStatus::*;
        let now = at("2026-12-01T12:00:00Z");
        let cases = [
            (result("COMPLETE", Some(18), Some("DOC_SCAN")), decided(Assured, Some(true), Some("doc_scan"))),
            (
                result("COMPLETE", Some(25), Some("AGE_ESTIMATION")),
                decided(Assured, Some(true), Some("age_estimation")),
            ),
            (result("FAIL", None, Some("AGE_ESTIMATION")), decided(Refused, Some(false), Some("age_estimation"))),
            (result("ERROR", None, None), decided(Failed, None, None)),
            (result("CANCELLED", None, None), decided(Cancelled, None, None)),
            (result("PENDING", None, None), None),
            (result("IN_PROGRESS", None, None), None),
            (result("SOMETHING_NEW", None, None), None),
        ];
        for (result, expected) in cases {
            assert_eq!(decide(&result, 18, now).unwrap(), expected, "{}", result.status);
        }
    }

    #[test]
    fn a_complete_session_under_the_threshold_asked_assures_nothing() {
        let now = at("2026-12-01T12:00:00Z");
        let low = decide(&result("COMPLETE", Some(16), None), 18, now).unwrap().unwrap();
        assert_eq!((low.status, low.over_threshold), (AssuranceStatus::Refused, Some(false)));
        let missing = decide(&result("COMPLETE", None, None), 18, now);
        assert!(matches!(missing, Err(ProviderError::Malformed(_))), "{missing:?}");
    }

    #[test]
    fn an_unfinished_session_past_its_end_is_expired() {
        let after = at("2026-12-01T12:15:00Z");
        let expired = decide(&result("PENDING", None, None), 18, after).unwrap().unwrap();
        assert_eq!(expired.status, AssuranceStatus::Expired);
        let done = decide(&result("COMPLETE", Some(18), None), 18, after).unwrap().unwrap();
        assert_eq!(done.status, AssuranceStatus::Assured, "a finished session keeps its result after its end");
    }

    #[test]
    fn only_a_plain_method_name_is_kept() {
        assert_eq!(method_name("DIGITAL_ID").as_deref(), Some("digital_id"));
        assert_eq!(method_name("age estimation"), None);
        assert_eq!(method_name(&"X".repeat(33)), None);
        assert_eq!(method_name(""), None);
    }
}
