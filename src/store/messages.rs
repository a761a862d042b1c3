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
    /// Stored messages of a match after `after_seq`, in order, at most `limit`.
    pub async fn messages_after(
        &self,
        match_id: MatchId,
        after_seq: Seq,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let query = select!(
            "SELECT m.match_id, m.seq, m.sender_id, m.content, m.nonce, l.commitment, m.created_at FROM messages m \
             LEFT JOIN message_logs l ON l.match_id = m.match_id AND l.seq = m.seq \
             WHERE m.match_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(match_id).bind(after_seq).bind(limit).all().await)?)
    }
}
