//! The rules of a user's data export (`GET /v1/me/export`, `POST /v1/ban/export`): how often one may be made,
//! how long each section may be, and what of a push token it shows. Reading the sections and answering are the
//! API's; this module holds no I/O.
//!
//! Bounds: each section holds at most [`SECTION_LIMIT`] rows, newest first (the document names the sections cut
//! short), and one user gets one export per [`COOLDOWN_SECS`] per node: an export is a dozen reads, cheap once
//! and not meant to be polled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::domain::UserId;

/// Most rows per section. Generous: a year of heavy daily use stays under it; beyond it the newest are kept.
pub const SECTION_LIMIT: usize = 10_000;

/// Seconds before the same user may export again (from the same node).
pub const COOLDOWN_SECS: i64 = 60;

/// Seconds to wait before exporting again, after an export at `last`; `None`: now is fine. Never 0 while waiting
/// (a `Retry-After: 0` would invite an immediate retry that is refused again).
pub fn cooldown_left(last: DateTime<Utc>, now: DateTime<Utc>) -> Option<u64> {
    let next = last + TimeDelta::seconds(COOLDOWN_SECS);
    (now < next).then(|| u64::try_from((next - now).num_seconds().max(1)).unwrap_or(1))
}

/// When each user last exported, on this node. Entries past the cooldown are dropped at every export, so the
/// map holds at most the users who exported in the last minute. Never held across an `.await`.
#[derive(Clone, Default)]
pub struct ExportCooldown(Arc<Mutex<HashMap<UserId, DateTime<Utc>>>>);

impl ExportCooldown {
    /// Takes the user's slot, or answers how many seconds remain until they may export again.
    pub fn take(&self, user_id: UserId, now: DateTime<Utc>) -> Result<(), u64> {
        let mut last = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        last.retain(|_, at| cooldown_left(*at, now).is_some());
        if let Some(wait) = last.get(&user_id).and_then(|at| cooldown_left(*at, now)) {
            return Err(wait);
        }
        last.insert(user_id, now);
        Ok(())
    }
}

/// One export's sections as they are bounded: each keeps at most [`SECTION_LIMIT`] rows, the newest (the store
/// reads newest first), and those cut short are named in the document's `truncated`.
#[derive(Debug, Default)]
pub struct Sections {
    truncated: Vec<String>,
}

impl Sections {
    /// How many rows to read for a section: one past the limit tells a full section from a cut one.
    pub const FETCH: i64 = SECTION_LIMIT as i64 + 1;

    /// `rows` with at most [`SECTION_LIMIT`] kept; a section cut short is remembered by `name`.
    pub fn keep<T>(&mut self, name: &str, mut rows: Vec<T>) -> Vec<T> {
        if rows.len() > SECTION_LIMIT {
            rows.truncate(SECTION_LIMIT);
            self.truncated.push(name.to_owned());
        }
        rows
    }

    /// The sections cut short, in the order they were kept.
    pub fn truncated(self) -> Vec<String> {
        self.truncated
    }
}

/// A push token as the export shows it: its last four characters after an ellipsis, enough to recognise the
/// device and useless to send to it; a token of four or fewer is hidden whole.
pub fn masked_push_token(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    match chars.len() {
        0..=4 => "…".to_owned(),
        n => format!("…{}", chars[n - 4..].iter().collect::<String>()),
    }
}

/// The document's file name: `tanis-export-<handle>-<date>.json`, the handle with ASCII letters and digits
/// kept and everything else `_` (`#` becomes `-`), so it is safe in a header.
pub fn file_name(handle: &str, day: NaiveDate) -> String {
    let handle: String = handle
        .chars()
        .map(|c| match c {
            '#' => '-',
            c if c.is_ascii_alphanumeric() => c,
            _ => '_',
        })
        .collect();
    format!("tanis-export-{handle}-{}.json", day.format("%Y-%m-%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_push_token_shows_only_its_last_four_characters() {
        assert_eq!(masked_push_token("abcdefgh1234"), "…1234");
        assert_eq!(masked_push_token("abcde"), "…bcde");
        assert_eq!(masked_push_token("abcd"), "…");
        assert_eq!(masked_push_token(""), "…");
    }

    #[test]
    fn a_handle_becomes_an_ascii_file_name() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        assert_eq!(file_name("kediadam#9021", day), "tanis-export-kediadam-9021-2026-11-21.json");
        assert_eq!(file_name("çiçek \"x\"#0001", day), "tanis-export-_i_ek__x_-0001-2026-11-21.json");
    }

    #[test]
    fn the_cooldown_ends_exactly_a_minute_after_the_export_and_never_asks_to_wait_zero_seconds() {
        let t = at("2026-11-21T09:30:00Z");
        assert_eq!(cooldown_left(t, t), Some(60));
        assert_eq!(cooldown_left(t, t + TimeDelta::seconds(15)), Some(45));
        assert_eq!(cooldown_left(t, t + TimeDelta::milliseconds(59_500)), Some(1), "rounded up to a second");
        assert_eq!(cooldown_left(t, t + TimeDelta::seconds(COOLDOWN_SECS)), None);
        assert_eq!(cooldown_left(t, t + TimeDelta::seconds(COOLDOWN_SECS + 1)), None);
    }

    #[test]
    fn a_second_export_within_the_cooldown_is_refused_with_the_wait() {
        let last = ExportCooldown::default();
        let t = at("2026-11-21T09:30:00Z");
        assert_eq!(last.take(UserId(1), t), Ok(()));
        assert_eq!(last.take(UserId(1), t + TimeDelta::seconds(15)), Err(45));
        assert_eq!(last.take(UserId(2), t + TimeDelta::seconds(15)), Ok(()), "per user");
        assert_eq!(last.take(UserId(1), t + TimeDelta::seconds(COOLDOWN_SECS)), Ok(()));
    }

    #[test]
    fn a_section_past_the_limit_keeps_its_first_rows_and_is_named() {
        let mut sections = Sections::default();
        let full = sections.keep("matches", vec![0; SECTION_LIMIT]);
        assert_eq!(full.len(), SECTION_LIMIT, "exactly the limit is not cut");
        let rows: Vec<usize> = (0..Sections::FETCH as usize).collect();
        let cut = sections.keep("bans", rows);
        assert_eq!((cut.len(), cut[SECTION_LIMIT - 1]), (SECTION_LIMIT, SECTION_LIMIT - 1));
        assert_eq!(sections.truncated(), ["bans"]);
    }
}
