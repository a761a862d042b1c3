//! The message relay's durable side: a single writer task that stores messages in batches (group commit),
//! so many messages share one transaction and one fsync instead of paying one each.
//!
//! Flow: socket reader → validation (in the hub) → [`Writer::submit`] → batch transaction → the waiting
//! socket learns the seq and only then acknowledges the sender and delivers to the receiver. Receipts
//! (`msg.ack`) ride in the same batches ([`Writer::submit_receipt`]): one commit carries both.

pub mod ack;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::dedicated::Running;

use crate::clock::SharedClock;
use crate::store::{NewMessage, Receipt, Store, StoreError, WriteOutcome};

/// Most messages written in one transaction; bigger batches add latency for little gain.
const MAX_BATCH: usize = 512;
/// Messages waiting for the writer across the node. When full, `submit` waits: the sockets sending fastest
/// slow down instead of the server buffering without bound.
const QUEUE: usize = 8192;

pub type WriteResult = Result<WriteOutcome, Arc<StoreError>>;
/// A receipt's outcome: the message's sender the first time it is marked delivered.
pub type ReceiptResult = Result<Option<i64>, Arc<StoreError>>;

enum Job {
    Message { message: NewMessage, done: oneshot::Sender<WriteResult> },
    Receipt { receipt: Receipt, done: oneshot::Sender<ReceiptResult> },
}

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the writer task (on its own thread with SQLite, see [`crate::dedicated`]). On `shutdown` it stops
    /// taking messages, writes every one already queued, and ends; join the returned handle before closing the
    /// store. It also ends when every `Writer` handle is dropped.
    pub fn spawn(store: Store, clock: SharedClock, shutdown: CancellationToken) -> (Self, Running) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let on_sqlite = store.clone();
        let running =
            crate::dedicated::spawn_for_store(&on_sqlite, "tanis-relay-writer", run(store, clock, rx, shutdown));
        (Self { tx }, running)
    }

    /// Queues a message; the receiver yields its outcome once the batch holding it has committed.
    pub async fn submit(&self, message: NewMessage) -> oneshot::Receiver<WriteResult> {
        let (done, outcome) = oneshot::channel();
        if let Err(mpsc::error::SendError(Job::Message { done, .. })) =
            self.tx.send(Job::Message { message, done }).await
        {
            let _ = done.send(Err(closed()));
        }
        outcome
    }

    /// Queues a receipt; the receiver yields its outcome once the batch holding it has committed.
    pub async fn submit_receipt(&self, receipt: Receipt) -> oneshot::Receiver<ReceiptResult> {
        let (done, outcome) = oneshot::channel();
        if let Err(mpsc::error::SendError(Job::Receipt { done, .. })) =
            self.tx.send(Job::Receipt { receipt, done }).await
        {
            let _ = done.send(Err(closed()));
        }
        outcome
    }
}

async fn run(store: Store, clock: SharedClock, mut rx: mpsc::Receiver<Job>, shutdown: CancellationToken) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    // Whatever arrived while the previous batch was committing forms the next batch. After shutdown the queue
    // is closed (a late `submit` is answered with an error, never acknowledged) and drained to its end.
    loop {
        let received = tokio::select! {
            received = rx.recv_many(&mut jobs, MAX_BATCH) => received,
            _ = shutdown.cancelled() => {
                rx.close();
                rx.recv_many(&mut jobs, MAX_BATCH).await
            }
        };
        if received == 0 {
            break;
        }
        let (mut messages, mut waiting, mut receipts, mut acking) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for job in jobs.drain(..) {
            match job {
                Job::Message { message, done } => (messages.push(message), waiting.push(done)),
                Job::Receipt { receipt, done } => (receipts.push(receipt), acking.push(done)),
            };
        }
        metrics::histogram!("tanis_relay_batch_size").record(messages.len() as f64);
        metrics::histogram!("tanis_relay_batch_receipts").record(receipts.len() as f64);
        let started = std::time::Instant::now();
        let (written, acked) = write_isolated(&store, &messages, &receipts, clock.now()).await;
        metrics::histogram!("tanis_relay_batch_seconds").record(started.elapsed().as_secs_f64());
        for (done, outcome) in waiting.into_iter().zip(written) {
            let _ = done.send(outcome);
        }
        for (done, outcome) in acking.into_iter().zip(acked) {
            let _ = done.send(outcome);
        }
    }
}

/// Writes a batch so that one message the database refuses fails alone: a batch whose transaction the
/// database refused is split in halves and each half retried (nothing of a failed transaction was stored, so a
/// retry is safe and keeps the order), down to the single message that carries the poison. One client's input
/// that slipped past the edge costs everyone else a few more transactions, never their messages.
///
/// Only refusals by the database are isolated. A lost connection or a pool timeout would fail every half too:
/// such a batch fails whole at once instead of multiplying its wait.
pub async fn write_isolated(
    store: &Store,
    batch: &[NewMessage],
    receipts: &[Receipt],
    now: DateTime<Utc>,
) -> (Vec<WriteResult>, Vec<ReceiptResult>) {
    match store.write_batch(batch, receipts, now).await {
        Ok((outcomes, acked)) => (outcomes.into_iter().map(Ok).collect(), acked.into_iter().map(Ok).collect()),
        Err(e) if batch.len() + receipts.len() > 1 && refused_by_database(&e) => {
            metrics::counter!("tanis_relay_batch_splits_total").increment(1);
            tracing::warn!(error = %e, batch = batch.len(), "a message batch was refused; retrying it in halves");
            // Halves that are each strictly smaller: messages split in two (receipts with the first half), a lone
            // message apart from the receipts, or the receipts in two.
            let none: &[Receipt] = &[];
            let ((first, r_first), (second, r_second)) = match batch.len() {
                0 => ((batch, &receipts[..receipts.len() / 2]), (batch, &receipts[receipts.len() / 2..])),
                1 => ((batch, none), (&batch[..0], receipts)),
                n => ((&batch[..n / 2], receipts), (&batch[n / 2..], none)),
            };
            let (mut outcomes, mut acked) = Box::pin(write_isolated(store, first, r_first, now)).await;
            let (more, more_acked) = Box::pin(write_isolated(store, second, r_second, now)).await;
            outcomes.extend(more);
            acked.extend(more_acked);
            (outcomes, acked)
        }
        Err(e) => {
            tracing::error!(error = %e, batch = batch.len(), receipts = receipts.len(), "storing messages failed");
            let e = Arc::new(e);
            (batch.iter().map(|_| Err(e.clone())).collect(), receipts.iter().map(|_| Err(e.clone())).collect())
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
