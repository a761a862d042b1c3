//! Daily quota policy: when units come back, and whether a balance can pay for a match.

use chrono::{DateTime, Days, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::store::UserRow;
use tanis_proto::{Balances, MatchKind};

/// The next local midnight in `zone` after `now`: when daily units are reset. A midnight that does not
/// exist locally (a DST jump at 00:00) resolves to the first instant after it.
pub fn next_reset(now: DateTime<Utc>, zone: Tz) -> DateTime<Utc> {
    let local_date = now.with_timezone(&zone).date_naive();
    let next_day = local_date.checked_add_days(Days::new(1)).expect("dates far from the end of time");
    let midnight = next_day.and_time(NaiveTime::MIN);
    match zone.from_local_datetime(&midnight) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        chrono::LocalResult::None => zone
            .from_local_datetime(&(midnight + chrono::TimeDelta::hours(1)))
            .earliest()
            .expect("an hour later exists")
            .with_timezone(&Utc),
    }
}

/// Whether the user has a unit of `kind` to spend (daily first, then bonus).
pub fn can_pay(user: &UserRow, kind: MatchKind) -> bool {
    match kind {
        MatchKind::Text => user.daily_chat_balance > 0 || user.bonus_chat_balance > 0,
        MatchKind::Video => user.daily_video_balance > 0 || user.bonus_video_balance > 0,
    }
}

pub fn balances(user: &UserRow) -> Balances {
    Balances {
        daily_text: user.daily_chat_balance,
        daily_video: user.daily_video_balance,
        bonus_text: user.bonus_chat_balance,
        bonus_video: user.bonus_video_balance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn istanbul_resets_at_its_own_midnight_while_the_clock_runs_in_utc() {
        // 20:59 UTC is 23:59 in Istanbul (UTC+3): the reset is one minute away, at 21:00 UTC.
        assert_eq!(next_reset(utc("2026-11-21T20:59:00Z"), chrono_tz::Europe::Istanbul), utc("2026-11-21T21:00:00Z"));
        // 21:00 UTC is already the new day there: the next reset is a full day later.
        assert_eq!(next_reset(utc("2026-11-21T21:00:00Z"), chrono_tz::Europe::Istanbul), utc("2026-11-22T21:00:00Z"));
    }

    #[test]
    fn a_zone_without_midnight_on_a_dst_day_resets_at_the_first_instant_after_it() {
        // Santiago skipped from 00:00 to 01:00 on 2026-09-06.
        let reset = next_reset(utc("2026-09-05T12:00:00Z"), chrono_tz::America::Santiago);
        assert_eq!(reset, utc("2026-09-06T04:00:00Z"));
    }
}
