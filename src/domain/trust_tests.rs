//! Table tests of the trust rules.

use super::*;

fn at(hours: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::hours(hours)
}

/// The defaults of `[trust]` (src/moderation/mod.rs holds them to it): 72 h to count, bursts of 3 within 24 h, new
/// accounts for 24 h held to 20 finds and 10 skips a minute, quarantine at 3 open reports, threshold 10.
pub(crate) fn rules() -> Rules {
    Rules {
        threshold: 10,
        min_account_age: TimeDelta::hours(72),
        burst_min_reports: 3,
        burst_created_within: TimeDelta::hours(24),
        new_account: TimeDelta::hours(24),
        finds_per_minute: 20,
        skips_per_minute: 10,
        match_requires_verified_phone: false,
        quarantine_open_reports: 3,
    }
}

/// "Now" in these tables: a thousand hours after the epoch of [`at`].
const NOW: i64 = 1000;

fn account(created_hours: i64, phone_verified: bool, banned: bool) -> Account {
    Account { created_at: at(created_hours), phone_verified, banned }
}

/// A report from a verified, unbanned reporter created at `created_hours`, from range `net` (0: unknown).
fn report(created_hours: i64, net: u8, has_evidence: bool) -> Report {
    Report {
        reporter: account(created_hours, true, false),
        network: (net != 0).then(|| vec![net]),
        has_evidence,
        open: true,
        child_safety: false,
    }
}

/// `n` trusted reporters, each created 25 h after the previous (no burst), each from a range of their own.
fn trusted(n: usize) -> Vec<Report> {
    (0..n).map(|i| report(25 * i as i64, 10 + i as u8, false)).collect()
}

#[test]
fn a_reporter_counts_when_verified_old_enough_and_not_banned() {
    let r = rules();
    let table = [
        (account(NOW - 72, true, false), true, "exactly the minimum age"),
        (account(NOW - 500, true, false), true, "old and verified"),
        (account(NOW - 71, true, false), false, "an hour too young"),
        (account(NOW - 500, false, false), false, "phone not verified"),
        (account(NOW - 500, true, true), false, "banned"),
        (account(NOW, false, false), false, "made for the purpose"),
    ];
    for (reporter, expected, why) in table {
        assert_eq!(counts(&reporter, at(NOW), &r), expected, "{why}");
    }
}

#[test]
fn what_counted_sums_only_the_counting_reporters() {
    let r = rules();
    let fresh = Report { reporter: account(NOW - 1, true, false), ..report(0, 90, true) };
    let mut reports = trusted(2);
    reports.extend([report(0, 91, true), fresh]);
    let expected = Counted { reporters: 3, with_evidence: 1 };
    assert_eq!(counted(&reports, at(NOW), &r), expected, "the fresh account's evidence does not count");
    assert_eq!(counted(&[], at(NOW), &r), Counted::default());
}

#[test]
fn the_verdict_bans_waits_or_asks_a_moderator() {
    let r = rules();
    let with = |mut reports: Vec<Report>, extra: &[Report]| {
        reports.extend_from_slice(extra);
        reports
    };
    let fresh = |i: i64| Report { reporter: account(NOW - 1, true, false), ..report(0, 50 + i as u8, false) };
    let unverified = |i: u8| Report { reporter: account(0, false, false), ..report(0, 60 + i, false) };
    let banned = Report { reporter: account(0, true, true), ..report(0, 70, false) };
    let evidence = |i: usize| (0..i).map(|k| report(25 * k as i64, 80 + k as u8, true)).collect::<Vec<_>>();
    let table: Vec<(Vec<Report>, AutoBan, &str)> = vec![
        (trusted(10), AutoBan::Ban, "ten trusted bare claims ban, as before"),
        (trusted(9), AutoBan::Wait, "nine are not enough"),
        ((0..10).map(fresh).collect(), AutoBan::Wait, "a brigade of ten fresh accounts counts for nothing"),
        (
            with(trusted(9), &(0..5).map(unverified).collect::<Vec<_>>()),
            AutoBan::Wait,
            "unverified reporters do not count",
        ),
        (with(trusted(9), &[banned]), AutoBan::Wait, "a banned reporter does not count"),
        (evidence(4), AutoBan::Wait, "four reports with verified evidence are four people, not ten"),
        (evidence(9), AutoBan::Wait, "nine with evidence are still nine"),
        (evidence(10), AutoBan::Ban, "ten people ban, with evidence as without"),
        (with(evidence(3), &trusted(7)), AutoBan::Ban, "three with evidence and seven bare claims are ten people"),
        (
            (0..10).map(|i| report(i, 20 + i as u8, false)).collect(),
            AutoBan::Review(Why::BurstCreated),
            "ten accounts created within ten hours: a moderator looks",
        ),
        (
            (0..10).map(|i| report(25 * i, 7, false)).collect(),
            AutoBan::Review(Why::BurstNetwork),
            "ten reports from one address range",
        ),
        (
            with(
                trusted(10),
                &[report(1000 - 80, 99, false), report(1000 - 80, 99, false), report(1000 - 80, 99, false)],
            ),
            AutoBan::Ban,
            "a burst beside ten independent reporters cannot shield the user",
        ),
        (
            with(trusted(8), &[report(500, 3, false), report(501, 4, false), report(502, 5, false)]),
            AutoBan::Review(Why::BurstCreated),
            "eight independent and a burst of three: the burst made the score",
        ),
        (
            with(trusted(8), &[report(300, 9, false), report(400, 9, false)]),
            AutoBan::Ban,
            "two from one range are below burst_min_reports",
        ),
        ((0..10).map(|i| report(25 * i, 0, false)).collect(), AutoBan::Ban, "unknown ranges are never grouped"),
    ];
    for (reports, expected, why) in table {
        assert_eq!(verdict(&reports, at(NOW), &r), expected, "{why}");
    }
}

#[test]
fn the_created_window_is_inclusive_and_slides() {
    let r = rules();
    let spaced = |gaps: &[i64]| {
        let mut t = 0;
        let mut out = trusted(7);
        for (k, gap) in gaps.iter().enumerate() {
            t += gap;
            out.push(report(500 + t, 40 + k as u8, false));
        }
        out
    };
    let table = [
        (spaced(&[0, 24, 0]), AutoBan::Review(Why::BurstCreated), "three within exactly 24 h"),
        (spaced(&[0, 13, 12]), AutoBan::Ban, "first to third is 25 h: no three within 24 h"),
        (spaced(&[0, 30, 30]), AutoBan::Ban, "spread out"),
    ];
    for (reports, expected, why) in table {
        assert_eq!(verdict(&reports, at(NOW), &r), expected, "{why}");
    }
}

#[test]
fn quarantine_takes_open_reports_from_counting_reporters_outside_any_burst() {
    let r = rules();
    let closed = Report { open: false, ..report(0, 1, false) };
    let young = Report { reporter: account(NOW - 1, true, false), ..report(0, 2, false) };
    let with = |mut reports: Vec<Report>, extra: &[Report]| {
        reports.extend_from_slice(extra);
        reports
    };
    let table = [
        (trusted(3), true, "three open counting reports"),
        (trusted(2), false, "two"),
        (vec![report(0, 1, false), report(25, 2, false), closed], false, "a resolved report does not count"),
        (vec![report(0, 1, false), report(25, 2, false), young], false, "nor one from a fresh account"),
        (
            (0..3).map(|i| report(500 + i, 20 + i as u8, false)).collect(),
            false,
            "three accounts created within three hours are a burst",
        ),
        ((0..5).map(|i| report(25 * i, 7, true)).collect(), false, "five reporters behind one address range"),
        (
            with(trusted(2), &[report(500, 30, false), report(501, 31, false), report(502, 32, false)]),
            false,
            "two independent and a burst of three",
        ),
        (
            with(trusted(3), &[report(500, 30, false), report(501, 31, false), report(502, 32, false)]),
            true,
            "three independent beside a burst still quarantine",
        ),
        (
            vec![
                Report { open: false, ..report(500, 30, false) },
                Report { open: false, ..report(501, 31, false) },
                report(502, 32, false),
                report(0, 1, false),
                report(25, 2, false),
            ],
            false,
            "an open report whose reporter was made beside two actioned ones' belongs to their burst",
        ),
        (trusted(3).into_iter().map(|x| Report { has_evidence: true, ..x }).collect(), true, "evidence or not"),
    ];
    for (reports, expected, why) in table {
        assert_eq!(quarantined(&reports, at(NOW), &r), expected, "{why}");
    }
}

#[test]
fn one_open_child_safety_report_from_a_counting_reporter_outside_any_burst_holds_video() {
    let r = rules();
    let child = |x: Report| Report { child_safety: true, ..x };
    let table = [
        (vec![child(report(0, 1, false))], true, "one is enough"),
        (vec![report(0, 1, false), report(25, 2, false), report(50, 3, false)], false, "the standard lane holds none"),
        (vec![Report { open: false, ..child(report(0, 1, false)) }], false, "a decided report holds nothing"),
        (vec![Report { reporter: account(NOW - 1, true, false), ..child(report(0, 1, false)) }], false, "fresh"),
        (vec![Report { reporter: account(0, false, false), ..child(report(0, 1, false)) }], false, "unverified"),
        (vec![Report { reporter: account(0, true, true), ..child(report(0, 1, false)) }], false, "banned"),
        (
            (0..3).map(|i| child(report(500 + i, 20 + i as u8, false))).collect(),
            false,
            "a brigade of accounts made within three hours is a burst",
        ),
        ((0..3).map(|i| child(report(25 * i, 7, false))).collect(), false, "three reporters behind one range"),
        (
            vec![report(500, 30, false), report(501, 31, false), child(report(502, 32, false))],
            false,
            "made beside two standard-lane reporters: their burst",
        ),
        (vec![report(0, 1, false), child(report(25, 2, false))], true, "beside an independent standard report"),
    ];
    for (reports, expected, why) in table {
        assert_eq!(holds_video(&reports, at(NOW), &r), expected, "{why}");
    }
}

#[test]
fn new_and_unverified_accounts_are_limited() {
    let r = rules();
    let strict = Rules { match_requires_verified_phone: true, ..r };
    let limited = Limits { finds_per_minute: Some(20), skips_per_minute: Some(10), needs_verified_phone: false };
    let free = Limits { finds_per_minute: None, skips_per_minute: None, needs_verified_phone: false };
    let table = [
        (account(NOW - 48, true, false), r, free, "verified and a day old"),
        (account(NOW - 23, true, false), r, limited, "verified but new"),
        (account(NOW - 500, false, false), r, limited, "old but unverified"),
        (account(NOW - 500, false, false), strict, Limits { needs_verified_phone: true, ..limited }, "must verify"),
        (account(NOW - 500, true, false), strict, free, "verified: matches"),
    ];
    for (acc, rules, expected, why) in table {
        assert_eq!(limits(&acc, at(NOW), &rules), expected, "{why}");
    }
}

#[test]
fn a_stranger_is_shown_with_caution_when_new_unverified_or_under_review() {
    let r = rules();
    let table = [
        (account(NOW - 48, true, false), false, false, "verified, a day old, no review"),
        (account(NOW - 23, true, false), false, true, "new"),
        (account(NOW - 500, false, false), false, true, "unverified"),
        (account(NOW - 500, true, false), true, true, "under review"),
    ];
    for (acc, review, expected, why) in table {
        assert_eq!(caution(&acc, review, at(NOW), &r), expected, "{why}");
    }
}

#[test]
fn an_address_range_is_the_v4_slash_24_or_the_v6_slash_48() {
    let range = |ip: &str| address_range(ip.parse().unwrap());
    let table = [
        ("203.0.113.7", "203.0.113.200", true, "one /24"),
        ("203.0.113.7", "203.0.114.7", false, "another /24"),
        ("2001:db8:1:aaaa::1", "2001:db8:1:bbbb::2", true, "one /48"),
        ("2001:db8:1::1", "2001:db8:2::1", false, "another /48"),
        ("::ffff:203.0.113.9", "203.0.113.7", true, "IPv4 written as IPv6 is IPv4"),
        ("0.0.0.1", "::1", false, "the families never collide"),
    ];
    for (a, b, same, why) in table {
        assert_eq!(range(a) == range(b), same, "{why}");
    }
}
