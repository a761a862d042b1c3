//! `[sms]`: how one-time codes are sent (the development log sender, or an HTTP provider in Twilio's format) and
//! how often. The provider's token is a secret: it never reaches a log, not even through `Debug`.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// One-time codes by SMS (phone verification, phone change, password reset; docs/operations.md "SMS"). A code is
/// 6 digits, lives 5 minutes and takes at most 5 guesses (fixed: the texts say so); the limits below bound how
/// often one is sent.
#[derive(Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// `log`: the code is written to the server log, for development (refused in production); `http`: sent
    /// through an HTTP API speaking Twilio's Messages format.
    pub provider: SmsProvider,
    /// The provider's send endpoint, e.g. `https://api.twilio.com/2010-04-01/Accounts/<sid>/Messages.json`.
    pub http_url: Option<String>,
    /// HTTP Basic user (Twilio: the account SID or an API key SID).
    #[serde(deserialize_with = "text")]
    pub account: Option<String>,
    /// HTTP Basic password (Twilio: the auth token or the API key secret). A secret: never logged.
    #[serde(deserialize_with = "text")]
    pub token: Option<String>,
    /// The sender: a number in E.164 or an alphanumeric sender id the provider has approved. From the
    /// environment, quote a number: `TANIS_SMS__FROM='"+908501234567"'`.
    #[serde(deserialize_with = "text")]
    pub from: Option<String>,
    /// A send not answered within this counts as failed.
    pub timeout_ms: u64,
    /// Least time between two codes to one phone.
    pub min_interval_secs: u64,
    /// Codes to one phone within an hour.
    pub max_per_phone_per_hour: u32,
    /// Codes asked for from one client address within an hour.
    pub max_per_ip_per_hour: u32,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SmsProvider {
    Log,
    Http,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            provider: SmsProvider::Log,
            http_url: None,
            account: None,
            token: None,
            from: None,
            timeout_ms: 10_000,
            min_interval_secs: 60,
            max_per_phone_per_hour: 5,
            max_per_ip_per_hour: 20,
        }
    }
}

/// A text setting that an unquoted environment value would turn into a number, losing a `+` or leading zeros
/// (`TANIS_SMS__FROM=+90…` reads as 90…): refused, saying how to quote it, rather than used mangled.
fn text<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(serde::de::IgnoredAny),
    }
    match Option::<Raw>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Raw::Text(text)) => Ok(Some(text)),
        Some(Raw::Number(_)) => Err(serde::de::Error::custom(
            "read as a number, which would drop a leading + or 0: quote it (environment: '\"+90…\"')",
        )),
    }
}

/// The token never reaches a log or a panic message.
impl std::fmt::Debug for SmsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsConfig")
            .field("provider", &self.provider)
            .field("http_url", &self.http_url)
            .field("account", &self.account)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .field("timeout_ms", &self.timeout_ms)
            .field("min_interval_secs", &self.min_interval_secs)
            .field("max_per_phone_per_hour", &self.max_per_phone_per_hour)
            .field("max_per_ip_per_hour", &self.max_per_ip_per_hour)
            .finish()
    }
}

impl SmsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.timeout_ms < 100 {
            return Err(invalid("sms.timeout_ms", "must be at least 100"));
        }
        if self.max_per_phone_per_hour == 0 || self.max_per_ip_per_hour == 0 {
            return Err(invalid("sms.max_per_phone_per_hour", "the hourly code limits must be positive"));
        }
        if self.provider == SmsProvider::Http {
            let blank = |v: &Option<String>| v.as_deref().is_none_or(|v| v.trim().is_empty());
            let needed = [
                ("sms.http_url", &self.http_url),
                ("sms.account", &self.account),
                ("sms.token", &self.token),
                ("sms.from", &self.from),
            ];
            for (key, value) in needed {
                if blank(value) {
                    return Err(invalid(key, "the http SMS provider needs sms.http_url, account, token and from"));
                }
            }
            let url = self.http_url.as_deref().unwrap_or_default();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(invalid("sms.http_url", "must be an http:// or https:// URL"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn an_sms_sender_number_from_the_environment_is_text_or_refused() {
        #[allow(clippy::result_large_err)] // figment's own test harness signature
        figment::Jail::expect_with(|jail| {
            jail.set_env("TANIS_SMS__FROM", "+905321234567");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("sms.from") && err.contains("quote it"), "{err}");
            jail.set_env("TANIS_SMS__FROM", "\"+905321234567\"");
            jail.set_env("TANIS_SMS__TOKEN", "\"0123456789\"");
            jail.set_env("TANIS_SMS__ACCOUNT", "AC0123");
            let config = Config::load(None).unwrap();
            assert_eq!(config.sms.from.as_deref(), Some("+905321234567"));
            assert_eq!(config.sms.token.as_deref(), Some("0123456789"));
            assert_eq!(config.sms.account.as_deref(), Some("AC0123"));
            Ok(())
        });
    }

    #[test]
    fn the_sms_token_is_never_shown() {
        let sms = SmsConfig { token: Some("a-provider-token".into()), ..SmsConfig::default() };
        let config = Config { sms, ..Config::default() };
        let shown = format!("{config:?}");
        assert!(!shown.contains("a-provider-token") && shown.contains("<redacted>"), "{shown}");
    }
}
