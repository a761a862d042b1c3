//! What matching knows of a connected user, kept beside their sockets so that `match.find` reads nothing from
//! the database: their balances, whom they blocked or were blocked by, and whom they met lately.
//!
//! It is a cache of the store, never the authority. Creating a match re-checks balances, bans and active
//! matches in its transaction, so a standing that is too generous costs one refused pairing (and a reload);
//! one that is too strict (a refund or a reset it has not seen) is reloaded whenever it says "cannot pay". It is
//! kept current by the events that change it: a match opening (new partner, balances after paying) wherever
//! the user's sockets are, a block or unblock, a profile or phone change ([`crate::delivery::Delivery::standing_changed`]
//! drops it), a report about them or a moderator resolving one (quarantine), and a resync (events may have
//! been lost) drops it too. It lives as long as the user has a socket on the node.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use tanis_proto::{Balances, MatchKind};

use super::trust::Account;
use super::{Country, Interests, Languages, UserId};

#[derive(Debug, Clone, PartialEq)]
pub struct Standing {
    pub balances: Balances,
    /// Blocked by the user, or blocking them.
    pub blocked: HashSet<UserId>,
    /// Partner → when they last met; entries older than the recent-partner window are pruned at each find.
    pub partners: HashMap<UserId, DateTime<Utc>>,
    /// Whether they accepted the node's current privacy notice; accepting drops the standing, so a cached
    /// `false` is read again.
    pub consented: bool,
    /// The profile's topics and the languages chosen (empty: never chosen); changing them (`PATCH /v1/me`) drops
    /// the standing.
    pub interests: Interests,
    pub languages: Languages,
    /// The account's country and stored location: a plain find queues them so that someone else's region
    /// restriction can be checked against this user. A location change (`PATCH /v1/me`) or a phone change drops
    /// the standing; a sign-in that learns the country too.
    pub country: Option<Country>,
    pub location: Option<(f64, f64)>,
    /// When the account was made and whether its phone is verified: what the limits of new and unverified
    /// accounts are decided on (src/domain/trust.rs). Verifying the phone drops the standing.
    pub account: Account,
    /// Under several open reports from counting reporters: paired only with others like them. A new report
    /// about them, and a moderator resolving or clearing their reports, drop the standing; a reporter whose account
    /// comes of age meanwhile does not (no event marks it): the next reload counts them.
    pub quarantined: bool,
    /// The declared gender while its use in matching is consented to (`PUT`/`DELETE /v1/me/gender` drop the
    /// standing).
    pub gender: Option<tanis_proto::Gender>,
    /// A provider assured their age at or over the server's threshold (read only on a server that asks for one,
    /// `age_assurance.required_for`; storing an assurance drops the standing).
    pub age_assured: bool,
    /// A child-safety report holds their video matching until a moderator decides (`users.video_held_at`; the
    /// hold and its end drop the standing).
    pub video_held: bool,
    /// A subscription makes them premium now (`users.is_premium`): what a `seeking` find needs. Every change of it
    /// drops the standing: a subscription started, renewed or ended by billing or a moderator, and the job that
    /// ends subscriptions past their end date.
    pub premium: bool,
    /// How many matches were ever opened for them (`users.matches_opened`), counted on here by every match opened
    /// ([`Standing::opened`]): a find asked now carries it, and a match opened since spends that find.
    pub matches_opened: i64,
}

impl Standing {
    /// Whether the balances cover one match of `kind` (a daily unit, else a bonus one).
    pub fn can_pay(&self, kind: MatchKind) -> bool {
        let b = &self.balances;
        match kind {
            MatchKind::Text => b.daily_text > 0 || b.bonus_text > 0,
            MatchKind::Video => b.daily_video > 0 || b.bonus_video > 0,
        }
    }

    /// Everyone the user must not be paired with now: blocked either way, or met since `since`. Forgets the
    /// partners met before `since`, so the map stays as small as the window.
    pub fn excluded(&mut self, since: DateTime<Utc>) -> HashSet<UserId> {
        self.partners.retain(|_, met| *met >= since);
        self.blocked.iter().chain(self.partners.keys()).copied().collect()
    }

    /// A match opened with `peer` at `at`; `balances` are the user's after paying for it, and `matches_opened`
    /// their count of matches with it (`None` from a node of the previous release: one more than known).
    pub fn opened(&mut self, peer: UserId, at: DateTime<Utc>, balances: Balances, matches_opened: Option<i64>) {
        let met = self.partners.entry(peer).or_insert(at);
        *met = (*met).max(at);
        self.balances = balances;
        self.matches_opened = matches_opened.unwrap_or(self.matches_opened + 1).max(self.matches_opened);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn balances(daily_text: i32, bonus_text: i32) -> Balances {
        Balances { daily_text, daily_video: 0, bonus_text, bonus_video: 0 }
    }

    #[test]
    fn pays_from_daily_or_bonus_units_of_the_kind() {
        let mut s = Standing {
            balances: balances(0, 0),
            blocked: HashSet::new(),
            partners: HashMap::new(),
            consented: true,
            interests: Interests::default(),
            languages: Languages::only("tr"),
            country: Country::parse("TR"),
            location: None,
            account: Account { created_at: at(0), phone_verified: true, banned: false },
            quarantined: false,
            gender: None,
            age_assured: false,
            video_held: false,
            premium: false,
            matches_opened: 0,
        };
        assert!(!s.can_pay(MatchKind::Text));
        s.balances = balances(0, 1);
        assert!(s.can_pay(MatchKind::Text));
        assert!(!s.can_pay(MatchKind::Video), "text units do not pay for video");
        s.balances = balances(2, 0);
        assert!(s.can_pay(MatchKind::Text));
    }

    #[test]
    fn excludes_blocks_always_and_partners_only_within_the_window() {
        let mut s = Standing {
            balances: balances(1, 0),
            blocked: HashSet::from([UserId(7)]),
            partners: HashMap::from([(UserId(8), at(0)), (UserId(9), at(100))]),
            consented: true,
            interests: Interests::default(),
            languages: Languages::only("tr"),
            country: Country::parse("TR"),
            location: None,
            account: Account { created_at: at(0), phone_verified: true, banned: false },
            quarantined: false,
            gender: None,
            age_assured: false,
            video_held: false,
            premium: false,
            matches_opened: 0,
        };
        assert_eq!(s.excluded(at(50)), HashSet::from([7, 9].map(UserId)));
        assert!(!s.partners.contains_key(&UserId(8)), "a partner older than the window is forgotten");
        s.opened(UserId(8), at(200), balances(0, 0), Some(4));
        assert_eq!(s.excluded(at(150)), HashSet::from([7, 8].map(UserId)), "met again: excluded again");
        assert_eq!(s.balances, balances(0, 0), "balances as paid");
        s.opened(UserId(8), at(120), balances(0, 0), None);
        assert_eq!(s.partners[&UserId(8)], at(200), "the latest meeting counts");
    }
}
