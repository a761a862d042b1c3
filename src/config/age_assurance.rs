//! `[age_assurance]`: what the server asks an assured age for, and the provider that assures it (Yoti's Age
//! Verification service, src/age/yoti.rs). The API key is a secret: it never reaches a log, not even through
//! `Debug`.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};
use crate::domain::RequiredFor;

/// Age assurance by an outside provider (docs/operations.md "Age assurance", docs/privacy.md "Age assurance").
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AgeAssuranceConfig {
    /// What a `match.find` needs an assured age for: `none`, `video`, `gender_filter` (a find with `seeking`) or
    /// `everything`. Anything but `none` needs a provider. In production, `video` or `everything` unless `waiver`
    /// says why not: random video between strangers is what regulators act on first (docs/operations.md, "Age
    /// assurance").
    pub required_for: RequiredFor,
    /// Why this server offers video without asking an assured age for it (a jurisdiction whose rules do not ask
    /// one, an assurance the operator makes before users reach tanis, …). Required in production when
    /// `required_for` does not cover video; logged at every start and shown on the console's dashboard.
    pub waiver: Option<String>,
    /// `none` (no assurance offered: the endpoints answer `age_assurance_not_offered`) or `yoti`.
    pub provider: AgeProvider,
    /// The provider's API and the page users are sent to (Yoti: both `https://age.yoti.com`); a test points it at
    /// a local stand-in.
    pub base_url: String,
    /// The provider's id of this service (Yoti: the SDK ID from the Yoti Hub), sent as `Yoti-SDK-Id` and in the
    /// page's URL.
    pub sdk_id: Option<String>,
    /// The provider's API key, sent as `Authorization: Bearer …`. A secret: never logged.
    pub api_key: Option<String>,
    /// Where the provider sends the user back when they finish or cancel (the web client's page, or an app link);
    /// the client then asks for the result (`POST /v1/me/age-assurance/check`).
    pub return_url: Option<String>,
    /// A call to the provider not answered within this has failed (`503 age_assurance_unavailable`).
    pub timeout_ms: u64,
    /// The age assured: at or over it, the user is assured.
    pub threshold: u8,
    /// The threshold the provider's own facial age estimation is held to, above `threshold` (a buffer for its
    /// error, as Yoti recommends); documents and digital IDs are held to `threshold` itself.
    pub estimation_threshold: u8,
    /// How long the user has to finish at the provider (Yoti: 60 s to 30 days).
    pub session_ttl_secs: u32,
    /// Sessions one user may start in any 24 hours, a start the provider failed included (each may cost the
    /// operator a check); beyond it `429 rate_limited`.
    pub max_starts_per_day: u32,
    /// Reads of a session's result at the provider one user may cause in any 24 hours
    /// (`POST /v1/me/age-assurance/check` while the session is pending), failed reads included; beyond it
    /// `429 rate_limited`. A check of a session decided already asks the provider nothing and is not counted.
    pub max_checks_per_day: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AgeProvider {
    None,
    Yoti,
}

impl Default for AgeAssuranceConfig {
    fn default() -> Self {
        Self {
            required_for: RequiredFor::None,
            waiver: None,
            provider: AgeProvider::None,
            base_url: "https://age.yoti.com".into(),
            sdk_id: None,
            api_key: None,
            return_url: None,
            timeout_ms: 10_000,
            threshold: 18,
            estimation_threshold: 25,
            session_ttl_secs: 900,
            max_starts_per_day: 5,
            max_checks_per_day: 30,
        }
    }
}

/// The API key never reaches a log or a panic message.
impl std::fmt::Debug for AgeAssuranceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgeAssuranceConfig")
            .field("required_for", &self.required_for)
            .field("waiver", &self.waiver)
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("sdk_id", &self.sdk_id)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("return_url", &self.return_url)
            .field("timeout_ms", &self.timeout_ms)
            .field("threshold", &self.threshold)
            .field("estimation_threshold", &self.estimation_threshold)
            .field("session_ttl_secs", &self.session_ttl_secs)
            .field("max_starts_per_day", &self.max_starts_per_day)
            .field("max_checks_per_day", &self.max_checks_per_day)
            .finish()
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}

impl AgeAssuranceConfig {
    /// Whether a provider is configured: the endpoints work, and `required_for` may ask for an assurance.
    pub fn offered(&self) -> bool {
        self.provider != AgeProvider::None
    }

    /// Whether a video find needs an assured age.
    pub fn covers_video(&self) -> bool {
        crate::domain::age::needs_assured_age(self.required_for, tanis_proto::MatchKind::Video, false)
    }

    /// Production's rule, checked with production's other rules (src/config/mod.rs): video asks an assured age, or
    /// the operator said why not. Random video between strangers is what regulators act on first.
    pub(super) fn validate_production(&self) -> Result<(), ConfigError> {
        if self.covers_video() || self.video_waiver().is_some() {
            return Ok(());
        }
        Err(invalid(
            "age_assurance.required_for",
            "production asks an assured age for video: set required_for = \"video\" (or \"everything\") with a \
             provider, or age_assurance.waiver to say why this server does not (docs/operations.md, \"Age \
             assurance\")",
        ))
    }

    /// The waiver, when video goes without an assured age and the operator said why.
    pub fn video_waiver(&self) -> Option<&str> {
        let waiver = self.waiver.as_deref().map(str::trim).filter(|w| !w.is_empty());
        waiver.filter(|_| !self.covers_video())
    }

    pub(super) fn validate(&self, production: bool) -> Result<(), ConfigError> {
        if self.required_for != RequiredFor::None && !self.offered() {
            return Err(invalid(
                "age_assurance.required_for",
                "asks for an assured age but no provider is configured: set age_assurance.provider (and its \
                 sdk_id, api_key and return_url), or required_for = \"none\"",
            ));
        }
        if let Some(waiver) = &self.waiver
            && (waiver.trim().is_empty() || waiver.chars().count() > 500 || waiver.chars().any(char::is_control))
        {
            return Err(invalid("age_assurance.waiver", "one line of 1 to 500 characters saying why"));
        }
        if !(13..=99).contains(&self.threshold) {
            return Err(invalid("age_assurance.threshold", "must be 13 to 99"));
        }
        if !(self.threshold..=99).contains(&self.estimation_threshold) {
            return Err(invalid("age_assurance.estimation_threshold", "must be from threshold to 99"));
        }
        if !(60..=2_592_000).contains(&self.session_ttl_secs) {
            return Err(invalid("age_assurance.session_ttl_secs", "must be 60 s to 30 days (the provider's range)"));
        }
        if self.timeout_ms < 100 {
            return Err(invalid("age_assurance.timeout_ms", "must be at least 100"));
        }
        if self.max_starts_per_day == 0 {
            return Err(invalid("age_assurance.max_starts_per_day", "must be positive"));
        }
        if self.max_checks_per_day == 0 {
            return Err(invalid("age_assurance.max_checks_per_day", "must be positive"));
        }
        if !self.offered() {
            return Ok(());
        }
        let blank = |v: &Option<String>| v.as_deref().is_none_or(|v| v.trim().is_empty());
        let needed = [
            ("age_assurance.sdk_id", &self.sdk_id),
            ("age_assurance.api_key", &self.api_key),
            ("age_assurance.return_url", &self.return_url),
        ];
        if let Some((key, _)) = needed.into_iter().find(|(_, value)| blank(value)) {
            return Err(invalid(key, "the provider needs age_assurance.sdk_id, api_key and return_url"));
        }
        // The id goes into the page's query string as it is: a character that would need escaping is a typo.
        let sdk_id = self.sdk_id.as_deref().unwrap_or_default();
        if !sdk_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(invalid("age_assurance.sdk_id", "letters, digits, - and _ only"));
        }
        if !is_http_url(&self.base_url) {
            return Err(invalid("age_assurance.base_url", "must be an http:// or https:// URL"));
        }
        if !self.return_url.as_deref().is_some_and(is_http_url) {
            return Err(invalid("age_assurance.return_url", "must be an http:// or https:// URL"));
        }
        // A bearer key over plain HTTP is anyone's on the way.
        if production && !self.base_url.starts_with("https://") {
            return Err(invalid("age_assurance.base_url", "production needs an https:// URL"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn yoti() -> AgeAssuranceConfig {
        AgeAssuranceConfig {
            provider: AgeProvider::Yoti,
            sdk_id: Some("0f0e5bd5-6a4b-4d8e-9c1a-2b3c4d5e6f70".into()),
            api_key: Some("a-provider-api-key".into()),
            return_url: Some("https://chat.example/age".into()),
            ..AgeAssuranceConfig::default()
        }
    }

    #[test]
    fn asking_for_an_assured_age_without_a_provider_is_refused_at_load() {
        for required_for in [RequiredFor::Video, RequiredFor::GenderFilter, RequiredFor::Everything] {
            let config = AgeAssuranceConfig { required_for, ..AgeAssuranceConfig::default() };
            let err = config.validate(false).unwrap_err().to_string();
            assert!(err.contains("age_assurance.required_for") && err.contains("no provider"), "{err}");
            AgeAssuranceConfig { required_for, ..yoti() }.validate(false).unwrap();
        }
        AgeAssuranceConfig::default().validate(true).expect("none asks nothing, and needs no provider");
    }

    #[test]
    fn production_asks_an_assured_age_for_video_or_a_waiver_that_says_why_not() {
        for required_for in [RequiredFor::None, RequiredFor::GenderFilter] {
            let config = AgeAssuranceConfig { required_for, ..yoti() };
            config.validate(true).expect("the section's own checks pass");
            let err = config.validate_production().unwrap_err().to_string();
            assert!(err.contains("age_assurance.required_for") && err.contains("waiver"), "{required_for:?}: {err}");
            let waived = AgeAssuranceConfig { waiver: Some("an assurance at the app store's gate".into()), ..config };
            waived.validate(true).unwrap();
            waived.validate_production().unwrap();
            assert_eq!(waived.video_waiver(), Some("an assurance at the app store's gate"));
        }
        for required_for in [RequiredFor::Video, RequiredFor::Everything] {
            let config = AgeAssuranceConfig { required_for, waiver: Some("not needed".into()), ..yoti() };
            config.validate(true).unwrap();
            config.validate_production().unwrap();
            assert_eq!(config.video_waiver(), None, "a waiver of what is asked waives nothing");
        }
        let none = AgeAssuranceConfig { waiver: Some("no provider here yet".into()), ..AgeAssuranceConfig::default() };
        none.validate(true).expect("no provider, video waived");
        none.validate_production().unwrap();
        for bad in ["", "  ", "two\nlines", &"x".repeat(501)] {
            let config = AgeAssuranceConfig { waiver: Some(bad.into()), ..AgeAssuranceConfig::default() };
            let err = config.validate(false).unwrap_err().to_string();
            assert!(err.contains("age_assurance.waiver"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_provider_needs_its_id_key_and_return_url_and_https_in_production() {
        for (key, unset) in [
            ("age_assurance.sdk_id", (|c: &mut AgeAssuranceConfig| c.sdk_id = None) as fn(&mut AgeAssuranceConfig)),
            ("age_assurance.api_key", |c| c.api_key = Some(" ".into())),
            ("age_assurance.return_url", |c| c.return_url = None),
        ] {
            let mut config = yoti();
            unset(&mut config);
            let err = config.validate(false).unwrap_err().to_string();
            assert!(err.contains(key), "{key}: {err}");
        }
        let local = AgeAssuranceConfig { base_url: "http://127.0.0.1:9".into(), ..yoti() };
        local.validate(false).expect("plain http is for a local stand-in");
        assert!(local.validate(true).unwrap_err().to_string().contains("https"));
        let bad = AgeAssuranceConfig { estimation_threshold: 17, ..yoti() };
        assert!(bad.validate(false).unwrap_err().to_string().contains("estimation_threshold"));
    }

    #[test]
    fn the_api_key_is_never_shown() {
        let config = Config { age_assurance: yoti(), ..Config::default() };
        let shown = format!("{config:?}");
        assert!(!shown.contains("a-provider-api-key") && shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn the_setting_is_read_from_the_environment() {
        #[allow(clippy::result_large_err)] // figment's own test harness signature
        figment::Jail::expect_with(|jail| {
            jail.set_env("TANIS_AGE_ASSURANCE__REQUIRED_FOR", "video");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("age_assurance.required_for"), "{err}");
            jail.set_env("TANIS_AGE_ASSURANCE__PROVIDER", "yoti");
            jail.set_env("TANIS_AGE_ASSURANCE__SDK_ID", "sdk-1");
            jail.set_env("TANIS_AGE_ASSURANCE__API_KEY", "key");
            jail.set_env("TANIS_AGE_ASSURANCE__RETURN_URL", "https://chat.example/age");
            let config = Config::load(None).unwrap();
            assert_eq!(config.age_assurance.required_for, RequiredFor::Video);
            Ok(())
        });
    }
}
