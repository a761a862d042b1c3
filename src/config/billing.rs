//! `[billing]`: the billing provider's webhook, whose events grant premium (docs/admin.md, Premium).

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// The billing provider's webhook (`POST /v1/billing/events`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BillingConfig {
    /// The shared secret the provider signs events with (at least 32 characters). Unset: the webhook answers
    /// 503 and premium is granted only by admins.
    pub webhook_secret: Option<String>,
    /// How far a signed time may be from now, either way.
    pub replay_window_secs: u64,
}

impl Default for BillingConfig {
    fn default() -> Self {
        Self { webhook_secret: None, replay_window_secs: 300 }
    }
}

impl BillingConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.webhook_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err(invalid("billing.webhook_secret", "must be at least 32 characters"));
        }
        Ok(())
    }
}
