//! `[trust]`: who counts toward the automatic ban, when a wave of reports goes to a moderator instead, and the
//! limits on new and unverified accounts (docs/admin.md "Trust: who counts toward the automatic ban"). The rules
//! themselves are pure functions in [`crate::domain::trust`]; this is only their settings.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TrustConfig {
    /// A reporter counts toward the automatic ban only once their account is this old (and their phone verified,
    /// and they are not banned): ten accounts made for the purpose must first wait this long.
    pub reporter_min_account_age_hours: u32,
    /// This many counting reporters whose accounts were created within `burst_created_within_hours` of each other,
    /// or who reported from one address range (IPv4 /24, IPv6 /48), are a burst: the user goes to human review
    /// instead of being banned.
    pub burst_min_reports: u32,
    pub burst_created_within_hours: u32,
    /// An account younger than this, or one whose phone is not verified, is held to the limits below.
    pub new_account_hours: u32,
    /// `match.find`s per minute (sustained; as many at once) for a new or unverified account.
    pub limited_finds_per_minute: u32,
    /// Skips per minute (`match.leave` of an active match) for a new or unverified account.
    pub limited_skips_per_minute: u32,
    /// Refuse `match.find` (`phone_unverified`) until the account's phone is verified.
    pub match_requires_verified_phone: bool,
    /// A user with this many open reports from counting reporters, outside any burst (the automatic ban's burst
    /// rules), is matched only with others like them until a moderator resolves the reports (quarantine).
    pub quarantine_open_reports: u32,
    /// Distinct counting reporters (bursts set aside, as for the automatic ban) who report a user "not as
    /// declared" that suspend the use of their declared gender in filtered matching until a moderator clears it.
    pub declaration_report_threshold: u32,
    /// "Not as declared" reports a day that refund the reporter's unit for the match: more are counted but
    /// refund nothing, so the reason cannot turn into free matches.
    pub declaration_refunds_per_day: u32,
}

impl Default for TrustConfig {
    fn default() -> Self {
        Self {
            reporter_min_account_age_hours: 72,
            burst_min_reports: 3,
            burst_created_within_hours: 24,
            new_account_hours: 24,
            limited_finds_per_minute: 20,
            limited_skips_per_minute: 10,
            match_requires_verified_phone: false,
            quarantine_open_reports: 3,
            declaration_report_threshold: 3,
            declaration_refunds_per_day: 3,
        }
    }
}

impl TrustConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.burst_min_reports < 2 {
            return Err(invalid("trust.burst_min_reports", "must be at least 2: one report is no burst"));
        }
        if self.limited_finds_per_minute == 0 || self.limited_skips_per_minute == 0 {
            return Err(invalid(
                "trust.limited_finds_per_minute",
                "the limits of new accounts must be positive (0 would stop them from matching at all)",
            ));
        }
        if self.quarantine_open_reports == 0 {
            return Err(invalid("trust.quarantine_open_reports", "must be at least 1"));
        }
        if self.declaration_report_threshold == 0 {
            return Err(invalid("trust.declaration_report_threshold", "must be at least 1"));
        }
        let hours = [self.reporter_min_account_age_hours, self.burst_created_within_hours, self.new_account_hours];
        if hours.iter().any(|&h| h > 24 * 3650) {
            return Err(invalid("trust", "hours must be at most ten years"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    #[test]
    fn the_removed_trust_weights_are_refused_at_load() {
        // Evidence proves who wrote a message, not that it broke the rules: it no longer weighs toward the
        // automatic ban, and a file that still sets a weight says so instead of being silently obeyed.
        #[allow(clippy::result_large_err)] // figment's own test harness signature
        figment::Jail::expect_with(|jail| {
            for key in ["evidence_weight", "claim_weight"] {
                jail.create_file("old.toml", &format!("[trust]\n{key} = 3\n"))?;
                let err = Config::load(Some(Path::new("old.toml"))).unwrap_err().to_string();
                assert!(err.contains(key), "{err}");
            }
            Ok(())
        });
    }
}
