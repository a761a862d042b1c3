//! Delivery between nodes through Redis. Redis is a doorbell, the database stays the truth: an event that is
//! lost here (a failed publish, a restart of Redis) costs the user a `resync` and a `resume`, never a stored
//! message.
//!
//! - **Presence**: `{ns}:presence:{user}` is a sorted set of the nodes holding the user's sockets, each scored
//!   by when that entry expires; a node renews its entries every third of `presence_ttl_secs`, so a node
//!   killed with -9 stops being routed to within the TTL.
//! - **Events**: one channel per node, `{ns}:node:{node}`, and one subscription per node (never per socket);
//!   sharded channels on a Redis Cluster ([`conn`]), spread over its shards by node name.
//!   An event for a user is carried out on this node's sockets at once, and sent to every other node the
//!   user's presence names by a single task ([`dispatch`]), in the order events were made: a batch's events
//!   bound for one node travel in one publish and are read with one parse ([`wire`]). A resync and a sign-out
//!   go to every node (`{ns}:everyone`) instead.
//! - **Gaps**: when the subscription drops and comes back (Redis restarted), or a publish fails, the users
//!   concerned are marked for a resync ([`Sockets::want_resync`]); the hub tells them their match as stored
//!   and to `resume`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Event, Sockets};
use crate::domain::UserId;

mod dispatch;
mod wire;

use crate::redis_link::{Conn, Target, Timeouts};

/// Events and presence changes waiting for the dispatcher. When Redis is slow or away the queue fills (each
/// failed pipeline waits out its timeout); an event that does not fit is dropped and its user remembered in
/// `Cluster::overflowed`, and the dispatcher has every node resync them once it sends again: the same as a
/// failed publish, so memory stays bounded through a Redis outage and nothing stored is lost. A dropped
/// presence change is repaired by the periodic renewal (or lapses with its TTL).
const OUTBOX: usize = 65_536;
/// Users whose presence is renewed per pipeline.
const RENEW_CHUNK: usize = 1000;
/// How long a resubscribed node waits for its presence to be written again before its users resync.
const RESUBSCRIBED_RENEWAL: Duration = Duration::from_secs(1);

/// What the dispatcher sends, in order.
enum Outgoing {
    Event(Event),
    /// The user's first socket opened on this node (true) or their last one closed (false).
    Presence {
        user_id: UserId,
        here: bool,
    },
}

/// This node's link to the others.
#[derive(Debug)]
pub struct Cluster {
    pub(super) sockets: Arc<Sockets>,
    node: String,
    /// This node's channel (`{ns}:node:{node}`).
    channel: String,
    keys: Keys,
    target: Target,
    conn: Conn,
    outbox: mpsc::Sender<OutgoingBox>,
    /// Users whose events did not fit in the outbox (see [`OUTBOX`]).
    overflowed: std::sync::Mutex<HashSet<UserId>>,
    presence_ttl: Duration,
    /// Whether this node's subscription is up. While it is not, Redis is away (killed, restarting, cut off):
    /// work with a local fallback (the rate limits) takes it at once instead of waiting out the reconnection
    /// on every call, which takes seconds when Redis refuses connections.
    linked: AtomicBool,
    /// Whether this node sends envelopes ([`wire`]); false only to behave as the previous version.
    batched: bool,
    /// When this node last heard something on its own channel and on everyone's (ms since the epoch): on a Redis
    /// Cluster each node publishes a heartbeat on both, and subscribes again when one goes quiet (`renew`).
    heard: [AtomicU64; 2],
    /// Read by the dispatcher around each batch it sends; [`Cluster::hold_relay`] writes it.
    relay: Arc<tokio::sync::RwLock<()>>,
}

/// `Outgoing` behind a newtype so `Cluster` stays `Debug` without printing payloads.
struct OutgoingBox(Outgoing);

impl std::fmt::Debug for OutgoingBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Outgoing")
    }
}

#[derive(Debug, Clone)]
struct Keys {
    namespace: String,
}

impl Keys {
    fn presence(&self, user_id: UserId) -> String {
        format!("{}:presence:{user_id}", self.namespace)
    }

    /// The channel every node subscribes to besides its own.
    fn everyone(&self) -> String {
        format!("{}:everyone", self.namespace)
    }

    fn node_prefix(&self) -> String {
        format!("{}:node:", self.namespace)
    }

    fn node(&self, node: &str) -> String {
        format!("{}{node}", self.node_prefix())
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// How the other nodes' events and Redis's state changes reach this node.
#[derive(Debug, Clone)]
pub struct Link {
    pub url: String,
    pub namespace: String,
    pub presence_ttl: Duration,
    /// Send a batch's events for one node in one envelope (`cluster.batch_envelope`).
    pub batch_envelope: bool,
}

impl Cluster {
    /// Connects (twice: one connection subscribes, one sends), subscribes to this node's channel and starts
    /// the dispatcher, the subscriber and the presence renewal; all stop with `shutdown`.
    pub async fn connect(
        link: &Link,
        sockets: Arc<Sockets>,
        shutdown: CancellationToken,
    ) -> redis::RedisResult<Arc<Self>> {
        let target = Target::parse(&link.url).map_err(|why| {
            redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "redis_url", why.to_owned()))
        })?;
        let node = wire::node_name(link.batch_envelope);
        let keys = Keys { namespace: link.namespace.clone() };
        let timeouts = Timeouts { connect: Duration::from_secs(2), response: Duration::from_secs(2) };
        let conn = target.connect(timeouts).await?;
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let channels = [keys.node(&node), keys.everyone()];
        let subscriber = target.subscribe(&channels, timeouts, push_tx.clone()).await?;
        let (outbox, outgoing) = mpsc::channel(OUTBOX);
        let presence_ttl = link.presence_ttl;
        let cluster = Arc::new(Self {
            sockets: sockets.clone(),
            channel: keys.node(&node),
            node,
            keys,
            target,
            conn,
            outbox,
            overflowed: Default::default(),
            presence_ttl,
            linked: AtomicBool::new(true),
            batched: link.batch_envelope,
            heard: [AtomicU64::new(now_ms()), AtomicU64::new(now_ms())],
            relay: Arc::default(),
        });
        dispatch::prepare(&cluster).await?;
        tokio::spawn(dispatch::dispatch(cluster.clone(), outgoing, link.presence_ttl));
        tokio::spawn(receive(cluster.clone(), push_rx, shutdown.clone()));
        // The subscriber is only read through its pushes, but it must live (and be pinged, so it notices a
        // dead Redis and reconnects) as long as the node.
        let subscription = Subscription { conn: subscriber, channels, pushes: push_tx, timeouts };
        tokio::spawn(renew(cluster.clone(), subscription, shutdown));
        tracing::info!(node = %cluster.node, "joined the cluster through Redis");
        Ok(cluster)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// A connection for other cluster work (the matchmaker's lease, shared limits).
    pub fn connection(&self) -> Conn {
        self.conn.clone()
    }

    /// Where Redis is: for work that needs a connection of its own (a blocking read), and for the key names
    /// a Redis Cluster needs ([`Target::same_shard`]).
    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn namespace(&self) -> &str {
        &self.keys.namespace
    }

    /// Holds this node's events to the other nodes (they queue) until the guard drops: a relay that is behind,
    /// for a test that plays what another node does meanwhile. Returns once the batch being sent is out.
    pub async fn hold_relay(&self) -> tokio::sync::OwnedRwLockWriteGuard<()> {
        self.relay.clone().write_owned().await
    }

    /// False from the moment this node lost its subscription to Redis until it has subscribed again.
    pub fn linked(&self) -> bool {
        self.linked.load(Ordering::Relaxed)
    }

    /// Publishes `event` to the other nodes holding the user's sockets (this node has carried it out).
    pub(super) fn publish(&self, event: Event) {
        self.enqueue(Outgoing::Event(event));
    }

    pub(super) fn presence(&self, user_id: UserId, here: bool) {
        self.enqueue(Outgoing::Presence { user_id, here });
    }

    /// Hands `item` to the dispatcher without waiting; when the outbox is full, remembers whom it concerned.
    fn enqueue(&self, item: Outgoing) {
        let Err(mpsc::error::TrySendError::Full(OutgoingBox(item))) = self.outbox.try_send(OutgoingBox(item)) else {
            return;
        };
        metrics::counter!("tanis_delivery_outbox_overflows_total").increment(1);
        let mut overflowed = self.overflowed.lock().expect("overflow lock");
        match item {
            Outgoing::Event(Event::Resync { users }) => overflowed.extend(users),
            Outgoing::Event(event) => overflowed.extend(event.user_id()),
            Outgoing::Presence { .. } => {}
        }
    }

    /// Claims (again) every user with a socket here, for another TTL.
    async fn renew_presence(&self) {
        let ttl = self.presence_ttl;
        let expires = now_ms() + ttl.as_millis() as u64;
        let mut conn = self.conn.clone();
        for users in self.sockets.users().chunks(RENEW_CHUNK) {
            let mut pipe = redis::pipe();
            for user_id in users {
                let key = self.keys.presence(*user_id);
                pipe.zadd(&key, &self.node, expires).ignore();
                pipe.pexpire(&key, (ttl.as_millis() * 2) as i64).ignore();
            }
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                tracing::warn!(error = %e, "renewing presence failed");
                return;
            }
        }
    }

    /// Whether any node (this one included) holds a live socket of the user; not when Redis does not answer.
    pub async fn is_online(&self, user_id: UserId) -> bool {
        self.reachable(user_id).await.unwrap_or(false)
    }

    /// How long a node's presence entries live unless renewed: how long a killed node's users look present.
    pub fn presence_ttl(&self) -> Duration {
        self.presence_ttl
    }

    /// Whether any node holds a live socket of the user, or Redis's error.
    pub async fn reachable(&self, user_id: UserId) -> redis::RedisResult<bool> {
        if self.sockets.is_connected(user_id) {
            return Ok(true);
        }
        let now = now_ms();
        let nodes: redis::RedisResult<Vec<String>> = redis::cmd("ZRANGEBYSCORE")
            .arg(self.keys.presence(user_id))
            .arg(now)
            .arg("+inf")
            .arg("LIMIT")
            .arg(0)
            .arg(1)
            .query_async(&mut self.conn.clone())
            .await;
        nodes.map(|n| !n.is_empty())
    }
}

/// Carries out what other nodes publish to this one, and notices when the subscription was lost and came
/// back: everything published meanwhile is gone, so every user here resyncs.
///
/// On a Redis Cluster the client subscribes a channel again on whichever shard owns it after a failover, and
/// says so with an `ssubscribe` push: each one after the first subscription is such a gap, whether or not this
/// node noticed a disconnection first (the lost shard may be one it sent nothing to).
async fn receive(cluster: Arc<Cluster>, mut pushes: mpsc::UnboundedReceiver<PushInfo>, shutdown: CancellationToken) {
    let sockets = &cluster.sockets;
    // The confirmations of the first subscription: this node's channel and everyone's.
    let mut first_confirmations = 2;
    loop {
        let push = tokio::select! {
            _ = shutdown.cancelled() => return,
            push = pushes.recv() => match push { Some(push) => push, None => return },
        };
        match push.kind {
            PushKind::Message | PushKind::SMessage => {
                // Heard on the channel: this node's own (index 0) or everyone's (1); see `renew`.
                let own = matches!(push.data.first(), Some(Value::BulkString(c)) if *c == cluster.channel.as_bytes());
                cluster.heard[usize::from(!own)].store(now_ms(), Ordering::Relaxed);
                let Some(Value::BulkString(payload)) = push.data.get(1) else { continue };
                match wire::decode(payload, cluster.batched) {
                    Ok(events) => events.iter().for_each(|event| sockets.deliver(event)),
                    Err(e) => tracing::error!(error = %e, "events from another node could not be read"),
                }
            }
            PushKind::Disconnection => {
                if cluster.linked.swap(false, Ordering::Relaxed) {
                    metrics::counter!("tanis_delivery_link_losses_total").increment(1);
                }
                tracing::warn!("lost the link to Redis; reconnecting");
            }
            PushKind::SSubscribe if first_confirmations > 0 => first_confirmations -= 1,
            PushKind::SSubscribe => {
                cluster.linked.store(true, Ordering::Relaxed);
                resubscribed(&cluster).await;
            }
            PushKind::Subscribe if !cluster.linked.swap(true, Ordering::Relaxed) => resubscribed(&cluster).await,
            _ => {}
        }
    }
}

/// Every user here resyncs: what was published to this node while it was not subscribed is gone.
async fn resubscribed(cluster: &Cluster) {
    metrics::counter!("tanis_resync_causes_total", "cause" => "resubscribed").increment(1);
    tracing::info!("resubscribed to Redis; every connected user resyncs");
    // A restarted Redis has forgotten who is here: say so before the users resync, so what their peers send next
    // is routed here again. Bounded: on a Redis Cluster a channel can be subscribed again while another shard is
    // still failing over, and the resync must not wait for every retry of that shard's keys (the periodic
    // renewal writes them again).
    let _ = tokio::time::timeout(RESUBSCRIBED_RENEWAL, cluster.renew_presence()).await;
    cluster.sockets.want_resync(cluster.sockets.users());
}

/// This node's subscription: its connection, and what it takes to make it again.
struct Subscription {
    conn: Conn,
    channels: [String; 2],
    pushes: mpsc::UnboundedSender<PushInfo>,
    timeouts: Timeouts,
}

/// How often a node on a Redis Cluster publishes its heartbeat on its channels, and how long they may stay
/// quiet before it subscribes again.
const HEARTBEAT: Duration = Duration::from_secs(1);
const QUIET: Duration = Duration::from_secs(3);

/// Renews this node's presence entries, and checks the subscription even when nobody sends anything.
///
/// On one Redis a ping on the subscriber's connection is enough: a dead Redis is noticed, and the client
/// subscribes again once it is back. On a Redis Cluster the client follows a failover only when a command meets
/// the moved slot, and a subscription can stay on a dead shard while the channel's publishes go to its promoted
/// replica: so the node publishes a heartbeat (an empty envelope, which every node of this version reads as no
/// events) on its own channel and on everyone's, and makes its subscription again when either has been quiet for
/// [`QUIET`]. Everything published to it meanwhile is gone: its users resync (the new subscription's
/// confirmations, see `receive`).
async fn renew(cluster: Arc<Cluster>, mut subscription: Subscription, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(cluster.presence_ttl / 3);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let every = if cluster.target.is_cluster() { HEARTBEAT } else { Duration::from_millis(500) };
    let mut pings = tokio::time::interval(every);
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn = cluster.conn.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = pings.tick() => {
                if cluster.target.is_cluster() {
                    heartbeat(&cluster, &mut subscription).await;
                } else {
                    let _: redis::RedisResult<()> = redis::cmd("PING").query_async(&mut subscription.conn).await;
                }
            }
            _ = ticks.tick() => cluster.renew_presence().await,
        }
    }
    // Leaving: this node's users are no longer here (a kill -9 leaves them to expire instead).
    let mut pipe = redis::pipe();
    for user_id in cluster.sockets.users() {
        pipe.zrem(cluster.keys.presence(user_id), &cluster.node).ignore();
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), pipe.query_async::<()>(&mut conn)).await;
}

/// One heartbeat on a Redis Cluster (see [`renew`]): publishes on both channels, and subscribes again when one
/// of them has been quiet for too long.
async fn heartbeat(cluster: &Cluster, subscription: &mut Subscription) {
    let beat = wire::envelope(std::iter::empty::<&str>());
    let mut pipe = redis::pipe();
    for channel in &subscription.channels {
        pipe.cmd("SPUBLISH").arg(channel).arg(&beat).ignore();
    }
    let published: redis::RedisResult<()> = pipe.query_async(&mut cluster.conn.clone()).await;
    if published.is_err() {
        return;
    }
    // The cluster answers: the link is back (whether this node's channels moved is the subscription's to say).
    cluster.linked.store(true, Ordering::Relaxed);
    let quiet_since = now_ms().saturating_sub(QUIET.as_millis() as u64);
    if cluster.heard.iter().all(|heard| heard.load(Ordering::Relaxed) >= quiet_since) {
        return;
    }
    tracing::warn!("this node's channels went quiet on the Redis Cluster; subscribing again");
    metrics::counter!("tanis_delivery_link_losses_total").increment(1);
    let Subscription { channels, pushes, timeouts, .. } = &*subscription;
    match cluster.target.subscribe(channels, *timeouts, pushes.clone()).await {
        Ok(conn) => {
            // The old connection (and whatever it still meant to subscribe) goes with it.
            subscription.conn = conn;
            cluster.heard.iter().for_each(|heard| heard.store(now_ms(), Ordering::Relaxed));
        }
        Err(e) => tracing::warn!(error = %e, "subscribing again"),
    }
}
