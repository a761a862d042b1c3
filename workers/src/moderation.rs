//! Automatic bans: a user reported by `report_threshold` distinct people (each of whom was matched with
//! them: the hub enforces that when it stores a report) is banned. Reports made before a moderator lifted an
//! earlier ban do not count again.

use serde_json::json;

use crate::{Context, JobError, JobStore, LiveEffects};

pub const REASON: &str = "reported by too many people";

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let threshold = ctx.settings.report_threshold;
    for user_id in ctx.store.users_to_ban(threshold).await? {
        if ctx.live.ban(user_id, REASON).await? {
            let details = json!({ "threshold": threshold, "automatic": true });
            ctx.store.log("job.auto_ban", Some(user_id), details, ctx.now()).await?;
            metrics::counter!("tanis_auto_bans_total").increment(1);
        }
    }
    Ok(())
}
