//! Sending push notifications: every push due in the outbox goes to its device; a token the push service no
//! longer knows removes the device; a refusal to be retried (429, 503, a network error) is tried again after the
//! server's `Retry-After` when it gave one, else after an exponential backoff, and given up after
//! [`MAX_ATTEMPTS`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::TimeDelta;
use serde_json::json;

use crate::{Context, JobAction, JobError, JobStore, LiveEffects};

/// Tries per push before it is dropped.
pub const MAX_ATTEMPTS: i32 = 8;
/// Pushes sent per run at most; the rest wait for the next run.
const BATCH: i64 = 200;

/// One push waiting in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub id: i64,
    pub device_id: i64,
    pub token: String,
    /// The message as JSON (title, body, collapse key, data), rendered when queued.
    pub payload: String,
    pub attempts: i32,
}

/// What the push service said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    /// The token is dead: forget the device.
    Gone,
    /// Try again, after `after` if the service said when.
    Retry {
        after: Option<Duration>,
    },
}

/// Sends one push (device token, payload); the server's FCM client.
pub type SendPush = Arc<dyn Fn(String, String) -> Pin<Box<dyn Future<Output = Sent> + Send>> + Send + Sync>;

/// The wait before the next try without a `Retry-After`: 30 s, doubling, at most an hour.
pub fn backoff(attempts: i32) -> TimeDelta {
    let exponent = u32::try_from(attempts.clamp(0, 7)).unwrap_or(7);
    TimeDelta::seconds((30_i64 << exponent).min(3600))
}

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let Some(send) = ctx.push.clone() else {
        // No push service configured: nothing is sent, and nothing waits for long (the outbox is not filled).
        return Ok(());
    };
    let now = ctx.now();
    let (mut delivered, mut gone, mut later) = (0, 0, 0);
    for p in ctx.store.due_pushes(now, BATCH).await? {
        match send(p.token.clone(), p.payload.clone()).await {
            Sent::Delivered => {
                ctx.store.push_done(p.id).await?;
                delivered += 1;
            }
            Sent::Gone => {
                ctx.store.forget_device(p.device_id).await?;
                gone += 1;
            }
            Sent::Retry { .. } if p.attempts + 1 >= MAX_ATTEMPTS => {
                ctx.store.push_done(p.id).await?;
                ctx.store
                    .log(JobAction::PushDropped, None, json!({ "push_id": p.id, "attempts": p.attempts + 1 }), now)
                    .await?;
            }
            Sent::Retry { after } => {
                let wait = after.and_then(|d| TimeDelta::from_std(d).ok()).unwrap_or_else(|| backoff(p.attempts));
                ctx.store.push_later(p.id, now + wait).await?;
                later += 1;
            }
        }
    }
    metrics::counter!("tanis_push_total", "outcome" => "delivered").increment(delivered);
    metrics::counter!("tanis_push_total", "outcome" => "gone").increment(gone);
    metrics::counter!("tanis_push_total", "outcome" => "retry").increment(later);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_30_seconds_to_an_hour() {
        let waits: Vec<i64> = (0..9).map(|a| backoff(a).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }
}
