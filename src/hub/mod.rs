//! The hub: every WebSocket of this node, the current match of every connected user, and the routing of
//! frames between them. Matching (the queue) and the relay writer (durable storage) are separate tasks the
//! hub feeds; the hub itself never holds a lock across an await.
//!
//! - [`session`]: one socket's life: authenticate, `hello`, read and write loops, heartbeats, close codes.
//! - [`dispatch`]: what each client frame does.
//! - [`matches`]: asking for a match, opening and ending matches, bans.
//! - [`registry`]: who is connected and how to reach or close their sockets.
//! - [`signal`]: video signalling: relay-only filtering, ICE servers with TURN credentials.
//! - [`rate`]: the per-user message rate limit.

mod dispatch;
mod matches;
mod rate;
mod registry;
mod session;
mod signal;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tanis_proto::{Limits, MatchInfo, MatchKind};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::{HubConfig, MatchingConfig, QuotaConfig};
use crate::matching::Matchmaker;
use crate::matching::rules::NearbyPolicy;
use crate::relay::Writer;
use crate::store::Store;

pub use session::router;
pub use signal::VideoSettings;

/// A user's current match as this node knows it.
#[derive(Debug, Clone)]
pub struct ActiveMatch {
    pub match_id: i64,
    pub peer_id: i64,
    pub kind: MatchKind,
    pub expires_at: DateTime<Utc>,
    /// What the user was told in `match.found` (and is told again in `hello`).
    pub info: MatchInfo,
}

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
    registry: registry::Registry,
    /// user id → their active match. Filled when a match opens or a user connects; emptied when it ends.
    active: Mutex<HashMap<i64, ActiveMatch>>,
    /// user id → message rate bucket, shared by all of the user's sockets.
    rates: Mutex<HashMap<i64, rate::Bucket>>,
    /// user id → video signalling rate bucket.
    signal_rates: Mutex<HashMap<i64, rate::Bucket>>,
    video: VideoSettings,
    matchmaker: std::sync::OnceLock<Matchmaker>,
    writer: Writer,
    /// The writer's and the matchmaker's loops, joined by [`Hub::join`] before the store closes.
    loops: Mutex<Vec<crate::dedicated::Running>>,
    /// The connection cap: one permit per open socket.
    connections: Arc<Semaphore>,
    shutdown: CancellationToken,
}

impl Hub {
    /// Builds the hub and starts its matchmaker and writer; both stop with `shutdown`.
    pub fn start(
        store: Store,
        clock: SharedClock,
        config: HubConfig,
        matching: MatchingConfig,
        quotas: QuotaConfig,
        video: VideoSettings,
        shutdown: CancellationToken,
    ) -> Self {
        let policy = NearbyPolicy { start_km: matching.nearby_start_km, doubling_secs: matching.nearby_doubling_secs };
        let (writer, writing) = Writer::spawn(store.clone(), clock.clone(), shutdown.clone());
        let hub = Hub {
            inner: Arc::new(Inner {
                writer,
                loops: Mutex::new(vec![writing]),
                connections: Arc::new(Semaphore::new(config.max_connections)),
                store,
                clock: clock.clone(),
                config,
                matching,
                quotas,
                registry: registry::Registry::default(),
                active: Mutex::new(HashMap::new()),
                rates: Mutex::new(HashMap::new()),
                signal_rates: Mutex::new(HashMap::new()),
                video,
                matchmaker: std::sync::OnceLock::new(),
                shutdown: shutdown.clone(),
            }),
        };
        // The matchmaker calls back into the hub; it holds a clone until shutdown ends its task.
        let (matchmaker, matching) =
            Matchmaker::spawn(Arc::new(hub.clone()), &hub.inner.store, clock, policy, shutdown);
        let _ = hub.inner.matchmaker.set(matchmaker);
        hub.inner.loops.lock().expect("loops lock").push(matching);
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

    fn matchmaker(&self) -> &Matchmaker {
        self.inner.matchmaker.get().expect("set in start")
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
        self.inner.active.lock().expect("active lock").get(&user_id).cloned()
    }

    /// Takes one message token for the user.
    fn allow_message(&self, user_id: i64) -> bool {
        let (rate, burst) = (self.inner.config.messages_per_second, self.inner.config.message_burst);
        let now = Instant::now();
        let mut rates = self.inner.rates.lock().expect("rates lock");
        rates.entry(user_id).or_insert_with(|| rate::Bucket::full(burst, now)).try_take(rate, burst, now)
    }

    /// Open sockets on this node.
    pub fn connections(&self) -> usize {
        self.inner.config.max_connections - self.inner.connections.available_permits()
    }
}
