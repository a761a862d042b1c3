//! Expiry: message content older than the retention (24 h) is deleted in small batches — each its own short
//! transaction, so no long lock — while `message_logs` keep the metadata; the franking commitments of messages
//! older than the report window (30 days) are cleared likewise, so that no copy of the database proves who wrote
//! what for longer than a report could use it; reports' verified evidence older than its retention (90 days) is
//! deleted; matches past `expired_at` become `expired` and their users are told.

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

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let now = ctx.now();
    let cutoff = now - ctx.settings.message_retention;
    let deleted = in_batches(|| ctx.store.delete_messages_before(cutoff, BATCH)).await?;
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
    if deleted + unfranked + evidence_deleted + expired as u64 > 0 {
        let details = json!({
            "messages_deleted": deleted,
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
