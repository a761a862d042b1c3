//! The group commit's batch: what one transaction writes (messages, receipts, match ends, match openings), the
//! pure rules that answer each item (seq assignment, duplicates, first receipts, first ends: [`rules`], and the
//! openings' attempts: [`opening`]), and the same write in each dialect ([`postgres`], [`sqlite`]). The writer
//! task that gathers batches is [`crate::group_commit`]; the match rows and their other writes are
//! [`super::matches`], which knows nothing of the batch.

mod opening;
mod postgres;
mod rules;
mod sqlite;

use chrono::{DateTime, Utc};
use sqlx::Sqlite;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::LockedSqliteHandle;
use tanis_proto::MatchKind;

use super::sqlite::raw::Kept;
use super::{Backend, Store, StoreError};
use crate::domain::{EndCause, MatchId, Seq, UserId};
#[cfg(test)]
pub(crate) use opening::refusals;
pub use opening::{Asked, CreateMatchError, Matched, NewMatch, NodeFence, Opened, Opening, Refusal, Refused};

/// One message to store. `content` and `nonce` are the client's base64 ciphertext, never decoded here.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub match_id: MatchId,
    pub sender_id: UserId,
    pub receiver_id: UserId,
    pub client_msg_id: String,
    pub content: String,
    pub nonce: String,
    /// The sender's franking commitment (`message_logs.commitment`, docs/protocol.md section 9).
    pub commitment: [u8; tanis_proto::franking::COMMITMENT_LEN],
    pub device_info: Option<String>,
    /// The kind of the match (`message_logs.connection_type`).
    pub connection_type: MatchKind,
}

/// What happened to one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored now under `seq`.
    Stored { seq: Seq, sent_at: DateTime<Utc> },
    /// This sender already sent this `client_msg_id` in this match; it is stored under `seq`.
    Duplicate { seq: Seq, sent_at: DateTime<Utc> },
    /// The match is no longer active; nothing stored.
    MatchNotActive,
}

/// A receiver's acknowledgement (`msg.ack`): it marks the messages of the match addressed to the receiver with a
/// seq from `first` to `seq` delivered. Version 1 acknowledges one message (`first == seq`); version 2 every
/// message up to `seq` (`first` is where this socket's earlier receipts left off: below it everything is
/// delivered already, and the range is one probe of the `(match_id, seq)` index from there). A range whose `seq`
/// is beyond the match's last message marks nothing, as a version 1 ack of a message that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub match_id: MatchId,
    pub first: Seq,
    pub seq: Seq,
    pub receiver_id: UserId,
}

impl Receipt {
    /// Version 1's receipt: one message.
    pub fn one(match_id: MatchId, seq: Seq, receiver_id: UserId) -> Self {
        Receipt { match_id, first: seq, seq, receiver_id }
    }
}

/// What a receipt marked delivered: the messages' sender (the receiver's peer) and their seqs, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub sender: UserId,
    pub seqs: Vec<Seq>,
}

/// Ending an active match (a leave, a block, an expiry), written in the group commit's batch: it shares the
/// commit of the messages around it, and ends after the messages queued before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchEnd {
    pub match_id: MatchId,
    /// Stored as `matches.end_reason`.
    pub reason: EndCause,
}

/// One transaction's worth of the group commit's work.
#[derive(Debug, Clone, Copy, Default)]
pub struct Batch<'a> {
    pub messages: &'a [NewMessage],
    pub receipts: &'a [Receipt],
    pub ends: &'a [MatchEnd],
    /// The matchmaker's passes, opened after the ends: someone who left a match in this batch may be matched
    /// again in it.
    pub opens: &'a [Opening],
}

impl<'a> Batch<'a> {
    pub fn len(&self) -> usize {
        self.messages.len() + self.receipts.len() + self.ends.len() + self.opens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The first `n` items and the rest, counting messages, then receipts, then ends, then openings: an end
    /// never moves ahead of a message queued before it.
    pub fn split_at(&self, n: usize) -> (Batch<'a>, Batch<'a>) {
        let (m, r, e) = (self.messages.len(), self.receipts.len(), self.ends.len());
        let at = |len: usize, from: usize| n.saturating_sub(from).min(len);
        let (mi, ri, ei, oi) = (at(m, 0), at(r, m), at(e, m + r), at(self.opens.len(), m + r + e));
        (
            Batch {
                messages: &self.messages[..mi],
                receipts: &self.receipts[..ri],
                ends: &self.ends[..ei],
                opens: &self.opens[..oi],
            },
            Batch {
                messages: &self.messages[mi..],
                receipts: &self.receipts[ri..],
                ends: &self.ends[ei..],
                opens: &self.opens[oi..],
            },
        )
    }
}

/// What a batch did, each in input order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Written {
    pub messages: Vec<WriteOutcome>,
    /// What each receipt marked delivered for the first time; `None` when nothing (every message of its range
    /// was delivered already, is not that receiver's, or the range reaches beyond the match's last message).
    pub receipts: Vec<Option<Delivered>>,
    /// For the end that ended its match, the match's last seq then (every message stored before the end);
    /// `None` when the match was no longer active (or an earlier end of the batch ended it).
    pub ends: Vec<Option<Seq>>,
    pub opens: Vec<Opened>,
}

impl Store {
    /// Stores a batch in ONE transaction (group commit: one fsync for many messages). Each message gets the
    /// next `seq` of its match; a repeated `(match, sender, client_msg_id)` gets its earlier seq back; a message
    /// for a match that is not active is refused. Outcomes come back in input order.
    ///
    /// The statement count is fixed per batch, not per message (two lookups, two multi-row inserts): on
    /// SQLite every statement is a round trip to sqlx's connection thread, and that, not the disk, bounded
    /// the writer when each message had its own four statements (BENCHMARKS.md).
    pub async fn insert_messages(
        &self,
        batch: &[NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        Ok(self.write_batch(Batch { messages: batch, ..Batch::default() }, now).await?.messages)
    }

    /// Stores messages, marks receipts delivered, ends matches and opens the matchmaker's new ones, in ONE
    /// transaction: the group commit, so a receipt, a leave or a new match costs a few bytes in a commit that
    /// happens anyway instead of a transaction (and an fsync) of its own. Ends run after the batch's messages,
    /// openings last.
    pub async fn write_batch(&self, batch: Batch<'_>, now: DateTime<Utc>) -> Result<Written, StoreError> {
        if batch.is_empty() {
            return Ok(Written::default());
        }
        Ok(match &self.backend {
            Backend::Sqlite { write, .. } => sqlite::write_batch(write, None, batch, now).await?,
            Backend::Postgres { write, .. } => {
                postgres::write_batch(write, &self.fail_points, &self.named_days, batch, now).await?
            }
        })
    }

    /// This store for the group commit's thread ([`crate::dedicated::spawn_thread`]); call it on that thread's
    /// runtime. On SQLite it is this store (its connections run on threads of their own), never to be closed by the
    /// writer. On PostgreSQL it has a pool of its own of [`BATCH_CONNECTIONS`], opened lazily from there and closed
    /// when the writer ends, since a connection belongs to the runtime that opened it: each statement's answer then
    /// wakes the writer at once, not behind the socket tasks of the main runtime.
    ///
    /// Its connections price sequential scans out (`enable_seqscan = off`). Every statement of a batch reads
    /// rows by key; but a day's message partition starts empty and unanalyzed (a new database, every midnight),
    /// and the plan made for the duplicate lookup then, a scan of the whole partition per batch, stayed cached on
    /// the connection while the partition grew, until autovacuum's first `ANALYZE` of it: in a ten-second
    /// benchmark on a new database, 1 270 scans read 13.7 M rows, two fifths of PostgreSQL's CPU
    /// (BENCHMARKS.md, issue 79 point 3). A statement no index serves still scans.
    pub fn for_batches(&self) -> Store {
        match &self.backend {
            Backend::Sqlite { .. } => self.clone(),
            Backend::Postgres { write, .. } => {
                let options = (*write.connect_options()).clone().options([("enable_seqscan", "off")]);
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(BATCH_CONNECTIONS)
                    .acquire_timeout(std::time::Duration::from_secs(10))
                    .connect_lazy_with(options);
                let read = super::Reader::new(pool.clone());
                Store { backend: Backend::Postgres { read, write: pool }, ..self.clone() }
            }
        }
    }

    /// A writer of batches for a loop that writes one after another (the group commit).
    pub fn batch_writer(&self) -> BatchWriter {
        BatchWriter { store: self.clone(), kept: Kept::default(), conn: None }
    }
}

/// [`Store::write_batch`] for batch after batch, under [`Lease`]s: on SQLite the batch's statements are prepared
/// once and kept for the next batches (preparing them anew was 8.8 % of the server's samples under a light relay
/// load; perf, BENCHMARKS.md), and the write connection is locked once for a whole lease. SQLite cannot close
/// its connection while statements exist: [`BatchWriter::close`] finalizes them, and must run before the store
/// closes.
pub struct BatchWriter {
    store: Store,
    /// Empty on PostgreSQL, whose statements sqlx caches on each connection.
    kept: Kept,
    /// SQLite's write connection, taken from its pool by [`BatchWriter::lease`] and given back by
    /// [`BatchWriter::release`].
    conn: Option<PoolConnection<Sqlite>>,
}

/// PostgreSQL connections of the group commit's own pool ([`Store::for_batches`]): the batch being written, and a
/// second for the partition maintenance a batch may have to do first.
pub const BATCH_CONNECTIONS: u32 = 2;

/// How long a batch may take on PostgreSQL, taking a connection included, before it is given up as failed. The
/// transaction is then dropped with its connection: PostgreSQL rolls it back, unless its `COMMIT` had already
/// arrived, in which case what it stored stays stored and a sender's resend with the same `client_msg_id` is
/// answered with its `seq`. A send waits at most two batches: the one being written when it arrived, then its
/// own (6 s). Batches take milliseconds; PostgreSQL under a checkpoint, well under a second.
pub const PG_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// The write connection held for batches written one after another. On SQLite it is held locked: locking it
/// goes through sqlx's connection thread (a command to it, its answer, and its wake-up once the lock is given
/// back), which cost every batch three wake-ups across threads (perf, BENCHMARKS.md, issue 31 round 9). The
/// store's other writers wait for the pool's one write connection meanwhile, so a lease is kept short. On
/// PostgreSQL it holds nothing: each batch takes a pooled connection, as many writers do at once.
pub struct Lease<'w>(Held<'w>);

enum Held<'w> {
    Sqlite {
        handle: LockedSqliteHandle<'w>,
        kept: &'w mut Kept,
    },
    /// PostgreSQL.
    Pooled(&'w Store),
    /// The write connection could not be had: the lease's first batch fails with why, and the lease is over.
    Unavailable(Option<sqlx::Error>),
}

impl BatchWriter {
    /// Takes a lease, taking SQLite's write connection from its pool (waiting for it) unless this writer still
    /// holds it.
    pub async fn lease(&mut self) -> Lease<'_> {
        let BatchWriter { store, kept, conn } = self;
        let Backend::Sqlite { write, .. } = &store.backend else { return Lease(Held::Pooled(store)) };
        if conn.is_none() {
            match write.acquire().await {
                Ok(taken) => *conn = Some(taken),
                Err(e) => return Lease(Held::Unavailable(Some(e))),
            }
        }
        let conn = conn.as_mut().expect("taken above");
        Lease(match conn.lock_handle().await {
            Ok(handle) => Held::Sqlite { handle, kept },
            Err(e) => Held::Unavailable(Some(e)),
        })
    }

    /// Gives SQLite's write connection back to its pool, for the store's other writers.
    pub fn release(&mut self) {
        self.conn = None;
    }

    /// Finalizes the kept statements. A writer dropped without it leaves them on the connection, which then
    /// cannot close (sqlx panics on its connection thread when the store closes).
    pub async fn close(mut self) {
        self.release();
        if let Backend::Sqlite { write, .. } = &self.store.backend
            && self.kept.len() > 0
            && let Err(e) = sqlite::finalize(write, &mut self.kept).await
        {
            tracing::error!(error = %e, "could not finalize the group commit's statements");
        }
    }
}

impl Drop for BatchWriter {
    fn drop(&mut self) {
        if self.kept.len() > 0 {
            tracing::error!(statements = self.kept.len(), "a batch writer was dropped without closing it");
        }
    }
}

impl Lease<'_> {
    /// As [`Store::write_batch`].
    pub async fn write(&mut self, batch: Batch<'_>, now: DateTime<Utc>) -> Result<Written, StoreError> {
        if batch.is_empty() {
            return Ok(Written::default());
        }
        match &mut self.0 {
            Held::Sqlite { handle, kept } => Ok(sqlite::write_locked(handle, Some(kept), batch, now)?),
            // A database that stops answering (a partition, a stalled server) would hold the batch, and every send
            // queued behind it, for as long as TCP keeps the connection: bounded, so that each waiting sender is
            // answered `internal` with a pause instead (docs/protocol.md, "When the server cannot store").
            Held::Pooled(store) => match tokio::time::timeout(PG_WRITE_TIMEOUT, store.write_batch(batch, now)).await {
                Ok(written) => written,
                Err(_) => Err(StoreError::Database(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("PostgreSQL did not answer a batch within {} s", PG_WRITE_TIMEOUT.as_secs()),
                )))),
            },
            Held::Unavailable(e) => Err(StoreError::Database(e.take().unwrap_or(sqlx::Error::PoolClosed))),
        }
    }

    /// Whether batches can still be written under this lease.
    pub fn is_open(&self) -> bool {
        !matches!(self.0, Held::Unavailable(_))
    }
}

/// A message in match 1 from user 10 to user 11, for the batch's unit tests.
#[cfg(test)]
fn a_message() -> NewMessage {
    NewMessage {
        match_id: MatchId(1),
        sender_id: UserId(10),
        receiver_id: UserId(11),
        client_msg_id: "a".into(),
        content: "Y2lwaGVy".into(),
        nonce: "bm9uY2U=".into(),
        commitment: [0; 32],
        device_info: None,
        connection_type: MatchKind::Text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_splits_in_queue_order_so_an_end_never_moves_ahead_of_an_earlier_message() {
        let message = a_message();
        let messages = [message.clone(), message];
        let receipts = [Receipt::one(MatchId(1), Seq(1), UserId(11))];
        let ends = [MatchEnd { match_id: MatchId(1), reason: EndCause::Left }];
        let opens = [Opening { matches: Vec::new(), epoch: None, node: None }];
        let batch = Batch { messages: &messages, receipts: &receipts, ends: &ends, opens: &opens };
        let counts = |b: Batch<'_>| (b.messages.len(), b.receipts.len(), b.ends.len(), b.opens.len());

        let (first, second) = batch.split_at(3);
        assert_eq!((counts(first), counts(second)), ((2, 1, 0, 0), (0, 0, 1, 1)));
        let (first, second) = batch.split_at(1);
        assert_eq!((counts(first), counts(second)), ((1, 0, 0, 0), (1, 1, 1, 1)));
        let (first, second) = batch.split_at(batch.len());
        assert_eq!((counts(first), second.is_empty()), ((2, 1, 1, 1), true));
    }
}
