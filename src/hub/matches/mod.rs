//! Matches, from the hub's side: asking for one and cancelling ([`ask`]), opening the pairs the matchmaker found
//! ([`open`]: the [`Pairing`](crate::matching::Pairing) it calls), ending one ([`end`]), and telling users who may
//! have missed frames their match as stored ([`resync`]). Leaving and blocking are conversation frames that end a
//! match through [`end`]; banning is [`crate::moderation`]'s.

mod ask;
mod end;
mod open;
mod resync;

use tanis_proto::MatchInfo;

use super::ActiveMatch;
use crate::domain::UserId;
use crate::store::MatchRow;

pub(super) use ask::{cancel, find};
pub use end::tell_ended;

/// The user's view of a match row.
fn active_for(row: &MatchRow, user_id: UserId, peer_id: UserId, peer_handle: String) -> ActiveMatch {
    let info = MatchInfo {
        match_id: row.id,
        kind: row.kind,
        peer: peer_handle,
        peer_public_key: row.peer_public_key(user_id).to_owned(),
        // The one who waited longer (user1) starts: sends the first video offer, and is the E2E initiator.
        initiator: row.user1_id == user_id,
        expires_at: row.expired_at,
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
