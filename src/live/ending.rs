//! The end of a match as a node tells it: after every message of the match stored before the end
//! (docs/protocol.md §5, `match.ended`). A node counts the messages of a user's current match it carried to their
//! sockets ([`Carried`]); an end carries the match's last seq as it was stored, and is held back ([`Ending`]) until
//! every message up to it was carried, by the relays or by the hub's catch-up from the store. Nothing of the match
//! follows its told end, and no message goes twice.

use std::collections::BTreeSet;

use super::{Frame, Live};
use crate::domain::{MatchId, Seq};

/// The seqs of one match carried to the user's sockets here: every seq up to `through`, and those above it in
/// `above`. "Carried" includes what the sockets had before this node began to count (`through` starts at the
/// match's last seq when the node loaded it) and the user's own messages (their copy to the user's other sockets
/// passes here even when there is no other socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Carried {
    pub(super) match_id: MatchId,
    through: Seq,
    above: BTreeSet<Seq>,
}

impl Carried {
    /// Counting from `through`: every seq up to it the sockets had, or get from `resume`.
    pub(super) fn from(match_id: MatchId, through: Seq) -> Self {
        Carried { match_id, through, above: BTreeSet::new() }
    }

    /// Records `seq`; false when it was carried already (the same message brought by the catch-up and by the
    /// node that stored it): a copy is not sent again.
    pub(super) fn add(&mut self, seq: Seq) -> bool {
        if seq <= self.through || !self.above.insert(seq) {
            return false;
        }
        while self.above.remove(&self.through.next()) {
            self.through = self.through.next();
        }
        true
    }

    /// Every seq up to here was carried: where a catch-up reads from.
    pub(super) fn through(&self) -> Seq {
        self.through
    }

    /// Whether every message up to `last` was carried.
    pub(super) fn has_all(&self, last: Seq) -> bool {
        self.through >= last
    }
}

/// A defect the delivery simulation must catch (src/delivery/simulation.rs), each undoing one rule here; only a
/// test turns one on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutation {
    /// An end is told at once, whatever messages stored before it have not been carried.
    EndNotHeld,
    /// A message of a match whose end was told is delivered all the same.
    MessageAfterEnd,
    /// A message carried already (relayed, and read by the catch-up) is sent again.
    CopySentAgain,
}

#[cfg(test)]
thread_local! {
    /// The mutation this thread's simulation runs under.
    pub static MUTATION: std::cell::Cell<Option<Mutation>> = const { std::cell::Cell::new(None) };
}

fn mutated(mutation: Mutation) -> bool {
    #[cfg(test)]
    return MUTATION.with(|m| m.get() == Some(mutation));
    #[cfg(not(test))]
    {
        let _ = mutation;
        false
    }
}

/// A `match.ended` held back until the match's messages up to `last` are carried.
#[derive(Debug)]
pub(super) struct Ending {
    match_id: MatchId,
    last: Seq,
    frame: Frame,
}

/// What to do with an end that reached this node ([`Live::end_after`]).
#[derive(Debug, PartialEq, Eq)]
pub enum EndNow {
    /// Tell it: every message stored before it was carried, or this node cannot know.
    Tell,
    /// Told already, or waiting already: the first end decides.
    Again,
    /// Held back: messages up to its last are missing here; read them from the store and release it.
    Held,
}

/// What to do with a message of a match that reached this node ([`Live::carry`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Carry {
    /// Put it before the sockets: not a copy, and its match's end not told yet.
    pub deliver: bool,
    /// The end it completed: tell it after the message.
    pub then_end: Option<Frame>,
}

impl Live {
    /// An end of `match_id`, told by `frame`, whose match had messages up to `last` when it ended (`None`: not
    /// known, as for an expiry, whose messages were refused from `expires_at` on). Tells it now when every one
    /// of them was carried here; else holds it back.
    pub fn end_after(&mut self, match_id: MatchId, last: Option<Seq>, frame: &Frame) -> EndNow {
        if self.told_end_of(match_id) || self.ending.as_ref().is_some_and(|e| e.match_id == match_id) {
            return EndNow::Again;
        }
        let missing = |c: &Carried| {
            last.is_some_and(|last| c.match_id == match_id && !c.has_all(last)) && !mutated(Mutation::EndNotHeld)
        };
        match (self.carried.as_deref().is_some_and(missing), last) {
            (true, Some(last)) => {
                self.ending = Some(Box::new(Ending { match_id, last, frame: frame.clone() }));
                EndNow::Held
            }
            _ if self.ended(match_id, frame) => EndNow::Tell,
            _ => EndNow::Again,
        }
    }

    /// The held end's match and where its catch-up reads: the messages after `through`, up to `last`.
    pub fn held_end(&self) -> Option<(MatchId, Seq, Seq)> {
        let ending = self.ending.as_deref()?;
        let through =
            self.carried.as_deref().filter(|c| c.match_id == ending.match_id).map_or(ending.last, |c| c.through());
        Some((ending.match_id, through, ending.last))
    }

    /// The message `seq` of `match_id` reached this node. Nothing of a match follows its told end; a copy is not
    /// sent twice. A message of another conversation (a contact's, or a match this node has not heard open) is
    /// delivered uncounted.
    pub fn carry(&mut self, match_id: MatchId, seq: Seq) -> Carry {
        if self.told_end_of(match_id) && !mutated(Mutation::MessageAfterEnd) {
            return Carry { deliver: false, then_end: None };
        }
        let Some(carried) = self.carried.as_deref_mut().filter(|c| c.match_id == match_id) else {
            return Carry { deliver: true, then_end: None };
        };
        let deliver = carried.add(seq) || mutated(Mutation::CopySentAgain);
        let complete = self.ending.as_deref().is_some_and(|e| e.match_id == match_id && carried.has_all(e.last));
        Carry { deliver, then_end: if complete { self.release(match_id) } else { None } }
    }

    /// Tells the held end of `match_id`, if it is still held: its messages were carried, or the store was read for
    /// them. Returns its frame.
    pub fn release(&mut self, match_id: MatchId) -> Option<Frame> {
        let ending = self.ending.take_if(|e| e.match_id == match_id)?;
        self.ended(match_id, &ending.frame).then_some(ending.frame)
    }

    /// Tells whatever end is held back, as a new match opens: returns its frame.
    pub fn release_held(&mut self) -> Option<Frame> {
        let match_id = self.ending.as_ref()?.match_id;
        self.release(match_id)
    }

    /// The match `match_id` goes on as a contact conversation: no longer their current match, and no end to tell
    /// (its messages keep coming).
    pub fn kept(&mut self, match_id: MatchId) {
        if self.active.as_ref().is_some_and(|a| a.match_id == match_id) {
            self.active = None;
            self.carried = None;
        }
    }

    /// Where the count of `match_id`'s messages starts, read from the store when the node loaded the match.
    pub fn count_from(&mut self, match_id: MatchId, through: Seq) {
        if self.active.as_ref().is_some_and(|a| a.match_id == match_id)
            && self.carried.as_ref().is_none_or(|c| c.match_id != match_id)
        {
            self.carried = Some(Box::new(Carried::from(match_id, through)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_carried_out_of_order_close_their_gap_and_a_copy_is_refused() {
        let mut carried = Carried::from(MatchId(1), Seq(2));
        assert!(!carried.add(Seq(2)), "had before the count began");
        assert!(carried.add(Seq(4)));
        assert!(!carried.has_all(Seq(4)), "3 is still on its way");
        assert_eq!(carried.through(), Seq(2));
        assert!(carried.add(Seq(3)));
        assert!(carried.has_all(Seq(4)));
        assert!(!carried.add(Seq(4)), "a copy");
        assert!(!carried.add(Seq(3)), "a copy below the line");
        assert_eq!(carried.through(), Seq(4));
    }
}
