//! Delivery: the one way to reach a user. Everything that sends a frame to a user, answers one socket, or
//! closes a user's sockets (the hub, the matchmaker, video signalling, the relay's acknowledgements, bans from
//! the admin endpoints and from the jobs) says so with an [`Event`] here, never by touching sockets itself.
//! Where the user's sockets are is this module's business: with [`Delivery::Local`] every socket is on this
//! node ([`Sockets`]); a backend between nodes routes the same events to the node that holds the socket.

mod outbound;
mod redis;
#[cfg(test)]
mod simulation;
mod sockets;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tanis_proto::{Balances, CloseCode, EndReason, ServerFrame};

use crate::auth::LoginId;
use crate::domain::{MatchId, Seq, UserId};
use crate::live::{ActiveMatch, LiveUsers};

pub use outbound::{Frames, Slot};
pub use redis::{Cluster, Link};
pub use sockets::{Closer, Encoded, SocketHandle, Sockets, encode};

/// One socket of one user. Socket ids are unique across the cluster (each node starts its count at a random
/// point), so a node can answer a socket of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SocketRef {
    pub user_id: UserId,
    /// Named `session_id` between nodes, as before the rename: nodes of two versions share the cluster during
    /// a rolling upgrade.
    #[serde(rename = "session_id")]
    pub socket_id: u64,
}

/// Who gets a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Recipient {
    /// Every socket of the user.
    User(UserId),
    /// Every socket of the user but one: the one that caused the frame, which gets its own answer.
    UserExcept(SocketRef),
    /// One socket: the answer to that socket's request. Named `Session` between nodes, as [`SocketRef`]'s id.
    #[serde(rename = "Session")]
    Socket(SocketRef),
}

/// Everything delivery carries, between nodes too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Event {
    /// A frame, serialised once for every socket it goes to.
    Frame {
        to: Recipient,
        frame: Encoded,
        /// What version 1 sockets get instead of `frame`, when the two versions differ: a cumulative receipt is one
        /// `msg.delivered` per message for them, and a receipt riding on a `msg` goes before it as its own frames.
        /// Absent for every other frame, and read as absent by a node that predates it (which holds no version 2
        /// socket: it selects no `tanis.v2`), so the event stays one publish whatever the sockets' versions.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        v1: Option<Box<V1>>,
        /// The match a frame of the conversation belongs to (`typing`, `rtc.*`): a node that told the user this
        /// match's end drops it, so nothing of a match follows its `match.ended` (the sender's node may not have
        /// heard of the end yet). Absent for other frames, and from a node of the previous release.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        of_match: Option<MatchId>,
        /// A `msg`'s seq in `of_match`: the node holding the sockets counts what it carried, to tell `match.ended`
        /// only after every message stored before the end ([`crate::live::Live::end_after`]), and sends a copy
        /// once. Absent for other frames, and from a node of the previous release.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<Seq>,
    },
    /// Closes every socket of the user with `code` (a ban).
    Kick { user_id: UserId, code: CloseCode },
    /// These logins of the user were signed out (revoked, a password change, logout, refresh-token reuse): the
    /// sockets their access tokens opened close with 4001, on every node. Sent to every node, not only those the
    /// user's presence names: a socket still registering when the login was revoked may not be in it yet, and
    /// revocations are rare.
    SignedOut { user_id: UserId, logins: Vec<LoginId> },
    /// The user's match opened: wherever their sockets are, it is remembered, then `frame` (`match.found`)
    /// goes to every socket, so a message sent in answer finds the match known. `balances` (after paying for
    /// it), the user's count of matches opened with it (`None` from a node of the previous release) and the new
    /// partner keep the user's matching standing current.
    MatchOpened {
        user_id: UserId,
        active: Box<ActiveMatch>,
        balances: Balances,
        #[serde(default)]
        matches_opened: Option<i64>,
        frame: Encoded,
    },
    /// The user's match ended: forgotten wherever their sockets are, then `frame` (`match.ended`), once the
    /// match's messages up to `last` (its last seq when the end was stored) are carried there. `None` from an end
    /// that does not know it (an expiry, a ban) and from a node of the previous release: told at once.
    /// `kept`: the match goes on as a contact conversation (`frame` is `contact.added`): its messages still come.
    MatchEnded {
        user_id: UserId,
        match_id: MatchId,
        frame: Encoded,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last: Option<Seq>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        kept: bool,
    },
    /// Frames for these users may have been lost between nodes: each node holding their sockets tells them
    /// their match as stored and to `resume` (the hub's resync).
    Resync { users: Vec<UserId> },
    /// Whom the user may be matched with changed in the store (a block or an unblock, a profile or phone change):
    /// nodes holding their sockets drop the standing they cached ([`crate::domain::Standing`]); the next
    /// `match.find` reloads it.
    StandingChanged { user_id: UserId },
}

/// A frame as version 1 sockets get it: `before` it, and then, when `then_plain`, the frame itself without the
/// receipt riding on it. The frame is not carried twice (a message's ciphertext would cross Redis twice): the
/// node holding a version 1 socket renders it, and only then.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct V1 {
    pub before: Box<[Encoded]>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub then_plain: bool,
}

/// `frame` without the receipt riding on it (`delivered` of a `msg`); any other frame as it is.
pub fn without_receipt(frame: &ServerFrame) -> ServerFrame {
    let mut plain = frame.clone();
    if let ServerFrame::Msg { delivered, .. } = &mut plain {
        *delivered = None;
    }
    plain
}

/// The event of [`Delivery::to_user_by_version`] between nodes.
fn by_version(user_id: UserId, frame: &ServerFrame, before: Vec<ServerFrame>, then_plain: bool) -> Event {
    let v1 = Some(Box::new(V1 { before: before.iter().map(encode).collect(), then_plain }));
    let (of_match, seq) = of_msg(frame);
    Event::Frame { to: Recipient::User(user_id), frame: encode(frame), v1, of_match, seq }
}

/// The match of a frame of a conversation that delivery keeps after its end ([`Event::Frame`]'s `of_match`), with
/// a `msg`'s seq, which it counts: a message and a receipt. (`typing`, `rtc.*` and `contact.proposed` name it
/// through [`Delivery::to_user_in_match`].)
fn of_msg(frame: &ServerFrame) -> (Option<MatchId>, Option<Seq>) {
    match frame {
        ServerFrame::Msg { match_id, seq, .. } => (Some(*match_id), Some(*seq)),
        ServerFrame::MsgDelivered { match_id, .. } => (Some(*match_id), None),
        _ => (None, None),
    }
}

/// The match of a receipt (`msg.delivered`): what one node drops after that match's end.
fn receipt_of(frame: &ServerFrame) -> Option<MatchId> {
    match frame {
        ServerFrame::MsgDelivered { match_id, .. } => Some(*match_id),
        _ => None,
    }
}

/// `frame` for `to`; a `msg` named with its match and seq, so the node holding the sockets counts it.
fn frame_event(to: Recipient, frame: &ServerFrame) -> Event {
    let (of_match, seq) = of_msg(frame);
    Event::Frame { to, frame: encode(frame), v1: None, of_match, seq }
}

impl Event {
    /// The user whose sockets the event is for; `None` for events every node looks at.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Event::Frame { to: Recipient::User(user_id), .. } => Some(*user_id),
            Event::Frame { to: Recipient::UserExcept(s) | Recipient::Socket(s), .. } => Some(s.user_id),
            Event::Kick { user_id, .. }
            | Event::SignedOut { user_id, .. }
            | Event::MatchOpened { user_id, .. }
            | Event::MatchEnded { user_id, .. }
            | Event::StandingChanged { user_id } => Some(*user_id),
            Event::Resync { .. } => None,
        }
    }
}

/// How frames reach users. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// One node: every user's sockets are this process's.
    Local(Arc<Sockets>),
    /// Several nodes: this node's sockets, and Redis to reach the others' ([`Cluster`]).
    Redis(Arc<Cluster>),
}

impl Delivery {
    /// One node's delivery, keeping `live` (the users' live state, which startup hands to the hub and matching
    /// too) as it carries events.
    pub fn local(live: Arc<LiveUsers>) -> Self {
        Delivery::Local(Arc::new(Sockets::new(live)))
    }

    /// Joins the cluster through Redis, keeping `live` as [`Delivery::local`] does; its tasks stop with `shutdown`.
    pub async fn redis(
        link: &Link,
        live: Arc<LiveUsers>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> ::redis::RedisResult<Self> {
        Ok(Delivery::Redis(Cluster::connect(link, Arc::new(Sockets::new(live)), shutdown).await?))
    }

    /// Carries out `event` wherever the user's sockets are. Never waits: a socket whose queue is full is closed
    /// as a slow consumer (its messages stay stored for `resume`).
    pub fn deliver(&self, event: Event) {
        match self {
            Delivery::Local(sockets) => sockets.deliver(&event),
            Delivery::Redis(cluster) => {
                cluster.sockets.deliver(&event);
                // An answer to a socket of this node (`msg.accepted`, an error) is done: socket ids are unique
                // across the cluster, so no other node holds it.
                if let Event::Frame { to: Recipient::Socket(socket), .. } = &event
                    && cluster.sockets.holds(*socket)
                {
                    return;
                }
                cluster.publish(event);
            }
        }
    }

    /// Adds a socket for `user_id`, opened by an access token of `login`, on this node (and, with Redis, says the
    /// user is here).
    /// `protocol` is the version the socket's handshake selected: what its frames are rendered in.
    pub fn register(
        &self,
        user_id: UserId,
        login: Option<LoginId>,
        protocol: u32,
        queue: usize,
    ) -> (SocketHandle, Frames) {
        let (handle, rx, first) = self.sockets().register(user_id, login, protocol, queue);
        if let (Delivery::Redis(cluster), true) = (self, first) {
            cluster.presence(user_id, true);
        }
        (handle, rx)
    }

    /// Removes a socket (and, with Redis, the user's presence here once their last socket is gone).
    pub fn unregister(&self, user_id: UserId, socket_id: u64) {
        let last = self.sockets().unregister(user_id, socket_id);
        if let (Delivery::Redis(cluster), true) = (self, last) {
            cluster.presence(user_id, false);
        }
    }

    /// [`frame_event`], as this delivery needs it: one node counts no message (its events reach its sockets in the
    /// order they were made, and the group commit announces a batch's messages before its ends), which spares every
    /// message a look at the user's live state; a receipt still names its match, dropped after the match's end.
    fn event_for(&self, to: Recipient, frame: &ServerFrame) -> Event {
        match (self, frame_event(to, frame)) {
            (Delivery::Local(_), Event::Frame { to, frame, v1, seq: Some(_), .. }) => {
                Event::Frame { to, frame, v1, of_match: None, seq: None }
            }
            (_, event) => event,
        }
    }

    /// To every socket of the user.
    pub fn to_user(&self, user_id: UserId, frame: &ServerFrame) {
        self.deliver(self.event_for(Recipient::User(user_id), frame));
    }

    /// To every socket of the user, a frame of the live match `match_id` (`typing`, `rtc.*`, `contact.proposed`):
    /// dropped where the user was told that match's end.
    pub fn to_user_in_match(&self, user_id: UserId, match_id: MatchId, frame: &ServerFrame) {
        let of_match = Some(match_id);
        self.deliver(Event::Frame {
            to: Recipient::User(user_id),
            frame: encode(frame),
            v1: None,
            of_match,
            seq: None,
        });
    }

    /// To every socket of the user: `frame` to version 2 sockets; to version 1 ones the frames `before` makes,
    /// then, when `then_plain`, `frame` without its riding receipt. On one node they are made only if the user has
    /// a version 1 socket; between nodes `before` always (the event is one publish, and the nodes holding the
    /// sockets choose), the plain frame by the node that holds a version 1 socket.
    pub fn to_user_by_version(
        &self,
        user_id: UserId,
        frame: &ServerFrame,
        before: impl FnOnce() -> Vec<ServerFrame>,
        then_plain: bool,
    ) {
        match self {
            // A message counts for nothing on one node (`event_for`); a receipt is dropped after its match's end.
            Delivery::Local(sockets) => sockets.deliver_by_version(user_id, &encode(frame), receipt_of(frame), || {
                let plain = then_plain.then(|| without_receipt(frame));
                before().iter().chain(&plain).map(encode).collect()
            }),
            Delivery::Redis(_) => self.deliver(by_version(user_id, frame, before(), then_plain)),
        }
    }

    /// To the user's sockets on this node only (each node answers for its own, as in a resync).
    pub fn to_user_here(&self, user_id: UserId, frame: &ServerFrame) {
        self.sockets().deliver(&self.event_for(Recipient::User(user_id), frame));
    }

    /// To every socket of the user but `except`.
    pub fn to_user_except(&self, except: SocketRef, frame: &ServerFrame) {
        self.deliver(self.event_for(Recipient::UserExcept(except), frame));
    }

    /// Whether the user may have a socket besides `socket` (a copy of their own message is owed to it). With
    /// Redis it may be on another node, which only the event's routing knows.
    pub fn may_have_other_sockets(&self, socket: SocketRef) -> bool {
        match self {
            Delivery::Local(sockets) => sockets.has_other_socket(socket),
            Delivery::Redis(_) => true,
        }
    }

    /// To one socket.
    pub fn to_socket(&self, socket: SocketRef, frame: &ServerFrame) {
        self.deliver(self.event_for(Recipient::Socket(socket), frame));
    }

    /// Closes every socket of the user with `code`.
    pub fn kick(&self, user_id: UserId, code: CloseCode) {
        self.deliver(Event::Kick { user_id, code });
    }

    /// Closes the sockets of these logins of the user (4001), wherever they are.
    pub fn signed_out(&self, user_id: UserId, logins: Vec<LoginId>) {
        if !logins.is_empty() {
            self.deliver(Event::SignedOut { user_id, logins });
        }
    }

    /// Remembers the user's match and tells them `frame`; `balances` and `matches_opened` are theirs with it.
    pub fn match_opened(
        &self,
        user_id: UserId,
        active: ActiveMatch,
        (balances, matches_opened): (Balances, i64),
        frame: &ServerFrame,
    ) {
        let (active, matches_opened, frame) = (Box::new(active), Some(matches_opened), encode(frame));
        self.deliver(Event::MatchOpened { user_id, active, balances, matches_opened, frame });
    }

    /// Whom the user may be matched with changed in the store: every node drops what it cached of it.
    pub fn standing_changed(&self, user_id: UserId) {
        self.deliver(Event::StandingChanged { user_id });
    }

    /// The match `match_id` goes on as the user's contact conversation: every node holding their sockets stops
    /// taking it for their current match, and tells them `frame` (`contact.added`).
    pub fn match_kept(&self, user_id: UserId, match_id: MatchId, frame: &ServerFrame) {
        self.deliver(Event::MatchEnded { user_id, match_id, frame: encode(frame), last: None, kept: true });
    }

    /// Tells each listed user that the match ended and why; every node holding their sockets forgets it, and
    /// tells them once it has carried the match's messages up to `last` (its last seq as the end was stored;
    /// `None` when not known: told at once).
    pub fn tell_ended(&self, match_id: MatchId, told: &[(UserId, EndReason)], last: Option<Seq>) {
        // One node needs no count: its events reach its sockets in the order they were made, and the group commit
        // announces a batch's messages before its ends.
        let last = last.filter(|_| matches!(self, Delivery::Redis(_)));
        for &(user_id, reason) in told {
            let frame = encode(&ServerFrame::MatchEnded { id: None, match_id, reason });
            self.deliver(Event::MatchEnded { user_id, match_id, frame, last, kept: false });
        }
    }

    /// The user's match as this node knows it; only known while the user has a socket here.
    pub fn active_match(&self, user_id: UserId) -> Option<ActiveMatch> {
        self.sockets().active_match(user_id)
    }

    /// Presence: whether the user has a socket open on any node.
    pub async fn is_online(&self, user_id: UserId) -> bool {
        match self {
            Delivery::Local(sockets) => sockets.is_connected(user_id),
            Delivery::Redis(cluster) => cluster.is_online(user_id).await,
        }
    }

    /// This node's sockets.
    pub fn sockets(&self) -> &Sockets {
        match self {
            Delivery::Local(sockets) => sockets,
            Delivery::Redis(cluster) => &cluster.sockets,
        }
    }

    /// The cluster link, when there is one.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        match self {
            Delivery::Local(_) => None,
            Delivery::Redis(cluster) => Some(cluster),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_without_version_1_frames_reads_and_writes_as_before_them() {
        let before = serde_json::json!({ "Frame": { "to": { "User": 7 }, "frame": "{}" } });
        let event: Event = serde_json::from_value(before.clone()).unwrap();
        assert!(matches!(&event, Event::Frame { v1: None, .. }));
        assert_eq!(serde_json::to_value(&event).unwrap(), before);
    }

    /// A message with a receipt riding on it crosses Redis once: version 1 sockets' rendering carries only the
    /// receipts before it, and the node holding such a socket strips the receipt from the message itself.
    #[test]
    fn a_message_with_a_riding_receipt_carries_its_ciphertext_once_between_nodes() {
        let frame = ServerFrame::Msg {
            match_id: crate::domain::MatchId(3),
            seq: crate::domain::Seq(2),
            ciphertext: "c2lmcmVsaS1tZXNhag==".into(),
            nonce: "bm9uY2U=".into(),
            commitment: None,
            sent_at: chrono::DateTime::UNIX_EPOCH,
            mine: false,
            delivered: Some(crate::domain::Seq(1)),
        };
        let receipt =
            ServerFrame::MsgDelivered { match_id: crate::domain::MatchId(3), seq: crate::domain::Seq(1), up_to: false };
        let event = by_version(UserId(7), &frame, vec![receipt.clone()], true);
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(json.matches("c2lmcmVsaS1tZXNhag==").count(), 1, "{json}");
        let Event::Frame { frame: sent, v1: Some(v1), .. } = serde_json::from_str(&json).unwrap() else { panic!() };
        assert_eq!(v1.before.iter().map(|f| f.to_string()).collect::<Vec<_>>(), [encode(&receipt).to_string()]);
        let plain: ServerFrame = serde_json::from_str(&sockets::plain_of(&sent)).unwrap();
        assert_eq!(plain, without_receipt(&frame));
        assert!(matches!(plain, ServerFrame::Msg { delivered: None, .. }));
    }

    #[test]
    fn a_socket_is_named_between_nodes_as_before_the_rename() {
        let to = Recipient::Socket(SocketRef { user_id: UserId(7), socket_id: 9 });
        let expected = serde_json::json!({ "Session": { "user_id": 7, "session_id": 9 } });
        assert_eq!(serde_json::to_value(to).unwrap(), expected);
    }
}
