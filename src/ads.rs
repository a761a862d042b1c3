//! Ads: who an ad is for (its `target_group`), and showing one to a free user between matches. Premium users never
//! get ads; a free user gets at most one after a `match.ended`, and none again until `ads.min_interval_secs` has
//! passed (counted on the node holding their socket).
//!
//! `target_group` is one of:
//! - `all`: every free user;
//! - `new`: free users in their first seven days;
//! - `near:<lat>,<lon>,<km>`: free users whose profile location is within `km` (1–2000) of the point; users
//!   without a location never match it.

use chrono::{DateTime, TimeDelta, Utc};

/// Who an ad is for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    All,
    New,
    Near { lat: f64, lon: f64, km: f64 },
}

/// How young an account is to count as `new`.
pub const NEW_FOR: TimeDelta = TimeDelta::days(7);

impl Target {
    /// Parses the vocabulary above; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "all" => Some(Target::All),
            "new" => Some(Target::New),
            _ => {
                let rest = s.strip_prefix("near:")?;
                let parts: Vec<f64> = rest.split(',').map(|p| p.trim().parse::<f64>().ok()).collect::<Option<_>>()?;
                let [lat, lon, km] = parts[..] else { return None };
                let valid = lat.is_finite()
                    && lon.is_finite()
                    && (-90.0..=90.0).contains(&lat)
                    && (-180.0..=180.0).contains(&lon)
                    && (1.0..=2000.0).contains(&km);
                valid.then_some(Target::Near { lat, lon, km })
            }
        }
    }

    /// Whether a free user with this account age and location is in the group.
    pub fn includes(&self, created_at: DateTime<Utc>, location: Option<(f64, f64)>, now: DateTime<Utc>) -> bool {
        match *self {
            Target::All => true,
            Target::New => now - created_at < NEW_FOR,
            Target::Near { lat, lon, km } => {
                location.is_some_and(|(ulat, ulon)| crate::domain::distance_km((lat, lon), (ulat, ulon)) <= km)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn the_vocabulary_parses_and_nothing_else_does() {
        assert_eq!(Target::parse("all"), Some(Target::All));
        assert_eq!(Target::parse("new"), Some(Target::New));
        assert_eq!(Target::parse("near:41.01,28.97,50"), Some(Target::Near { lat: 41.01, lon: 28.97, km: 50.0 }));
        for bad in [
            "",
            "ALL",
            "premium",
            "near:",
            "near:41,28",
            "near:91,28,50",
            "near:41,181,50",
            "near:41,28,0",
            "near:41,28,2001",
            "near:NaN,28,5",
            "near:41,28,5,6",
        ] {
            assert_eq!(Target::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn groups_include_by_account_age_and_distance() {
        let now = at("2026-11-23T12:00:00Z");
        assert!(Target::New.includes(at("2026-11-17T12:00:01Z"), None, now));
        assert!(!Target::New.includes(at("2026-11-16T12:00:00Z"), None, now), "seven days old is not new");
        let istanbul = Target::parse("near:41.01,28.97,50").unwrap();
        let joined = at("2020-01-01T00:00:00Z");
        assert!(istanbul.includes(joined, Some((41.04, 29.01)), now), "Kadıköy is near");
        assert!(!istanbul.includes(joined, Some((39.93, 32.86)), now), "Ankara is not");
        assert!(!istanbul.includes(joined, None, now), "no location, no regional ad");
        assert!(Target::All.includes(joined, None, now));
    }
}
