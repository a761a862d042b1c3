//! Subscriptions: those past their end date become inactive, and `is_premium` follows the active ones.

use serde_json::json;

use crate::{Context, JobAction, JobError, JobStore, LiveEffects, UserId};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub deactivated: u64,
    /// The users whose premium flag changed.
    pub premium_changed: Vec<UserId>,
}

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let now = ctx.now();
    let changes = ctx.store.refresh_subscriptions(now).await?;
    // Matching keeps premium in the standing it caches beside a user's sockets: every node drops theirs.
    ctx.live.standing_changed(&changes.premium_changed);
    if changes != Changes::default() {
        let details = json!({ "deactivated": changes.deactivated, "premium_changed": changes.premium_changed.len() });
        ctx.store.log(JobAction::SubscriptionsRun, None, details, now).await?;
    }
    Ok(())
}
