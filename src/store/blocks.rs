//! Blocks: who a user keeps away, and the contact conversations a block ends.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{MatchId, UserId};

/// A block as its owner sees it: whom (by handle) and since when.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BlockRow {
    pub id: i64,
    pub alias: String,
    pub tag: String,
    pub created_at: DateTime<Utc>,
}

impl Store {
    /// Records that `blocker` blocks `blocked` and ends every contact conversation between them (`kept_at`
    /// cleared), in one transaction: a block that is stored has ended their contact, and a failure stores neither.
    /// Blocking twice is a no-op for the block. Returns the ended contacts' match ids.
    pub async fn block(
        &self,
        blocker: UserId,
        blocked: UserId,
        now: DateTime<Utc>,
    ) -> Result<Vec<MatchId>, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (blocker_id, blocked_id) DO NOTHING",
            )
            .bind(blocker)
            .bind(blocked)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let ended = sqlx::query_scalar(
                "UPDATE matches SET kept_at = NULL, contact_ended_at = $3 WHERE kept_at IS NOT NULL \
                 AND ((user1_id = $1 AND user2_id = $2) OR (user1_id = $2 AND user2_id = $1)) RETURNING id",
            )
            .bind(blocker)
            .bind(blocked)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(ended)
        })
    }

    pub async fn blocks_of(&self, blocker: UserId) -> Result<Vec<BlockRow>, StoreError> {
        let query = select!(
            "SELECT b.id, u.alias, u.tag, b.created_at FROM blocks b JOIN users u ON u.id = b.blocked_id \
                     WHERE b.blocker_id = $1 ORDER BY b.id"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(blocker).all().await)?)
    }

    /// Lifts one of `blocker`'s blocks; the blocked user, or `None` when there is no such block of theirs.
    pub async fn delete_block(&self, blocker: UserId, block_id: i64) -> Result<Option<UserId>, StoreError> {
        let query = "DELETE FROM blocks WHERE id = $1 AND blocker_id = $2 RETURNING blocked_id";
        Ok(on_write_pool!(self, |pool| sqlx::query_scalar(query)
            .bind(block_id)
            .bind(blocker)
            .fetch_optional(pool)
            .await)?)
    }
}
