//! `[quotas]`: the daily matches of free and premium accounts, and the time zone whose midnight gives them back.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct QuotaConfig {
    pub free_text_daily: u32,
    pub free_video_daily: u32,
    pub premium_text_daily: u32,
    pub premium_video_daily: u32,
    /// Daily units come back at midnight in this IANA zone.
    pub timezone: String,
}

impl Default for QuotaConfig {
    fn default() -> Self {
        Self {
            free_text_daily: 10,
            free_video_daily: 3,
            premium_text_daily: 50,
            premium_video_daily: 15,
            timezone: "Europe/Istanbul".into(),
        }
    }
}

impl QuotaConfig {
    /// The configured zone; `validate` has checked that it parses.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.timezone.parse().unwrap_or(chrono_tz::Europe::Istanbul)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid("quotas.timezone", "not an IANA time zone (e.g. Europe/Istanbul)"));
        }
        Ok(())
    }
}
