//! Matching with several nodes (with Redis). Every node takes `match.find` from its own sockets; no single
//! process decides every pairing.
//!
//! - **Pair locally first** ([`local`]): a node holds its own seekers for `cluster.local_pairing_ms` and pairs
//!   them with each other, claiming each pair in Redis before opening it. With N nodes, busy nodes pair nearly
//!   all their seekers this way, each on its own CPU and its own commits (BENCHMARKS.md, "Matching across
//!   nodes"). Whoever is still waiting then is handed to the cluster's queue.
//! - **The cluster's queue** ([`queue`]) is a Redis hash, user → seeker, so "already waiting" holds whichever
//!   node a user's sockets are on (`HSETNX`); the node that took the request answers "already waiting" itself.
//!   Each change is also appended to an input stream, which the elected matchmaker reads in order; it answers
//!   `match.queued` for seekers nobody told yet, so that `match.queued` and `match.found` leave one node in that
//!   order (answered by the requesting node, `queued` could arrive after a `found` the matchmaker sent while the
//!   node waited for Redis's reply).
//! - **The election** is a lease (`SET … PX`) renewed every third of its life, with an epoch raised at every
//!   takeover. The holder runs the ordinary [`Matchmaker`] task, seeded from the hash and fed from the stream
//!   from the point it took the lease. If it dies, the lease lapses and another node takes over within the
//!   lease plus one renewal period. Each node's tick also renews its liveness (`{ns}:mm:alive`).
//! - **Fencing**: the epoch goes into every batch of matches ([`crate::store::Store::create_matches`]); a
//!   holder that lost the lease without knowing it (paused, cut off) finds the fence raised and writes nothing,
//!   so nobody is matched or charged twice. A node's local pairs need no fence: it claimed both entries. The
//!   elected matchmaker claims its pairs' entries too before opening them, so that a cancel during an opening is
//!   refused (and its request let go if the opening fails), never answered `match.cancelled` for a match that then
//!   opens.

use std::sync::Arc;
use std::time::Duration;

use redis::{RedisResult, Script};
use tokio_util::sync::CancellationToken;

use super::rules::Policy;
use super::{Matchmaker, Pairing, Seeker, Sweeps};
use crate::clock::SharedClock;
use crate::delivery::Cluster;
use crate::domain::UserId;
use crate::redis_link::{Target, Timeouts};
use crate::store::NodeFence;

pub(crate) mod entries;
mod holds;
mod link;
pub mod local;
pub(crate) mod queue;
#[cfg(test)]
mod queue_tests;
pub(crate) mod reaper;
pub(crate) mod scripts;

use entries::{Input, Keys};
pub use link::Link;
pub use queue::{ClusterQueue, Hold};
use scripts::HeldAgain;

/// The matchmaker's pairing when elected: drops seekers whose node is gone, claims the rest's entries as a node
/// claims its own pairs, opens those claimed under the lease's epoch, settles the claims, and takes every settled
/// user out of the queue.
struct Fenced<P> {
    opener: Arc<P>,
    cluster: Arc<Cluster>,
    queue: ClusterQueue,
}

/// What the elected matchmaker needs from the node's opener ([`crate::matching::find`]): opening a batch under an epoch, and the fence.
pub trait Opener: Send + Sync + 'static {
    /// The highest epoch that has written matches; `None` when it cannot be read now.
    fn fence(&self) -> impl Future<Output = Option<i64>> + Send;

    /// Opens the pairs as [`Pairing::open`] does, under `epoch`; `None` when a newer matchmaker holds the fence
    /// (nothing was written, nobody told).
    fn open_fenced(
        &self,
        pairs: &[(Seeker, Seeker)],
        epoch: i64,
    ) -> impl Future<Output = Option<Vec<Result<(), Vec<UserId>>>>> + Send;

    /// The node's fence as it stands now ([`crate::store::Store::node_fence`]); `None` when it cannot be read now.
    fn node_fence(&self, node: &str) -> impl Future<Output = Option<i64>> + Send;

    /// Raises these nodes' fences, before the elected matchmaker takes their places over; false when the database
    /// did not take it (nothing is taken over then).
    fn raise_node_fences(&self, nodes: &[String]) -> impl Future<Output = bool> + Send;

    /// Opens a node's own claimed pairs as [`Pairing::open`] does, under `fence` as it stood when they were claimed;
    /// `None` when it was raised since (nothing was written, nobody told: their places are the cluster's now).
    fn open_claimed_here(
        &self,
        pairs: &[(Seeker, Seeker)],
        fence: NodeFence,
    ) -> impl Future<Output = Option<Vec<Result<(), Vec<UserId>>>>> + Send;

    /// Tells the seeker, wherever their socket is, that they are waiting.
    fn queued(&self, seeker: &Seeker);

    /// Tells the seeker that pairing failed and to ask again.
    fn failed(&self, seeker: &Seeker);
}

struct Epoch<P> {
    fenced: Arc<Fenced<P>>,
    epoch: i64,
}

impl<P: Opener> Pairing for Epoch<P> {
    /// "Already waiting" was answered by the node that took the request (its entry was refused); a seeker
    /// seeded from the queue at a takeover is not told again.
    fn queued(&self, seeker: &Seeker, newly: bool) {
        if newly {
            self.fenced.opener.queued(seeker);
        }
    }

    /// Its entry (the matchmaker's) goes, by a task that retries while Redis is away.
    fn served(&self, seeker: Seeker) {
        let queue = self.fenced.queue.clone();
        tokio::spawn(async move {
            if queue.remove(&[&seeker], &[]).await.is_err() {
                local::let_go(queue, vec![seeker], local::LetGo::Removed(Vec::new())).await;
            }
        });
    }

    async fn open(&self, pairs: &[(Seeker, Seeker)]) -> Vec<Result<(), Vec<UserId>>> {
        let f = &self.fenced;
        // A seeker whose every socket is gone (its node was killed) would leave a stranger matched to nobody.
        let mut results: Vec<Option<Result<(), Vec<UserId>>>> = Vec::with_capacity(pairs.len());
        let mut live = Vec::with_capacity(pairs.len());
        let mut gone = Vec::new();
        for (a, b) in pairs {
            let absent: Vec<UserId> = futures_util::future::join_all(
                [a, b].map(|s| async { (!f.cluster.is_online(s.user_id()).await).then_some(s.user_id()) }),
            )
            .await
            .into_iter()
            .flatten()
            .collect();
            if absent.is_empty() {
                live.push((a.clone(), b.clone()));
                results.push(None);
            } else {
                gone.extend(&absent);
                results.push(Some(Err(absent)));
            }
        }
        let gone: Vec<&Seeker> =
            pairs.iter().flat_map(|(a, b)| [a, b]).filter(|s| gone.contains(&s.user_id())).collect();
        let opened = self.open_claimed(&live).await;
        let Opening { results: mut opened, done, matched } = opened;
        // A claim a Redis failover lost leaves the entry as this matchmaker held it, which SETTLE does not take:
        // REMOVE takes a matched or refused user's too, and the entries of the gone.
        let removed: Vec<&Seeker> = gone.into_iter().chain(done.iter()).collect();
        if let Err(e) = f.queue.remove(&removed, &matched).await {
            // Left in the queue, a matched user's entry would be paired again by the next matchmaker.
            tracing::warn!(error = %e, "clearing matched users from the cluster queue; retrying");
            let removed: Vec<Seeker> = removed.into_iter().cloned().collect();
            tokio::spawn(local::let_go(f.queue.clone(), removed, local::LetGo::Removed(matched)));
        }
        results.iter_mut().filter(|r| r.is_none()).for_each(|r| *r = opened.next());
        results.into_iter().map(|r| r.expect("one result per live pair")).collect()
    }
}

/// The places of nodes that died holding them, or whose claims went stale: each such node's fence is raised in the
/// database first, so that the node, should it be alive and cut off from Redis only, opens none of the pairs it had
/// claimed once they are the cluster's (docs/testing.md row 38). Nothing is taken when the raise fails.
async fn adopt<P: Opener>(queue: &ClusterQueue, opener: &P) -> RedisResult<Vec<Seeker>> {
    let doomed = queue.doomed().await?;
    if !doomed.is_empty() && !opener.raise_node_fences(&doomed).await {
        return Ok(Vec::new());
    }
    // With nobody doomed it still clears the claims left by entries gone since.
    queue.adopt(&doomed).await
}

/// What [`Epoch::open_claimed`] did: each live pair's result (in order), whose entries are done with (matched, or
/// refused) and who was matched.
struct Opening {
    results: std::vec::IntoIter<Result<(), Vec<UserId>>>,
    done: Vec<Seeker>,
    matched: Vec<UserId>,
}

impl<P: Opener> Epoch<P> {
    /// Claims the `live` pairs, opens those claimed under the epoch, and settles the claims. Claimed first, as a node
    /// claims its own pairs: a cancel meanwhile is refused ("not queued": the match may open) and marks the request,
    /// so that should the opening fail for the partner the request goes rather than waiting again. Before, a cancel
    /// during the opening deleted the entry and was answered `match.cancelled`, and the match opened all the same
    /// (issue 75, docs/testing.md row 17).
    async fn open_claimed(&self, live: &[(Seeker, Seeker)]) -> Opening {
        let f = &self.fenced;
        let claims = match f.queue.claim_held(live).await {
            Ok(claims) => claims,
            // Redis is away: nobody is paired, and each side is told to ask again and let go of. Their entries stay
            // as they are: a newer matchmaker may hold them already (this one lost Redis, and soon its lease), and
            // a find sent again takes its entry over.
            Err(e) => {
                tracing::warn!(error = %e, "claiming the matchmaker's pairs in the cluster queue");
                live.iter().flat_map(|(a, b)| [a, b]).for_each(|s| f.opener.failed(s));
                let results: Vec<_> = live.iter().map(|(a, b)| Err(vec![a.user_id(), b.user_id()])).collect();
                return Opening { results: results.into_iter(), done: Vec::new(), matched: Vec::new() };
            }
        };
        let claimed: Vec<(Seeker, Seeker)> =
            live.iter().zip(&claims).filter(|(_, c)| c.is_ok()).map(|(pair, _)| pair.clone()).collect();
        let opened = f.opener.open_fenced(&claimed, self.epoch).await;
        let fenced = opened.is_none();
        // Fenced off: a newer matchmaker holds the queue. Every claimed seeker goes back to it (a record tells it)
        // and this one forgets them.
        let opened = opened.unwrap_or_else(|| claimed.iter().map(|_| Err(Vec::new())).collect());
        let local::Settling { mut results, done, again, matched } = local::settling(live, claims, opened);
        let lost = match f.queue.settle(&done, &again, HeldAgain::ByMatchmaker, &matched).await {
            Ok(lost) => lost,
            // Redis is away: the claims must not outlive it. Everyone is let go of by a task that retries; whoever
            // was to wait again is told to ask again.
            Err(e) => {
                tracing::warn!(error = %e, "settling the matchmaker's claims in the cluster queue; retrying");
                let everyone: Vec<Seeker> = done.iter().chain(&again).map(|s| (*s).clone()).collect();
                tokio::spawn(local::let_go(f.queue.clone(), everyone, local::LetGo::Claimed(matched.clone())));
                again.iter().for_each(|s| f.opener.failed(s));
                again.iter().map(|s| s.user_id()).collect()
            }
        };
        for ((a, b), result) in live.iter().zip(&mut results) {
            if let Err(dropped) = result {
                dropped.extend([a.user_id(), b.user_id()].into_iter().filter(|u| lost.contains(u)));
                if fenced {
                    dropped.extend([a.user_id(), b.user_id()]);
                }
            }
        }
        let done = done.into_iter().cloned().collect();
        Opening { results: results.into_iter(), done, matched }
    }
}

/// Whether every live node of the cluster and its matchmaker understand a find's gender wish (`seeking`): a node of
/// the previous release pairs without it. Told by each tick of the election ([`scripts::lease::ACQUIRE`]); false until
/// the first, and while Redis does not answer.
#[derive(Clone, Default)]
pub struct Wishes(Arc<std::sync::atomic::AtomicBool>);

impl Wishes {
    pub fn understood(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn set(&self, understood: bool) {
        self.0.store(understood, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Takes part in the election until shutdown: renews or takes the lease every third of its life, runs the
/// matchmaker while holding it, and stops it the moment another node is seen holding it.
#[allow(clippy::too_many_arguments)]
pub async fn elect<P: Opener>(
    opener: Arc<P>,
    cluster: Arc<Cluster>,
    clock: SharedClock,
    policy: Policy,
    sweeps: Sweeps,
    link: Link,
    wishes: Wishes,
    shutdown: CancellationToken,
) {
    let lease = link.lease;
    let queue = ClusterQueue::new(&link, cluster.node());
    let fenced = Arc::new(Fenced { opener, cluster: cluster.clone(), queue: queue.clone() });
    let mut conn = link.conn.clone();
    let mut ticks = tokio::time::interval(lease / 3);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The matchmaker this node runs while it holds the lease: its epoch, and the token that stops it.
    let mut running: Option<(i64, CancellationToken, Matchmaker)> = None;
    let mut reaper = reaper::Reaper::new(&cluster);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let acquired: RedisResult<(String, i64, String, i64)> =
            queue.scripts.acquire(lease.as_millis() as u64).invoke(&mut conn).await;
        let (holder, epoch, position) = match acquired {
            Ok((holder, epoch, position, understood)) => {
                wishes.set(understood == 1);
                (holder, epoch, position)
            }
            // Redis is away: whoever holds the lease keeps it until it lapses; a node that cannot renew must
            // assume it lost it.
            Err(e) => {
                wishes.set(false);
                tracing::warn!(error = %e, "matchmaker election: Redis unreachable");
                if let Some((_, stop, _)) = running.take() {
                    stop.cancel();
                }
                continue;
            }
        };
        let mine = holder == cluster.node();
        match (&running, mine) {
            (Some((current, _, matchmaker)), true) if *current == epoch => {
                // Seekers held by a node that died with them: the cluster's now, once that node's fence is raised.
                match adopt(&queue, &*fenced.opener).await {
                    Ok(adopted) => {
                        for seeker in adopted {
                            matchmaker.take_over(seeker).await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "adopting a dead node's seekers"),
                }
                reaper.tick(&queue, &cluster).await;
            }
            (_, true) if !position.is_empty() => {
                if let Some((_, stop, _)) = running.take() {
                    stop.cancel();
                }
                // An epoch at or below the fence (Redis restarted and counts from 1 again) would be refused, or
                // equal an old holder's: raise the counter past the fence and take the lease again next tick.
                let fence = fenced.opener.fence().await;
                if fence.is_none_or(|fence| epoch <= fence) {
                    if let Some(fence) = fence {
                        let _: RedisResult<i64> = queue.scripts.raise(fence).invoke(&mut conn).await;
                    }
                    let _: RedisResult<i64> = queue.scripts.release().invoke(&mut conn).await;
                    continue;
                }
                tracing::info!(epoch, "took the matchmaker lease");
                metrics::counter!("tanis_matchmaker_takeovers_total").increment(1);
                let stop = shutdown.child_token();
                let seeded = match queue.entries().await {
                    Ok(seeded) => seeded,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the cluster queue; starting empty");
                        Vec::new()
                    }
                };
                reaper = reaper::Reaper::new(&cluster);
                let pairing = Arc::new(Epoch { fenced: fenced.clone(), epoch });
                let matchmaker =
                    Matchmaker::spawn_seeded(pairing, seeded, clock.clone(), policy, sweeps.clone(), stop.clone());
                tokio::spawn(feed(
                    matchmaker.clone(),
                    link.target.clone(),
                    queue.keys().clone(),
                    (position, format!("{}:{epoch}", cluster.node())),
                    stop.clone(),
                ));
                running = Some((epoch, stop, matchmaker));
            }
            // Held by this node under an epoch it does not run: it stopped its matchmaker when Redis did not answer
            // a tick (a failover of the lease's shard keeps the lease), or lost and retook it between ticks without
            // seeing the stream position. Renewing it would leave the cluster without a matchmaker: give it up, and
            // the next tick takes it again under a new epoch, from the queue as it stands.
            (_, true) => {
                let _: RedisResult<i64> = queue.scripts.release().invoke(&mut conn).await;
            }
            (_, false) => {
                if let Some((_, stop, _)) = running.take() {
                    tracing::info!(holder, "the matchmaker lease is another node's; stopping");
                    stop.cancel();
                }
            }
        }
    }
    if let Some((_, stop, _)) = running.take() {
        stop.cancel();
    }
    let _: RedisResult<i64> = queue.scripts.release().invoke(&mut conn).await;
}

/// Reads the input stream from `position` into the matchmaker, in order, until stopped; `lease` is the lease's
/// value while this matchmaker holds it (`node:epoch`).
async fn feed(
    matchmaker: Matchmaker,
    target: Target,
    keys: Keys,
    (mut position, lease): (String, String),
    stop: CancellationToken,
) {
    // Its own connection: a blocking read holds up every command queued behind it on a shared one.
    let timeouts = Timeouts { connect: Duration::from_secs(2), response: Duration::from_secs(3) };
    let mut conn = loop {
        match target.connect(timeouts).await {
            Ok(conn) => break conn,
            Err(e) => {
                tracing::warn!(error = %e, "connecting the matchmaking input");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    };
    loop {
        let mut command = redis::cmd("XREAD");
        command.arg("COUNT").arg(512).arg("BLOCK").arg(500).arg("STREAMS").arg(&keys.input).arg(&position);
        let read = command.query_async::<Option<Vec<(String, Vec<(String, Vec<(String, String)>)>)>>>(&mut conn);
        let read = tokio::select! {
            _ = stop.cancelled() => return,
            read = read => read,
        };
        let entries = match read {
            Ok(Some(mut streams)) => streams.pop().map(|(_, entries)| entries).unwrap_or_default(),
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "reading the matchmaking input");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => continue,
                }
            }
        };
        let mut inputs = Vec::with_capacity(entries.len());
        // Records of a node of the previous release that carry a gender preference, deleted once read (below).
        let mut preferences = Vec::new();
        for (id, fields) in entries {
            position = id;
            if fields.iter().any(|(_, record)| record.contains(r#""seeking":"#)) {
                preferences.push(position.clone());
            }
            for (_, record) in fields {
                match serde_json::from_str::<Input>(&record) {
                    Ok(input) => inputs.push(input),
                    Err(e) => tracing::error!(error = %e, "an unreadable matchmaking input"),
                }
            }
        }
        // Each find and hand-over is checked against its user's entry as it is now ([`Input::order`]).
        let finders: Vec<i64> = inputs
            .iter()
            .filter(|i| matches!(i, Input::Find(_) | Input::HandedOver(_)))
            .map(|i| i.user_id().get())
            .collect();
        let waiting: Vec<Option<String>> = match finders.is_empty() {
            true => Vec::new(),
            false => match redis::cmd("HMGET").arg(&keys.queue).arg(&finders).query_async(&mut conn).await {
                Ok(waiting) => waiting,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the cluster queue");
                    vec![None; finders.len()]
                }
            },
        };
        let mut waiting = waiting.into_iter();
        for input in inputs {
            if let Some(order) = input.order(|| waiting.next().flatten()) {
                matchmaker.send(order).await;
            }
        }
        if !preferences.is_empty() {
            let script = Script::new(&scripts::FORGET_READ_SCRIPT.text());
            let mut forget = script.key(&keys.lease);
            forget.key(&keys.input).arg(&lease).arg(&preferences);
            if let Err(e) = forget.invoke_async::<i64>(&mut conn).await {
                // Left to the stream's length cap; the next batch's deletion does not retry these.
                tracing::warn!(error = %e, "deleting read gender preferences from the matchmaking input");
            }
        }
    }
}
