//! Messages (ciphertext, deleted after 24 h) and their metadata logs (kept), written in batches.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::matches::{Opened, Opening};
use super::{Backend, Store, StoreError, on_read_pool, select};

/// One message to store. `content` and `nonce` are the client's base64 ciphertext, never decoded here.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub match_id: i64,
    pub sender_id: i64,
    pub receiver_id: i64,
    pub client_msg_id: String,
    pub content: String,
    pub nonce: String,
    pub device_info: Option<String>,
    /// `text` or `video`: the kind of the match.
    pub connection_type: &'static str,
}

/// What happened to one message of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Stored now under `seq`.
    Stored { seq: i64, sent_at: DateTime<Utc> },
    /// This sender already sent this `client_msg_id` in this match; it is stored under `seq`.
    Duplicate { seq: i64, sent_at: DateTime<Utc> },
    /// The match is no longer active; nothing stored.
    MatchNotActive,
}

/// A receiver's acknowledgement (`msg.ack`) of one message: it marks the message delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    pub match_id: i64,
    pub seq: i64,
    pub receiver_id: i64,
}

/// Ending an active match (a leave, a block, an expiry), written in the relay writer's batch: it shares the
/// commit of the messages around it, and ends after the messages queued before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchEnd {
    pub match_id: i64,
    /// `left`, `blocked`, `expired` or `banned` (`matches.end_reason`).
    pub reason: &'static str,
}

/// One transaction's worth of the relay writer's work.
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
    /// The message's sender the first time it is marked delivered; `None` when it was already delivered or is
    /// not that receiver's.
    pub receipts: Vec<Option<i64>>,
    /// True for the end that ended its match; false when the match was no longer active (or an earlier end of
    /// the batch ended it).
    pub ends: Vec<bool>,
    pub opens: Vec<Opened>,
}

/// A stored message as `resume` returns it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MessageRow {
    pub match_id: i64,
    pub seq: i64,
    pub sender_id: i64,
    pub content: String,
    pub nonce: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Stores a batch in ONE transaction (group commit: one fsync for many messages). Each message gets the
    /// next `seq` of its match; a repeated `(match, sender, client_msg_id)` gets its earlier seq back; a message
    /// for a match that is not active is refused. Outcomes come back in input order.
    ///
    /// The statement count is fixed per batch, not per message (two lookups, two multi-row inserts): on
    /// SQLite every statement is a round trip to sqlx's connection thread, and that, not the disk, bounded
    /// the relay when each message had its own four statements (BENCHMARKS.md).
    pub async fn insert_messages(
        &self,
        batch: &[NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        Ok(self.write_batch(Batch { messages: batch, ..Batch::default() }, now).await?.messages)
    }

    /// Stores messages, marks receipts delivered, ends matches and opens the matchmaker's new ones, in ONE
    /// transaction: the relay writer's group commit, so a receipt, a leave or a new match costs a few bytes in a
    /// commit that happens anyway instead of a transaction (and an fsync) of its own. Ends run after the batch's
    /// messages, openings last.
    pub async fn write_batch(&self, batch: Batch<'_>, now: DateTime<Utc>) -> Result<Written, StoreError> {
        if batch.is_empty() {
            return Ok(Written::default());
        }
        Ok(match &self.backend {
            Backend::Sqlite { write, .. } => super::messages_sqlite::write_batch(write, batch, now).await?,
            Backend::Postgres { write, .. } => super::messages_pg::write_batch(write, batch, now).await?,
        })
    }

    /// Stored messages of a match after `after_seq`, in order, at most `limit`.
    pub async fn messages_after(
        &self,
        match_id: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let query = select!(
            "SELECT match_id, seq, sender_id, content, nonce, created_at FROM messages \
                     WHERE match_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(match_id).bind(after_seq).bind(limit).all().await)?)
    }
}

/// Match ids, each once, in id order (the order row locks are taken in).
pub(super) fn match_ids(ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Each match once, with the reason of its first end: two ends of one match in a batch (both users leaving
/// at once) end it once.
pub(super) fn distinct_ends(ends: &[MatchEnd]) -> Vec<(i64, &'static str)> {
    let mut seen = std::collections::HashSet::new();
    ends.iter().filter(|e| seen.insert(e.match_id)).map(|e| (e.match_id, e.reason)).collect()
}

/// Ends answered in input order from the ids of the matches the batch ended: only the first end of a match.
pub(super) fn answer_ends(ends: &[MatchEnd], ended: Vec<i64>) -> Vec<bool> {
    let mut ended: std::collections::HashSet<i64> = ended.into_iter().collect();
    ends.iter().map(|e| ended.remove(&e.match_id)).collect()
}

/// Receipts answered in input order from the rows marked `(match, seq, receiver, sender)`: another user's
/// receipt for the same message gets nothing, and a receipt repeated within the batch marks once and answers
/// once.
pub(super) fn answer_receipts(receipts: &[Receipt], marked: Vec<(i64, i64, i64, i64)>) -> Vec<Option<i64>> {
    let mut marked: HashMap<(i64, i64, i64), i64> = marked.into_iter().map(|(m, s, to, by)| ((m, s, to), by)).collect();
    receipts.iter().map(|r| marked.remove(&(r.match_id, r.seq, r.receiver_id))).collect()
}

/// The last seq of each active match, from rows `(id, status, last seq)`.
pub(super) fn active_last_seqs(rows: Vec<(i64, String, i64)>) -> HashMap<i64, i64> {
    rows.into_iter().filter(|(_, status, _)| status == "active").map(|(id, _, seq)| (id, seq)).collect()
}

/// Outcomes in input order and the messages to insert with their seqs. `known` holds earlier copies
/// `(match, sender, client_msg_id, seq, sent_at)`; in-batch repeats get the seq their first copy got.
pub(super) fn assign_seqs<'a>(
    batch: &'a [NewMessage],
    last_seq: &HashMap<i64, i64>,
    known: Vec<(i64, i64, String, i64, DateTime<Utc>)>,
    now: DateTime<Utc>,
) -> (Vec<WriteOutcome>, Vec<(&'a NewMessage, i64)>) {
    let mut known: HashMap<(i64, i64, String), (i64, DateTime<Utc>)> =
        known.into_iter().map(|(m, s, c, seq, at)| ((m, s, c), (seq, at))).collect();
    let mut next_seq: HashMap<i64, i64> = last_seq.iter().map(|(m, s)| (*m, s + 1)).collect();
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut fresh = Vec::with_capacity(batch.len());
    for m in batch {
        let Some(seq) = next_seq.get_mut(&m.match_id) else {
            outcomes.push(WriteOutcome::MatchNotActive);
            continue;
        };
        let key = (m.match_id, m.sender_id, m.client_msg_id.clone());
        if let Some((seq, sent_at)) = known.get(&key) {
            outcomes.push(WriteOutcome::Duplicate { seq: *seq, sent_at: *sent_at });
            continue;
        }
        known.insert(key, (*seq, now));
        fresh.push((m, *seq));
        outcomes.push(WriteOutcome::Stored { seq: *seq, sent_at: now });
        *seq += 1;
    }
    (outcomes, fresh)
}
