//! Matches, from the hub's side: asking for one and cancelling ([`ask`]), opening the pairs the matchmaker found
//! ([`open`]: the [`Pairing`](crate::matching::Pairing) it calls), ending one ([`end`]), and telling users who may
//! have missed frames their match as stored ([`resync`]). A waiting user's place learns of a block or report
//! at once ([`refresh`]). Leaving and blocking are conversation frames that end a
//! match through [`end`]; banning is [`crate::moderation`]'s.

mod ask;
mod end;
mod open;
mod refresh;
mod resync;

use tanis_proto::MatchInfo;

use super::ActiveMatch;
use crate::domain::{Interests, Languages, UserId};
use crate::store::{MatchRow, UserRow};

pub(super) use ask::{cancel, find};

/// What two matched people have in common, as `match.found` names it: the interests both profiles list and the
/// languages both speak. Nothing else of either profile.
#[derive(Debug, Clone, Copy, Default)]
struct Common {
    interests: Interests,
    languages: Languages,
}

impl Common {
    fn of(a: (Interests, Languages), b: (Interests, Languages)) -> Self {
        Common { interests: a.0.shared(b.0), languages: a.1.shared(b.1) }
    }

    fn of_users(a: &UserRow, b: &UserRow) -> Self {
        Common::of((a.interests(), a.languages()), (b.interests(), b.languages()))
    }
}

/// The user's view of a match row.
fn active_for(row: &MatchRow, user_id: UserId, peer_id: UserId, peer_handle: String, common: Common) -> ActiveMatch {
    let info = MatchInfo {
        match_id: row.id,
        kind: row.kind,
        peer: peer_handle,
        peer_public_key: row.peer_public_key(user_id).to_owned(),
        // The one who waited longer (user1) starts: sends the first video offer, and is the E2E initiator.
        initiator: row.user1_id == user_id,
        expires_at: row.expired_at,
        shared_interests: common.interests.ids().map(str::to_owned).collect(),
        shared_languages: common.languages.codes().map(str::to_owned).collect(),
    };
    ActiveMatch {
        match_id: row.id,
        peer_id,
        kind: info.kind,
        opened_at: row.created_at,
        expires_at: row.expired_at,
        info,
    }
}
