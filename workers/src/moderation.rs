//! Automatic bans: a user reported by `report_threshold` distinct people (each of whom was matched with
//! them: the hub enforces that when it stores a report) is banned. Reports made before a moderator lifted an
//! earlier ban do not count again.

use serde_json::json;

use crate::{Context, JobError, JobStore, LiveEffects};

pub const REASON: &str = "reported by too many people";

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let threshold = ctx.settings.report_threshold;
    for user_id in ctx.store.users_to_ban(threshold).await? {
        // The audit row commits with the ban itself (`user.banned`, naming this job).
        if ctx.live.ban(user_id, REASON, json!({ "job": "auto_ban", "threshold": threshold })).await? {
            metrics::counter!("tanis_auto_bans_total").increment(1);
        }
    }
    Ok(())
}
