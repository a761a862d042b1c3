//! The hub: every WebSocket of this node, the current match of every connected user, and the routing of
//! frames between them. Matching (the queue) and the relay writer (durable storage) are separate tasks the
//! hub feeds; the hub itself never holds a lock across an await.
//!
//! - [`session`]: one socket's life: authenticate, `hello`, read and write loops, heartbeats, close codes.
//! - [`dispatch`]: what each client frame does.
//! - [`matches`]: asking for a match, opening and ending matches, bans.
//! - [`deletion`]: an account deleted by its owner leaving at once.
//! - [`signal`]: video signalling: relay-only filtering, ICE servers with TURN credentials.
//! - [`call_report`]: call quality: each side's `rtc.stats`, checked and counted once, into metrics.
//! - [`rate`]: the per-user message rate limit.

mod ads;
mod call_report;
mod deletion;
mod dispatch;
mod matches;
mod notices;
mod rate;
mod session;
mod signal;

use std::sync::{Arc, Mutex};

use tanis_proto::Limits;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::{HubConfig, MatchingConfig, QuotaConfig};
use crate::delivery::Delivery;
use crate::group_commit::{Announcer, Committer};
use crate::matching::rules::NearbyPolicy;
use crate::matching::{Matchmaker, Queue, cluster};
use crate::store::Store;

pub use matches::{ban, tell_ended};
pub use notices::{push_broadcast, push_since, queue_pushes};
pub use session::SocketAuth;
pub use signal::VideoSettings;

pub use crate::delivery::ActiveMatch;

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: SharedClock,
    config: HubConfig,
    matching: MatchingConfig,
    quotas: QuotaConfig,
    /// The privacy notice version a user must have accepted to be matched (`auth.privacy_notice_version`).
    privacy_notice_version: String,
    /// The only way to reach users: frames, answers and kicks all go through it.
    delivery: Delivery,
    /// Message rate buckets, one per user across all of their sockets (and nodes).
    rates: rate::Limiter,
    /// Video signalling rate buckets.
    signal_rates: rate::Limiter,
    video: VideoSettings,
    ads: crate::config::AdsConfig,
    /// Push notifications: the FCM client (set once at start when configured) and who gets a message push.
    push: std::sync::OnceLock<Arc<crate::push::FcmClient>>,
    notifier: crate::push::Notifier,
    /// Set when an admin changed the ads: the ads loop reads them again.
    ads_changed: std::sync::atomic::AtomicBool,
    queue: std::sync::OnceLock<Queue>,
    writer: Committer,
    /// The writer's, the announcer's and the matchmaker's loops, joined by [`Hub::join`] before the store closes.
    loops: Mutex<Vec<crate::dedicated::Running>>,
    /// The connection cap: one permit per open socket.
    connections: Arc<Semaphore>,
    shutdown: CancellationToken,
}

/// In memory on one node; in Redis in a cluster, where a user's sockets may be on several nodes. Either way
/// at the server's clock.
fn limiter(delivery: &Delivery, clock: &SharedClock, kind: &str) -> rate::Limiter {
    match delivery.cluster() {
        None => rate::Limiter::local(clock.clone()),
        Some(cluster) => rate::Limiter::redis(clock.clone(), cluster.clone(), kind),
    }
}

impl Hub {
    /// Builds the hub and starts its matchmaker and writer; both stop with `shutdown`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        store: Store,
        delivery: Delivery,
        clock: SharedClock,
        config: HubConfig,
        matching: MatchingConfig,
        quotas: QuotaConfig,
        video: VideoSettings,
        ads: crate::config::AdsConfig,
        privacy_notice_version: String,
        shutdown: CancellationToken,
    ) -> Self {
        let policy = NearbyPolicy { start_km: matching.nearby_start_km, doubling_secs: matching.nearby_doubling_secs };
        let notifier = crate::push::Notifier::spawn(store.clone(), delivery.clone(), clock.clone(), shutdown.clone());
        let (announcer, announcing) = Announcer::spawn(delivery.clone(), notifier.clone());
        let (writer, writing) = Committer::spawn(store.clone(), clock.clone(), announcer, shutdown.clone());
        let hub = Hub {
            inner: Arc::new(Inner {
                writer,
                // The announcer after the writer: it ends once the writer's last batch is announced.
                loops: Mutex::new(vec![writing, crate::dedicated::Running::Task(announcing)]),
                connections: Arc::new(Semaphore::new(config.max_connections)),
                store,
                clock: clock.clone(),
                config,
                matching,
                quotas,
                privacy_notice_version,
                rates: limiter(&delivery, &clock, "messages"),
                signal_rates: limiter(&delivery, &clock, "signals"),
                delivery,
                video,
                ads,
                push: std::sync::OnceLock::new(),
                notifier,
                ads_changed: std::sync::atomic::AtomicBool::new(false),
                queue: std::sync::OnceLock::new(),
                shutdown: shutdown.clone(),
            }),
        };
        // The matchmaker calls back into the hub; it holds a clone until shutdown ends its task.
        let (queue, matching) = match hub.inner.delivery.cluster() {
            None => {
                let (matchmaker, matching) =
                    Matchmaker::spawn(Arc::new(hub.clone()), &hub.inner.store, clock, policy, shutdown);
                (Queue::Local(matchmaker), matching)
            }
            Some(cluster) => {
                let election = cluster::elect(
                    Arc::new(hub.clone()),
                    cluster.clone(),
                    clock,
                    policy,
                    cluster.matchmaker_lease(),
                    shutdown,
                );
                (
                    Queue::Cluster(cluster::ClusterQueue::new(cluster)),
                    crate::dedicated::Running::Task(tokio::spawn(election)),
                )
            }
        };
        let _ = hub.inner.queue.set(queue);
        hub.inner.loops.lock().expect("loops lock").push(matching);
        tokio::spawn(hub.clone().resync_loop());
        if hub.inner.ads.enabled {
            hub.inner.delivery.sockets().want_between_matches();
            tokio::spawn(hub.clone().ads_loop());
        }
        hub
    }

    /// Waits, after shutdown, until the matchmaker has stopped and the relay writer has written every message
    /// queued to it: only then may the store close (a batch cut off by a closing pool is never acknowledged,
    /// but its senders would get errors for messages that were on their way to disk).
    pub async fn join(&self) {
        let loops = std::mem::take(&mut *self.inner.loops.lock().expect("loops lock"));
        for running in loops {
            running.join().await;
        }
    }

    fn matchmaker(&self) -> &Queue {
        self.inner.queue.get().expect("set in start")
    }

    pub fn limits(&self) -> Limits {
        let c = &self.inner.config;
        Limits {
            max_message_bytes: c.max_message_bytes,
            messages_per_second: c.messages_per_second,
            max_frame_bytes: c.max_frame_bytes,
        }
    }

    fn active_match(&self, user_id: i64) -> Option<ActiveMatch> {
        self.inner.delivery.active_match(user_id)
    }

    /// Takes one message token for the user.
    async fn allow_message(&self, user_id: i64) -> bool {
        let (rate, burst) = (self.inner.config.messages_per_second, self.inner.config.message_burst);
        self.inner.rates.allow(user_id, rate, burst).await
    }

    /// Whom the user may be matched with changed in the store (an unblock): every node drops what matching
    /// cached of it.
    pub fn standing_changed(&self, user_id: i64) {
        self.inner.delivery.standing_changed(user_id);
    }

    /// These logins of the user were signed out (in the store already): their sockets close with 4001, on every
    /// node.
    pub fn signed_out(&self, user_id: i64, logins: Vec<crate::auth::LoginId>) {
        self.inner.delivery.signed_out(user_id, logins);
    }

    /// Delivers a broadcast's notifications to the users reached, live.
    pub fn push_broadcast(
        &self,
        notice: &crate::notices::Notice,
        at: chrono::DateTime<chrono::Utc>,
        reached: &[crate::store::Reached],
    ) {
        push_broadcast(&self.inner.delivery, notice, at, reached);
    }

    /// Delivers the users' notifications created since `since`, live (and as pushes to those offline).
    pub async fn push_since(
        &self,
        users: &[i64],
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), crate::store::StoreError> {
        push_since(&self.inner.store, &self.inner.delivery, users, since, self.push_client().is_some()).await
    }

    /// Sends pushes through `client` from now on (set once, at start, when push is configured).
    pub fn set_push(&self, client: Arc<crate::push::FcmClient>) {
        let _ = self.inner.push.set(client);
        self.inner.notifier.enable();
    }

    /// The FCM client, when push is configured.
    pub fn push_client(&self) -> Option<Arc<crate::push::FcmClient>> {
        self.inner.push.get().cloned()
    }

    /// The hub's clock, shared.
    pub fn clock(&self) -> SharedClock {
        self.inner.clock.clone()
    }

    /// The hub's clock (injected: tests move it).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.clock.now()
    }

    /// Open sockets on this node.
    pub fn connections(&self) -> usize {
        self.inner.config.max_connections - self.inner.connections.available_permits()
    }
}
