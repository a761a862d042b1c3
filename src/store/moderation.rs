//! Blocks and reports.

use chrono::{DateTime, Utc};

use super::{Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::{MatchId, UserId};

/// A block as its owner sees it: whom (by handle) and since when.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BlockRow {
    pub id: i64,
    pub alias: String,
    pub tag: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub reporter_id: UserId,
    pub reported_id: UserId,
    pub match_id: MatchId,
    pub reason: &'a str,
    pub details: Option<&'a str>,
    /// The keyed hash of the reporter's address range (src/moderation/trust.rs), when their address is known.
    pub network: Option<&'a [u8]>,
    pub now: DateTime<Utc>,
}

impl Store {
    /// Records that `blocker` blocks `blocked`; blocking twice is a no-op.
    pub async fn insert_block(&self, blocker: UserId, blocked: UserId, now: DateTime<Utc>) -> Result<(), StoreError> {
        let query = "INSERT INTO blocks (blocker_id, blocked_id, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (blocker_id, blocked_id) DO NOTHING";
        on_write_pool!(self, |pool| sqlx::query(query)
            .bind(blocker)
            .bind(blocked)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
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

    /// Stores a report; a reporter counts once per reported user, so a repeat returns false and stores nothing.
    pub async fn insert_report(&self, r: &NewReport<'_>) -> Result<bool, StoreError> {
        let query = "INSERT INTO reports (reporter_id, reported_id, match_id, reason, details, created_at, \
                     reporter_network) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reporter_id, reported_id) DO NOTHING";
        let inserted = on_write_pool!(self, |pool| sqlx::query(query)
            .bind(r.reporter_id)
            .bind(r.reported_id)
            .bind(r.match_id)
            .bind(r.reason)
            .bind(r.details)
            .bind(r.now)
            .bind(r.network)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(inserted > 0)
    }
}
