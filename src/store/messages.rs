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
            "SELECT match_id, seq, sender_id, content, nonce, created_at FROM messages \
                     WHERE match_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(match_id).bind(after_seq).bind(limit).all().await)?)
    }
}
