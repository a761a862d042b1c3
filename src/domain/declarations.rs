//! "Not as declared" (docs/admin.md "Declarations"): the pure rules for the one-tap report that someone was not the
//! gender they declared. Whether it refunds the reporter's unit ([`refunds`]: a premium reporter's match from a
//! find with `seeking`, within [`REFUND_WINDOW`]), and whether the reports about a user
//! suspend the use of their declaration in filtered matching ([`suspends`]) — by the automatic ban's own trust rules,
//! so the brigades that cannot ban anyone cannot suspend anyone's declaration either. Reports gather the facts
//! (src/reports/declared.rs) and the store applies the verdict (src/store/declarations.rs).

use chrono::{DateTime, TimeDelta, Utc};

use super::trust::{self, AutoBan, Report, Rules};

/// `[trust]`'s settings for these reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `trust.declaration_report_threshold`: distinct counting reporters, outside any burst, that suspend.
    pub threshold: u32,
    /// `trust.declaration_refunds_per_day`: reports a day (per reporter) that refund.
    pub refunds_per_day: u32,
}

/// How long after a match opened a report that the peer was not as declared can refund it: long enough to see who
/// they are, too short to collect units from old matches. The opening's mark of a filtered match lasts this long.
pub const REFUND_WINDOW: TimeDelta = TimeDelta::hours(1);

/// What a refund is decided on, as the store read it in the report's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundFacts {
    /// The match came from the reporter's own find with `seeking` and opened less than [`REFUND_WINDOW`] ago (its
    /// mark stands): the report says the filter they paid for failed them.
    pub filtered_in_window: bool,
    /// The reporter is premium now: `seeking` is a premium feature, and a refund is its guarantee.
    pub premium: bool,
    /// The reporter filed a claim for the match (the claims job refunds that one).
    pub claimed_the_match: bool,
    /// The reporter's refunds of these reports in the last day.
    pub refunded_in_last_day: u32,
}

/// Whether a new report refunds the reporter's unit for its match (to the balance it came from): only a premium
/// reporter's filtered match, in its window, not claimed, and within `refunds_per_day` a day — a reason that
/// refunded any match would turn free units into bonus units, and each tap is a counting report against someone.
pub fn refunds(facts: &RefundFacts, policy: &Policy) -> bool {
    facts.filtered_in_window
        && facts.premium
        && !facts.claimed_the_match
        && facts.refunded_in_last_day < policy.refunds_per_day
}

/// Whether the reports about a user (one per reporter, made since a moderator last cleared the declaration) stop
/// its use in filtered matching: `policy.threshold` reporters who count, after the bursts are set aside, exactly as
/// the automatic ban decides with its own threshold. A burst suspends nothing and asks no one: a moderator sees the
/// count on the user's page.
pub fn suspends(reports: &[Report], now: DateTime<Utc>, rules: &Rules, policy: &Policy) -> bool {
    trust::verdict(reports, now, &Rules { threshold: policy.threshold, ..*rules }) == AutoBan::Ban
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::domain::trust::Account;

    const POLICY: Policy = Policy { threshold: 3, refunds_per_day: 2 };

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    /// A report from a verified reporter whose account is `days` old, from address range `net`.
    fn from(days: i64, net: u8, verified: bool) -> Report {
        let reporter = Account { created_at: now() - TimeDelta::days(days), phone_verified: verified, banned: false };
        Report { reporter, network: Some(vec![net]), has_evidence: false, open: true, child_safety: false }
    }

    #[test]
    fn only_a_premium_reporters_filtered_match_refunds_until_the_days_allowance_and_never_a_claimed_one() {
        let due =
            RefundFacts { filtered_in_window: true, premium: true, claimed_the_match: false, refunded_in_last_day: 0 };
        let table = [
            (due, true, "a premium reporter's filtered match, in its window"),
            (RefundFacts { refunded_in_last_day: 1, ..due }, true, "the second in a day"),
            (RefundFacts { refunded_in_last_day: 2, ..due }, false, "the third in a day refunds nothing"),
            (RefundFacts { claimed_the_match: true, ..due }, false, "the claim refunds that match already"),
            (RefundFacts { premium: false, ..due }, false, "not premium (any more)"),
            (RefundFacts { filtered_in_window: false, ..due }, false, "a plain find's match, or past the window"),
        ];
        for (facts, expected, why) in table {
            assert_eq!(refunds(&facts, &POLICY), expected, "{why}");
        }
    }

    #[test]
    fn the_threshold_of_independent_counting_reporters_suspends() {
        let rules = trust::tests::rules();
        let two = [from(10, 1, true), from(20, 2, true)];
        assert!(!suspends(&two, now(), &rules, &POLICY), "two are not three");
        let three = [from(10, 1, true), from(20, 2, true), from(30, 3, true)];
        assert!(suspends(&three, now(), &rules, &POLICY));
        let one_unverified = [from(10, 1, true), from(20, 2, true), from(30, 3, false)];
        assert!(!suspends(&one_unverified, now(), &rules, &POLICY), "an unverified reporter does not count");
    }

    #[test]
    fn a_brigade_suspends_nothing() {
        let rules = trust::tests::rules();
        let fresh = [from(1, 1, true), from(1, 2, true), from(1, 3, true)];
        assert!(!suspends(&fresh, now(), &rules, &POLICY), "accounts a day old do not count yet");
        let made_together = [from(10, 1, true), from(10, 2, true), from(10, 3, true)];
        assert!(!suspends(&made_together, now(), &rules, &POLICY), "made within a day of each other: a burst");
        let one_range = [from(10, 7, true), from(20, 7, true), from(30, 7, true)];
        assert!(!suspends(&one_range, now(), &rules, &POLICY), "one address range: a burst");
    }
}
