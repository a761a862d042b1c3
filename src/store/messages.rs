//! Messages (ciphertext, deleted after 24 h) and their metadata logs (kept), written in batches.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, on_pool};

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
    pub async fn insert_messages(
        &self,
        batch: &[NewMessage],
        now: DateTime<Utc>,
    ) -> Result<Vec<WriteOutcome>, StoreError> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let mut next_seq: HashMap<i64, i64> = HashMap::new();
            let mut active: HashMap<i64, bool> = HashMap::new();
            let mut in_batch: HashMap<(i64, i64, &str), (i64, DateTime<Utc>)> = HashMap::new();
            let mut outcomes = Vec::with_capacity(batch.len());
            for m in batch {
                let is_active = match active.get(&m.match_id) {
                    Some(known) => *known,
                    None => {
                        let status: Option<String> = sqlx::query_scalar("SELECT status FROM matches WHERE id = $1")
                            .bind(m.match_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        *active.entry(m.match_id).or_insert(status.as_deref() == Some("active"))
                    }
                };
                if !is_active {
                    outcomes.push(WriteOutcome::MatchNotActive);
                    continue;
                }
                let key = (m.match_id, m.sender_id, m.client_msg_id.as_str());
                if let Some((seq, sent_at)) = in_batch.get(&key) {
                    outcomes.push(WriteOutcome::Duplicate { seq: *seq, sent_at: *sent_at });
                    continue;
                }
                let earlier: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
                    "SELECT seq, created_at FROM messages WHERE match_id = $1 AND sender_id = $2 AND client_msg_id = $3",
                )
                .bind(m.match_id)
                .bind(m.sender_id)
                .bind(&m.client_msg_id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((seq, sent_at)) = earlier {
                    outcomes.push(WriteOutcome::Duplicate { seq, sent_at });
                    continue;
                }
                let seq = match next_seq.get(&m.match_id) {
                    Some(seq) => *seq,
                    None => {
                        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) + 1 FROM message_logs WHERE match_id = $1")
                            .bind(m.match_id)
                            .fetch_one(&mut *tx)
                            .await?
                    }
                };
                next_seq.insert(m.match_id, seq + 1);
                sqlx::query(
                    "INSERT INTO messages (match_id, sender_id, receiver_id, seq, client_msg_id, content, nonce, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(m.match_id)
                .bind(m.sender_id)
                .bind(m.receiver_id)
                .bind(seq)
                .bind(&m.client_msg_id)
                .bind(&m.content)
                .bind(&m.nonce)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO message_logs (sender_id, receiver_id, match_id, seq, sent_at, device_info, connection_type) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(m.sender_id)
                .bind(m.receiver_id)
                .bind(m.match_id)
                .bind(seq)
                .bind(now)
                .bind(&m.device_info)
                .bind(m.connection_type)
                .execute(&mut *tx)
                .await?;
                in_batch.insert(key, (seq, now));
                outcomes.push(WriteOutcome::Stored { seq, sent_at: now });
            }
            tx.commit().await?;
            Ok(outcomes)
        })
    }

    /// Marks a message delivered when `receiver_id` is its receiver. Returns its sender the first time,
    /// `None` when it was already delivered or is not this receiver's.
    pub async fn mark_delivered(
        &self,
        match_id: i64,
        seq: i64,
        receiver_id: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, StoreError> {
        let query = "UPDATE message_logs SET delivered = TRUE, delivered_at = $4 \
                     WHERE match_id = $1 AND seq = $2 AND receiver_id = $3 AND delivered = FALSE RETURNING sender_id";
        Ok(on_pool!(self, |pool| sqlx::query_scalar(query)
            .bind(match_id)
            .bind(seq)
            .bind(receiver_id)
            .bind(now)
            .fetch_optional(pool)
            .await)?)
    }

    /// Stored messages of a match after `after_seq`, in order, at most `limit`.
    pub async fn messages_after(
        &self,
        match_id: i64,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let query = "SELECT match_id, seq, sender_id, content, nonce, created_at FROM messages \
                     WHERE match_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
        Ok(on_pool!(self, |pool| sqlx::query_as(query)
            .bind(match_id)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }
}
