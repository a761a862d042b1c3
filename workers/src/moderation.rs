//! Moderation on a clock. Automatic bans: a user whose reports (each reporter was matched with them: the hub
//! enforces that when it stores a report) reach `report_threshold` is banned; reports made before their last
//! clearance, and reports a moderator dismissed, do not count. Which reporters count (each once, with or without
//! evidence) and when a burst of reports goes to a moderator instead is the server's trust rules' to decide
//! ([`JobStore::auto_ban_decisions`]); this job applies each decision. Temporary bans: those whose end has come
//! are lifted, and the user is notified.

use serde_json::json;

use crate::{Context, JobError, JobStore, LiveEffects};

/// The automatic ban's reason code.
pub const REASON: &str = "reports";
/// Most temporary bans lifted per run; the rest wait a minute.
const LIFT_BATCH: i64 = 500;

/// What the automatic ban does with a user whose reports reached the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Banned: `reporters` people whose reports count, `with_evidence` of those reports with verified evidence
    /// (the statement of reasons states them).
    Ban { reporters: u32, with_evidence: u32 },
    /// Put up for human review instead (why: `burst_created`, `burst_network`); not banned automatically while
    /// the review is open.
    Review(&'static str),
}

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let threshold = ctx.settings.report_threshold;
    let now = ctx.now();
    for (user_id, decision) in ctx.store.auto_ban_decisions(threshold, now).await? {
        match decision {
            // The audit row commits with the ban itself (`user.banned`, naming this job).
            Decision::Ban { reporters, with_evidence } => {
                let by = json!({ "job": "auto_ban", "threshold": threshold, "reporters": reporters,
                                 "with_evidence": with_evidence });
                if ctx.live.ban(user_id, REASON, by).await? {
                    metrics::counter!("tanis_auto_bans_total").increment(1);
                }
            }
            // And the review's with its marker (`user.review_requested`).
            Decision::Review(why) => {
                if ctx.store.request_review(user_id, why, now).await? {
                    metrics::counter!("tanis_auto_ban_reviews_total", "why" => why).increment(1);
                }
            }
        }
    }
    for user_id in ctx.store.expired_bans(now, LIFT_BATCH).await? {
        // Each lift is its own transaction with its notification and audit row; a retried run skips the done.
        if ctx.store.lift_expired_ban(user_id, now).await? {
            metrics::counter!("tanis_bans_expired_total").increment(1);
        }
    }
    Ok(())
}
