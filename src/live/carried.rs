//! The messages of a user's current match that a node has put before their sockets: what lets the node tell
//! `match.ended` only after every message stored before the end (docs/protocol.md §5, `match.ended`).

use std::collections::BTreeSet;

use crate::domain::{MatchId, Seq};

/// The seqs of one match carried to the user's sockets here: every seq up to `through`, and those above it in
/// `above`. "Carried" includes what the sockets had before this node began to count (`through` starts at the
/// match's last seq when the node loaded it) and the user's own messages (their copy to the user's other sockets
/// passes here even when there is no other socket).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    pub match_id: MatchId,
    through: Seq,
    above: BTreeSet<Seq>,
}

impl Carried {
    /// Counting from `through`: every seq up to it the sockets had, or get from `resume`.
    pub fn from(match_id: MatchId, through: Seq) -> Self {
        Carried { match_id, through, above: BTreeSet::new() }
    }

    /// Records `seq`; false when it was carried already (the same message brought by the catch-up and by the
    /// node that stored it): a copy is not sent again.
    pub fn add(&mut self, seq: Seq) -> bool {
        if seq <= self.through || !self.above.insert(seq) {
            return false;
        }
        while self.above.remove(&self.through.next()) {
            self.through = self.through.next();
        }
        true
    }

    /// Every seq up to here was carried: where a catch-up reads from.
    pub fn through(&self) -> Seq {
        self.through
    }

    /// Whether every message up to `last` was carried.
    pub fn has_all(&self, last: Seq) -> bool {
        self.through >= last
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
