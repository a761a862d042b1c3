//! Whether a `match.find` may be queued, decided by [`admission::admit`] (consent, units, region, an assured age,
//! a verified phone, the limits of new and unverified accounts, quarantine: docs/admin.md "Trust") on the user's
//! standing: cached beside their sockets, or read from the store (and then cached). A refusal is answered with its
//! error code.

use std::collections::HashSet;

use chrono::{DateTime, TimeDelta, Utc};
use tanis_proto::{ErrorCode, ServerFrame};

use super::Finder;
use crate::accounts::must_accept_notice;
use crate::domain::trust::{self, Account};
use crate::domain::{Country, Interests, Languages, RequiredFor, Standing, UserId};
use crate::matching::admission::{self, Admitted, Applicant, Row, Wish};
use crate::matching::rules::{Candidate, MAX_RADIUS_KM, RegionRefusal};
use crate::quota;
use crate::store::{StoreError, UserRow};

/// What the matchmaker is handed of the user besides the admission, from the cached standing or the store.
pub(super) struct Known {
    excluded: HashSet<UserId>,
    interests: Interests,
    languages: Languages,
    country: Option<Country>,
    location: Option<(f64, f64)>,
    gender: Option<tanis_proto::Gender>,
    /// Their matches opened so far: what the request is stamped with ([`crate::matching::Seeker::asked_after`]).
    pub(super) matches_opened: i64,
}

impl Known {
    fn of(s: &mut Standing, since: DateTime<Utc>) -> Self {
        Known {
            excluded: s.excluded(since),
            interests: s.interests,
            languages: s.languages,
            country: s.country,
            location: s.location,
            gender: s.gender,
            matches_opened: s.matches_opened,
        }
    }

    /// The queue entry of an admitted find.
    pub(super) fn candidate(self, user_id: UserId, wish: &Wish, admitted: &Admitted, now: DateTime<Utc>) -> Candidate {
        Candidate {
            user_id,
            kind: wish.kind,
            excluded: self.excluded,
            nearby: admitted.nearby,
            queued_at: now,
            interests: self.interests,
            interest_matching: wish.interests,
            languages: self.languages,
            region: wish.region,
            country: self.country,
            location: self.location,
            quarantined: admitted.quarantined,
            gender: self.gender,
            seeking: wish.seeking,
        }
    }
}

/// What the trust limits are decided on. A banned user never gets this far (the find refuses them first).
pub fn account_of(user: &UserRow) -> Account {
    Account { created_at: user.created_at, phone_verified: user.phone_verified_at.is_some(), banned: false }
}

/// The `error` answering a find that could not be queued.
pub(super) fn refuse(id: &Option<String>, code: ErrorCode, message: &str) -> ServerFrame {
    ServerFrame::error(id.clone(), code, message)
}

/// The `error` answering what admission refused; `notice_version` is the privacy notice to accept.
fn answer(id: &Option<String>, refusal: admission::Refusal, notice_version: &str) -> ServerFrame {
    match refusal {
        admission::Refusal::Banned => refuse(id, ErrorCode::Banned, "the account is banned"),
        admission::Refusal::ConsentRequired => {
            let message = format!("accept privacy notice version {notice_version} first");
            refuse(id, ErrorCode::ConsentRequired, &message)
        }
        admission::Refusal::QuotaExhausted { resets_at } => {
            let mut frame =
                ServerFrame::error(id.clone(), ErrorCode::QuotaExhausted, "no matches of this kind left today");
            if let ServerFrame::Error { resets_at: at, .. } = &mut frame {
                *at = Some(resets_at);
            }
            frame
        }
        admission::Refusal::Region(refusal) => refuse_region(id, refusal),
        admission::Refusal::SeekingPremiumRequired => {
            refuse(id, ErrorCode::PremiumRequired, "asking whom to meet by gender is for premium accounts")
        }
        admission::Refusal::AgeAssuranceRequired => refuse(
            id,
            ErrorCode::AgeAssuranceRequired,
            "this server asks for an assured age for this find: POST /v1/me/age-assurance",
        ),
        admission::Refusal::PhoneUnverified => {
            refuse(id, ErrorCode::PhoneUnverified, "verify your phone number before matching")
        }
        admission::Refusal::VideoHeld => {
            refuse(id, ErrorCode::VideoHeld, "video matching is held until a moderator reviews a report")
        }
    }
}

/// The `error` answering a region the find may not ask for.
fn refuse_region(id: &Option<String>, refusal: RegionRefusal) -> ServerFrame {
    match refusal {
        RegionRefusal::RadiusOutOfRange => {
            refuse(id, ErrorCode::InvalidField, &format!("radius_km must be 1 to {MAX_RADIUS_KM}"))
        }
        RegionRefusal::PremiumRequired => {
            refuse(id, ErrorCode::PremiumRequired, "restricting a find to a region is for premium accounts")
        }
        RegionRefusal::LocationRequired => {
            refuse(id, ErrorCode::LocationRequired, "set a location in your profile to find within a radius")
        }
        RegionRefusal::CountryUnknown => {
            refuse(id, ErrorCode::InvalidField, "your country is not known yet: sign in again with your phone number")
        }
    }
}

impl Finder {
    /// Admits a find by [`admission::admit`], on the standing cached beside the user's sockets or read from the
    /// store (and then cached); with what the matchmaker is handed of them, or the `error` answering a refusal.
    pub(super) async fn admit(
        &self,
        user_id: UserId,
        id: &Option<String>,
        wish: &Wish,
        now: DateTime<Utc>,
    ) -> Result<(Admitted, Known), ServerFrame> {
        let refused = |refusal| answer(id, refusal, &self.inner.settings.privacy_notice_version);
        let since = now - TimeDelta::hours(self.inner.settings.matching.recent_partner_hours.into());
        let (rules, live) = (&self.inner.admission, self.live());
        // The hot path reads nothing: the standing cached beside the user's sockets answers (a `seeking` find too:
        // premium is kept in it), unless it refuses for consent, units, an assured age or premium (it may have
        // missed the notice accepted, a refund, the daily reset or a subscription's event on its way), they ask for
        // nearby partners (the location is read fresh) or restrict the find to a region (premium, country and
        // location are read fresh: a subscription that just ended ends the restriction). The store re-checks all
        // of it when the match is created.
        if !wish.reads_fresh() {
            let cached = live.with_standing(user_id, |s| {
                let verdict = admission::admit(&Applicant { standing: s, row: None }, wish, now, rules);
                (!verdict.is_err_and(|r| r.may_be_stale())).then(|| (verdict, Known::of(s, since)))
            });
            if let Some(Some((verdict, known))) = cached {
                return verdict.map(|admitted| (admitted, known)).map_err(refused);
            }
        }
        // Taken before reading: an event that changes the standing meanwhile makes this copy stale.
        let version = live.standing_version(user_id);
        let (user, mut standing) = self
            .load_standing(user_id, since)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "match.find");
                refuse(id, ErrorCode::Internal, "try again")
            })?
            .ok_or_else(|| refuse(id, ErrorCode::Banned, "no account"))?;
        let row = Row { banned: user.is_banned, premium: user.is_premium };
        let verdict = admission::admit(&Applicant { standing: &standing, row: Some(row) }, wish, now, rules);
        if verdict == Err(admission::Refusal::Banned) {
            // A banned user's standing is not kept.
            return Err(refused(admission::Refusal::Banned));
        }
        let known = Known::of(&mut standing, since);
        live.set_standing(user_id, standing, version);
        verdict.map(|admitted| (admitted, known)).map_err(refused)
    }

    /// Reads the user and what matching needs to know of them from the store; `None` when there is no such user.
    pub(super) async fn load_standing(
        &self,
        user_id: UserId,
        since: DateTime<Utc>,
    ) -> Result<Option<(UserRow, Standing)>, StoreError> {
        let store = &self.inner.services.store;
        let Some(user) = store.user_by_id(user_id).await? else { return Ok(None) };
        let blocked = store.blocked_either_way(user_id).await?.into_iter().collect();
        let partners = store.partners_since(user_id, since).await?.into_iter().collect();
        let consented = !must_accept_notice(&user.privacy_notice_version, &self.inner.settings.privacy_notice_version);
        let (interests, languages) = (user.interests(), user.chosen_languages());
        let (country, location) = (user.country(), user.location_lat.zip(user.location_lon));
        let balances = quota::balances(&user);
        let account = account_of(&user);
        let reports = store.trust_reports(user_id).await?;
        let quarantined = trust::quarantined(&reports, self.inner.services.clock.now(), &self.inner.settings.trust);
        // Asked only on a server that needs it: a read fewer for every other.
        let settings = &self.inner.settings;
        let age_assured = match settings.age_required_for {
            RequiredFor::None => false,
            _ => store.age_assured(user_id, settings.age_threshold.into()).await?,
        };
        let standing = Standing {
            balances,
            blocked,
            partners,
            consented,
            interests,
            languages,
            country,
            location,
            account,
            quarantined,
            gender: user.gender(),
            age_assured,
            video_held: user.video_held_at.is_some(),
            premium: user.is_premium,
            matches_opened: user.matches_opened,
        };
        Ok(Some((user, standing)))
    }
}
