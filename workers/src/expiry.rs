//! Expiry: message content older than the retention (24 h) is deleted — on PostgreSQL a day's partition at a time
//! once the day's last possible message is that old, on SQLite in small batches, each its own short transaction,
//! so no long lock — while `message_logs` keep the metadata for its own retention (two years; a month's partition
//! at a time on PostgreSQL); the franking commitments of messages older than the report window (30 days) are
//! cleared likewise, so that no copy of the database proves who wrote what for longer than a report could use it;
//! reports' verified evidence older than its retention (90 days) is deleted; matches past `expired_at` become
//! `expired` and their users are told.

use serde_json::json;
use tanis_proto::{MatchId, UserId};

use crate::{Context, JobAction, JobError, JobStore, LiveEffects};

/// Rows per delete transaction.
pub const BATCH: i64 = 500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredMatch {
    pub match_id: MatchId,
    pub user1_id: UserId,
    pub user2_id: UserId,
}

/// Partitions dropped whole by one run, by name (PostgreSQL; none on SQLite).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotated {
    pub content: Vec<String>,
    pub logs: Vec<String>,
}

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let now = ctx.now();
    let cutoff = now - ctx.settings.message_retention;
    let log_cutoff = now - ctx.settings.message_log_retention;
    let rotated = ctx.store.rotate_partitions(now, cutoff, log_cutoff).await?;
    let deleted = in_batches(|| ctx.store.delete_messages_before(cutoff, BATCH)).await?;
    let logs_deleted = in_batches(|| ctx.store.delete_logs_before(log_cutoff, BATCH)).await?;
    // Out of the report window a commitment serves nothing: the hub refuses to verify a reveal against it.
    let window_start = now - ctx.settings.report_window;
    let unfranked = in_batches(|| ctx.store.clear_commitments_before(window_start, BATCH)).await?;
    // A report's evidence goes with the report's retention: revealed text, kept only as long as moderation needs it.
    let evidence_cutoff = now - ctx.settings.evidence_retention;
    let evidence_deleted = in_batches(|| ctx.store.delete_evidence_before(evidence_cutoff, BATCH)).await?;
    let mut expired = 0;
    loop {
        let batch = ctx.store.expire_matches(now, BATCH).await?;
        for m in &batch {
            ctx.live.match_expired(m);
        }
        expired += batch.len();
        if batch.len() < BATCH as usize {
            break;
        }
    }
    let dropped = rotated.content.len() + rotated.logs.len();
    if deleted + logs_deleted + unfranked + evidence_deleted + (expired + dropped) as u64 > 0 {
        let details = json!({
            "messages_deleted": deleted,
            "logs_deleted": logs_deleted,
            "content_partitions_dropped": rotated.content,
            "log_partitions_dropped": rotated.logs,
            "commitments_cleared": unfranked,
            "evidence_deleted": evidence_deleted,
            "matches_expired": expired,
        });
        ctx.store.log(JobAction::ExpiryRun, None, details, now).await?;
    }
    Ok(())
}

/// Runs `delete` (at most [`BATCH`] rows, each its own transaction) until a batch comes back short; how many in all.
async fn in_batches<F, Fut>(mut delete: F) -> Result<u64, JobError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, JobError>>,
{
    let mut deleted = 0;
    loop {
        let n = delete().await?;
        deleted += n;
        if n < BATCH as u64 {
            return Ok(deleted);
        }
    }
}
