//! Delivery between nodes through Redis. Redis is a doorbell, the database stays the truth: an event that is
//! lost here (a failed publish, a restart of Redis) costs the user a `resync` and a `resume`, never a stored
//! message.
//!
//! - **Presence**: `{ns}:presence:{user}` is a sorted set of the nodes holding the user's sockets, each scored
//!   by when that entry expires; a node renews its entries every third of `presence_ttl_secs`, so a node
//!   killed with -9 stops being routed to within the TTL.
//! - **Events**: one channel per node, `{ns}:node:{node}`, and one subscription per node (never per socket).
//!   An event for a user is carried out on this node's sockets at once, and sent to every other node the
//!   user's presence names by a single task ([`dispatch`]), in the order events were made: a batch's events
//!   bound for one node travel in one publish and are read with one parse ([`wire`]). A resync and a sign-out
//!   go to every node (`{ns}:everyone`) instead.
//! - **Gaps**: when the subscription drops and comes back (Redis restarted), or a publish fails, the users
//!   concerned are marked for a resync ([`Sockets::want_resync`]); the hub tells them their match as stored
//!   and to `resume`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Event, Sockets};
use crate::domain::UserId;

mod dispatch;
mod wire;

/// Events and presence changes waiting for the dispatcher. When Redis is slow or away the queue fills (each
/// failed pipeline waits out its timeout); an event that does not fit is dropped and its user remembered in
/// `Cluster::overflowed`, and the dispatcher has every node resync them once it sends again: the same as a
/// failed publish, so memory stays bounded through a Redis outage and nothing stored is lost. A dropped
/// presence change is repaired by the periodic renewal (or lapses with its TTL).
const OUTBOX: usize = 65_536;
/// Users whose presence is renewed per pipeline.
const RENEW_CHUNK: usize = 1000;

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
    keys: Keys,
    client: redis::Client,
    conn: ConnectionManager,
    outbox: mpsc::Sender<OutgoingBox>,
    /// Users whose events did not fit in the outbox (see [`OUTBOX`]).
    overflowed: std::sync::Mutex<HashSet<UserId>>,
    presence_ttl: Duration,
    matchmaker_lease: Duration,
    local_pairing: Duration,
    /// Whether this node's subscription is up. While it is not, Redis is away (killed, restarting, cut off):
    /// work with a local fallback (the rate limits) takes it at once instead of waiting out the reconnection
    /// on every call, which takes seconds when Redis refuses connections.
    linked: AtomicBool,
    /// Whether this node sends envelopes ([`wire`]); false only to behave as the previous version.
    batched: bool,
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
    pub matchmaker_lease: Duration,
    /// How long a node pairs its own seekers before handing them over (`cluster.local_pairing_ms`).
    pub local_pairing: Duration,
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
        let client = redis::Client::open(with_resp3(&link.url))?;
        let node = wire::node_name(link.batch_envelope);
        let keys = Keys { namespace: link.namespace.clone() };
        let timeouts = || {
            ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(2)))
                .set_max_delay(Duration::from_secs(1))
        };
        let conn = client.get_connection_manager_with_config(timeouts()).await?;
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        let mut subscriber = client
            .get_connection_manager_with_config(timeouts().set_push_sender(push_tx).set_automatic_resubscription())
            .await?;
        subscriber.subscribe(&[keys.node(&node), keys.everyone()]).await?;
        let (outbox, outgoing) = mpsc::channel(OUTBOX);
        let matchmaker_lease = link.matchmaker_lease;
        let local_pairing = link.local_pairing;
        let presence_ttl = link.presence_ttl;
        let cluster = Arc::new(Self {
            sockets: sockets.clone(),
            node,
            keys,
            client,
            conn,
            outbox,
            overflowed: Default::default(),
            presence_ttl,
            matchmaker_lease,
            local_pairing,
            linked: AtomicBool::new(true),
            batched: link.batch_envelope,
        });
        dispatch::prepare(&cluster).await?;
        tokio::spawn(dispatch::dispatch(cluster.clone(), outgoing, link.presence_ttl));
        tokio::spawn(receive(cluster.clone(), push_rx, shutdown.clone()));
        // The subscriber is only read through its pushes, but it must live (and be pinged, so it notices a
        // dead Redis and reconnects) as long as the node.
        tokio::spawn(renew(cluster.clone(), subscriber, shutdown));
        tracing::info!(node = %cluster.node, "joined the cluster through Redis");
        Ok(cluster)
    }

    /// How long the elected matchmaker's lease lasts unless renewed.
    pub fn matchmaker_lease(&self) -> Duration {
        self.matchmaker_lease
    }

    /// How long this node pairs its own seekers before handing them to the cluster; zero: not at all.
    pub fn local_pairing(&self) -> Duration {
        self.local_pairing
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// A connection for other cluster work (the matchmaker's lease, shared limits).
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }

    /// For work that needs a connection of its own (a blocking read).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    pub fn namespace(&self) -> &str {
        &self.keys.namespace
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

    /// Whether any node (this one included) holds a live socket of the user.
    pub async fn is_online(&self, user_id: UserId) -> bool {
        if self.sockets.is_connected(user_id) {
            return true;
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
        nodes.is_ok_and(|n| !n.is_empty())
    }
}

/// Pub/sub pushes need RESP3; the URL may say so already.
fn with_resp3(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

/// Carries out what other nodes publish to this one, and notices when the subscription was lost and came
/// back: everything published meanwhile is gone, so every user here resyncs.
async fn receive(cluster: Arc<Cluster>, mut pushes: mpsc::UnboundedReceiver<PushInfo>, shutdown: CancellationToken) {
    let sockets = &cluster.sockets;
    loop {
        let push = tokio::select! {
            _ = shutdown.cancelled() => return,
            push = pushes.recv() => match push { Some(push) => push, None => return },
        };
        match push.kind {
            PushKind::Message => {
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
            PushKind::Subscribe if !cluster.linked.swap(true, Ordering::Relaxed) => {
                metrics::counter!("tanis_resync_causes_total", "cause" => "resubscribed").increment(1);
                tracing::info!("resubscribed to Redis; every connected user resyncs");
                // A restarted Redis has forgotten who is here: say so before the users resync, so what their
                // peers send next is routed here again.
                cluster.renew_presence().await;
                sockets.want_resync(sockets.users());
            }
            _ => {}
        }
    }
}

/// Renews this node's presence entries, and pings on the subscriber's connection so a dead Redis is noticed
/// (and reconnected to) even when nobody sends anything.
async fn renew(cluster: Arc<Cluster>, mut subscriber: ConnectionManager, shutdown: CancellationToken) {
    let mut ticks = tokio::time::interval(cluster.presence_ttl / 3);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pings = tokio::time::interval(Duration::from_millis(500));
    pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn = cluster.conn.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = pings.tick() => {
                let _: redis::RedisResult<()> = redis::cmd("PING").query_async(&mut subscriber).await;
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
