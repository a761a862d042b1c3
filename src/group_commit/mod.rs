//! The group commit: a single writer task that commits messages, receipts, match ends and match openings in
//! batches, so many writes share one transaction and one fsync instead of paying one each. It owns the queue and
//! the loop; what a batch writes is the store's ([`crate::store::Batch`]), what follows a commit is [`announce`]'s.
//!
//! Flow: socket reader → validation (in the hub) → [`Committer::submit`] → batch transaction → the batch's
//! outcomes go to the announcer ([`announce`]), which acknowledges each sender and only then delivers to the
//! receiver. Receipts (`msg.ack`), the ends of matches (a leave, a block) and the matchmaker's new matches ride in
//! the same batches ([`Committer::submit_receipt`], [`Committer::end_match`], [`Committer::open`]): one commit
//! carries them all.

pub mod announce;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::dedicated::Running;
use crate::domain::Seq;

use crate::clock::SharedClock;
use crate::store::{
    BackendKind, Batch, Delivered, Lease, MatchEnd, NewMessage, Opened, Opening, Receipt, Store, StoreError,
    WriteOutcome,
};
pub use announce::{AckFloor, Announcer, Reply};

/// Most messages written in one transaction; bigger batches add latency for little gain.
const MAX_BATCH: usize = 512;
/// Messages waiting for the writer across the node. When full, `submit` waits: the sockets sending fastest
/// slow down instead of the server buffering without bound.
const QUEUE: usize = 8192;
/// How long the writer holds SQLite's write connection for batches that follow one another before it gives it
/// back to its pool: a busy relay locks the connection once per several batches, and the
/// store's other writers (sign-ins, the job queue) wait for it little longer than a batch.
const LEASE_TIME: Duration = Duration::from_millis(10);

pub type WriteResult = Result<WriteOutcome, Arc<StoreError>>;
/// A receipt's outcome: what it marked delivered for the first time (the messages' sender and their seqs).
pub type ReceiptResult = Result<Option<Delivered>, Arc<StoreError>>;
/// An end's outcome: the match's last seq when this end ended it (`None`: it was no longer active).
pub type EndResult = Result<Option<Seq>, Arc<StoreError>>;
/// An opening's outcome.
pub type OpenResult = Result<Opened, Arc<StoreError>>;

/// One write waiting in the queue, with whoever is told its outcome.
#[expect(
    clippy::large_enum_variant,
    reason = "messages are nearly every write; boxing the largest variant would allocate once per message"
)]
enum Write {
    /// `ack`: version 2's acknowledgement riding on the send, written in the same batch, so its receipt can ride
    /// on the `msg` that tells the peer of this message.
    Message {
        message: NewMessage,
        reply: Reply,
        ack: Option<(Receipt, announce::ReceiptFrom)>,
    },
    /// `from`: the socket that acknowledged, told if storing the receipt fails.
    Receipt {
        receipt: Receipt,
        from: announce::ReceiptFrom,
    },
    End {
        end: MatchEnd,
        done: oneshot::Sender<EndResult>,
    },
    Open {
        opening: Opening,
        done: oneshot::Sender<OpenResult>,
    },
}

/// Every outcome of a batch, each kind in input order.
#[derive(Debug, Default)]
pub struct Outcomes {
    pub messages: Vec<WriteResult>,
    pub receipts: Vec<ReceiptResult>,
    pub ends: Vec<EndResult>,
    pub opens: Vec<OpenResult>,
}

impl Outcomes {
    fn failed(batch: Batch<'_>, e: &Arc<StoreError>) -> Self {
        Outcomes {
            messages: batch.messages.iter().map(|_| Err(e.clone())).collect(),
            receipts: batch.receipts.iter().map(|_| Err(e.clone())).collect(),
            ends: batch.ends.iter().map(|_| Err(e.clone())).collect(),
            opens: batch.opens.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    fn extend(&mut self, more: Outcomes) {
        self.messages.extend(more.messages);
        self.receipts.extend(more.receipts);
        self.ends.extend(more.ends);
        self.opens.extend(more.opens);
    }
}

/// The handle that queues writes for the group commit, cheap to clone.
#[derive(Clone)]
pub struct Committer {
    tx: mpsc::Sender<Write>,
}

impl Committer {
    /// Starts the writer task on a thread of its own ([`crate::dedicated`]); each batch's outcomes
    /// go to `announcer`, in commit order. On `shutdown` it stops taking messages, writes every one already
    /// queued, and ends; join the returned handle before closing the store. It also ends when every `Committer`
    /// handle is dropped.
    pub fn spawn(
        store: Store,
        clock: SharedClock,
        announcer: Announcer,
        shutdown: CancellationToken,
    ) -> (Self, Running) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let running = crate::dedicated::spawn_thread("tanis-group-commit", move || async move {
            let store = store.for_batches();
            run(store.clone(), clock, announcer, rx, shutdown).await;
            if store.kind() == BackendKind::Postgres {
                store.close().await;
            }
        });
        (Self { tx }, running)
    }

    /// Queues a message, with the acknowledgement riding on it if any; once the batch holding them has
    /// committed, the announcer answers `reply` and delivers both. A writer that has stopped answers at once that
    /// nothing was stored.
    pub async fn submit(&self, message: NewMessage, reply: Reply, ack: Option<(Receipt, announce::ReceiptFrom)>) {
        if let Err(mpsc::error::SendError(Write::Message { message, reply, .. })) =
            self.tx.send(Write::Message { message, reply, ack }).await
        {
            reply.answer(&message, &Err(closed()));
        }
    }

    /// Queues a receipt; once the batch holding it has committed, the announcer tells the message's sender.
    pub async fn submit_receipt(&self, receipt: Receipt, from: announce::ReceiptFrom) {
        if let Err(mpsc::error::SendError(Write::Receipt { from, .. })) =
            self.tx.send(Write::Receipt { receipt, from }).await
        {
            from.failed();
        }
    }

    /// Queues the end of an active match; the receiver yields whether it ended it, once the batch holding it
    /// has committed. Messages queued before it are stored first.
    pub async fn end_match(&self, end: MatchEnd) -> oneshot::Receiver<EndResult> {
        let (done, outcome) = oneshot::channel();
        if let Err(mpsc::error::SendError(Write::End { done, .. })) = self.tx.send(Write::End { end, done }).await {
            let _ = done.send(Err(closed()));
        }
        outcome
    }

    /// Queues the matchmaker's new matches; the receiver yields what was opened once the batch holding them has
    /// committed.
    pub async fn open(&self, opening: Opening) -> oneshot::Receiver<OpenResult> {
        let (done, outcome) = oneshot::channel();
        if let Err(mpsc::error::SendError(Write::Open { done, .. })) = self.tx.send(Write::Open { opening, done }).await
        {
            let _ = done.send(Err(closed()));
        }
        outcome
    }

    /// Writes waiting for the writer across the node, for the `tanis_group_commit_queue` gauge: near [`QUEUE`],
    /// senders are being slowed down (a soak watches it stay flat).
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

async fn run(
    store: Store,
    clock: SharedClock,
    announcer: Announcer,
    mut rx: mpsc::Receiver<Write>,
    shutdown: CancellationToken,
) {
    let mut writer = store.batch_writer();
    let mut writes = Vec::with_capacity(MAX_BATCH);
    // Whatever arrived while the previous batch was committing forms the next batch: under a light load a
    // message commits alone at once, under a heavy one hundreds share a commit. After shutdown the queue is
    // closed (a late `submit` is answered with an error, never acknowledged) and drained to its end.
    loop {
        let received = tokio::select! {
            received = rx.recv_many(&mut writes, MAX_BATCH) => received,
            _ = shutdown.cancelled() => {
                rx.close();
                rx.recv_many(&mut writes, MAX_BATCH).await
            }
        };
        if received == 0 {
            break;
        }
        // Batches that follow one another share a lease of the write connection (on SQLite, one lock of it), for
        // at most `LEASE_TIME`: then it goes back to its pool, where the store's other writers wait for it.
        let mut lease = writer.lease().await;
        let leased = Instant::now();
        loop {
            write_and_announce(&mut lease, &clock, &announcer, &mut writes).await;
            if !lease.is_open() || leased.elapsed() >= LEASE_TIME || !take_queued(&mut rx, &mut writes) {
                break;
            }
        }
        drop(lease);
        writer.release();
    }
    writer.close().await;
}

/// Moves writes already queued into `writes`, up to a batch; false if there were none.
fn take_queued(rx: &mut mpsc::Receiver<Write>, writes: &mut Vec<Write>) -> bool {
    while writes.len() < MAX_BATCH {
        let Ok(write) = rx.try_recv() else { break };
        writes.push(write);
    }
    !writes.is_empty()
}

/// Writes `writes` as one batch (emptying it) and hands the outcomes to whoever waits for them.
async fn write_and_announce(
    lease: &mut Lease<'_>,
    clock: &SharedClock,
    announcer: &Announcer,
    writes: &mut Vec<Write>,
) {
    let (mut messages, mut replies, mut receipts, mut from) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ends, mut ending, mut opens, mut opening) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for write in writes.drain(..) {
        match write {
            Write::Message { message, reply, ack } => {
                // The riding receipt is one of the batch's receipts; the message keeps its place among them.
                let rides = ack.map(|(receipt, by)| {
                    receipts.push(receipt);
                    from.push(by);
                    receipts.len() - 1
                });
                messages.push(message);
                replies.push((reply, rides));
            }
            Write::Receipt { receipt, from: by } => {
                receipts.push(receipt);
                from.push(by);
            }
            Write::End { end, done } => {
                ends.push(end);
                ending.push(done);
            }
            Write::Open { opening: o, done } => {
                opens.push(o);
                opening.push(done);
            }
        }
    }
    // The metrics keep the names docs/operations.md and the dashboards know them by.
    metrics::histogram!("tanis_relay_batch_size").record(messages.len() as f64);
    metrics::histogram!("tanis_relay_batch_receipts").record(receipts.len() as f64);
    let started = Instant::now();
    let batch = Batch { messages: &messages, receipts: &receipts, ends: &ends, opens: &opens };
    let outcomes = write_isolated(lease, batch, clock.now()).await;
    metrics::histogram!("tanis_relay_batch_seconds").record(started.elapsed().as_secs_f64());
    // The matchmaker announces its matches itself, so it is answered at once rather than after the announcer's
    // hop through the busy runtime: a user's end and their next match are never in one batch (they find only
    // once told the match ended), so nothing of the batch must reach them first.
    for (done, outcome) in opening.into_iter().zip(outcomes.opens) {
        let _ = done.send(outcome);
    }
    let committed = announce::Committed {
        messages: (messages.into_iter().zip(replies).zip(outcomes.messages))
            .map(|((m, (r, rides)), o)| (m, r, rides, o))
            .collect(),
        receipts: receipts.into_iter().zip(from).zip(outcomes.receipts).map(|((r, f), o)| Some((r, f, o))).collect(),
        ends: ending.into_iter().zip(outcomes.ends).collect(),
    };
    announcer.announce(committed).await;
}

/// Writes a batch so that one message the database refuses fails alone: a batch whose transaction the
/// database refused is split in halves and each half retried (nothing of a failed transaction was stored, so a
/// retry is safe and keeps the order), down to the single item that carries the poison. One client's input
/// that slipped past the edge costs everyone else a few more transactions, never their messages.
///
/// Only refusals by the database are isolated. A lost connection or a pool timeout would fail every half too:
/// such a batch fails whole at once instead of multiplying its wait.
pub async fn write_isolated(lease: &mut Lease<'_>, batch: Batch<'_>, now: DateTime<Utc>) -> Outcomes {
    match lease.write(batch, now).await {
        Ok(written) => Outcomes {
            messages: written.messages.into_iter().map(Ok).collect(),
            receipts: written.receipts.into_iter().map(Ok).collect(),
            ends: written.ends.into_iter().map(Ok).collect(),
            opens: written.opens.into_iter().map(Ok).collect(),
        },
        Err(e) if batch.len() > 1 && refused_by_database(&e) => {
            metrics::counter!("tanis_relay_batch_splits_total").increment(1);
            tracing::warn!(error = %e, batch = batch.len(), "a group-commit batch was refused; retrying it in halves");
            // Halves that are each strictly smaller, in queue order (messages, receipts, ends, openings).
            let (first, second) = batch.split_at(batch.len() / 2);
            let mut outcomes = Box::pin(write_isolated(lease, first, now)).await;
            outcomes.extend(Box::pin(write_isolated(lease, second, now)).await);
            outcomes
        }
        Err(e) => {
            tracing::error!(error = %e, batch = batch.len(), "storing a group-commit batch failed");
            Outcomes::failed(batch, &Arc::new(e))
        }
    }
}

fn closed() -> Arc<StoreError> {
    Arc::new(StoreError::Database(sqlx::Error::PoolClosed))
}

/// The database answered and refused (a constraint, a value it cannot hold), as opposed to not answering.
fn refused_by_database(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(_)) | StoreError::Conflict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::delivery::Delivery;
    use crate::domain::{MatchId, Seq, UserId};
    use crate::push::Notifier;
    use crate::store::Backend;

    /// The writer holds SQLite's write connection for batches that follow one another, but gives it back within
    /// its lease even when the queue never empties: the store's other writers are not starved by a busy relay.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_writer_gets_the_write_connection_while_the_queue_never_empties() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite:{}", dir.path().join("tanis.db").display())).await.unwrap();
        store.migrate().await.unwrap();
        let (delivery, shutdown) = (Delivery::local(Arc::default()), CancellationToken::new());
        let clock: SharedClock = Arc::new(SystemClock);
        let notifier = Notifier::spawn(store.clone(), delivery.clone(), clock.clone(), shutdown.clone());
        let (announcer, announcing) = Announcer::spawn(delivery.clone(), notifier);
        let (committer, writing) = Committer::spawn(store.clone(), clock, announcer, shutdown.clone());

        // Receipts of a message that does not exist: each is a statement in a batch, stored as nothing and
        // answered with nothing. The flood waits for room, so the queue stays full for as long as it runs.
        let (socket, _frames) = delivery.register(UserId(2), None, 1, 16);
        let flooding = CancellationToken::new();
        let (filled, mut queue_filled) = tokio::sync::oneshot::channel();
        let flood = tokio::spawn({
            let flooding = flooding.clone();
            async move {
                let mut filled = Some(filled);
                for sent in 0.. {
                    if flooding.is_cancelled() {
                        break;
                    }
                    let receipt = Receipt::one(MatchId(1), Seq(1), UserId(2));
                    committer.submit_receipt(receipt, announce::ReceiptFrom::one(socket.clone(), None)).await;
                    // More than the queue holds: from here on the writer always finds writes waiting.
                    if sent == 2 * QUEUE
                        && let Some(filled) = filled.take()
                    {
                        let _ = filled.send(());
                    }
                }
            }
        });
        tokio::time::timeout(Duration::from_secs(60), &mut queue_filled)
            .await
            .expect("the flood fills the queue")
            .unwrap();

        let Backend::Sqlite { write, .. } = &store.backend else { unreachable!("a SQLite store") };
        let other = sqlx::query("PRAGMA user_version = 7").execute(write);
        let written = tokio::time::timeout(Duration::from_secs(20), other).await;
        assert!(matches!(written, Ok(Ok(_))), "the other writer got the write connection: {written:?}");

        flooding.cancel();
        flood.await.unwrap();
        shutdown.cancel();
        writing.join().await;
        announcing.await.unwrap();
        store.close().await;
    }
}
