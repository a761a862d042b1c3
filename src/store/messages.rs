//! Messages (ciphertext, deleted after 24 h) read back for `resume`. They are written by the group commit's
//! batch ([`super::batch`]).

use chrono::{DateTime, Utc};

use super::{Store, StoreError, on_read_pool, select};
use crate::domain::{MatchId, Seq, UserId};

/// A stored message as `resume` returns it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MessageRow {
    pub match_id: MatchId,
    pub seq: Seq,
    pub sender_id: UserId,
    pub content: String,
    pub nonce: String,
    /// The franking commitment bound at send time (`None` before franking).
    pub commitment: Option<Vec<u8>>,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Stored messages of a match after `after_seq`, in order, at most `limit`, sent at or after `since`: content
    /// past its retention is not served even before it is gone (on PostgreSQL it goes with its day's partition,
    /// once the day's newest message has passed the retention).
    pub async fn messages_after(
        &self,
        match_id: MatchId,
        after_seq: Seq,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        // `l.sent_at = m.created_at` (one `now` per batch writes both) lets PostgreSQL probe only the log's month.
        let query = select!(
            "SELECT m.match_id, m.seq, m.sender_id, m.content, m.nonce, l.commitment, m.created_at FROM messages m \
             LEFT JOIN message_logs l ON l.match_id = m.match_id AND l.seq = m.seq AND l.sent_at = m.created_at \
             WHERE m.match_id = $1 AND m.seq > $2 AND m.created_at >= $3 ORDER BY m.seq LIMIT $4"
        );
        Ok(on_read_pool!(self, |pool| pool
            .rows(query)
            .bind(match_id)
            .bind(after_seq)
            .bind(since)
            .bind(limit)
            .all()
            .await)?)
    }
}
