//! The tests of `matching::rules`, in a file of their own so that the module reads alone.

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
