//! Version 2's acknowledgements (docs/protocol.md, "Version 2"): what a client owes the server for the messages
//! it received, sent as few times as the promise allows. A received message is acknowledged on the next
//! `msg.send` of its conversation (`ack`, riding on it), or, when nothing is sent within [`ACK_DELAY`], by one
//! standalone `msg.ack` up to the highest seq received: a chatting client sends no `msg.ack` at all, and a
//! reading one one per delay, not one per message.
//!
//! Pure: the caller passes the time, so the policy is tested without a clock (and the load generator drives it
//! from its own loop). Version 1 clients acknowledge every message at once and do not use this.

use std::collections::HashMap;
use std::ops::Add;
use std::time::{Duration, Instant};

use tanis_proto::{ClientFrame, MatchId, Seq};

/// How long a received message may wait for a send to ride on before it is acknowledged on its own. Short
/// against what a person notices (the peer's "delivered" mark), long against the gap between a received message
/// and the answer typed to it in an automated exchange, and longer than a round trip, so a burst of messages is
/// acknowledged once.
pub const ACK_DELAY: Duration = Duration::from_millis(150);

/// What a client still owes, per conversation.
#[derive(Debug)]
pub struct Acks<T = Instant> {
    /// Conversation → the highest seq received and not yet acknowledged, and when the first of those arrived
    /// (the delay runs from there: a steady stream is still acknowledged every [`ACK_DELAY`]).
    owed: HashMap<MatchId, (Seq, T)>,
    /// The highest seq acknowledged per conversation: a message received again (a `resume` overlapping the live
    /// stream) is owed nothing.
    acked: HashMap<MatchId, Seq>,
}

impl<T> Default for Acks<T> {
    fn default() -> Self {
        Self { owed: HashMap::new(), acked: HashMap::new() }
    }
}

impl<T: Copy + Ord + Add<Duration, Output = T>> Acks<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// A peer's message `seq` of `match_id` arrived at `now`.
    pub fn received(&mut self, match_id: MatchId, seq: Seq, now: T) {
        if self.acked.get(&match_id).is_some_and(|&acked| acked >= seq) {
            return;
        }
        let owed = self.owed.entry(match_id).or_insert((seq, now));
        owed.0 = owed.0.max(seq);
    }

    /// A new connection caught up (`resume.done`): what was owed while offline is owed again from `now`, so it
    /// leaves one delay later unless a send carries it first.
    pub fn owed_again(&mut self, now: T) {
        for owed in self.owed.values_mut() {
            owed.1 = now;
        }
    }

    /// Puts what is owed for the send's conversation on a `msg.send` (its `ack`), which then settles it.
    pub fn ride(&mut self, send: &mut ClientFrame) {
        if let ClientFrame::MsgSend { match_id, ack, .. } = send
            && let Some((seq, _)) = self.owed.remove(match_id)
        {
            *ack = Some(seq);
            self.acked.insert(*match_id, seq);
        }
    }

    /// When the next standalone `msg.ack` is due, if anything is owed.
    pub fn due(&self) -> Option<T> {
        self.owed.values().map(|&(_, since)| since + ACK_DELAY).min()
    }

    /// The standalone `msg.ack`s due at `now`, one per conversation, each up to its highest seq received.
    pub fn take_due(&mut self, now: T) -> Vec<ClientFrame> {
        let due: Vec<MatchId> =
            self.owed.iter().filter(|(_, (_, since))| *since + ACK_DELAY <= now).map(|(&m, _)| m).collect();
        due.into_iter()
            .filter_map(|match_id| {
                let (seq, _) = self.owed.remove(&match_id)?;
                self.acked.insert(match_id, seq);
                Some(ClientFrame::MsgAck { id: None, match_id, seq })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: MatchId = MatchId(7);

    fn send() -> ClientFrame {
        ClientFrame::MsgSend {
            id: None,
            match_id: M,
            client_msg_id: "c".into(),
            ciphertext: "q".into(),
            nonce: "n".into(),
            commitment: "x".into(),
            ack: None,
        }
    }

    fn ack_of(frame: &ClientFrame) -> Option<Seq> {
        let ClientFrame::MsgSend { ack, .. } = frame else { panic!("a send") };
        *ack
    }

    #[test]
    fn a_send_within_the_delay_carries_the_acknowledgement_and_no_msg_ack_follows() {
        let (mut acks, t0) = (Acks::new(), Instant::now());
        acks.received(M, Seq(3), t0);
        acks.received(M, Seq(4), t0 + Duration::from_millis(10));
        let mut frame = send();
        acks.ride(&mut frame);
        assert_eq!(ack_of(&frame), Some(Seq(4)), "up to the highest received");
        assert_eq!(acks.due(), None);
        assert!(acks.take_due(t0 + ACK_DELAY * 10).is_empty());
        let mut next = send();
        acks.ride(&mut next);
        assert_eq!(ack_of(&next), None, "nothing owed: nothing rides");
    }

    #[test]
    fn with_nothing_to_send_one_msg_ack_up_to_the_highest_goes_once_the_delay_has_passed() {
        let (mut acks, t0) = (Acks::new(), Instant::now());
        for (seq, after) in [(1, 0), (2, 40), (3, 90)] {
            acks.received(M, Seq(seq), t0 + Duration::from_millis(after));
        }
        assert_eq!(acks.due(), Some(t0 + ACK_DELAY), "from the first message owed");
        assert!(acks.take_due(t0 + ACK_DELAY - Duration::from_millis(1)).is_empty(), "not before");
        let sent = acks.take_due(t0 + ACK_DELAY);
        assert_eq!(sent, vec![ClientFrame::MsgAck { id: None, match_id: M, seq: Seq(3) }]);
        assert_eq!(acks.due(), None);
    }

    #[test]
    fn a_message_received_again_after_its_acknowledgement_is_owed_nothing() {
        let (mut acks, t0) = (Acks::new(), Instant::now());
        acks.received(M, Seq(5), t0);
        assert_eq!(acks.take_due(t0 + ACK_DELAY).len(), 1);
        acks.received(M, Seq(4), t0 + ACK_DELAY);
        acks.received(M, Seq(5), t0 + ACK_DELAY);
        assert_eq!(acks.due(), None);
        acks.received(M, Seq(6), t0 + ACK_DELAY);
        assert_eq!(acks.take_due(t0 + ACK_DELAY * 2), vec![ClientFrame::MsgAck { id: None, match_id: M, seq: Seq(6) }]);
    }

    #[test]
    fn conversations_are_acknowledged_apart_and_a_send_settles_only_its_own() {
        let (mut acks, t0) = (Acks::new(), Instant::now());
        let other = MatchId(8);
        acks.received(M, Seq(2), t0);
        acks.received(other, Seq(9), t0);
        let mut frame = send();
        acks.ride(&mut frame);
        assert_eq!(ack_of(&frame), Some(Seq(2)));
        assert_eq!(acks.take_due(t0 + ACK_DELAY), vec![ClientFrame::MsgAck { id: None, match_id: other, seq: Seq(9) }]);
    }
}
