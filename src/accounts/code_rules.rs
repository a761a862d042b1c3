//! The rules of one-time codes, as plain functions over what the store returns: what a code is, how long it
//! lives, how many guesses it takes, when another may be sent, and what a guess comes to. No I/O here
//! (`phone_codes` gathers the data and applies the verdicts).

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use rand::Rng;

use super::throttle::locked_until;
use crate::config::SmsConfig;
use crate::store::{CodeRow, RecentRequests};

/// Minutes a code lives. Fixed, not configured: the text the person receives says it (issue 15).
pub const VALID_MINUTES: u32 = 5;
/// Guesses one code takes; after that it is dead and the person asks for another.
pub const MAX_ATTEMPTS: i32 = 5;
/// Codes of a user and purpose read back when a guess is checked: the newest works, the rest are recognised as
/// superseded rather than counted as wrong guesses (more than the hourly limit per phone sends).
pub const RECENT_CODES: i64 = 10;

/// The window the hourly limits count in.
pub fn limit_window() -> TimeDelta {
    TimeDelta::hours(1)
}

pub fn lifetime() -> TimeDelta {
    TimeDelta::minutes(VALID_MINUTES.into())
}

/// Six decimal digits, leading zeros included.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeCode(String);

impl OneTimeCode {
    /// A fresh code from the thread's CSPRNG (ChaCha, seeded from the operating system).
    pub fn generate() -> Self {
        Self(format!("{:06}", rand::rng().random_range(0..1_000_000u32)))
    }

    /// What a person typed: six digits, spaces around them tolerated. `None` for anything else.
    pub fn parse(input: &str) -> Option<Self> {
        let code = input.trim();
        (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit())).then(|| Self(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A code is as good as a password for a few minutes: it stays out of logs and panics.
impl fmt::Debug for OneTimeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeCode(******)")
    }
}

/// The resend limits, from `[sms]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub min_interval: TimeDelta,
    pub per_phone_per_hour: u32,
    pub per_ip_per_hour: u32,
}

impl From<&SmsConfig> for Limits {
    fn from(c: &SmsConfig) -> Self {
        Self {
            min_interval: TimeDelta::seconds(i64::try_from(c.min_interval_secs).unwrap_or(i64::MAX / 1000)),
            per_phone_per_hour: c.max_per_phone_per_hour,
            per_ip_per_hour: c.max_per_ip_per_hour,
        }
    }
}

/// Until when another code must not be sent, given the earlier requests in the window (refused ones excluded):
/// the minimum interval since the last code that went out, and the hourly limits per phone and per address.
/// `None`: send it.
pub fn refused_until(recent: &RecentRequests, limits: &Limits, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let window = limit_window();
    let last_sent = recent.to_phone.iter().find(|(_, failed)| !failed).map(|(at, _)| *at);
    let too_soon = last_sent.map(|at| at + limits.min_interval).filter(|until| *until > now);
    let to_phone: Vec<DateTime<Utc>> = recent.to_phone.iter().map(|(at, _)| *at).collect();
    let per_phone = locked_until(&to_phone, limits.per_phone_per_hour, window);
    let per_ip = locked_until(&recent.from_ip, limits.per_ip_per_hour, window);
    [too_soon, per_phone, per_ip].into_iter().flatten().max()
}

/// Which of the user's latest codes (newest first) a guess is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Match {
    /// The newest code: the only one that can work.
    Newest,
    /// An older one, superseded by a newer code.
    Older,
    None,
}

/// What a guess comes to before any guess is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Right: spend a guess (the limit holds for right guesses too), then use the code.
    Right,
    /// Wrong: spend a guess; the guesses left decide the answer.
    Wrong,
    /// No usable code: expired, used, superseded, failed to send, or never asked for. Spends nothing.
    Expired,
    /// The code's guesses are spent: it is dead. Spends nothing.
    Exhausted,
}

pub fn judge(newest: Option<&CodeRow>, matched: Match, now: DateTime<Utc>) -> Verdict {
    let Some(code) = newest else { return Verdict::Expired };
    if matched == Match::Older || code.outcome != "sent" || code.consumed_at.is_some() || code.expires_at <= now {
        return Verdict::Expired;
    }
    if code.attempts >= MAX_ATTEMPTS {
        return Verdict::Exhausted;
    }
    match matched {
        Match::Newest => Verdict::Right,
        Match::Older | Match::None => Verdict::Wrong,
    }
}

/// Guesses a code has left once `spent` are spent.
pub fn attempts_left(spent: i32) -> u32 {
    u32::try_from(MAX_ATTEMPTS - spent).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::seconds(second)
    }

    fn limits() -> Limits {
        Limits { min_interval: TimeDelta::seconds(60), per_phone_per_hour: 3, per_ip_per_hour: 4 }
    }

    fn code(expires_at: DateTime<Utc>, attempts: i32) -> CodeRow {
        CodeRow {
            id: 1,
            phone_sealed: vec![],
            phone_index: vec![0; 32],
            code_hash: vec![0; 32],
            outcome: "sent".into(),
            expires_at,
            attempts,
            consumed_at: None,
        }
    }

    #[test]
    fn codes_are_six_digits_and_only_six_digits_are_accepted() {
        for _ in 0..100 {
            let code = OneTimeCode::generate();
            assert!(OneTimeCode::parse(code.as_str()).is_some(), "{}", code.as_str());
        }
        assert_eq!(OneTimeCode::parse(" 004217 ").unwrap().as_str(), "004217");
        for bad in ["", "12345", "1234567", "12 456", "12345a", "１２３４５６"] {
            assert!(OneTimeCode::parse(bad).is_none(), "{bad:?}");
        }
        assert!(!format!("{:?}", OneTimeCode::parse("123456").unwrap()).contains("123456"));
    }

    #[test]
    fn a_code_may_follow_the_last_one_sent_after_the_interval_and_a_failed_send_holds_nothing_off() {
        let now = at(100);
        let sent = RecentRequests { to_phone: vec![(at(70), false)], from_ip: vec![at(70)] };
        assert_eq!(refused_until(&sent, &limits(), now), Some(at(130)));
        assert_eq!(refused_until(&sent, &limits(), at(130)), None);
        let failed = RecentRequests { to_phone: vec![(at(70), true)], from_ip: vec![at(70)] };
        assert_eq!(refused_until(&failed, &limits(), now), None);
    }

    #[test]
    fn the_hourly_limits_hold_until_the_oldest_counted_request_leaves_the_hour() {
        let now = at(4000);
        let phone =
            RecentRequests { to_phone: vec![(at(3000), true), (at(2000), false), (at(1000), false)], from_ip: vec![] };
        assert_eq!(refused_until(&phone, &limits(), now), Some(at(1000 + 3600)));
        let ip = RecentRequests { to_phone: vec![], from_ip: vec![at(3900), at(3000), at(2000), at(1000)] };
        assert_eq!(refused_until(&ip, &limits(), now), Some(at(4600)));
        assert_eq!(refused_until(&RecentRequests::default(), &limits(), now), None);
    }

    #[test]
    fn only_the_newest_live_code_can_be_right() {
        let now = at(0);
        let live = code(at(300), 0);
        assert_eq!(judge(Some(&live), Match::Newest, now), Verdict::Right);
        assert_eq!(judge(Some(&live), Match::None, now), Verdict::Wrong);
        assert_eq!(judge(Some(&live), Match::Older, now), Verdict::Expired, "superseded");
        assert_eq!(judge(None, Match::None, now), Verdict::Expired, "never asked for");
        assert_eq!(judge(Some(&code(at(0), 0)), Match::Newest, now), Verdict::Expired, "expired");
        let used = CodeRow { consumed_at: Some(now), ..live.clone() };
        assert_eq!(judge(Some(&used), Match::Newest, now), Verdict::Expired, "a code works once");
        let failed = CodeRow { outcome: "failed".into(), ..live.clone() };
        assert_eq!(judge(Some(&failed), Match::Newest, now), Verdict::Expired, "never delivered");
        let dead = code(at(300), MAX_ATTEMPTS);
        assert_eq!(judge(Some(&dead), Match::Newest, now), Verdict::Exhausted);
        assert_eq!((attempts_left(1), attempts_left(5), attempts_left(6)), (4, 0, 0));
    }
}
