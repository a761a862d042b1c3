//! Who may be paired with whom, as pure functions over queue entries.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tanis_proto::{InterestMatching, MatchKind};

use crate::domain::{Interests, Languages, UserId};

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
    /// The profile's topics, and whether this find matches on them. Absent in a queue entry written by an older
    /// node: none, off.
    #[serde(default)]
    pub interests: Interests,
    #[serde(default)]
    pub interest_matching: InterestMatching,
    /// The languages the user chose (`PATCH /v1/me`); empty when they never chose (or in an entry queued by an
    /// older node): then no one is refused for language. Only two people who both said what they speak and share
    /// nothing are kept apart.
    #[serde(default)]
    pub languages: Languages,
}

/// The matchmaker's settings (`matching.*`).
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// "Nearby" starts with this radius…
    pub start_km: f64,
    /// …doubling every this many seconds of waiting.
    pub doubling_secs: u64,
    /// How long `interests: "prefer"` waits for someone sharing an interest.
    pub interest_fallback_secs: u64,
    /// Never pair two people with no language in common.
    pub common_language: bool,
}

/// Beyond this the radius covers the planet: anyone qualifies.
const EARTH_HALF_CIRCUMFERENCE_KM: f64 = 20_040.0;

impl Policy {
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

impl Candidate {
    /// Whether this side still insists on sharing an interest: always with `only`, and with `prefer` until the
    /// fallback wait is over.
    fn wants_shared_interest(&self, now: DateTime<Utc>, policy: Policy) -> bool {
        match self.interest_matching {
            InterestMatching::Off => false,
            InterestMatching::Only => true,
            InterestMatching::Prefer => (now - self.queued_at).num_seconds() < policy.interest_fallback_secs as i64,
        }
    }
}

/// Whether `a` and `b` may be paired now: same kind, not the same person, neither excludes the other, a language
/// in common (unless the policy allows none), a shared interest for whoever still insists on one, and, when both
/// asked for nearby partners, within the radius the longer wait has earned.
pub fn compatible(a: &Candidate, b: &Candidate, now: DateTime<Utc>, policy: Policy) -> bool {
    if a.user_id == b.user_id || a.kind != b.kind {
        return false;
    }
    if a.excluded.contains(&b.user_id) || b.excluded.contains(&a.user_id) {
        return false;
    }
    // Empty: never chosen (the notification language is no promise: a browser sets it from its own language).
    let known = !a.languages.is_empty() && !b.languages.is_empty();
    if policy.common_language && known && a.languages.shared(b.languages).is_empty() {
        return false;
    }
    if a.interests.shared(b.interests).is_empty()
        && (a.wants_shared_interest(now, policy) || b.wants_shared_interest(now, policy))
    {
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

/// Picks `newcomer`'s partner among `waiting` (oldest first). Among the allowed ones: the one sharing the most
/// interests when the newcomer matches on interests, then the closest when they want nearby partners, then the
/// one waiting longest. Returns its index.
pub fn pick_partner<'a>(
    newcomer: &Candidate,
    waiting: impl IntoIterator<Item = &'a Candidate>,
    now: DateTime<Utc>,
    policy: Policy,
) -> Option<usize> {
    let by_interest = newcomer.interest_matching != InterestMatching::Off;
    let allowed = waiting.into_iter().enumerate().filter(|(_, w)| compatible(newcomer, w, now, policy));
    if !by_interest && newcomer.nearby.is_none() {
        return allowed.map(|(i, _)| i).next();
    }
    allowed
        .map(|(i, w)| {
            let shared = if by_interest { newcomer.interests.shared(w.interests).len() } else { 0 };
            let distance = match (newcomer.nearby, w.nearby) {
                (Some(here), Some(there)) => distance_km(here, there),
                (Some(_), None) => f64::INFINITY,
                (None, _) => 0.0,
            };
            (i, shared, distance)
        })
        // min_by keeps the first of equals: among equal partners, the one waiting longest.
        .min_by(|x, y| y.1.cmp(&x.1).then(x.2.total_cmp(&y.2)))
        .map(|(i, _, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy =
        Policy { start_km: 5.0, doubling_secs: 10, interest_fallback_secs: 10, common_language: true };
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
            interests: Interests::default(),
            interest_matching: InterestMatching::Off,
            languages: Languages::only("tr"),
        }
    }

    fn with_interests(user_id: i64, queued: i64, mode: InterestMatching, ids: &[&str]) -> Candidate {
        Candidate { interests: Interests::parse(ids).unwrap(), interest_matching: mode, ..candidate(user_id, queued) }
    }

    #[test]
    fn two_people_with_no_language_in_common_are_never_paired_unless_the_policy_allows_it() {
        let german = Candidate { languages: Languages::parse(&["de"]).unwrap(), ..candidate(2, 0) };
        let both = Candidate { languages: Languages::parse(&["de", "tr"]).unwrap(), ..candidate(3, 0) };
        assert!(!compatible(&candidate(1, 0), &german, t(0), POLICY));
        assert!(!compatible(&candidate(1, 0), &german, t(3600), POLICY), "however long they wait");
        assert!(compatible(&candidate(1, 0), &both, t(0), POLICY));
        let relaxed = Policy { common_language: false, ..POLICY };
        assert!(compatible(&candidate(1, 0), &german, t(0), relaxed));
        let never_chose = Candidate { languages: Languages::default(), ..candidate(4, 0) };
        assert!(compatible(&never_chose, &german, t(0), POLICY), "only two who both chose are kept apart");
    }

    #[test]
    fn the_waiter_sharing_the_most_interests_comes_first_and_the_longest_waiting_among_equals() {
        use InterestMatching::*;
        let waiting = [
            with_interests(2, 0, Off, &["music"]),
            with_interests(3, 1, Off, &["music", "chess"]),
            with_interests(4, 2, Off, &["chess", "music"]),
            with_interests(5, 3, Off, &["cats"]),
        ];
        let newcomer = with_interests(1, 5, Prefer, &["music", "chess", "dogs"]);
        assert_eq!(pick_partner(&newcomer, &waiting, t(5), POLICY), Some(1), "two shared, and waiting longer than 4");
        let plain = with_interests(1, 5, Off, &["music", "chess"]);
        assert_eq!(pick_partner(&plain, &waiting, t(5), POLICY), Some(0), "interests off: the longest waiting");
    }

    #[test]
    fn prefer_waits_for_a_shared_interest_until_the_fallback_and_only_waits_for_ever() {
        use InterestMatching::*;
        let stranger = [with_interests(2, 0, Off, &["cats"])];
        let prefer = with_interests(1, 0, Prefer, &["music"]);
        assert_eq!(pick_partner(&prefer, &stranger, t(9), POLICY), None, "9 s: still waiting for music");
        assert_eq!(pick_partner(&prefer, &stranger, t(10), POLICY), Some(0), "10 s: anyone");
        let only = with_interests(1, 0, Only, &["music"]);
        assert_eq!(pick_partner(&only, &stranger, t(3600), POLICY), None);
        // The rule binds the waiter too: a newcomer matching on nothing is not given to someone who insists.
        let waiting_only = [with_interests(2, 0, Only, &["music"])];
        assert_eq!(pick_partner(&candidate(1, 5), &waiting_only, t(5), POLICY), None);
        let waiting_prefer = [with_interests(2, 0, Prefer, &["music"])];
        assert_eq!(pick_partner(&candidate(1, 5), &waiting_prefer, t(5), POLICY), None);
        assert_eq!(pick_partner(&candidate(1, 5), &waiting_prefer, t(10), POLICY), Some(0));
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
