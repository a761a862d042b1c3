//! Who gets a push, decided off the message path: the relay's announcer hands over (peer, match, sender) only when the
//! peer has no socket on this node; this task checks the peer is offline everywhere (with Redis, their presence),
//! and queues at most one push per match a minute (a waiting one is kept: the outbox collapses per match too).

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::PushKind;
use crate::clock::SharedClock;
use crate::delivery::Delivery;
use crate::domain::{MatchId, UserId, handle};
use crate::store::Store;

/// One push per match at most this often.
const PER_MATCH: TimeDelta = TimeDelta::seconds(60);

#[derive(Debug, Clone, Copy)]
struct Sent {
    peer: UserId,
    match_id: MatchId,
    sender: UserId,
}

/// The handle the message path holds; cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Sent>,
    /// How many messages the task has considered (queued a push for, or not): what a wait for its decision
    /// watches ([`Notifier::until_considered`]).
    considered: watch::Receiver<u64>,
    /// Off until push is configured: nothing is queued that nothing would send.
    enabled: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Notifier {
    pub fn spawn(store: Store, delivery: Delivery, clock: SharedClock, shutdown: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(4096);
        let (count, considered) = watch::channel(0);
        tokio::spawn(run(store, delivery, clock, rx, count, shutdown));
        Self { tx, considered, enabled: std::sync::Arc::default() }
    }

    /// Returns once `count` messages were considered in all (their pushes queued or skipped).
    pub async fn until_considered(&self, count: u64) {
        // The task ends only at shutdown; then there is nothing more to wait for.
        let _ = self.considered.clone().wait_for(|n| *n >= count).await;
    }

    /// Whether push is configured (the message path asks before looking the peer up).
    pub fn enabled(&self) -> bool {
        self.enabled.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn enable(&self) {
        self.enabled.store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// A message was delivered to `peer`, who has no socket here. Never waits: when the task is behind, the push
    /// is skipped (the message itself is stored and delivered on reconnect).
    pub fn message(&self, peer: UserId, match_id: MatchId, sender: UserId) {
        if self.enabled.load(std::sync::atomic::Ordering::Relaxed) {
            let _ = self.tx.try_send(Sent { peer, match_id, sender });
        }
    }
}

async fn run(
    store: Store,
    delivery: Delivery,
    clock: SharedClock,
    mut rx: mpsc::Receiver<Sent>,
    considered: watch::Sender<u64>,
    shutdown: CancellationToken,
) {
    let mut recent: HashMap<MatchId, DateTime<Utc>> = HashMap::new();
    loop {
        let sent = tokio::select! {
            _ = shutdown.cancelled() => return,
            sent = rx.recv() => match sent { Some(sent) => sent, None => return },
        };
        consider(&store, &delivery, &clock, &mut recent, sent).await;
        considered.send_modify(|n| *n += 1);
    }
}

/// Queues a push for one message unless its match had one within [`PER_MATCH`] or the peer is online.
async fn consider(
    store: &Store,
    delivery: &Delivery,
    clock: &SharedClock,
    recent: &mut HashMap<MatchId, DateTime<Utc>>,
    sent: Sent,
) {
    let now = clock.now();
    if recent.get(&sent.match_id).is_some_and(|at| now - *at < PER_MATCH) {
        return;
    }
    recent.insert(sent.match_id, now);
    if recent.len() > 100_000 {
        recent.retain(|_, at| now - *at < PER_MATCH);
    }
    if delivery.is_online(sent.peer).await {
        return;
    }
    let from = match store.user_by_id(sent.sender).await {
        Ok(Some(user)) => handle(&user.alias, &user.tag),
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(error = %e, "reading a push's sender");
            return;
        }
    };
    let push = PushKind::Message { match_id: sent.match_id, from };
    if let Err(e) = store.enqueue_push(sent.peer, &push, now).await {
        tracing::warn!(error = %e, user_id = sent.peer.get(), "queueing a push");
    }
}
