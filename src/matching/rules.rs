//! Who may be paired with whom, as pure functions over queue entries.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tanis_proto::{Gender, InterestMatching, MatchKind, PreferenceMode, Region, Seeking};

use crate::domain::{Country, Interests, Languages, UserId, distance_km};

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
    /// Whom this find is restricted to (premium; checked by the find): anyone, the own country, or a radius around
    /// the stored location. Binds both roles, and never widens with waiting.
    #[serde(default)]
    pub region: Region,
    /// The account's country and stored location, whatever this find asked: what the *other* side's region
    /// restriction is checked against. Unknown (absent in an older node's entry): refused by any restriction.
    #[serde(default)]
    pub country: Option<Country>,
    #[serde(default)]
    pub location: Option<(f64, f64)>,
    /// Under several open reports from counting reporters (docs/admin.md "Trust"): paired only with others
    /// like them until a moderator resolves the reports. Absent in an older node's entry: not quarantined.
    #[serde(default)]
    pub quarantined: bool,
    /// The declared gender, while its owner consents to its use in matching: what the other side's `seeking` is
    /// checked against. `None` (not said, withdrawn): met only by those who ask for anyone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<Gender>,
    /// Whom this find wants to meet by declared gender (premium; checked by the find). Lives only here, in the
    /// queue's entry, never in a table or a log (docs/privacy.md "Gender"). Binds both roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeking: Option<GenderWish>,
}

/// A find's `seeking` as the matchmaker holds it: a set of declared genders, and whether it falls back to anyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GenderWish {
    /// One bit per [`Gender::ALL`] entry.
    genders: u8,
    mode: PreferenceMode,
}

impl GenderWish {
    /// Whether the wish falls back to anyone after the wait (`prefer`), rather than binding (`only`).
    pub fn prefers(self) -> bool {
        self.mode == PreferenceMode::Prefer
    }

    /// The wish a `seeking` asks for; `None` when it names no gender or one twice (`invalid_field`).
    pub fn parse(seeking: &Seeking) -> Option<Self> {
        let mut genders = 0u8;
        for gender in &seeking.genders {
            let bit = Self::bit(*gender);
            if genders & bit != 0 {
                return None;
            }
            genders |= bit;
        }
        (genders != 0).then_some(GenderWish { genders, mode: seeking.mode })
    }

    fn bit(gender: Gender) -> u8 {
        1 << Gender::ALL.iter().position(|g| *g == gender).expect("every gender is in ALL")
    }

    /// Whether someone who declared `gender` is among the genders asked for; one who declared none never is.
    fn includes(self, gender: Option<Gender>) -> bool {
        gender.is_some_and(|g| self.genders & Self::bit(g) != 0)
    }
}

/// Why a `region` may not be asked for. The find checks it before queueing; [`compatible`] then holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionRefusal {
    /// A radius of 0 or past [`MAX_RADIUS_KM`].
    RadiusOutOfRange,
    /// Any restriction by an account that is not premium.
    PremiumRequired,
    /// A radius with no stored location to draw it around.
    LocationRequired,
    /// The own country, but it is not known (an account made before it was kept, until its next sign-in).
    CountryUnknown,
}

/// The widest radius a find may ask for: about half the Earth's circumference, beyond which it means anywhere.
pub const MAX_RADIUS_KM: u32 = 20_000;

/// Whether an account may restrict its find to `region`: what is asked must make sense first, then whether this
/// account may ask it.
pub fn region_refusal(
    region: Region,
    premium: bool,
    country: Option<Country>,
    location: Option<(f64, f64)>,
) -> Option<RegionRefusal> {
    match region {
        Region::Anywhere => None,
        Region::RadiusKm(km) if !(1..=MAX_RADIUS_KM).contains(&km) => Some(RegionRefusal::RadiusOutOfRange),
        _ if !premium => Some(RegionRefusal::PremiumRequired),
        Region::RadiusKm(_) if location.is_none() => Some(RegionRefusal::LocationRequired),
        Region::Country if country.is_none() => Some(RegionRefusal::CountryUnknown),
        Region::Country | Region::RadiusKm(_) => None,
    }
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
    /// How long `seeking` with `mode: "prefer"` waits for someone of a gender asked for.
    pub gender_fallback_secs: u64,
    /// Never pair two people with no language in common.
    pub common_language: bool,
}

#[cfg(test)]
impl Policy {
    /// The settings the matchmaker's unit tests and the simulation run with: short waits, a common language.
    pub(crate) fn of_tests() -> Self {
        Policy {
            start_km: 5.0,
            doubling_secs: 10,
            interest_fallback_secs: 10,
            gender_fallback_secs: 30,
            common_language: true,
        }
    }
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

impl Candidate {
    /// Whether this side's region restriction lets `other` in: the same known country, or a known location within
    /// the radius. Unknown is refused.
    fn region_admits(&self, other: &Candidate) -> bool {
        match self.region {
            Region::Anywhere => true,
            Region::Country => self.country.is_some() && self.country == other.country,
            Region::RadiusKm(km) => match (self.location, other.location) {
                (Some(here), Some(there)) => distance_km(here, there) <= f64::from(km),
                _ => false,
            },
        }
    }

    /// How long this side insists on sharing an interest: the one place that says so, for the pairing and for
    /// whether the queue needs sweeping as people wait.
    fn interest_wait(&self) -> InterestWait {
        match self.interest_matching {
            InterestMatching::Off => InterestWait::Never,
            InterestMatching::Only => InterestWait::Always,
            InterestMatching::Prefer => InterestWait::UntilFallback,
        }
    }

    /// Whether this side still insists on sharing an interest: always with `only`, and with `prefer` until the
    /// fallback wait is over.
    fn wants_shared_interest(&self, now: DateTime<Utc>, policy: Policy) -> bool {
        match self.interest_wait() {
            InterestWait::Never => false,
            InterestWait::Always => true,
            InterestWait::UntilFallback => (now - self.queued_at).num_seconds() < policy.interest_fallback_secs as i64,
        }
    }

    /// Whether waiting longer may make someone compatible with this side: a nearby radius grows, an interest or
    /// gender preference falls back to anyone. A region restriction never widens, nor does `seeking` with `only`.
    /// Only then does the queue need sweeping.
    pub fn relaxes_with_waiting(&self) -> bool {
        self.nearby.is_some()
            || self.interest_wait() == InterestWait::UntilFallback
            || self.seeking.is_some_and(|w| w.mode == PreferenceMode::Prefer)
    }

    /// Whether this side picks the best of the compatible waiters (a gender asked for, most interests shared,
    /// nearest) rather than the one waiting longest: it is shown everyone waiting in the cluster, not only a
    /// node's own waiters.
    pub fn ranks_partners(&self) -> bool {
        self.interest_matching != InterestMatching::Off || self.nearby.is_some() || self.seeking.is_some()
    }

    /// Whether this side's `seeking` lets `other` in: no wish, a gender asked for, or a `prefer` wish whose
    /// fallback wait is over.
    fn gender_admits(&self, other: &Candidate, now: DateTime<Utc>, policy: Policy) -> bool {
        match self.seeking {
            None => true,
            Some(wish) if wish.includes(other.gender) => true,
            Some(wish) => {
                wish.mode == PreferenceMode::Prefer
                    && (now - self.queued_at).num_seconds() >= policy.gender_fallback_secs as i64
            }
        }
    }
}

/// How long a side insists on sharing an interest with its partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InterestWait {
    Never,
    Always,
    /// Until it waited `interest_fallback_secs`.
    UntilFallback,
}

/// Whether `a` and `b` may be paired now: same kind, not the same person, neither excludes the other, each inside
/// the other's region restriction, a language in common (unless the policy allows none), a shared interest for
/// whoever still insists on one, and, when both asked for nearby partners, within the radius the longer wait has
/// earned.
pub fn compatible(a: &Candidate, b: &Candidate, now: DateTime<Utc>, policy: Policy) -> bool {
    if a.user_id == b.user_id || a.kind != b.kind {
        return false;
    }
    if a.excluded.contains(&b.user_id) || b.excluded.contains(&a.user_id) {
        return false;
    }
    // Both roles alike: a quarantined user waits for another, a clean one never meets them.
    if a.quarantined != b.quarantined {
        return false;
    }
    if !a.region_admits(b) || !b.region_admits(a) {
        return false;
    }
    if !a.gender_admits(b, now, policy) || !b.gender_admits(a, now, policy) {
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

/// Picks `newcomer`'s partner among `waiting` (oldest first). Among the allowed ones: one of a gender asked for
/// when the newcomer's `seeking` fell back to anyone, then the one sharing the most interests when the newcomer
/// matches on interests, then the closest when they want nearby partners, then the one waiting longest. Returns
/// its index.
pub fn pick_partner<'a>(
    newcomer: &Candidate,
    waiting: impl IntoIterator<Item = &'a Candidate>,
    now: DateTime<Utc>,
    policy: Policy,
) -> Option<usize> {
    let by_interest = newcomer.interest_matching != InterestMatching::Off;
    let allowed = waiting.into_iter().enumerate().filter(|(_, w)| compatible(newcomer, w, now, policy));
    if !by_interest && newcomer.nearby.is_none() && newcomer.seeking.is_none() {
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
            let asked_for = newcomer.seeking.is_none_or(|wish| wish.includes(w.gender));
            (i, asked_for, shared, distance)
        })
        // min_by keeps the first of equals: among equal partners, the one waiting longest.
        .min_by(|x, y| y.1.cmp(&x.1).then(y.2.cmp(&x.2)).then(x.3.total_cmp(&y.3)))
        .map(|(i, _, _, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        start_km: 5.0,
        doubling_secs: 10,
        interest_fallback_secs: 10,
        gender_fallback_secs: 30,
        common_language: true,
    };
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
            region: Region::Anywhere,
            country: Country::parse("TR"),
            location: None,
            quarantined: false,
            gender: None,
            seeking: None,
        }
    }

    #[test]
    fn the_quarantined_are_paired_only_among_themselves() {
        let now = t(0);
        let quarantined = |id| Candidate { quarantined: true, ..candidate(id, 0) };
        let table = [
            (quarantined(1), quarantined(2), true, "two quarantined users"),
            (quarantined(1), candidate(2, 0), false, "quarantined with clean"),
            (candidate(1, 0), quarantined(2), false, "clean with quarantined"),
            (candidate(1, 0), candidate(2, 0), true, "two clean users"),
        ];
        for (a, b, expected, why) in table {
            assert_eq!(compatible(&a, &b, now, POLICY), expected, "{why}");
        }
    }

    fn in_region(user_id: i64, region: Region, country: &str, location: Option<(f64, f64)>) -> Candidate {
        Candidate { region, country: Country::parse(country), location, ..candidate(user_id, 0) }
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
    fn only_a_nearby_wish_or_an_interest_preference_makes_waiting_worth_a_sweep() {
        use InterestMatching::*;
        assert!(!candidate(1, 0).relaxes_with_waiting());
        assert!(!with_interests(1, 0, Only, &["music"]).relaxes_with_waiting(), "only never falls back");
        assert!(with_interests(1, 0, Prefer, &["music"]).relaxes_with_waiting());
        assert!(Candidate { nearby: Some(ISTANBUL), ..candidate(1, 0) }.relaxes_with_waiting());
        let restricted = Candidate { region: Region::RadiusKm(50), location: Some(ISTANBUL), ..candidate(1, 0) };
        assert!(!restricted.relaxes_with_waiting(), "a region never widens");
    }

    #[test]
    fn a_country_restriction_admits_only_the_same_known_country_in_either_role_however_long_they_wait() {
        use Region::*;
        let premium = in_region(1, Country, "TR", None);
        for (other, allowed) in [
            (in_region(2, Anywhere, "TR", None), true),
            (in_region(3, Anywhere, "DE", None), false),
            (in_region(4, Anywhere, "", None), false),
            (in_region(5, Country, "TR", None), true),
            (in_region(6, Country, "DE", None), false),
        ] {
            for later in [t(0), t(100_000)] {
                assert_eq!(compatible(&premium, &other, later, POLICY), allowed, "{other:?}");
                assert_eq!(compatible(&other, &premium, later, POLICY), allowed, "{other:?}, roles swapped");
            }
        }
        let unknown = in_region(7, Country, "", None);
        assert!(!compatible(&unknown, &in_region(8, Anywhere, "", None), t(0), POLICY), "unknown is no country");
    }

    #[test]
    fn a_radius_restriction_admits_only_a_known_location_within_it_and_never_widens() {
        let premium = in_region(1, Region::RadiusKm(50), "TR", Some(ISTANBUL));
        for (other, allowed) in [
            (in_region(2, Region::Anywhere, "TR", Some(KADIKOY)), true),
            (in_region(3, Region::Anywhere, "TR", Some(ANKARA)), false),
            (in_region(4, Region::Anywhere, "TR", None), false),
            // Nearby seekers: their own radius grows with waiting, the restriction does not.
            (Candidate { nearby: Some(ANKARA), ..in_region(5, Region::Anywhere, "TR", Some(ANKARA)) }, false),
            (in_region(6, Region::RadiusKm(500), "TR", Some(ANKARA)), false),
        ] {
            for later in [t(0), t(100_000)] {
                assert_eq!(compatible(&premium, &other, later, POLICY), allowed, "{other:?}");
                assert_eq!(compatible(&other, &premium, later, POLICY), allowed, "{other:?}, roles swapped");
            }
        }
        let wide = in_region(1, Region::RadiusKm(500), "TR", Some(ISTANBUL));
        assert!(compatible(&wide, &in_region(2, Region::Anywhere, "DE", Some(ANKARA)), t(0), POLICY), "no country");
        let far_and_wide = in_region(3, Region::RadiusKm(300), "TR", Some(ANKARA));
        assert!(!compatible(&wide, &far_and_wide, t(0), POLICY), "~350 km: inside one radius, not the other");
    }

    #[test]
    fn a_region_leaves_every_other_rule_standing() {
        let premium = in_region(1, Region::Country, "TR", None);
        let mut blocked = in_region(2, Region::Anywhere, "TR", None);
        blocked.excluded.insert(UserId(1));
        assert!(!compatible(&premium, &blocked, t(0), POLICY));
        let german =
            Candidate { languages: Languages::parse(&["de"]).unwrap(), ..in_region(3, Region::Anywhere, "TR", None) };
        assert!(!compatible(&premium, &german, t(0), POLICY));
        let picky = Candidate {
            interests: Interests::parse(&["music"]).unwrap(),
            interest_matching: InterestMatching::Only,
            ..in_region(4, Region::Anywhere, "TR", None)
        };
        assert!(!compatible(&premium, &picky, t(0), POLICY));
        let video = Candidate { kind: MatchKind::Video, ..in_region(5, Region::Anywhere, "TR", None) };
        assert!(!compatible(&premium, &video, t(0), POLICY));
    }

    #[test]
    fn the_newcomer_restricted_to_a_region_takes_the_longest_waiting_allowed_one() {
        let waiting = [
            in_region(2, Region::Anywhere, "DE", Some(KADIKOY)),
            in_region(3, Region::Anywhere, "TR", Some(ANKARA)),
            in_region(4, Region::Anywhere, "TR", Some(KADIKOY)),
        ];
        let country = in_region(1, Region::Country, "TR", Some(ISTANBUL));
        assert_eq!(pick_partner(&country, &waiting, t(0), POLICY), Some(1));
        let radius = in_region(1, Region::RadiusKm(50), "TR", Some(ISTANBUL));
        assert_eq!(pick_partner(&radius, &waiting, t(0), POLICY), Some(0), "a radius knows no border");
        // A waiter's restriction binds it too: the foreign newcomer is not given to the one asking for its country.
        let waiting_country = [in_region(2, Region::Country, "TR", None)];
        assert_eq!(pick_partner(&in_region(1, Region::Anywhere, "DE", None), &waiting_country, t(9_999), POLICY), None);
    }

    #[test]
    fn what_a_region_asks_must_make_sense_before_it_must_be_paid_for() {
        use RegionRefusal::*;
        let tr = Country::parse("TR");
        let here = Some(ISTANBUL);
        for (region, premium, country, location, refusal) in [
            (Region::Anywhere, false, None, None, None),
            (Region::RadiusKm(0), false, tr, here, Some(RadiusOutOfRange)),
            (Region::RadiusKm(0), true, tr, here, Some(RadiusOutOfRange)),
            (Region::RadiusKm(MAX_RADIUS_KM + 1), true, tr, here, Some(RadiusOutOfRange)),
            (Region::RadiusKm(1), true, tr, here, None),
            (Region::RadiusKm(MAX_RADIUS_KM), true, tr, here, None),
            (Region::RadiusKm(50), false, tr, here, Some(PremiumRequired)),
            (Region::Country, false, tr, here, Some(PremiumRequired)),
            (Region::RadiusKm(50), true, tr, None, Some(LocationRequired)),
            (Region::Country, true, None, here, Some(CountryUnknown)),
            (Region::Country, true, tr, None, None),
        ] {
            assert_eq!(region_refusal(region, premium, country, location), refusal, "{region:?} premium={premium}");
        }
    }

    fn declared(user_id: i64, gender: Option<Gender>, seeking: &[Gender], mode: PreferenceMode) -> Candidate {
        let seeking = (!seeking.is_empty())
            .then(|| GenderWish::parse(&Seeking { genders: seeking.to_vec(), mode }).expect("a valid wish"));
        Candidate { gender, seeking, ..candidate(user_id, 0) }
    }

    #[test]
    fn a_gender_wish_binds_both_sides_and_the_undeclared_are_met_only_by_those_asking_for_anyone() {
        use Gender::*;
        use PreferenceMode::Only;
        let wants_women = |id, me| declared(id, me, &[Woman], Only);
        let table = [
            (wants_women(1, Some(Man)), declared(2, Some(Woman), &[], Only), true, "a woman who asks for anyone"),
            (wants_women(1, Some(Man)), declared(2, Some(Man), &[], Only), false, "a man"),
            (wants_women(1, Some(Man)), declared(2, None, &[], Only), false, "someone who declared nothing"),
            (wants_women(1, Some(Man)), wants_women(2, Some(Woman)), false, "a woman who wants only women"),
            (wants_women(1, Some(Woman)), wants_women(2, Some(Woman)), true, "two women who want women"),
            (wants_women(1, None), declared(2, Some(Woman), &[Man], Only), false, "she asks for men; he said nothing"),
            (declared(1, None, &[], Only), declared(2, None, &[], Only), true, "nobody declared or asked"),
            (
                declared(1, Some(NonBinary), &[Woman, NonBinary], Only),
                declared(2, Some(NonBinary), &[], Only),
                true,
                "two of three",
            ),
        ];
        for (a, b, expected, why) in table {
            for later in [t(0), t(100_000)] {
                assert_eq!(compatible(&a, &b, later, POLICY), expected, "{why}");
                assert_eq!(compatible(&b, &a, later, POLICY), expected, "{why}, roles swapped");
            }
        }
    }

    #[test]
    fn prefer_takes_anyone_who_accepts_after_the_fallback_and_a_gender_asked_for_first() {
        use Gender::*;
        let prefer = declared(1, Some(Man), &[Woman], PreferenceMode::Prefer);
        let waiting =
            [declared(2, Some(Man), &[], PreferenceMode::Only), declared(3, Some(Woman), &[Man], PreferenceMode::Only)];
        assert!(!compatible(&prefer, &waiting[0], t(29), POLICY), "29 s: still a woman only");
        assert!(compatible(&prefer, &waiting[0], t(30), POLICY), "30 s: anyone");
        assert_eq!(pick_partner(&prefer, &waiting, t(30), POLICY), Some(1), "but a woman first, though she came later");
        // A fallen-back wish never overrides the other side's: a woman asking only for women still refuses him.
        let only_women = declared(4, Some(Woman), &[Woman], PreferenceMode::Only);
        assert!(!compatible(&prefer, &only_women, t(3600), POLICY));
        assert!(prefer.relaxes_with_waiting() && prefer.ranks_partners());
        let only = declared(1, Some(Man), &[Woman], PreferenceMode::Only);
        assert!(!only.relaxes_with_waiting() && only.ranks_partners(), "only never falls back");
    }

    #[test]
    fn a_wish_names_one_to_three_distinct_genders() {
        use Gender::*;
        let wish =
            |genders: &[Gender]| GenderWish::parse(&Seeking { genders: genders.to_vec(), mode: PreferenceMode::Only });
        assert!(wish(&[]).is_none(), "none");
        assert!(wish(&[Woman, Woman]).is_none(), "one twice");
        assert!(wish(&[Woman]).is_some() && wish(&[Woman, Man, NonBinary]).is_some());
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
