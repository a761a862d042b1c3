//! The brute-force rule, as a pure function over the failure times the store returns.

use chrono::{DateTime, TimeDelta, Utc};

/// Given the newest failures inside the window (newest first, at most `limit` of them), returns until
/// when further attempts are refused: the moment the oldest of those `limit` failures leaves the window.
/// `None` while fewer than `limit` failures are inside the window.
pub fn locked_until(failures_newest_first: &[DateTime<Utc>], limit: u32, window: TimeDelta) -> Option<DateTime<Utc>> {
    let limit = usize::try_from(limit).ok()?;
    if limit == 0 || failures_newest_first.len() < limit {
        return None;
    }
    Some(failures_newest_first[limit - 1] + window)
}

/// Whole seconds until `until`, at least one (a `Retry-After: 0` invites a hot loop).
pub fn seconds_until(until: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let millis = (until - now).num_milliseconds().max(0) as u64;
    millis.div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minute)
    }

    #[test]
    fn fewer_failures_than_the_limit_never_lock() {
        assert_eq!(locked_until(&[at(4), at(3), at(2), at(1)], 5, TimeDelta::minutes(15)), None);
    }

    #[test]
    fn the_limit_th_failure_locks_until_the_oldest_counted_one_leaves_the_window() {
        let failures = [at(5), at(4), at(3), at(2), at(1)];
        assert_eq!(locked_until(&failures, 5, TimeDelta::minutes(15)), Some(at(16)));
    }

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        let now = at(0);
        assert_eq!(seconds_until(now + TimeDelta::milliseconds(1500), now), 2);
        assert_eq!(seconds_until(now, now), 1);
        assert_eq!(seconds_until(now - TimeDelta::minutes(1), now), 1);
    }
}
