//! Who may be paired with whom, as pure functions over queue entries.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tanis_proto::MatchKind;

use crate::domain::UserId;

/// What the matchmaker knows about someone waiting.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Candidate {
    pub user_id: UserId,
    pub kind: MatchKind,
    /// Blocked either way, or matched recently: never paired with these.
    pub excluded: HashSet<UserId>,
    /// (lat, lon) when the user shared a location and asked for nearby partners.
    pub nearby: Option<(f64, f64)>,
    pub queued_at: DateTime<Utc>,
}

/// Tuning of the nearby preference.
#[derive(Debug, Clone, Copy)]
pub struct NearbyPolicy {
    pub start_km: f64,
    pub doubling_secs: u64,
}

/// Beyond this the radius covers the planet: anyone qualifies.
const EARTH_HALF_CIRCUMFERENCE_KM: f64 = 20_040.0;

impl NearbyPolicy {
    /// The radius after waiting `waited_secs`: `start_km`, doubling every `doubling_secs`.
    pub fn radius_km(&self, waited_secs: i64) -> f64 {
        let doublings = waited_secs.max(0) as f64 / self.doubling_secs.max(1) as f64;
        (self.start_km * doublings.exp2()).min(EARTH_HALF_CIRCUMFERENCE_KM)
    }
}

/// Great-circle distance in km.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1) = (a.0.to_radians(), a.1.to_radians());
    let (lat2, lon2) = (b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// Whether `a` and `b` may be paired now: same kind, not the same person, neither excludes the other, and,
/// when both asked for nearby partners, within the radius the longer wait has earned.
pub fn compatible(a: &Candidate, b: &Candidate, now: DateTime<Utc>, policy: NearbyPolicy) -> bool {
    if a.user_id == b.user_id || a.kind != b.kind {
        return false;
    }
    if a.excluded.contains(&b.user_id) || b.excluded.contains(&a.user_id) {
        return false;
    }
    match (a.nearby, b.nearby) {
        (Some(pa), Some(pb)) => {
            let waited = (now - a.queued_at.min(b.queued_at)).num_seconds();
            distance_km(pa, pb) <= policy.radius_km(waited)
        }
        _ => true,
    }
}

/// Picks `newcomer`'s partner among `waiting` (oldest first): the closest allowed one when the newcomer
/// wants nearby partners, else the one waiting longest. Returns its index.
pub fn pick_partner<'a>(
    newcomer: &Candidate,
    waiting: impl IntoIterator<Item = &'a Candidate>,
    now: DateTime<Utc>,
    policy: NearbyPolicy,
) -> Option<usize> {
    let mut allowed = waiting.into_iter().enumerate().filter(|(_, w)| compatible(newcomer, w, now, policy));
    match newcomer.nearby {
        None => allowed.next().map(|(i, _)| i),
        Some(here) => allowed
            .map(|(i, w)| (i, w.nearby.map_or(f64::INFINITY, |there| distance_km(here, there))))
            // min_by keeps the first of equals: among equally distant partners, the one waiting longest.
            .min_by(|x, y| x.1.total_cmp(&y.1))
            .map(|(i, _)| i),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: NearbyPolicy = NearbyPolicy { start_km: 5.0, doubling_secs: 10 };
    const ISTANBUL: (f64, f64) = (41.0082, 28.9784);
    const KADIKOY: (f64, f64) = (40.9901, 29.0290);
    const ANKARA: (f64, f64) = (39.9334, 32.8597);

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn candidate(user_id: i64, queued: i64) -> Candidate {
        Candidate {
            user_id: UserId(user_id),
            kind: MatchKind::Text,
            excluded: HashSet::new(),
            nearby: None,
            queued_at: t(queued),
        }
    }

    #[test]
    fn nobody_is_paired_with_themselves_or_across_kinds() {
        assert!(!compatible(&candidate(1, 0), &candidate(1, 0), t(0), POLICY));
        let video = Candidate { kind: MatchKind::Video, ..candidate(2, 0) };
        assert!(!compatible(&candidate(1, 0), &video, t(0), POLICY));
        assert!(compatible(&candidate(1, 0), &candidate(2, 0), t(0), POLICY));
    }

    #[test]
    fn an_exclusion_on_either_side_keeps_two_people_apart() {
        let mut a = candidate(1, 0);
        a.excluded.insert(UserId(2));
        assert!(!compatible(&a, &candidate(2, 0), t(0), POLICY));
        assert!(!compatible(&candidate(2, 0), &a, t(0), POLICY));
    }

    #[test]
    fn without_a_nearby_wish_the_longest_waiting_partner_comes_first() {
        let waiting = [candidate(2, 0), candidate(3, 5), candidate(4, 9)];
        assert_eq!(pick_partner(&candidate(1, 10), &waiting, t(10), POLICY), Some(0));
        let mut picky = candidate(1, 10);
        picky.excluded.insert(UserId(2));
        assert_eq!(pick_partner(&picky, &waiting, t(10), POLICY), Some(1));
    }

    #[test]
    fn nearby_seekers_prefer_the_closest_and_the_radius_widens_with_waiting() {
        let near = |id, at, queued| Candidate { nearby: Some(at), ..candidate(id, queued) };
        let waiting = [near(2, ANKARA, 0), near(3, KADIKOY, 0)];
        // Kadıköy is ~4.5 km from the centre: within the starting radius at once; Ankara (~350 km) is not yet.
        assert_eq!(pick_partner(&near(1, ISTANBUL, 0), &waiting, t(0), POLICY), Some(1));
        assert!(!compatible(&near(1, ISTANBUL, 0), &waiting[0], t(0), POLICY));
        // After 70 s the radius is 5 km × 2^7 = 640 km: Ankara qualifies.
        assert!(compatible(&near(1, ISTANBUL, 0), &waiting[0], t(70), POLICY));
        assert!((distance_km(ISTANBUL, ANKARA) - 350.0).abs() < 10.0);
    }

    #[test]
    fn the_radius_grows_until_it_covers_the_planet() {
        assert_eq!(POLICY.radius_km(0), 5.0);
        assert_eq!(POLICY.radius_km(10), 10.0);
        assert_eq!(POLICY.radius_km(100_000), EARTH_HALF_CIRCUMFERENCE_KM);
    }
}
