//! What follows a commit: once a batch is durable, each sender is answered (`msg.accepted`, in the order its
//! socket sent), and only then is the message delivered to the receiver and the sender's other sockets; each
//! first receipt of a message tells its sender (`msg.delivered`). Nothing is acknowledged that a crash
//! could lose, and nothing reaches the receiver that the sender was not told is stored.
//!
//! One task per node announces every batch, in commit order. Each socket used to have an acknowledger task
//! waiting on a oneshot per message, and each receipt a task of its own: per message two wake-ups from the
//! writer's thread and a task spawn, and an idle socket carried a task it did not use (BENCHMARKS.md). Now a
//! batch costs one wake-up, and the sockets' writers run after the whole batch is queued, so each writes its
//! share of it with one flush.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tanis_proto::{ErrorCode, ServerFrame};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use super::{EndResult, ReceiptResult, WriteResult};
use crate::delivery::{Delivery, Slot, SocketHandle, SocketRef, encode};
use crate::domain::Seq;
use crate::push::Notifier;
use crate::store::{NewMessage, Receipt, WriteOutcome};

/// How the sender's socket is answered for one message.
pub struct Reply {
    /// A slot in the socket's queue, reserved before the message was queued for writing: the answer never
    /// waits and never finds the queue full, and a client sending fast is slowed at its own reading, not
    /// closed as a slow consumer for its own acknowledgements.
    slot: Slot,
    /// One of the socket's `max_in_flight` permits, held until the message is answered.
    _in_flight: OwnedSemaphorePermit,
    socket_id: u64,
    request_id: Option<String>,
}

impl Reply {
    pub fn new(slot: Slot, in_flight: OwnedSemaphorePermit, socket_id: u64, request_id: Option<String>) -> Self {
        Reply { slot, _in_flight: in_flight, socket_id, request_id }
    }

    /// Answers the sending socket with the outcome of storing `message`.
    pub(super) fn answer(self, message: &NewMessage, outcome: &WriteResult) {
        let frame = match outcome {
            Ok(WriteOutcome::Stored { seq, .. } | WriteOutcome::Duplicate { seq, .. }) => ServerFrame::MsgAccepted {
                id: self.request_id,
                match_id: message.match_id,
                client_msg_id: message.client_msg_id.clone(),
                seq: *seq,
            },
            Ok(WriteOutcome::MatchNotActive) => {
                ServerFrame::error(self.request_id, ErrorCode::NotInMatch, "the match has ended")
            }
            Err(_) => ServerFrame::error(self.request_id, ErrorCode::Internal, "not stored; send again"),
        };
        self.slot.send(encode(&frame));
    }
}

/// The socket a receipt came from, told only if storing it fails.
pub struct ReceiptFrom {
    pub socket: SocketHandle,
    pub request_id: Option<String>,
}

impl ReceiptFrom {
    pub(super) fn failed(self) {
        self.socket.offer(&encode(&ServerFrame::error(self.request_id, ErrorCode::Internal, "internal error")));
    }
}

/// A committed batch, everything in input order.
pub(super) struct Committed {
    pub messages: Vec<(NewMessage, Reply, WriteResult)>,
    pub receipts: Vec<(Receipt, ReceiptFrom, ReceiptResult)>,
    /// Answered last: whoever ended a match tells both sides after the batch's messages are delivered.
    pub ends: Vec<(oneshot::Sender<EndResult>, EndResult)>,
}

/// Hands committed batches to the announcing task.
pub struct Announcer {
    tx: mpsc::Sender<Committed>,
    /// To announce in place if the task is gone.
    delivery: Delivery,
    notifier: Notifier,
}

/// Batches waiting to be announced. When full, the writer waits before its next batch: announcing is the
/// cheaper step, so a full queue means the runtime is saturated and writing faster would not help.
const QUEUE: usize = 8;

impl Announcer {
    /// Starts the announcing task on the current runtime; it ends after the last `Announcer` is dropped and every
    /// batch handed over is announced.
    pub fn spawn(delivery: Delivery, notifier: Notifier) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, mut rx) = mpsc::channel::<Committed>(QUEUE);
        let (d, n) = (delivery.clone(), notifier.clone());
        let task = tokio::spawn(async move {
            while let Some(batch) = rx.recv().await {
                batch.announce(&d, &n);
            }
        });
        (Announcer { tx, delivery, notifier }, task)
    }

    pub(super) async fn announce(&self, batch: Committed) {
        if let Err(mpsc::error::SendError(batch)) = self.tx.send(batch).await {
            batch.announce(&self.delivery, &self.notifier);
        }
    }
}

impl Committed {
    fn announce(self, delivery: &Delivery, notifier: &Notifier) {
        for (message, reply, outcome) in self.messages {
            let sender = SocketRef { user_id: message.sender_id, socket_id: reply.socket_id };
            reply.answer(&message, &outcome);
            if let Ok(WriteOutcome::Stored { seq, sent_at }) = outcome {
                deliver(delivery, notifier, message, sender, seq, sent_at);
            }
        }
        for (receipt, from, outcome) in self.receipts {
            match outcome {
                Ok(Some(sender)) => delivery
                    .to_user(sender, &ServerFrame::MsgDelivered { match_id: receipt.match_id, seq: receipt.seq }),
                // Already delivered, or not a message to this user: acknowledging twice is harmless.
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error = %e, "storing a receipt failed");
                    from.failed();
                }
            }
        }
        for (done, outcome) in self.ends {
            let _ = done.send(outcome);
        }
    }
}

/// A stored message to its receiver, and to the sender's other sockets.
fn deliver(
    delivery: &Delivery,
    notifier: &Notifier,
    message: NewMessage,
    sender: SocketRef,
    seq: Seq,
    sent_at: chrono::DateTime<chrono::Utc>,
) {
    let NewMessage { match_id, receiver_id, content, nonce, commitment, .. } = message;
    let commitment = Some(STANDARD.encode(commitment));
    let mut frame = ServerFrame::Msg { match_id, seq, ciphertext: content, nonce, commitment, sent_at, mine: false };
    delivery.to_user(receiver_id, &frame);
    // A receiver with no socket here may be offline everywhere: the notifier decides, off this path.
    if notifier.enabled() && !delivery.sockets().is_connected(receiver_id) {
        notifier.message(receiver_id, match_id, sender.user_id);
    }
    if delivery.may_have_other_sockets(sender) {
        if let ServerFrame::Msg { mine, .. } = &mut frame {
            *mine = true;
        }
        delivery.to_user_except(sender, &frame);
    }
    metrics::counter!("tanis_messages_total").increment(1);
}
