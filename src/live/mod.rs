//! A connected user's live state on this node, beside their sockets: their current match, and what matching
//! cached of them (their [`Standing`]). [`LiveUsers`] holds one [`Live`] per user from their first socket here to
//! their last (delivery registers them) and changes it as delivery's events arrive; matching and the hub read it
//! here, not through delivery. The rules of its changes live here too: a match that ended before this node heard
//! it open, a standing read while an event changed it.

mod ending;

use ending::{Carried, Ending};
pub use ending::{Carry, EndNow};
#[cfg(test)]
pub use ending::{MUTATION, Mutation};

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tanis_proto::{Balances, MatchInfo, MatchKind, VideoSafety};

use crate::domain::{Interests, Languages, MatchId, Seq, Standing, UserId};
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

/// The stranger of a match as one side is told of them.
pub struct Peer {
    pub id: UserId,
    /// Their `alias#tag`.
    pub handle: String,
    /// For a video match: how this side's app protects them from the stranger's picture.
    pub video_safety: Option<VideoSafety>,
}

impl ActiveMatch {
    /// `user_id`'s view of a match row, the peer named by their handle.
    pub fn of(row: &MatchRow, user_id: UserId, peer: Peer, common: Common) -> Self {
        let Peer { id: peer_id, handle: peer_handle, video_safety } = peer;
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
            video_safety,
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
    /// The last match whose end was told here: one end, one `match.ended` per socket, though it may be told twice
    /// (an expiry or a ban beside a leave, each of which tells both sides).
    told_ended: Option<MatchId>,
    /// The messages of their current match carried to their sockets here.
    carried: Option<Box<Carried>>,
    /// An end waiting for messages stored before it that have not reached the sockets here yet (their node's
    /// relay is behind this end's, or lost them): told once they are carried ([`Live::carry`]) or the store was
    /// read for them ([`Live::release`]).
    ending: Option<Box<Ending>>,
}

impl Live {
    pub fn active(&self) -> Option<&ActiveMatch> {
        self.active.as_deref()
    }

    /// A match opened for them; `balances` are theirs after paying for it. The standing first: once `match.found`
    /// is out, their next find must see the new partner. Returns the `match.ended` to tell after `match.found`
    /// when the match ended before it opened here (it is then not their current match).
    pub fn opened(&mut self, active: &ActiveMatch, balances: Balances, matches_opened: Option<i64>) -> Option<Frame> {
        self.standing_version += 1;
        if let Some(standing) = &mut self.standing {
            standing.opened(active.peer_id, active.opened_at, balances, matches_opened);
        }
        match self.ended_unopened.take() {
            Some((id, frame)) if id == active.match_id => Some(frame),
            other => {
                self.ended_unopened = other;
                self.active = Some(Box::new(active.clone()));
                // A new match: nothing stored in it yet.
                self.carried = Some(Box::new(Carried::from(active.match_id, Seq(0))));
                None
            }
        }
    }

    /// The match `match_id` ended, told by `frame`: it is no longer current, or ends unopened. False when its end
    /// was told here already: the frame is not sent again.
    pub fn ended(&mut self, match_id: MatchId, frame: &Frame) -> bool {
        if self.told_ended.replace(match_id) == Some(match_id) {
            return false;
        }
        if self.active.as_ref().is_some_and(|a| a.match_id == match_id) {
            self.active = None;
            self.carried = None;
        } else {
            self.ended_unopened = Some((match_id, frame.clone()));
        }
        true
    }

    /// Whether the end of `match_id` was the last one told here: its frames no longer go to the user's sockets.
    pub fn told_end_of(&self, match_id: MatchId) -> bool {
        self.told_ended == Some(match_id)
    }

    /// A match loaded from the store for a connecting user, unless one was announced meanwhile.
    pub fn remember(&mut self, active: &ActiveMatch) {
        self.active.get_or_insert_with(|| Box::new(active.clone()));
    }

    /// Their match as the store says (a resync). The standing is dropped too: the events that would have kept it
    /// current may be the ones lost.
    pub fn reset(&mut self, active: Option<ActiveMatch>) {
        // The count goes with a match that is not the one stored: what was carried of it no longer matters.
        if self.carried.as_ref().is_some_and(|c| active.as_ref().is_none_or(|a| a.match_id != c.match_id)) {
            self.carried = None;
        }
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

/// The live state of every user with a socket on this node. Its lock is never held across an await, nor while
/// taking delivery's registry lock (delivery takes this one inside its own, when a user arrives or leaves).
#[derive(Debug, Default)]
pub struct LiveUsers {
    users: Mutex<HashMap<UserId, Live>>,
    /// Users here whose standing changed, for matching to give any place they wait what they may meet now.
    restanding: Wanted,
}

impl LiveUsers {
    /// The user's first socket here registered.
    pub fn arrive(&self, user_id: UserId) {
        self.users.lock().expect("live lock").entry(user_id).or_default();
    }

    /// The user's last socket here went: nothing of them is kept.
    pub fn leave(&self, user_id: UserId) {
        self.users.lock().expect("live lock").remove(&user_id);
    }

    /// Whether the user has a socket here.
    pub fn is_connected(&self, user_id: UserId) -> bool {
        self.users.lock().expect("live lock").contains_key(&user_id)
    }

    /// Runs `f` on the user's live state, if they are connected here.
    pub fn with<R>(&self, user_id: UserId, f: impl FnOnce(&mut Live) -> R) -> Option<R> {
        self.users.lock().expect("live lock").get_mut(&user_id).map(f)
    }

    /// The user's match, while they have a socket here.
    pub fn active_match(&self, user_id: UserId) -> Option<ActiveMatch> {
        self.users.lock().expect("live lock").get(&user_id).and_then(|u| u.active().cloned())
    }

    /// Remembers a match loaded from the store for a connecting user, unless one was announced meanwhile.
    pub fn remember_match(&self, user_id: UserId, active: &ActiveMatch) {
        self.with(user_id, |live| live.remember(active));
    }

    /// Replaces what this node knows of the user's match with what the store says (a resync), and drops their
    /// standing ([`Live::reset`]).
    pub fn reset_match(&self, user_id: UserId, active: Option<ActiveMatch>) {
        self.with(user_id, |live| live.reset(active));
    }

    /// Runs `f` on the user's cached standing; `None` when there is none (not connected here, or not loaded).
    pub fn with_standing<R>(&self, user_id: UserId, f: impl FnOnce(&mut Standing) -> R) -> Option<R> {
        self.with(user_id, |live| live.standing_mut().map(f)).flatten()
    }

    /// The version to pass to [`LiveUsers::set_standing`], taken before reading the standing from the store.
    pub fn standing_version(&self, user_id: UserId) -> u64 {
        self.with(user_id, |live| live.standing_version()).unwrap_or(0)
    }

    /// Caches the user's standing, if they have a socket here and nothing changed it since `version` was taken.
    pub fn set_standing(&self, user_id: UserId, standing: Standing, version: u64) {
        self.with(user_id, |live| live.set_standing(standing, version));
    }

    /// Whom the user may be matched with changed: the cached standing goes (the next find reads it afresh), and a
    /// user connected here is marked for matching to refresh their place ([`LiveUsers::standing_changes`]).
    pub fn standing_changed(&self, user_id: UserId) {
        if self.with(user_id, Live::forget_standing).is_some() {
            self.restanding.add([user_id]);
        }
    }

    /// Marks the user, if connected here, for matching to refresh their place again (its last refresh did not
    /// reach Redis, or met the place being opened), without dropping their standing.
    pub fn restand(&self, user_id: UserId) {
        if self.is_connected(user_id) {
            self.restanding.add([user_id]);
        }
    }

    /// Waits until the standing of some users connected here changed, and takes them.
    pub async fn standing_changes(&self) -> Vec<UserId> {
        self.restanding.take().await
    }
}

/// Users marked for a loop (matching's refresh, the hub's resync), and the wake-up of the loop that takes them.
#[derive(Debug, Default)]
pub struct Wanted {
    users: Mutex<HashSet<UserId>>,
    wake: Notify,
}

impl Wanted {
    pub fn add(&self, users: impl IntoIterator<Item = UserId>) {
        let mut wanted = self.users.lock().expect("wanted lock");
        wanted.extend(users);
        if !wanted.is_empty() {
            self.wake.notify_one();
        }
    }

    pub async fn take(&self) -> Vec<UserId> {
        loop {
            let taken: Vec<UserId> = self.users.lock().expect("wanted lock").drain().collect();
            if !taken.is_empty() {
                return taken;
            }
            self.wake.notified().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_end_told_twice_is_sent_once() {
        let mut live = Live::default();
        let (frame, other): (Frame, Frame) = ("ended".into(), "ended again".into());
        assert!(live.ended(MatchId(7), &frame), "the first tell of an end");
        assert!(!live.ended(MatchId(7), &other), "the same end told again (a leave beside an expiry)");
        assert!(live.ended(MatchId(8), &frame), "another match's end");
    }
}
