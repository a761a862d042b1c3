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

use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tanis_proto::{ErrorCode, ServerFrame};
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot};

use super::{EndResult, ReceiptResult, WriteResult};
use crate::delivery::{Delivery, Slot, SocketHandle, SocketRef, encode};
use crate::domain::{MatchId, Seq};
use crate::push::Notifier;
use crate::store::{Delivered, NewMessage, Receipt, WriteOutcome};

/// The `retry_after_ms` of a message the store failed to write: a fixed pause, long enough that clients do not
/// hammer a store that is restarting, short enough that a passing failure costs a conversation one second.
pub const STORE_RETRY_AFTER_MS: u64 = 1000;

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
            Err(_) => ServerFrame::error(self.request_id, ErrorCode::Internal, "not stored; send again")
                .retry_after(STORE_RETRY_AFTER_MS),
        };
        self.slot.send(encode(&frame));
    }
}

/// The socket a receipt came from, told only if storing it fails.
pub struct ReceiptFrom {
    pub socket: SocketHandle,
    pub request_id: Option<String>,
    /// Version 2's cumulative receipt: the sender's version 2 sockets hear it as one `msg.delivered` with
    /// `up_to`, its version 1 sockets as one per message it marked.
    pub cumulative: bool,
    /// The acknowledging socket's floor, raised once this receipt has committed.
    pub floor: Option<Arc<AckFloor>>,
}

impl ReceiptFrom {
    /// Version 1's receipt of one message.
    pub fn one(socket: SocketHandle, request_id: Option<String>) -> Self {
        ReceiptFrom { socket, request_id, cumulative: false, floor: None }
    }

    pub(super) fn failed(self) {
        self.socket.offer(&encode(&ServerFrame::error(self.request_id, ErrorCode::Internal, "internal error")));
    }
}

/// How far one socket's cumulative receipts of one conversation are committed: every message of the match
/// addressed to its user up to that seq is delivered, so its next receipt's range starts after it and walks
/// only the messages it names, not the conversation from its start. Raised only by a committed receipt, to the
/// highest seq it marked: a receipt refused or failed leaves it, and the next one covers its range again.
#[derive(Debug, Default)]
pub struct AckFloor(Mutex<Option<(MatchId, Seq)>>);

impl AckFloor {
    /// The first seq a cumulative receipt of `match_id` must cover.
    pub fn first(&self, match_id: MatchId) -> Seq {
        match *self.0.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((m, seq)) if m == match_id => seq.next(),
            _ => Seq(1),
        }
    }

    fn raise(&self, match_id: MatchId, seq: Seq) {
        let mut floor = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if !matches!(*floor, Some((m, at)) if m == match_id && at >= seq) {
            *floor = Some((match_id, seq));
        }
    }
}

/// A committed batch, everything in input order.
pub(super) struct Committed {
    /// With each message, the index in `receipts` of the acknowledgement that rode on its send.
    pub messages: Vec<(NewMessage, Reply, Option<usize>, WriteResult)>,
    /// Each taken (`None`) by the message it rode on, if any; the rest are announced on their own.
    pub receipts: Vec<Option<(Receipt, ReceiptFrom, ReceiptResult)>>,
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
    fn announce(mut self, delivery: &Delivery, notifier: &Notifier) {
        for (message, reply, rides, outcome) in self.messages {
            let sender = SocketRef { user_id: message.sender_id, socket_id: reply.socket_id };
            reply.answer(&message, &outcome);
            let rider = rides.and_then(|i| self.receipts[i].take());
            match (outcome, rider) {
                (Ok(WriteOutcome::Stored { seq, sent_at }), Some((receipt, from, Ok(Some(marked)))))
                    if marked.sender == message.receiver_id =>
                {
                    raise_floor(&from, &receipt, &marked);
                    deliver(delivery, notifier, message, sender, seq, sent_at, Some((receipt.seq, marked.seqs)));
                }
                (outcome, rider) => {
                    let sent_again = outcome.is_err();
                    if let Ok(WriteOutcome::Stored { seq, sent_at }) = outcome {
                        deliver(delivery, notifier, message, sender, seq, sent_at, None);
                    }
                    match rider {
                        // Failed with its message, whose own answer says to send again: the send carries the
                        // acknowledgement again, so the socket is not told twice. Failed alone (a refused batch
                        // is retried in halves, which may part them), it is told as a `msg.ack`'s failure.
                        Some((_, _, Err(e))) if sent_again => tracing::error!(error = %e, "storing a receipt failed"),
                        Some((receipt, from, outcome)) => announce_receipt(delivery, receipt, from, outcome),
                        None => {}
                    }
                }
            }
        }
        for (receipt, from, outcome) in self.receipts.into_iter().flatten() {
            announce_receipt(delivery, receipt, from, outcome);
        }
        for (done, outcome) in self.ends {
            let _ = done.send(outcome);
        }
    }
}

/// A receipt's messages to their sender: version 1's as one `msg.delivered`, as ever; a cumulative one as one
/// `msg.delivered` with `up_to` to version 2 sockets and one per message to version 1 sockets.
fn announce_receipt(delivery: &Delivery, receipt: Receipt, from: ReceiptFrom, outcome: ReceiptResult) {
    let match_id = receipt.match_id;
    match outcome {
        Ok(Some(marked)) if from.cumulative => {
            raise_floor(&from, &receipt, &marked);
            let frame = ServerFrame::MsgDelivered { match_id, seq: receipt.seq, up_to: true };
            let one_by_one =
                || marked.seqs.iter().map(|&seq| ServerFrame::MsgDelivered { match_id, seq, up_to: false }).collect();
            delivery.to_user_by_version(marked.sender, &frame, one_by_one, false);
        }
        Ok(Some(marked)) => {
            delivery.to_user(marked.sender, &ServerFrame::MsgDelivered { match_id, seq: receipt.seq, up_to: false })
        }
        // Already delivered, or not a message to this user: acknowledging twice is harmless.
        Ok(None) => {}
        Err(e) => {
            tracing::error!(error = %e, "storing a receipt failed");
            from.failed();
        }
    }
}

fn raise_floor(from: &ReceiptFrom, receipt: &Receipt, marked: &Delivered) {
    if let (Some(floor), Some(&last)) = (&from.floor, marked.seqs.last()) {
        floor.raise(receipt.match_id, last);
    }
}

/// A stored message to its receiver, and to the sender's other sockets. `receipt`: the acknowledgement that rode
/// on its send (up to which seq, and the seqs it marked), which rides on to the receiver — the sender of those
/// messages — in the `msg` (`delivered`) for version 2 sockets, before it as `msg.delivered` frames for version 1.
fn deliver(
    delivery: &Delivery,
    notifier: &Notifier,
    message: NewMessage,
    sender: SocketRef,
    seq: Seq,
    sent_at: chrono::DateTime<chrono::Utc>,
    receipt: Option<(Seq, Vec<Seq>)>,
) {
    let NewMessage { match_id, receiver_id, content, nonce, commitment, .. } = message;
    let commitment = Some(STANDARD.encode(commitment));
    let mut frame = ServerFrame::Msg {
        match_id,
        seq,
        ciphertext: content,
        nonce,
        commitment,
        sent_at,
        mine: false,
        delivered: None,
    };
    match receipt {
        None => delivery.to_user(receiver_id, &frame),
        Some((up_to, seqs)) => {
            set_delivered(&mut frame, Some(up_to));
            // Made only if a version 1 socket is there to get them; the message follows them, without the receipt.
            let one_by_one =
                || seqs.iter().map(|&seq| ServerFrame::MsgDelivered { match_id, seq, up_to: false }).collect();
            delivery.to_user_by_version(receiver_id, &frame, one_by_one, true);
            // The sender's other sockets get the message, not the receipt (it was not theirs).
            set_delivered(&mut frame, None);
        }
    }
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

fn set_delivered(frame: &mut ServerFrame, up_to: Option<Seq>) {
    if let ServerFrame::Msg { delivered, .. } = frame {
        *delivered = up_to;
    }
}
