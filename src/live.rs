//! A connected user's live state on this node, beside their sockets: their current match, and what matching
//! cached of them (their [`Standing`]). Delivery keeps one [`Live`] per user it holds sockets of and changes it
//! as events arrive; matching and the hub read it. The rules of its changes live here, so that neither needs the
//! other's room: a match that ended before this node heard it open, a standing read while an event changed it.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tanis_proto::{Balances, MatchInfo, MatchKind};

use crate::domain::{Interests, Languages, MatchId, Standing, UserId};
use crate::store::MatchRow;

/// A user's current match, as the nodes holding their sockets know it: what their frames are checked against
/// without a database read. The database stays the truth (the group commit refuses a message to an ended
/// match), and every node holding the user's sockets learns of a change through delivery's `MatchOpened` and
/// `MatchEnded` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveMatch {
    pub match_id: MatchId,
    pub peer_id: UserId,
    pub kind: MatchKind,
    pub opened_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// What the user was told in `match.found` (and is told again in `hello`).
    pub info: MatchInfo,
}

/// What two matched people have in common, as `match.found` names it: the interests both profiles list and the
/// languages both speak. Nothing else of either profile.
#[derive(Debug, Clone, Copy, Default)]
pub struct Common {
    pub interests: Interests,
    pub languages: Languages,
}

impl Common {
    pub fn of(a: (Interests, Languages), b: (Interests, Languages)) -> Self {
        Common { interests: a.0.shared(b.0), languages: a.1.shared(b.1) }
    }
}

impl ActiveMatch {
    /// `user_id`'s view of a match row, the peer named by their handle.
    pub fn of(row: &MatchRow, user_id: UserId, peer_id: UserId, peer_handle: String, common: Common) -> Self {
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
}

/// An encoded server frame (delivery's `Encoded`): the `match.ended` kept for a match that ended unopened.
pub type Frame = Arc<str>;

/// What this node holds of one connected user besides their sockets. Boxed parts: most connected users are idle,
/// and an idle socket's memory is counted in bytes (BENCHMARKS.md).
#[derive(Debug, Default)]
pub struct Live {
    /// Their current match; kept only while they have a socket here, which is when it is needed.
    active: Option<Box<ActiveMatch>>,
    /// What matching knows of them, loaded at their first `match.find` here.
    standing: Option<Box<Standing>>,
    /// Raised by every event that changes the standing, so that a copy read from the store while one arrived
    /// is not cached ([`Live::set_standing`]).
    standing_version: u64,
    /// A match that ended before this node heard it open, with its `match.ended`: the two sides of an opening
    /// are announced one after the other, so the first side may leave before the second hears of it. Its
    /// opening, when it comes, must not make an ended match the user's current one.
    ended_unopened: Option<(MatchId, Frame)>,
}

impl Live {
    pub fn active(&self) -> Option<&ActiveMatch> {
        self.active.as_deref()
    }

    /// A match opened for them; `balances` are theirs after paying for it. The standing first: once `match.found`
    /// is out, their next find must see the new partner. Returns the `match.ended` to tell after `match.found`
    /// when the match ended before it opened here (it is then not their current match).
    pub fn opened(&mut self, active: &ActiveMatch, balances: Balances) -> Option<Frame> {
        self.standing_version += 1;
        if let Some(standing) = &mut self.standing {
            standing.opened(active.peer_id, active.opened_at, balances);
        }
        match self.ended_unopened.take() {
            Some((id, frame)) if id == active.match_id => Some(frame),
            other => {
                self.ended_unopened = other;
                self.active = Some(Box::new(active.clone()));
                None
            }
        }
    }

    /// The match `match_id` ended, told by `frame`: it is no longer current, or ends unopened.
    pub fn ended(&mut self, match_id: MatchId, frame: &Frame) {
        if self.active.as_ref().is_some_and(|a| a.match_id == match_id) {
            self.active = None;
        } else {
            self.ended_unopened = Some((match_id, frame.clone()));
        }
    }

    /// A match loaded from the store for a connecting user, unless one was announced meanwhile.
    pub fn remember(&mut self, active: &ActiveMatch) {
        self.active.get_or_insert_with(|| Box::new(active.clone()));
    }

    /// Their match as the store says (a resync). The standing is dropped too: the events that would have kept it
    /// current may be the ones lost.
    pub fn reset(&mut self, active: Option<ActiveMatch>) {
        self.active = active.map(Box::new);
        self.forget_standing();
    }

    /// The cached standing; `None` when not loaded.
    pub fn standing_mut(&mut self) -> Option<&mut Standing> {
        self.standing.as_deref_mut()
    }

    /// The version to pass to [`Live::set_standing`], taken before reading the standing from the store.
    pub fn standing_version(&self) -> u64 {
        self.standing_version
    }

    /// Caches the standing, unless something changed it since `version` was taken.
    pub fn set_standing(&mut self, standing: Standing, version: u64) {
        if self.standing_version == version {
            self.standing = Some(Box::new(standing));
        }
    }

    /// Drops the cached standing: the next `match.find` reads it from the store.
    pub fn forget_standing(&mut self) {
        self.standing = None;
        self.standing_version += 1;
    }
}
