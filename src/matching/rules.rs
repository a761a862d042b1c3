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
#[path = "rules_tests.rs"]
mod tests;
