//! Admission: whether a `match.find` may wait for a partner, as one pure rule ([`admit`]) over what is known of
//! the user ([`Applicant`]) and what they ask ([`Wish`]). In order: a banned account, the privacy notice, a unit
//! to pay with (and when daily units come back), the region asked for (premium, country, location, radius), a
//! gender asked for (premium), an assured age when the server asks one for this find (`age_assurance.required_for`),
//! a verified phone when the server asks for one; then what the find is held to: the finds a minute of new and
//! unverified accounts, quarantine, where "nearby" is measured from.
//!
//! No I/O: [`super::find`] gathers the facts (the standing cached beside the sockets, or read from the store),
//! answers a [`Refusal`] with its error code, and counts the finds a minute in its rate limiter, the one limit that
//! needs state. An active match is refused before anything is read.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tanis_proto::{InterestMatching, MatchKind, Region};

use super::rules::{GenderWish, RegionRefusal, region_refusal};
use crate::domain::age::needs_assured_age;
use crate::domain::trust;
use crate::domain::{RequiredFor, Standing};
use crate::quota::next_reset;

/// What a `match.find` asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wish {
    pub kind: MatchKind,
    /// Partners near the stored location, the radius growing with waiting.
    pub nearby: bool,
    pub interests: InterestMatching,
    /// Only partners in this region (premium).
    pub region: Region,
    /// Only (or first) partners of these declared genders (premium).
    pub seeking: Option<GenderWish>,
}

impl Wish {
    /// Whether this find is decided on the account as it is now, never on the cached standing: nearby partners are
    /// looked for around the location as stored now, and a region needs premium, country and location as they are
    /// now (a subscription that just ended ends the restriction).
    /// A `seeking` find is decided on the cached standing: premium is kept in it, and dropped with it whenever a
    /// subscription changes.
    pub fn reads_fresh(&self) -> bool {
        self.nearby || self.region != Region::Anywhere
    }
}

/// What a find is decided on.
#[derive(Debug, Clone, Copy)]
pub struct Applicant<'a> {
    /// What matching knows of the user: consent, balances, account age and phone, quarantine, country, location.
    pub standing: &'a Standing,
    /// The account row, when the find read it with the standing; `None` when the standing cached beside the user's
    /// sockets answers, which it does only for a find that does not [`Wish::reads_fresh`] and whose sockets a ban has
    /// not closed (premium is then the standing's).
    pub row: Option<Row>,
}

/// What a find reads of the account row besides the standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub banned: bool,
    pub premium: bool,
}

/// The settings admission decides by.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// The limits of new and unverified accounts, and whether matching asks for a verified phone (`[trust]`).
    pub trust: trust::Rules,
    /// Where daily units come back at midnight (`quotas.timezone`): a refusal for quota says when.
    pub reset_zone: Tz,
    /// What a find needs an assured age for (`age_assurance.required_for`).
    pub age_required_for: RequiredFor,
}

/// A find that may wait for a partner, and what it is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Admitted {
    /// Where "nearby" is measured from: the stored location, when the find asked for nearby partners and there is
    /// one. Without one the find is not limited by distance.
    pub nearby: Option<(f64, f64)>,
    /// Under several open reports from counting reporters: paired only with others like them.
    pub quarantined: bool,
    /// A new or unverified account: at most this many finds a minute (matching's limiter counts them); `None`: only
    /// the general limits.
    pub finds_per_minute: Option<u32>,
}

/// Why a find may not wait for a partner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Refusal {
    /// The account is banned.
    Banned,
    /// The node's current privacy notice is not accepted.
    ConsentRequired,
    /// No unit of the kind asked for, daily or bonus; daily units come back at `resets_at`.
    QuotaExhausted { resets_at: DateTime<Utc> },
    /// The region may not be asked for, or not by this account.
    Region(RegionRefusal),
    /// A `seeking` by an account that is not premium.
    SeekingPremiumRequired,
    /// The server asks an assured age for this find, and the account holds none.
    AgeAssuranceRequired,
    /// The server asks for a verified phone before matching, and this one is not.
    PhoneUnverified,
    /// A video find while a child-safety report holds the account's video matching.
    VideoHeld,
}

impl Refusal {
    /// Whether a cached standing may be wrong to refuse this: it may have missed the notice being accepted, a
    /// refund, the daily reset, an assurance stored on another node, a hold on video lifted, or a subscription that
    /// just started (its event still on the way). The standing is then read again, and the find decided on that.
    pub fn may_be_stale(self) -> bool {
        matches!(
            self,
            Refusal::ConsentRequired
                | Refusal::QuotaExhausted { .. }
                | Refusal::AgeAssuranceRequired
                | Refusal::SeekingPremiumRequired
                | Refusal::VideoHeld
        )
    }
}

/// Whether `applicant` may wait for a partner as `wish`es, at `now`.
pub fn admit(applicant: &Applicant, wish: &Wish, now: DateTime<Utc>, rules: &Rules) -> Result<Admitted, Refusal> {
    let Applicant { standing, row } = *applicant;
    if row.is_some_and(|r| r.banned) {
        return Err(Refusal::Banned);
    }
    if !standing.consented {
        return Err(Refusal::ConsentRequired);
    }
    if wish.kind == MatchKind::Video && standing.video_held {
        return Err(Refusal::VideoHeld);
    }
    if !standing.can_pay(wish.kind) {
        return Err(Refusal::QuotaExhausted { resets_at: next_reset(now, rules.reset_zone) });
    }
    let premium = row.map_or(standing.premium, |r| r.premium);
    if let Some(refusal) = region_refusal(wish.region, premium, standing.country, standing.location) {
        return Err(Refusal::Region(refusal));
    }
    if wish.seeking.is_some() && !premium {
        return Err(Refusal::SeekingPremiumRequired);
    }
    if needs_assured_age(rules.age_required_for, wish.kind, wish.seeking.is_some()) && !standing.age_assured {
        return Err(Refusal::AgeAssuranceRequired);
    }
    let limits = trust::limits(&standing.account, now, &rules.trust);
    if limits.needs_verified_phone {
        return Err(Refusal::PhoneUnverified);
    }
    Ok(Admitted {
        nearby: standing.location.filter(|_| wish.nearby),
        quarantined: standing.quarantined,
        finds_per_minute: limits.finds_per_minute,
    })
}

#[cfg(test)]
#[path = "admission_tests.rs"]
mod tests;
