//! Moderation on a clock. Automatic bans: a user reported by `report_threshold` distinct people (each of whom
//! was matched with them: the hub enforces that when it stores a report) is banned; reports made before their
//! last clearance, and reports a moderator dismissed, do not count. Temporary bans: those whose end has come are
//! lifted, and the user is notified.

use serde_json::json;

use crate::{Context, JobError, JobStore, LiveEffects};

/// The automatic ban's reason code.
pub const REASON: &str = "reports";
/// Most temporary bans lifted per run; the rest wait a minute.
const LIFT_BATCH: i64 = 500;

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let threshold = ctx.settings.report_threshold;
    for user_id in ctx.store.users_to_ban(threshold).await? {
        // The audit row commits with the ban itself (`user.banned`, naming this job).
        if ctx.live.ban(user_id, REASON, json!({ "job": "auto_ban", "threshold": threshold })).await? {
            metrics::counter!("tanis_auto_bans_total").increment(1);
        }
    }
    let now = ctx.now();
    for user_id in ctx.store.expired_bans(now, LIFT_BATCH).await? {
        // Each lift is its own transaction with its notification and audit row; a retried run skips the done.
        if ctx.store.lift_expired_ban(user_id, now).await? {
            metrics::counter!("tanis_bans_expired_total").increment(1);
        }
    }
    Ok(())
}
