//! What every frame of one socket is handled with ([`Ctx`]): the socket's user and handle, how it is answered,
//! and the count of its protocol errors that closes a broken client. The frame handlers (conversation, matches,
//! signalling, call reports) depend on this, never on dispatch.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tanis_proto::{CloseCode, ErrorCode, MatchKind, ServerFrame};
use tokio::sync::Semaphore;

use super::Hub;
use crate::delivery::SocketHandle;
use crate::domain::{MatchId, UserId};
use crate::group_commit::AckFloor;
use crate::store::StoreError;

/// The window over which protocol errors are counted: any 60 s (a sliding window on the hub's clock), so a burst
/// cannot hide by straddling the edge of a fixed one.
const ERROR_WINDOW: TimeDelta = TimeDelta::seconds(60);

/// One socket's state while it reads.
pub(super) struct Ctx {
    pub(super) hub: Hub,
    pub(super) user_id: UserId,
    pub(super) socket: SocketHandle,
    /// The socket's User-Agent (cut short), stored with each message it sends.
    pub(super) device: Option<String>,
    /// The keyed hash of the client's address range (src/domain/trust.rs), stored with each report it makes;
    /// `None` when the address is not known.
    pub(super) network: Option<Vec<u8>>,
    /// `max_in_flight` permits: one is held by every message not yet answered; with none left, this socket's
    /// reading pauses.
    pub(super) in_flight: Arc<Semaphore>,
    /// When this socket's protocol errors of the last [`ERROR_WINDOW`] happened, oldest first. Never longer than
    /// `max_protocol_errors` + 1: the error that makes it longer than the limit closes the socket.
    errors: VecDeque<DateTime<Utc>>,
    /// Contact conversations this socket sent in, and their peer: read from the store once. A contact that ended
    /// since is refused by the batch (it stores only into open conversations), so the copy can only be generous.
    contacts: HashMap<MatchId, UserId>,
    /// How far this socket's cumulative receipts are committed (version 2): where its next one starts.
    pub(super) ack_floor: Arc<AckFloor>,
}

/// What the handshake knew of the client, kept for the socket's life.
#[derive(Debug, Clone, Default)]
pub struct SocketClient {
    /// The User-Agent, cut short.
    pub device: Option<String>,
    /// The keyed hash of the client's address range.
    pub network: Option<Vec<u8>>,
}

/// Whom a message in a conversation goes to, and the kind stored with it.
pub(super) struct ConversationPeer {
    pub(super) user_id: UserId,
    pub(super) kind: MatchKind,
}

impl Ctx {
    pub(super) fn new(hub: Hub, user_id: UserId, socket: SocketHandle, client: SocketClient) -> Self {
        let in_flight = Arc::new(Semaphore::new(hub.settings().hub.max_in_flight));
        let SocketClient { device, network } = client;
        Self {
            hub,
            user_id,
            socket,
            device,
            network,
            in_flight,
            errors: VecDeque::new(),
            contacts: HashMap::new(),
            ack_floor: Arc::default(),
        }
    }

    /// The peer of the user's conversation `match_id`: their active match (before its expiry), else one of their
    /// contact conversations (which are text). `None` for anything else.
    pub(super) async fn conversation_peer(
        &mut self,
        match_id: MatchId,
    ) -> Result<Option<ConversationPeer>, StoreError> {
        if let Some(active) = self.hub.active_match(self.user_id).filter(|a| a.match_id == match_id) {
            let open = self.hub.now() < active.expires_at;
            return Ok(open.then_some(ConversationPeer { user_id: active.peer_id, kind: active.kind }));
        }
        if let Some(&peer) = self.contacts.get(&match_id) {
            return Ok(Some(ConversationPeer { user_id: peer, kind: MatchKind::Text }));
        }
        let Some(row) = self.hub.store().contact_of(match_id, self.user_id).await? else {
            return Ok(None);
        };
        let peer = row.peer_of(self.user_id).expect("a participant has a peer");
        self.contacts.insert(match_id, peer);
        Ok(Some(ConversationPeer { user_id: peer, kind: MatchKind::Text }))
    }

    /// Answers this socket, waiting for room in its queue (a big `resume` paces itself to the client).
    pub(super) async fn reply(&self, frame: ServerFrame) {
        self.socket.answer(&frame).await;
    }

    /// Answers `ping`.
    pub(super) async fn pong(&self, id: Option<String>) {
        self.reply(ServerFrame::Pong { id }).await;
    }

    pub(super) async fn error(&self, id: Option<String>, code: ErrorCode, message: &str) {
        self.reply(ServerFrame::error(id, code, message)).await;
    }

    /// An error caused by a broken client; too many in a minute close the socket.
    pub(super) async fn protocol_error(&mut self, id: Option<String>, code: ErrorCode, message: &str) {
        metrics::counter!("tanis_ws_protocol_errors_total").increment(1);
        self.error(id, code, message).await;
        let now = self.hub.now();
        while self.errors.front().is_some_and(|&at| now - at >= ERROR_WINDOW) {
            self.errors.pop_front();
        }
        self.errors.push_back(now);
        if self.errors.len() > self.hub.settings().hub.max_protocol_errors as usize {
            self.socket.closer.close(CloseCode::ProtocolAbuse);
        }
    }

    /// Whether the socket speaks version 2 (cumulative acknowledgements).
    pub(super) fn v2(&self) -> bool {
        self.socket.protocol >= tanis_proto::PROTOCOL_VERSION_2
    }

    pub(super) async fn binary_frame(&mut self) {
        self.protocol_error(None, ErrorCode::BinaryNotSupported, "send JSON text frames").await;
    }

    pub(super) async fn internal(&self, id: Option<String>, e: impl std::fmt::Display) {
        tracing::error!(error = %e, user_id = self.user_id.get(), "handling a frame");
        self.error(id, ErrorCode::Internal, "something failed; try again").await;
    }

    /// [`Ctx::internal`] for a request the client sends again by itself (`msg.send`): with a pause to wait first.
    pub(super) async fn internal_retry_after(&self, id: Option<String>, e: impl std::fmt::Display, ms: u64) {
        tracing::error!(error = %e, user_id = self.user_id.get(), "handling a frame");
        self.reply(ServerFrame::error(id, ErrorCode::Internal, "something failed; try again").retry_after(ms)).await;
    }
}
