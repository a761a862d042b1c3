//! `[jobs]`: the background jobs (tanis-workers): where they run, how their queues are named and watched, and
//! the numbers they apply (the report threshold, referral bonuses, how long messages and evidence are kept).

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Background jobs (tanis-workers).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct JobsConfig {
    /// Run the jobs inside `tanis serve`. Turn off when a separate `tanis worker` runs them.
    pub enabled: bool,
    /// Distinct reporters (each matched with the user) that ban a user automatically.
    pub report_threshold: u32,
    /// Bonus text matches for the invited user, and for the inviter (0: none), granted once the invited user's
    /// phone is verified.
    pub referral_invited_bonus: i32,
    pub referral_inviter_bonus: i32,
    /// Message content older than this is deleted (metadata logs stay).
    pub message_retention_hours: u32,
    /// A report's verified evidence (messages the reporter revealed) is deleted this long after it was verified.
    pub evidence_retention_days: u32,
    /// How long after it was sent a message can be revealed in a report: its franking commitment is kept this long
    /// and then cleared, and older reveals are refused (`evidence_expired`). At least `message_retention_hours`,
    /// so a message whose content is still stored always carries its commitment.
    pub report_window_days: u32,
    /// Message metadata (`message_logs`: who wrote to whom when, delivery, the commitment) is deleted this long
    /// after it was sent. At least `report_window_days`, whose commitments it holds. On PostgreSQL it goes a
    /// month's partition at a time, once the month's newest log has passed it.
    pub message_log_retention_days: u32,
    /// Prefix of the job queues' names (lets deployments share one Redis).
    pub queue_namespace: String,
    /// How often workers look for runs queued elsewhere (by another node or `tanis worker`).
    pub poll_interval_ms: u64,
    /// A job with no success for its period (a minute; a day for the quota reset) plus this is reported stalled
    /// by `/healthz/jobs`.
    pub stall_grace_secs: u64,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            report_threshold: 10,
            referral_invited_bonus: 10,
            referral_inviter_bonus: 0,
            message_retention_hours: 24,
            evidence_retention_days: 90,
            report_window_days: 30,
            message_log_retention_days: 730,
            queue_namespace: "tanis".into(),
            poll_interval_ms: 1000,
            stall_grace_secs: 240,
        }
    }
}

impl JobsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.report_threshold == 0
            || self.message_retention_hours == 0
            || self.evidence_retention_days == 0
            || self.report_window_days == 0
            || self.message_log_retention_days == 0
            || self.referral_invited_bonus < 0
            || self.referral_inviter_bonus < 0
        {
            return Err(invalid(
                "jobs",
                "report_threshold and every retention and window must be positive, bonuses not negative",
            ));
        }
        // A resumed message whose commitment was cleared would be refused by every client (docs/protocol.md §9).
        if u64::from(self.report_window_days) * 24 < u64::from(self.message_retention_hours) {
            return Err(invalid("jobs.report_window_days", "must be at least jobs.message_retention_hours"));
        }
        // The commitments a report is verified against live in the metadata.
        if self.message_log_retention_days < self.report_window_days {
            return Err(invalid("jobs.message_log_retention_days", "must be at least jobs.report_window_days"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn the_report_window_covers_the_message_retention() {
        let mut config = Config::default();
        config.jobs.message_retention_hours = 48;
        config.jobs.report_window_days = 2;
        config.validate().unwrap();
        config.jobs.message_retention_hours = 49;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("jobs.report_window_days"), "{err}");
    }

    #[test]
    fn the_metadata_outlives_the_report_window_whose_commitments_it_holds() {
        let mut config = Config::default();
        config.jobs.message_log_retention_days = config.jobs.report_window_days;
        config.validate().unwrap();
        config.jobs.message_log_retention_days -= 1;
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("jobs.message_log_retention_days"), "{err}");
    }
}
