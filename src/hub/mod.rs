//! The hub: every WebSocket of this node, the current match of every connected user, and the routing of
//! frames between them. Matching (the queue) and the group commit (durable storage) are separate tasks the
//! hub feeds; the hub itself never holds a lock across an await.
//!
//! What it works through is grouped in [`Hub`] (services, settings, tasks, limiters, loops), each group reached
//! through a short accessor defined here (`store()`, `delivery()`, `sockets()`, `settings()`, `finder()`,
//! `writer()`, `tasks()`, `limiters()`, `loops()`). Its behaviour, by file, with what each adds to `impl Hub`:
//!
//! | file | what it holds | `impl Hub` |
//! |---|---|---|
//! | `mod.rs` | starting and stopping the hub, the accessors, the API's and jobs' entry points | `start`, `site` |
//! | [`socket`] | one socket's life: authenticate, `hello`, one task reading, writing, beating; closes | `accept` |
//! | [`context`] | what each frame is handled with: its user, its answers, its protocol errors | |
//! | [`dispatch`] | which function handles each client frame | |
//! | [`conversation`] | a conversation's frames: send, ack, resume, typing, leave, block, claim | |
//! | [`report`] | the socket's door to [`crate::reports`]: a `report` frame handed over, its answer | |
//! | [`contacts`] | keeping in touch: proposals, a match kept as a contact, its keys, its end | `end_contact` |
//! | [`matches`] | a find handed to [`crate::matching::find`], `end`, `resync` | `end_match`, `load_active` |
//! | [`signal`] | video signalling: `rtc.*` relay-only, ICE servers with TURN credentials | `rtc_config` |
//! | [`call_report`] | call quality: each side's `rtc.stats`, checked and counted once | |
//! | [`deletion`] | an account deleted by its owner leaving at once | `account_deleted` |
//! | [`notices`] | notifications delivered live, or queued as pushes | |
//! | [`ads`] | an ad between matches for free users | `ads_loop` |
//!
//! Banning is [`crate::moderation`]'s: the hub hands it what a ban reaches ([`Hub::site`]), and never the hub itself.

mod ads;
mod call_report;
mod contacts;
mod context;
mod conversation;
mod deletion;
mod dispatch;
mod matches;
mod notices;
mod report;
mod signal;
mod socket;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tanis_proto::{CloseCode, Limits};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::clock::SharedClock;
use crate::config::{AdsConfig, HubConfig};
use crate::dedicated::Running;
use crate::delivery::{Delivery, Sockets};
use crate::domain::UserId;
use crate::group_commit::{Announcer, Committer};
use crate::live::LiveUsers;
use crate::matching::find::{self, Finder};
use crate::moderation::Site;
use crate::push::{FcmClient, Notifier};
use crate::rate;
use crate::reports::Reports;
use crate::store::Store;

pub use context::SocketClient;
pub use notices::{push_broadcast, push_since};
pub use socket::SocketAuth;

pub use crate::live::ActiveMatch;

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

/// What the hub works through, built by the caller and shared with the rest of the server.
pub struct Services {
    pub store: Store,
    /// The only way to reach users: frames, answers and kicks all go through it.
    pub delivery: Delivery,
    /// The live state of the users connected here (their match, their cached standing): delivery keeps it as
    /// events arrive, matching reads it, and the hub loads it.
    pub live: Arc<LiveUsers>,
    /// The server's clock (injected: tests move it).
    pub clock: SharedClock,
    /// Reports, which the socket's `report` frame files.
    pub reports: Reports,
}

/// The hub's configuration, built by the caller from the server's.
pub struct Settings {
    /// Sockets, frames and messages: sizes, rates, queues, heartbeats, the connection cap.
    pub hub: HubConfig,
    /// What matching decides and opens a find by.
    pub matching: find::Settings,
    /// The ICE servers `rtc.config` hands out, the limits of video signalling.
    pub video: crate::video::VideoSettings,
    pub ads: AdsConfig,
    /// The limits on new and unverified accounts (their skips are the hub's to count).
    pub trust: crate::domain::trust::Rules,
    /// How long message content is kept (`jobs.message_retention_hours`): `resume` serves none older.
    pub message_retention: chrono::TimeDelta,
}

struct Inner {
    services: Services,
    settings: Settings,
    tasks: Tasks,
    limiters: Limiters,
    loops: Loops,
}

/// The tasks the hub feeds, started with it.
struct Tasks {
    /// The group commit: messages, receipts, match ends and openings, stored in shared batches.
    writer: Committer,
    /// Matching: a `match.find` from its parsed frame to `match.found`.
    finder: Finder,
    /// Push notifications: who gets a message push, and the FCM client (set once at start when configured).
    notifier: Notifier,
    push: OnceLock<Arc<FcmClient>>,
}

/// What keeps one user or one node's sockets from taking more than their share.
struct Limiters {
    /// Message rate buckets, one per user across all of their sockets (and nodes).
    messages: rate::Limiter,
    /// Video signalling rate buckets.
    signals: rate::Limiter,
    /// Skip buckets of new and unverified accounts (`[trust]`); their finds are matching's.
    skips: rate::Limiter,
    /// The connection cap: one permit per open socket.
    connections: Arc<Semaphore>,
}

/// The hub's background loops, and how they stop.
struct Loops {
    /// The writer's, the announcer's and the matchmaker's loops, joined by [`Hub::join`] before the store closes.
    running: Mutex<Vec<Running>>,
    /// Set when an admin changed the ads: the ads loop reads them again.
    ads_changed: AtomicBool,
    /// Ends every loop of the hub (the resync and ads loops, the matchmaker, the writer) and every socket.
    shutdown: CancellationToken,
    /// Cancelled when the node starts draining ([`Hub::drain`]): it takes no new sockets and is not ready.
    draining: CancellationToken,
}

fn limiter(delivery: &Delivery, clock: &SharedClock, kind: &str) -> rate::Limiter {
    rate::Limiter::of_node(delivery.cluster(), clock, kind)
}

impl Hub {
    /// Builds the hub and starts its matchmaker and writer; both stop with `shutdown`.
    pub fn start(services: Services, settings: Settings, shutdown: CancellationToken) -> Self {
        let Services { store, delivery, live, clock, .. } = &services;
        let notifier = Notifier::spawn(store.clone(), delivery.clone(), clock.clone(), shutdown.clone());
        let (announcer, announcing) = Announcer::spawn(delivery.clone(), notifier.clone());
        let (writer, writing) = Committer::spawn(store.clone(), clock.clone(), announcer, shutdown.clone());
        let matching = find::Services {
            store: store.clone(),
            live: live.clone(),
            writer: writer.clone(),
            delivery: delivery.clone(),
            clock: clock.clone(),
        };
        let (finder, matchmaking) = Finder::start(matching, settings.matching.clone(), shutdown.clone());
        let limiters = Limiters {
            messages: limiter(delivery, clock, "messages"),
            signals: limiter(delivery, clock, "signals"),
            skips: limiter(delivery, clock, "skips"),
            connections: Arc::new(Semaphore::new(settings.hub.max_connections)),
        };
        // The announcer after the writer: it ends once the writer's last batch is announced.
        let mut running = vec![writing, Running::Task(announcing)];
        running.extend(matchmaking);
        let loops = Loops {
            running: Mutex::new(running),
            ads_changed: AtomicBool::new(false),
            shutdown: shutdown.clone(),
            draining: CancellationToken::new(),
        };
        let tasks = Tasks { writer, finder, notifier, push: OnceLock::new() };
        let hub = Hub { inner: Arc::new(Inner { services, settings, tasks, limiters, loops }) };
        tokio::spawn(hub.clone().resync_loop());
        tokio::spawn(hub.clone().catch_up_loop());
        // Every socket closes with the node: one waiter here, not one in each socket's task (BENCHMARKS.md, "Idle
        // sockets: what still held memory"); a socket registered after this ran closes itself (`socket::greet`).
        tokio::spawn({
            let hub = hub.clone();
            async move {
                hub.loops().shutdown.cancelled().await;
                hub.sockets().close_all(CloseCode::GoingAway);
            }
        });
        if hub.settings().ads.enabled {
            hub.sockets().want_between_matches();
            tokio::spawn(hub.clone().ads_loop());
        }
        hub
    }

    /// Waits, after shutdown, until the matchmaker has stopped and the group commit has written every message
    /// queued to it: only then may the store close (a batch cut off by a closing pool is never acknowledged,
    /// but its senders would get errors for messages that were on their way to disk).
    pub async fn join(&self) {
        let loops = std::mem::take(&mut *self.loops().running.lock().expect("loops lock"));
        for running in loops {
            running.join().await;
        }
    }

    /// This node's matching.
    fn finder(&self) -> &Finder {
        &self.tasks().finder
    }

    /// What a ban carried out on this server reaches: the store, every node's sockets through delivery, the
    /// devices when push is configured, and the matching queue, which the user leaves.
    pub fn site(&self) -> Site<'_> {
        Site {
            store: self.store(),
            delivery: self.delivery(),
            push: self.push_client().is_some(),
            queue: Some(self.finder().queue()),
        }
    }

    /// Waits until this node's matchmaker has swept its queue at `at` or later on the server's clock (in a
    /// cluster, while this node is the elected one): whoever waiting had made compatible by then is paired. For
    /// tests, which move a manual clock and then wait for the sweep.
    pub async fn swept(&self, at: DateTime<Utc>) {
        self.finder().swept(at).await;
    }

    /// The store the hub reads and writes.
    pub fn store(&self) -> &Store {
        &self.inner.services.store
    }

    /// How the hub reaches users, on this node and the others.
    pub fn delivery(&self) -> &Delivery {
        &self.inner.services.delivery
    }

    /// This node's sockets.
    fn sockets(&self) -> &Sockets {
        self.delivery().sockets()
    }

    /// What this node keeps of the users connected here: their active match, their cached standing.
    fn live(&self) -> &LiveUsers {
        &self.inner.services.live
    }

    /// Reports: the socket's `report` frame here, and `POST /v1/reports/call` through the API.
    pub fn reports(&self) -> &Reports {
        &self.inner.services.reports
    }

    /// The hub's configuration.
    fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// The group commit: messages, receipts, match ends and openings.
    fn writer(&self) -> &Committer {
        &self.inner.tasks.writer
    }

    /// Writes waiting for the group commit (`tanis_group_commit_queue`, read when `/metrics` is scraped).
    pub fn commit_queue(&self) -> usize {
        self.writer().queued()
    }

    /// The rest of the tasks the hub feeds: matching, push.
    fn tasks(&self) -> &Tasks {
        &self.inner.tasks
    }

    /// The per-user rate limits and the connection cap.
    fn limiters(&self) -> &Limiters {
        &self.inner.limiters
    }

    /// Whether the node is draining: it refuses new sockets (HTTP 503 before the upgrade) and `/readyz`.
    pub fn is_draining(&self) -> bool {
        self.loops().draining.is_cancelled()
    }

    /// The first step of stopping (a rolling update): the node stops taking sockets, then closes the ones it has
    /// with 4010 (`draining`), spread evenly over `hub.drain_ms`, so that its clients reconnect to the other nodes
    /// a few at a time instead of all at once; each socket writes what was queued for it before its close.
    /// Everything else goes on meanwhile (a socket still open sends and receives, the matchmaker pairs); the
    /// shutdown that follows finishes the writes and hands the matchmaker's lease over.
    pub async fn drain(&self) {
        self.loops().draining.cancel();
        let closers = self.sockets().closers();
        let over = Duration::from_millis(self.settings().hub.drain_ms);
        let start = tokio::time::Instant::now();
        tracing::info!(sockets = closers.len(), ?over, "draining: closing this node's sockets");
        let count = closers.len().max(1) as u32;
        for (i, closer) in closers.iter().enumerate() {
            tokio::time::sleep_until(start + over * i as u32 / count).await;
            closer.close(CloseCode::Draining);
        }
        // A socket accepted just before the drain began registers after the list was taken; it closes itself
        // (`socket::greet`), or here.
        self.sockets().close_all(CloseCode::Draining);
        // Each closing socket writes its queue and its close frame, then waits for the client's reply, within
        // socket::FLUSH_BOUND. The shutdown must not begin before: the process would exit under the last ones, and
        // their clients would see the connection cut instead of 4010. Checked every 20 ms, once, at the end.
        let flushed = tokio::time::Instant::now() + socket::FLUSH_BOUND + Duration::from_millis(100);
        while !self.sockets().is_empty() && tokio::time::Instant::now() < flushed {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The background loops, the ads flag and the shutdown token.
    fn loops(&self) -> &Loops {
        &self.inner.loops
    }

    pub fn limits(&self) -> Limits {
        let c = &self.settings().hub;
        Limits {
            max_message_bytes: c.max_message_bytes,
            messages_per_second: c.messages_per_second,
            max_frame_bytes: c.max_frame_bytes,
            // Whole days by configuration (`jobs.report_window_days`), so nothing is lost in the division.
            report_window_days: u32::try_from(self.reports().window().num_days()).unwrap_or(u32::MAX),
        }
    }

    fn active_match(&self, user_id: UserId) -> Option<ActiveMatch> {
        self.delivery().active_match(user_id)
    }

    /// Takes one message token for the user; when there is none, how long until the bucket holds one again.
    async fn allow_message(&self, user_id: UserId) -> Result<(), std::time::Duration> {
        let c = &self.settings().hub;
        self.limiters().messages.take(user_id, c.messages_per_second.into(), c.message_burst).await
    }

    /// Whom the user may be matched with changed in the store (an unblock): every node drops what matching
    /// cached of it.
    pub fn standing_changed(&self, user_id: UserId) {
        self.delivery().standing_changed(user_id);
    }

    /// These logins of the user were signed out (in the store already): their sockets close with 4001, on every
    /// node.
    pub fn signed_out(&self, user_id: UserId, logins: Vec<crate::auth::LoginId>) {
        self.delivery().signed_out(user_id, logins);
    }

    /// Delivers a broadcast's notifications to the users reached, live.
    pub fn push_broadcast(
        &self,
        notice: &crate::notices::Notice,
        at: chrono::DateTime<chrono::Utc>,
        reached: &[crate::store::Reached],
    ) {
        push_broadcast(self.delivery(), notice, at, reached);
    }

    /// Delivers the users' notifications created since `since`, live (and as pushes to those offline).
    pub async fn push_since(
        &self,
        users: &[UserId],
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), crate::store::StoreError> {
        push_since(self.store(), self.delivery(), users, since, self.push_client().is_some()).await
    }

    /// Sends pushes through `client` from now on (set once, at start, when push is configured).
    pub fn set_push(&self, client: Arc<crate::push::FcmClient>) {
        let _ = self.tasks().push.set(client);
        self.tasks().notifier.enable();
    }

    /// The FCM client, when push is configured.
    pub fn push_client(&self) -> Option<Arc<crate::push::FcmClient>> {
        self.tasks().push.get().cloned()
    }

    /// The hub's clock, shared.
    pub fn clock(&self) -> SharedClock {
        self.inner.services.clock.clone()
    }

    /// The hub's clock (injected: tests move it).
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.services.clock.now()
    }

    /// Returns once the user has no socket on this node (each closed socket let go), without polling.
    pub async fn until_offline(&self, user_id: UserId) {
        self.sockets().until_offline(user_id).await;
    }

    /// Returns once the push notifier has considered `count` messages in all (queued a push or decided not to).
    pub async fn until_pushes_considered(&self, count: u64) {
        self.tasks().notifier.until_considered(count).await;
    }

    /// Open sockets on this node.
    pub fn connections(&self) -> usize {
        self.settings().hub.max_connections - self.limiters().connections.available_permits()
    }
}
