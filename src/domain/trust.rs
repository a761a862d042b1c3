//! Trust: the pure rules that make the automatic ban hard to abuse (docs/admin.md "Trust: who counts toward the
//! automatic ban"). Which reporters count ([`counts`]), whether a user's reports ban them, wait, or go to a
//! moderator ([`verdict`]), whether they wait in quarantine ([`quarantined`]),
//! and what limits an account is held to ([`limits`]). Plain data in, a decision out: the auto-ban job
//! (src/jobs.rs, workers/src/moderation.rs) and the find's admission (src/matching/admission.rs) decide by them,
//! the store and the hub gather the facts; [`address_range`] is what a report records of where it came from
//! (hashed by the phone vault).

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::{DateTime, TimeDelta, Utc};

/// The trust settings in the units the rules use, with the automatic ban's threshold (built from `[trust]` by
/// [`crate::moderation::trust_rules`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// `jobs.report_threshold`: the distinct counting reporters, outside any burst, that ban.
    pub threshold: u32,
    pub min_account_age: TimeDelta,
    pub burst_min_reports: usize,
    pub burst_created_within: TimeDelta,
    pub new_account: TimeDelta,
    pub finds_per_minute: u32,
    pub skips_per_minute: u32,
    pub match_requires_verified_phone: bool,
    pub quarantine_open_reports: usize,
}

/// What the rules know of an account: when it was made, whether its phone proved itself, whether it is banned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub created_at: DateTime<Utc>,
    pub phone_verified: bool,
    pub banned: bool,
}

/// Whether a reporter counts toward the automatic ban (and toward quarantine): their phone is verified, their
/// account is at least `min_account_age` old, and they are not banned themselves.
pub fn counts(reporter: &Account, now: DateTime<Utc>, rules: &Rules) -> bool {
    reporter.phone_verified && !reporter.banned && now - reporter.created_at >= rules.min_account_age
}

/// One report about a user, as the rules see it (made since their last clearance, not dismissed). The store keeps
/// one report per reporter and reported user, so each is a distinct reporter's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub reporter: Account,
    /// The keyed hash of the reporter's address range when they reported; `None` when it was not known.
    pub network: Option<Vec<u8>>,
    /// At least one verified evidence row. It proves who wrote a message, not that the message broke the rules:
    /// it orders the moderators' queue and weighs nothing here.
    pub has_evidence: bool,
    /// Not resolved by a moderator yet.
    pub open: bool,
    /// Filed for a reason of the child-safety lane ([`crate::domain::Lane::ChildSafety`]).
    pub child_safety: bool,
}

/// Why a user goes to human review instead of being banned: the reports that would ban are a burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// `burst_min_reports` counting reporters whose accounts were created within `burst_created_within`.
    BurstCreated,
    /// `burst_min_reports` counting reporters who reported from one address range.
    BurstNetwork,
}

impl Why {
    /// As stored (`users.review_reason`) and shown in the admin report queue.
    pub fn as_str(self) -> &'static str {
        match self {
            Why::BurstCreated => "burst_created",
            Why::BurstNetwork => "burst_network",
        }
    }
}

/// What the automatic ban does with one user's reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoBan {
    Ban,
    /// Not banned: a moderator looks first.
    Review(Why),
    /// Not enough yet.
    Wait,
}

/// The automatic ban's verdict. Each counting reporter counts once, with or without evidence. When
/// `threshold` of them have reported, the reports that belong to a burst (close creation times, one address range)
/// are set aside: if the rest still reach it, the user is banned (a burst cannot shield anyone either); otherwise
/// the burst is what made the count, and the user goes to a moderator.
pub fn verdict(reports: &[Report], now: DateTime<Utc>, rules: &Rules) -> AutoBan {
    let counting = counting(reports, now, rules);
    if counting.len() < rules.threshold as usize {
        return AutoBan::Wait;
    }
    let (created, network) = (burst_created(&counting, rules), burst_network(&counting, rules));
    let independent = (0..counting.len()).filter(|&i| !created[i] && !network[i]).count();
    if independent >= rules.threshold as usize {
        AutoBan::Ban
    } else if created.iter().any(|&b| b) {
        AutoBan::Review(Why::BurstCreated)
    } else {
        AutoBan::Review(Why::BurstNetwork)
    }
}

/// What the counting reports amount to: the automatic ban's statement of reasons states these facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counted {
    /// Distinct reporters whose reports count (one report per reporter and reported user).
    pub reporters: u32,
    /// Of their reports, those with verified evidence.
    pub with_evidence: u32,
}

/// The counting reports of `reports`, summed.
pub fn counted(reports: &[Report], now: DateTime<Utc>, rules: &Rules) -> Counted {
    counting(reports, now, rules).iter().fold(Counted::default(), |c, r| Counted {
        reporters: c.reporters + 1,
        with_evidence: c.with_evidence + u32::from(r.has_evidence),
    })
}

/// Whether a user waits in quarantine: `quarantine_open_reports` open reports from counting reporters, outside
/// any burst. The bursts are found as the automatic ban finds them (among all the counting reports, open or
/// actioned), so a wave of fresh accounts, or reporters behind one address range, quarantine no one either.
pub fn quarantined(reports: &[Report], now: DateTime<Utc>, rules: &Rules) -> bool {
    let counting = counting(reports, now, rules);
    let (created, network) = (burst_created(&counting, rules), burst_network(&counting, rules));
    let independent_open = (0..counting.len()).filter(|&i| counting[i].open && !created[i] && !network[i]).count();
    independent_open >= rules.quarantine_open_reports
}

/// Whether a user's video matching is held until a moderator decides (docs/admin.md "Child safety first"): an open
/// child-safety report from a reporter who counts, outside any burst. One such reporter is enough, because a child
/// may be in a call now; the bursts are found as quarantine finds them, and fresh, unverified or banned accounts
/// never count, so a brigade holds no one.
pub fn holds_video(reports: &[Report], now: DateTime<Utc>, rules: &Rules) -> bool {
    let counting = counting(reports, now, rules);
    let (created, network) = (burst_created(&counting, rules), burst_network(&counting, rules));
    (0..counting.len()).any(|i| counting[i].open && counting[i].child_safety && !created[i] && !network[i])
}

/// The reports whose reporters count.
fn counting<'a>(reports: &'a [Report], now: DateTime<Utc>, rules: &Rules) -> Vec<&'a Report> {
    reports.iter().filter(|r| counts(&r.reporter, now, rules)).collect()
}

/// Which of `reports` belong to a run of `burst_min_reports` whose accounts were all created within
/// `burst_created_within` of each other.
fn burst_created(reports: &[&Report], rules: &Rules) -> Vec<bool> {
    let mut order: Vec<usize> = (0..reports.len()).collect();
    order.sort_by_key(|&i| reports[i].reporter.created_at);
    let mut in_burst = vec![false; reports.len()];
    let mut start = 0;
    for end in 0..order.len() {
        let at = |k: usize| reports[order[k]].reporter.created_at;
        while at(end) - at(start) > rules.burst_created_within {
            start += 1;
        }
        if end + 1 - start >= rules.burst_min_reports {
            order[start..=end].iter().for_each(|&i| in_burst[i] = true);
        }
    }
    in_burst
}

/// Which of `reports` came from an address range `burst_min_reports` of them share.
fn burst_network(reports: &[&Report], rules: &Rules) -> Vec<bool> {
    let mut per_range: HashMap<&[u8], usize> = HashMap::new();
    for network in reports.iter().filter_map(|r| r.network.as_deref()) {
        *per_range.entry(network).or_default() += 1;
    }
    let crowded = |r: &&Report| r.network.as_deref().is_some_and(|n| per_range[n] >= rules.burst_min_reports);
    reports.iter().map(crowded).collect()
}

/// What an account is held to when it asks for matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `match.find`s and skips per minute; `None`: only the general limits.
    pub finds_per_minute: Option<u32>,
    pub skips_per_minute: Option<u32>,
    /// `match.find` is refused until the phone is verified.
    pub needs_verified_phone: bool,
}

/// A new account (younger than `new_account`) or one whose phone is not verified is limited in how often it finds
/// and skips: a throwaway account cannot churn through people. With `match_requires_verified_phone`, an
/// unverified one does not match at all.
pub fn limits(account: &Account, now: DateTime<Utc>, rules: &Rules) -> Limits {
    let limited = !account.phone_verified || now - account.created_at < rules.new_account;
    Limits {
        finds_per_minute: limited.then_some(rules.finds_per_minute),
        skips_per_minute: limited.then_some(rules.skips_per_minute),
        needs_verified_phone: rules.match_requires_verified_phone && !account.phone_verified,
    }
}

/// Whether a stranger's video is shown with caution (the longer blur of `match.found`'s `video_safety`): their
/// account is new, their phone unverified, or they are under review. The viewer learns only this one flag.
pub fn caution(account: &Account, under_review: bool, now: DateTime<Utc>, rules: &Rules) -> bool {
    under_review || !account.phone_verified || now - account.created_at < rules.new_account
}

/// The address range a report records (before hashing): the first three bytes of an IPv4 address (its /24), the
/// first six of an IPv6 one (its /48), after a tag byte so the two families never collide. An IPv4 address
/// written as IPv6 (`::ffff:a.b.c.d`) is the IPv4 one.
pub fn address_range(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(v4) => [&[4u8][..], &v4.octets()[..3]].concat(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => address_range(IpAddr::V4(v4)),
            None => [&[6u8][..], &v6.octets()[..6]].concat(),
        },
    }
}

#[cfg(test)]
#[path = "trust_tests.rs"]
pub(crate) mod tests;
