//! The messages of one conversation written but not yet accepted, and the order they go on the wire in
//! (docs/protocol.md, section 9 step 5). The server numbers messages in the order it accepts them, and the peer
//! reads them by their E2E counter; a message refused for now (`rate_limited`, `internal`) and sent again after
//! later ones were accepted arrives behind them. So:
//! - frames leave oldest first, each once per connection;
//! - after a refusal for now nothing more leaves until the refused frame goes again, after the server's
//!   `retry_after_ms` (or [`RETRY_WITHOUT_HINT`]): it goes first, and what follows goes after it;
//! - no frame goes on the wire more than [`SEND_AHEAD`] counters past the oldest unaccepted one, so whatever
//!   overtakes a refused frame was already on the wire with it, and the peer's receive window
//!   ([`RECEIVE_WINDOW`](crate::e2e::RECEIVE_WINDOW)) still opens it.
//!
//! Time is the caller's (an [`Instant`], or the client core's [`Millis`](crate::core::Millis), passed in): the outbox
//! never sleeps; [`Outbox::retry_at`] says when to call [`Outbox::ready`] again.

use std::collections::VecDeque;
use std::ops::Add;
use std::time::{Duration, Instant};

use tanis_proto::{ClientFrame, ErrorCode};

use crate::e2e::{RECEIVE_WINDOW, counter_of};

/// At most this many counters between the oldest unaccepted message and the newest on the wire.
pub const SEND_AHEAD: u64 = 32;
const _: () = assert!(SEND_AHEAD <= RECEIVE_WINDOW, "the peer must still open the oldest");

/// The pause after a refusal for now that came without `retry_after_ms` (an older server).
pub const RETRY_WITHOUT_HINT: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Pending {
    frame: ClientFrame,
    client_msg_id: String,
    counter: u64,
    /// Put on the wire on the current connection since the last refusal.
    #[serde(skip)]
    on_wire: bool,
}

/// What a refusal of one of the outbox's frames means.
#[derive(Debug, PartialEq)]
pub enum Refusal<T = Instant> {
    /// For now: everything waits until this instant, then the refused frame goes first.
    Retry(T),
    /// For good (`not_in_match`, `message_too_large`, ...): the frame is out of the outbox.
    Failed(ClientFrame),
    /// Not a frame of this outbox (already accepted, or another request's answer).
    Unknown,
}

/// One conversation's outbox: push what [`Chat::message`](crate::Chat::message) seals, send what
/// [`Outbox::ready`] returns, and tell it every `msg.accepted` and refusal.
///
/// What it holds survives a restart: [`Outbox::frames`] is what to store and [`Outbox::restored`] takes it back
/// (every frame goes again on the next connection; a hold does not outlive the process).
#[derive(Debug)]
pub struct Outbox<T = Instant> {
    pending: VecDeque<Pending>,
    held_until: Option<T>,
}

impl<T> Default for Outbox<T> {
    fn default() -> Self {
        Self { pending: VecDeque::new(), held_until: None }
    }
}

impl<T: Copy + Ord + Add<Duration, Output = T>> Outbox<T> {
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An outbox holding `frames` (what [`Outbox::frames`] gave), oldest first.
    ///
    /// # Panics
    /// As [`Outbox::push`], for a frame that is not a sealed `msg.send`.
    #[must_use]
    pub fn restored(frames: Vec<ClientFrame>) -> Self {
        let mut outbox = Self::new();
        for frame in frames {
            outbox.push(frame);
        }
        outbox
    }

    /// The frames written and not yet accepted, oldest first: what a client stores.
    #[must_use]
    pub fn frames(&self) -> Vec<ClientFrame> {
        self.pending.iter().map(|p| p.frame.clone()).collect()
    }

    /// Adds a `msg.send` frame, written after every frame already in. Other frames are not outbox frames.
    ///
    /// # Panics
    /// For a frame that is not a `msg.send` with a nonce of the E2E scheme.
    pub fn push(&mut self, frame: ClientFrame) {
        let ClientFrame::MsgSend { client_msg_id, nonce, .. } = &frame else { panic!("not a msg.send: {frame:?}") };
        let counter = counter_of(nonce).expect("a nonce sealed by E2eSession");
        let client_msg_id = client_msg_id.clone();
        self.pending.push_back(Pending { frame, client_msg_id, counter, on_wire: false });
    }

    /// The frames to put on the wire now, oldest first: none while a refused frame waits for `now` to reach its
    /// retry, none more than [`SEND_AHEAD`] counters past the oldest, each once until [`Outbox::reconnected`] or a
    /// refusal.
    pub fn ready(&mut self, now: T) -> Vec<ClientFrame> {
        match self.held_until {
            Some(until) if now < until => return Vec::new(),
            Some(_) => self.held_until = None,
            None => {}
        }
        let Some(oldest) = self.pending.front().map(|p| p.counter) else { return Vec::new() };
        let mut out = Vec::new();
        for pending in &mut self.pending {
            if pending.counter.saturating_sub(oldest) >= SEND_AHEAD {
                break;
            }
            if !pending.on_wire {
                pending.on_wire = true;
                out.push(pending.frame.clone());
            }
        }
        out
    }

    /// `msg.accepted` for `client_msg_id` (or its own copy came back in a `resume`): out of the outbox. False when
    /// it was not in it.
    pub fn accepted(&mut self, client_msg_id: &str) -> bool {
        let before = self.pending.len();
        self.pending.retain(|p| p.client_msg_id != client_msg_id);
        self.pending.len() != before
    }

    /// Our own message came back with the E2E counter `counter` (a `resume` replays it, naming no client_msg_id):
    /// out of the outbox like [`Outbox::accepted`]; its client_msg_id, if it was in it.
    pub fn accepted_counter(&mut self, counter: u64) -> Option<String> {
        let at = self.pending.iter().position(|p| p.counter == counter)?;
        self.pending.remove(at).map(|p| p.client_msg_id)
    }

    /// The `client_msg_id` of the frame in the outbox sent with the request id `id` (what an `error` answers).
    #[must_use]
    pub fn answered_by(&self, id: &str) -> Option<String> {
        self.pending.iter().find_map(|p| match &p.frame {
            ClientFrame::MsgSend { id: Some(frame_id), .. } if frame_id == id => Some(p.client_msg_id.clone()),
            _ => None,
        })
    }

    /// An `error` answering `client_msg_id`. A refusal for now holds the whole outbox until `now + retry_after`
    /// (a later refusal's hint replaces an earlier one, being the fresher) and puts every frame back to be sent
    /// again in order; any other refusal is final for that frame alone.
    pub fn refused(
        &mut self,
        client_msg_id: &str,
        code: ErrorCode,
        retry_after: Option<Duration>,
        now: T,
    ) -> Refusal<T> {
        let Some(at) = self.pending.iter().position(|p| p.client_msg_id == client_msg_id) else {
            return Refusal::Unknown;
        };
        if matches!(code, ErrorCode::RateLimited | ErrorCode::Internal) {
            let until = now + retry_after.unwrap_or(RETRY_WITHOUT_HINT);
            self.held_until = Some(until);
            self.reconnected();
            return Refusal::Retry(until);
        }
        let failed = self.pending.remove(at).expect("the position was just found");
        Refusal::Failed(failed.frame)
    }

    /// A new connection: every frame goes again, in order (the server answers one it already stored with its
    /// `seq`, never a second copy).
    pub fn reconnected(&mut self) {
        for pending in &mut self.pending {
            pending.on_wire = false;
        }
    }

    /// When a refused frame may go again, if one waits.
    #[must_use]
    pub fn retry_at(&self) -> Option<T> {
        self.held_until
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use tanis_proto::MatchId;

    use super::*;
    use crate::e2e::{E2eSession, Identity, Role};

    fn sealer() -> E2eSession {
        let peer = Identity::generate().public_key_b64();
        E2eSession::establish(Identity::generate(), &peer, MatchId(7), Role::Initiator).unwrap()
    }

    fn frame(session: &mut E2eSession, id: &str) -> ClientFrame {
        let sealed = session.seal(id.as_bytes());
        ClientFrame::MsgSend {
            id: Some(id.into()),
            match_id: MatchId(7),
            client_msg_id: id.into(),
            ciphertext: sealed.ciphertext,
            nonce: sealed.nonce,
            commitment: String::new(),
            ack: None,
        }
    }

    fn ids(frames: &[ClientFrame]) -> Vec<String> {
        frames
            .iter()
            .map(|f| match f {
                ClientFrame::MsgSend { client_msg_id, .. } => client_msg_id.clone(),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    fn outbox_of(n: usize) -> Outbox {
        let mut session = sealer();
        let mut outbox = Outbox::new();
        for i in 1..=n {
            outbox.push(frame(&mut session, &format!("m{i}")));
        }
        outbox
    }

    #[test]
    fn a_refusal_for_now_holds_every_later_frame_until_its_hint_and_then_goes_first() {
        let t0 = Instant::now();
        let mut outbox = outbox_of(4);
        assert_eq!(ids(&outbox.ready(t0)), ["m1", "m2", "m3", "m4"]);
        assert!(outbox.accepted("m1"));
        let hint = Duration::from_millis(300);
        assert_eq!(outbox.refused("m2", ErrorCode::RateLimited, Some(hint), t0), Refusal::Retry(t0 + hint));
        assert!(outbox.accepted("m3"), "on the wire already: the server accepted it");
        assert!(outbox.ready(t0 + hint - Duration::from_millis(1)).is_empty(), "nothing before the hint");
        assert_eq!(ids(&outbox.ready(t0 + hint)), ["m2", "m4"], "the refused one first, then the rest in order");
        assert!(outbox.ready(t0 + hint).is_empty(), "each once");
    }

    #[test]
    fn internal_is_retried_without_a_hint_after_a_second_and_a_final_refusal_drops_only_its_frame() {
        let t0 = Instant::now();
        let mut outbox = outbox_of(2);
        outbox.ready(t0);
        assert_eq!(outbox.refused("m1", ErrorCode::Internal, None, t0), Refusal::Retry(t0 + RETRY_WITHOUT_HINT));
        assert_eq!(ids(&outbox.ready(t0 + RETRY_WITHOUT_HINT)), ["m1", "m2"]);
        assert!(matches!(outbox.refused("m2", ErrorCode::NotInMatch, None, t0), Refusal::Failed(_)));
        assert_eq!(outbox.refused("m2", ErrorCode::NotInMatch, None, t0), Refusal::Unknown);
        assert_eq!(outbox.len(), 1);
    }

    #[test]
    fn no_frame_leaves_more_than_send_ahead_counters_past_the_oldest_unaccepted_one() {
        let t0 = Instant::now();
        let n = usize::try_from(SEND_AHEAD).unwrap() + 3;
        let mut outbox = outbox_of(n);
        let first = ids(&outbox.ready(t0));
        assert_eq!(first.len(), usize::try_from(SEND_AHEAD).unwrap());
        assert!(outbox.accepted("m2"));
        assert!(outbox.ready(t0).is_empty(), "the oldest is still m1");
        assert!(outbox.accepted("m1"));
        assert_eq!(ids(&outbox.ready(t0)), [format!("m{}", SEND_AHEAD + 1), format!("m{}", SEND_AHEAD + 2)]);
    }

    #[test]
    fn a_new_connection_sends_everything_again_in_order() {
        let t0 = Instant::now();
        let mut outbox = outbox_of(3);
        outbox.ready(t0);
        outbox.accepted("m2");
        outbox.reconnected();
        assert_eq!(ids(&outbox.ready(t0)), ["m1", "m3"]);
    }
}
