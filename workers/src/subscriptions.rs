//! Subscriptions: those past their end date become inactive, and `is_premium` follows the active ones.

use serde_json::json;

use crate::{Context, JobAction, JobError, JobStore, LiveEffects};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Changes {
    pub deactivated: u64,
    pub premium_changed: u64,
}

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let now = ctx.now();
    let changes = ctx.store.refresh_subscriptions(now).await?;
    if changes != Changes::default() {
        let details = json!({ "deactivated": changes.deactivated, "premium_changed": changes.premium_changed });
        ctx.store.log(JobAction::SubscriptionsRun, None, details, now).await?;
    }
    Ok(())
}
