//! The admission table: each row a user's standing and a find, and the admission or refusal they get.

use std::collections::{HashMap, HashSet};

use chrono::TimeDelta;
use tanis_proto::Balances;

use super::*;
use crate::domain::trust::Account;
use crate::domain::{Country, Interests, Languages};

/// "Now" in the table: 23:59 in Istanbul, one minute before its daily units come back.
fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T20:59:00Z").unwrap().with_timezone(&Utc)
}

fn midnight_in_istanbul() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-21T21:00:00Z").unwrap().with_timezone(&Utc)
}

/// New accounts are limited for 24 h to 20 finds a minute; matching asks for no verified phone.
fn rules() -> Rules {
    Rules {
        trust: crate::domain::trust::tests::rules(),
        reset_zone: chrono_tz::Europe::Istanbul,
        age_required_for: RequiredFor::None,
    }
}

const ISTANBUL: (f64, f64) = (41.01, 28.98);

/// A user the rules have nothing against: consented, one daily text unit, a verified phone on an account a year old,
/// in Turkey with a stored location, not quarantined.
fn settled() -> Standing {
    Standing {
        balances: Balances { daily_text: 1, daily_video: 0, bonus_text: 0, bonus_video: 0 },
        blocked: HashSet::new(),
        partners: HashMap::new(),
        consented: true,
        interests: Interests::default(),
        languages: Languages::only("tr"),
        country: Country::parse("TR"),
        location: Some(ISTANBUL),
        account: Account { created_at: now() - TimeDelta::days(365), phone_verified: true, banned: false },
        quarantined: false,
        gender: None,
        age_assured: false,
        video_held: false,
        premium: false,
        matches_opened: 0,
    }
}

/// The account as read with the standing.
const FREE: Option<Row> = Some(Row { banned: false, premium: false });
const PREMIUM: Option<Row> = Some(Row { banned: false, premium: true });
const BANNED: Option<Row> = Some(Row { banned: true, premium: true });
/// The cached standing answers (a plain find).
const CACHED: Option<Row> = None;

fn text() -> Wish {
    Wish {
        kind: MatchKind::Text,
        nearby: false,
        interests: InterestMatching::Off,
        region: Region::Anywhere,
        seeking: None,
    }
}

fn video() -> Wish {
    Wish { kind: MatchKind::Video, ..text() }
}

fn nearby() -> Wish {
    Wish { nearby: true, ..text() }
}

fn within(km: u32) -> Wish {
    Wish { region: Region::RadiusKm(km), ..text() }
}

fn own_country() -> Wish {
    Wish { region: Region::Country, ..text() }
}

/// Admitted with nothing but the general limits.
const FREE_TO_GO: Admitted = Admitted { nearby: None, quarantined: false, finds_per_minute: None };

fn limited(per_minute: u32) -> Admitted {
    Admitted { finds_per_minute: Some(per_minute), ..FREE_TO_GO }
}

fn consent_not_given(mut s: Standing) -> Standing {
    s.consented = false;
    s
}

const NONE: Balances = Balances { daily_text: 0, daily_video: 0, bonus_text: 0, bonus_video: 0 };

fn no_units(mut s: Standing) -> Standing {
    s.balances = NONE;
    s
}

fn bonus_video_unit(mut s: Standing) -> Standing {
    s.balances = Balances { bonus_video: 1, ..NONE };
    s
}

fn country_unknown(mut s: Standing) -> Standing {
    s.country = None;
    s
}

fn no_location(mut s: Standing) -> Standing {
    s.location = None;
    s
}

fn created_hours_ago(hours: i64, mut s: Standing) -> Standing {
    s.account.created_at = now() - TimeDelta::hours(hours);
    s
}

fn phone_unverified(mut s: Standing) -> Standing {
    s.account.phone_verified = false;
    s
}

fn quarantined(mut s: Standing) -> Standing {
    s.quarantined = true;
    s
}

fn video_held(mut s: Standing) -> Standing {
    s.video_held = true;
    s
}

/// One row: what it shows, the standing, the account as read (or the cache), the find, the rules, the answer.
type Case<'a> = (&'a str, Standing, Option<Row>, Wish, &'a Rules, Result<Admitted, Refusal>);

#[test]
fn a_find_is_admitted_or_refused_by_the_standing_and_the_wish() {
    use Refusal::*;
    use RegionRefusal::*;
    let r = rules();
    let verified_phone = Rules { trust: trust::Rules { match_requires_verified_phone: true, ..r.trust }, ..r };
    let table: Vec<Case> = vec![
        ("a settled account's plain find", settled(), FREE, text(), &r, Ok(FREE_TO_GO)),
        ("the cached standing answers a plain find", settled(), CACHED, text(), &r, Ok(FREE_TO_GO)),
        // Consent
        ("the privacy notice not accepted", consent_not_given(settled()), FREE, text(), &r, Err(ConsentRequired)),
        ("a ban before anything else", consent_not_given(no_units(settled())), BANNED, text(), &r, Err(Banned)),
        ("consent before units", consent_not_given(no_units(settled())), FREE, text(), &r, Err(ConsentRequired)),
        // Quota, with when daily units come back
        (
            "no unit of the kind",
            settled(),
            FREE,
            video(),
            &r,
            Err(QuotaExhausted { resets_at: midnight_in_istanbul() }),
        ),
        (
            "no unit at all, cached",
            no_units(settled()),
            CACHED,
            text(),
            &r,
            Err(QuotaExhausted { resets_at: midnight_in_istanbul() }),
        ),
        ("a bonus unit pays", bonus_video_unit(settled()), FREE, video(), &r, Ok(FREE_TO_GO)),
        (
            "units before the region",
            no_units(settled()),
            FREE,
            own_country(),
            &r,
            Err(QuotaExhausted { resets_at: midnight_in_istanbul() }),
        ),
        // Regions: premium only, the country known, a location for a radius, a radius in range
        ("the own country, not premium", settled(), FREE, own_country(), &r, Err(Region(PremiumRequired))),
        ("the own country, premium", settled(), PREMIUM, own_country(), &r, Ok(FREE_TO_GO)),
        (
            "the own country unknown",
            country_unknown(settled()),
            PREMIUM,
            own_country(),
            &r,
            Err(Region(CountryUnknown)),
        ),
        ("a radius, not premium", settled(), FREE, within(50), &r, Err(Region(PremiumRequired))),
        ("a radius without a location", no_location(settled()), PREMIUM, within(50), &r, Err(Region(LocationRequired))),
        ("a radius of 0", settled(), PREMIUM, within(0), &r, Err(Region(RadiusOutOfRange))),
        ("a radius out of range before premium", settled(), FREE, within(20_001), &r, Err(Region(RadiusOutOfRange))),
        ("the widest radius", settled(), PREMIUM, within(20_000), &r, Ok(FREE_TO_GO)),
        ("the narrowest radius", settled(), PREMIUM, within(1), &r, Ok(FREE_TO_GO)),
        // Nearby: from the stored location, or not limited by distance without one
        ("nearby", settled(), FREE, nearby(), &r, Ok(Admitted { nearby: Some(ISTANBUL), ..FREE_TO_GO })),
        ("nearby without a location", no_location(settled()), FREE, nearby(), &r, Ok(FREE_TO_GO)),
        // Trust: the limits of new and unverified accounts, and a verified phone when the server asks for one
        ("a new account", created_hours_ago(1, settled()), FREE, text(), &r, Ok(limited(20))),
        ("new until a full day old", created_hours_ago(23, settled()), CACHED, text(), &r, Ok(limited(20))),
        ("a day old", created_hours_ago(24, settled()), FREE, text(), &r, Ok(FREE_TO_GO)),
        ("an old account, phone unverified", phone_unverified(settled()), FREE, text(), &r, Ok(limited(20))),
        (
            "a verified phone asked for, not given",
            phone_unverified(settled()),
            FREE,
            text(),
            &verified_phone,
            Err(PhoneUnverified),
        ),
        (
            "a verified phone asked for, cached",
            phone_unverified(settled()),
            CACHED,
            text(),
            &verified_phone,
            Err(PhoneUnverified),
        ),
        (
            "a verified phone asked for, a new account has one",
            created_hours_ago(1, settled()),
            FREE,
            text(),
            &verified_phone,
            Ok(limited(20)),
        ),
        (
            "the region before the phone",
            phone_unverified(settled()),
            FREE,
            own_country(),
            &verified_phone,
            Err(Region(PremiumRequired)),
        ),
        (
            "units before the phone",
            phone_unverified(no_units(settled())),
            FREE,
            text(),
            &verified_phone,
            Err(QuotaExhausted { resets_at: midnight_in_istanbul() }),
        ),
        // Quarantine: admitted, to be paired only with others like them
        ("quarantined", quarantined(settled()), FREE, text(), &r, Ok(Admitted { quarantined: true, ..FREE_TO_GO })),
        (
            "quarantined and new",
            quarantined(created_hours_ago(1, settled())),
            CACHED,
            text(),
            &r,
            Ok(Admitted { quarantined: true, ..limited(20) }),
        ),
        // A child-safety report holds video alone, before anything else about the find
        ("video held", video_held(bonus_video_unit(settled())), FREE, video(), &r, Err(VideoHeld)),
        ("video held, no units either", video_held(no_units(settled())), FREE, video(), &r, Err(VideoHeld)),
        ("video held, a text find", video_held(settled()), FREE, text(), &r, Ok(FREE_TO_GO)),
    ];
    for (name, standing, row, wish, rules, expected) in table {
        let applicant = Applicant { standing: &standing, row };
        assert_eq!(admit(&applicant, &wish, now(), rules), expected, "{name}");
    }
}

#[test]
fn only_consent_quota_age_and_premium_refused_from_the_cache_are_read_again() {
    let at = now();
    let stale = [
        Refusal::ConsentRequired,
        Refusal::QuotaExhausted { resets_at: at },
        Refusal::AgeAssuranceRequired,
        Refusal::SeekingPremiumRequired,
    ];
    let lasting = [Refusal::Banned, Refusal::Region(RegionRefusal::PremiumRequired), Refusal::PhoneUnverified];
    assert!(stale.iter().all(|r| r.may_be_stale()));
    assert!(!lasting.iter().any(|r| r.may_be_stale()));
}

#[test]
fn only_nearby_and_region_finds_read_the_account_fresh() {
    assert!(!text().reads_fresh());
    assert!(!seeking().reads_fresh(), "premium is kept in the cached standing");
    assert!(!video().reads_fresh());
    assert!(nearby().reads_fresh());
    assert!(own_country().reads_fresh());
    assert!(within(50).reads_fresh());
}

fn age_assured(mut s: Standing) -> Standing {
    s.age_assured = true;
    s
}

/// Premium as the standing keeps it.
fn premium(mut s: Standing) -> Standing {
    s.premium = true;
    s
}

fn seeking() -> Wish {
    let wish = GenderWish::parse(&tanis_proto::Seeking {
        genders: vec![tanis_proto::Gender::Woman],
        mode: tanis_proto::PreferenceMode::Only,
    });
    Wish { seeking: wish, ..text() }
}

#[test]
fn an_assured_age_is_asked_only_for_the_finds_the_server_names() {
    use Refusal::*;
    let asking = |age_required_for| Rules { age_required_for, ..rules() };
    let (video_only, gender_filter, everything) =
        (asking(RequiredFor::Video), asking(RequiredFor::GenderFilter), asking(RequiredFor::Everything));
    let r = rules();
    let everything_and_a_phone =
        Rules { trust: trust::Rules { match_requires_verified_phone: true, ..r.trust }, ..everything };
    let table: Vec<Case> = vec![
        ("nothing asked", bonus_video_unit(settled()), FREE, video(), &r, Ok(FREE_TO_GO)),
        ("video, unassured", bonus_video_unit(settled()), FREE, video(), &video_only, Err(AgeAssuranceRequired)),
        ("video, cached", bonus_video_unit(settled()), CACHED, video(), &video_only, Err(AgeAssuranceRequired)),
        ("video asked, a text find", settled(), FREE, text(), &video_only, Ok(FREE_TO_GO)),
        ("video, assured", age_assured(bonus_video_unit(settled())), FREE, video(), &video_only, Ok(FREE_TO_GO)),
        ("a gender filter, unassured", settled(), PREMIUM, seeking(), &gender_filter, Err(AgeAssuranceRequired)),
        ("a gender filter, assured", age_assured(settled()), PREMIUM, seeking(), &gender_filter, Ok(FREE_TO_GO)),
        ("premium before the age", settled(), FREE, seeking(), &gender_filter, Err(SeekingPremiumRequired)),
        ("cached, not premium", age_assured(settled()), CACHED, seeking(), &gender_filter, Err(SeekingPremiumRequired)),
        ("cached, premium", premium(age_assured(settled())), CACHED, seeking(), &gender_filter, Ok(FREE_TO_GO)),
        (
            "the row read beats the cache",
            premium(age_assured(settled())),
            FREE,
            seeking(),
            &r,
            Err(SeekingPremiumRequired),
        ),
        ("a gender filter asked, a plain find", settled(), FREE, text(), &gender_filter, Ok(FREE_TO_GO)),
        ("everything, unassured", settled(), CACHED, text(), &everything, Err(AgeAssuranceRequired)),
        ("everything, assured", age_assured(settled()), FREE, text(), &everything, Ok(FREE_TO_GO)),
        ("consent before the age", consent_not_given(settled()), FREE, text(), &everything, Err(ConsentRequired)),
        (
            "the age before the phone",
            phone_unverified(settled()),
            FREE,
            text(),
            &everything_and_a_phone,
            Err(AgeAssuranceRequired),
        ),
    ];
    for (name, standing, row, wish, rules, expected) in table {
        let applicant = Applicant { standing: &standing, row };
        assert_eq!(admit(&applicant, &wish, now(), rules), expected, "{name}");
    }
}
