//! How a moderator resolved a report, and the lane an open report waits in.

use super::stored_text;

/// Where an open report waits (docs/admin.md, "Child safety first"). A report that a child may be at risk waits in
/// a lane of its own, ahead of every other, and an operator is alerted when one waits 15 minutes
/// (deploy/prometheus/alerts.yml); every other report waits in the standard lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    ChildSafety,
    Standard,
}

impl Lane {
    pub const ALL: [Lane; 2] = [Lane::ChildSafety, Lane::Standard];
    /// The reasons of the child-safety lane: the reported user appears to be under 18, or child sexual abuse.
    pub const CHILD_SAFETY_REASONS: &[&str] = &["underage", "child_sexual_abuse"];

    /// The lane of a report filed for `reason` (a [`tanis_proto::ReportReason`] as stored).
    pub fn of(reason: &str) -> Lane {
        if Self::CHILD_SAFETY_REASONS.contains(&reason) { Lane::ChildSafety } else { Lane::Standard }
    }

    /// The name metrics and the API give it.
    pub fn as_str(self) -> &'static str {
        match self {
            Lane::ChildSafety => "child_safety",
            Lane::Standard => "standard",
        }
    }
}

stored_text! {
    /// A report's resolution (`reports.resolution`, whose CHECK allows exactly these two; NULL while never
    /// decided). A dismissed report no longer counts toward the automatic ban.
    pub enum ReportResolution {
        Dismissed = "dismissed",
        Actioned = "actioned",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assert_stored_as;

    #[test]
    fn a_report_that_a_child_may_be_at_risk_waits_in_the_child_safety_lane() {
        use tanis_proto::ReportReason::{ChildSexualAbuse, Underage};
        assert_eq!(Lane::of(Underage.as_str()), Lane::ChildSafety);
        assert_eq!(Lane::of(ChildSexualAbuse.as_str()), Lane::ChildSafety);
        for other in ["spam", "harassment", "nudity", "hate", "scam", "other", "not_as_declared"] {
            assert_eq!(Lane::of(other), Lane::Standard, "{other}");
        }
    }

    #[test]
    fn a_resolution_is_what_the_reports_check_allows() {
        assert_stored_as(
            ReportResolution::ALL,
            &["dismissed", "actioned"],
            ReportResolution::as_str,
            ReportResolution::parse,
        );
    }
}
