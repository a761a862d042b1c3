//! Bans: their reason codes (why an account is banned, as the banned user is shown it), how long a moderator's
//! ban may run, and where an appeal against a ban stands.

use chrono::{DateTime, TimeDelta, Utc};

use super::stored_text;

stored_text! {
    /// A ban's reason code (`bans.reason_code`, and `users.ban_reason` while the ban holds). The user is shown
    /// the code; docs/admin.md explains each, and a moderator's ban (`POST /v1/admin/users/{id}/ban`) must name
    /// one of them. The column has no CHECK: migration 0010 turned older free-text reasons into `reports` or
    /// `other`.
    pub enum BanReason {
        Spam = "spam",
        Harassment = "harassment",
        Hate = "hate",
        SexualContent = "sexual_content",
        Underage = "underage",
        /// Child sexual abuse material, or exploiting a child.
        ChildSexualAbuse = "child_sexual_abuse",
        Scam = "scam",
        Impersonation = "impersonation",
        Violence = "violence",
        /// The automatic ban: enough distinct reporters (the moderation job).
        Reports = "reports",
        /// Anything else; the moderator's note says what.
        Other = "other",
    }
}

stored_text! {
    /// Where an appeal stands (`appeals.status`, whose CHECK allows exactly these three). A moderator decides a
    /// `pending` one once.
    pub enum AppealStatus {
        Pending = "pending",
        Accepted = "accepted",
        Rejected = "rejected",
    }
}

/// Longest temporary ban, in hours (a year); longer is a ban until lifted.
pub const MAX_BAN_HOURS: i64 = 8760;

/// How long a moderator's temporary ban runs: 1 to [`MAX_BAN_HOURS`] whole hours. A ban without one runs until
/// a moderator lifts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BanDuration(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("duration_hours must be 1 to 8760")]
pub struct BanDurationError;

impl BanDuration {
    pub fn from_hours(hours: i64) -> Result<Self, BanDurationError> {
        if !(1..=MAX_BAN_HOURS).contains(&hours) {
            return Err(BanDurationError);
        }
        Ok(Self(hours))
    }

    pub fn hours(self) -> i64 {
        self.0
    }

    /// When a ban made at `start` ends by itself.
    pub fn ends_at(self, start: DateTime<Utc>) -> DateTime<Utc> {
        start + TimeDelta::hours(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assert_stored_as;

    #[test]
    fn a_ban_runs_1_to_8760_hours() {
        for good in [1, 2, 24, 8759, MAX_BAN_HOURS] {
            assert_eq!(BanDuration::from_hours(good).map(BanDuration::hours), Ok(good), "{good}");
        }
        for bad in [i64::MIN, -1, 0, MAX_BAN_HOURS + 1, i64::MAX] {
            assert_eq!(BanDuration::from_hours(bad), Err(BanDurationError), "{bad}");
        }
        assert_eq!(BanDurationError.to_string(), "duration_hours must be 1 to 8760");
    }

    #[test]
    fn a_ban_ends_its_hours_after_it_starts() {
        let start = DateTime::parse_from_rfc3339("2026-11-26T10:00:00Z").unwrap().to_utc();
        let end = DateTime::parse_from_rfc3339("2026-11-27T12:00:00Z").unwrap().to_utc();
        assert_eq!(BanDuration::from_hours(26).unwrap().ends_at(start), end);
    }

    #[test]
    fn a_ban_reason_is_one_of_the_codes_docs_admin_md_lists() {
        let doc = include_str!("../../docs/admin.md");
        let table = doc.split("| code | for |").nth(1).expect("the reason codes' table");
        let listed: Vec<&str> = table
            .lines()
            .map(str::trim)
            .skip(2)
            .take_while(|l| l.starts_with("| `"))
            .map(|l| l.split('`').nth(1).unwrap())
            .collect();
        assert_stored_as(BanReason::ALL, &listed, BanReason::as_str, BanReason::parse);
    }

    #[test]
    fn an_appeal_status_is_what_the_appeals_check_allows() {
        assert_stored_as(
            AppealStatus::ALL,
            &["pending", "accepted", "rejected"],
            AppealStatus::as_str,
            AppealStatus::parse,
        );
    }
}
