//! One matchmaker for the whole cluster (with Redis). Every node takes `match.find` from its own sockets and
//! puts the seeker in the cluster's queue; one elected node pairs them.
//!
//! - **The queue** is a Redis hash, user → seeker, so "already waiting" holds whichever node a user's sockets
//!   are on (`HSETNX`); the node that took the request answers "already waiting" itself. Each change is also
//!   appended to an input stream, which the matchmaker reads in order; it answers `match.queued`, so that
//!   `match.queued` and `match.found` leave one node in that order (answered by the requesting node, `queued`
//!   could arrive after a `found` the matchmaker sent while the node waited for Redis's reply).
//! - **The election** is a lease (`SET … PX`) renewed every third of its life, with an epoch raised at every
//!   takeover. The holder runs the ordinary [`Matchmaker`] task, seeded from the hash and fed from the stream
//!   from the point it took the lease. If it dies, the lease lapses and another node takes over within the
//!   lease plus one renewal period.
//! - **Fencing**: the epoch goes into every batch of matches ([`crate::store::Store::create_matches`]); a
//!   holder that lost the lease without knowing it (paused, cut off) finds the fence raised and writes nothing,
//!   so nobody is matched or charged twice.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{RedisResult, Script};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::rules::Policy;
use super::{Matchmaker, Pairing, Seeker, Sweeps};
use crate::clock::SharedClock;
use crate::delivery::Cluster;
use crate::domain::UserId;

/// Queues a seeker unless the user waits already: KEYS queue, input; ARGV user, entry, input record.
const JOIN: &str = r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[3])
return 1
";

/// Takes a user out of the queue, only if their entry starts with ARGV[2] (the socket that made it) when
/// that is given: KEYS queue, input; ARGV user, entry prefix or '', input record.
const LEAVE: &str = r"
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return 0 end
if ARGV[2] ~= '' and string.sub(entry, 1, string.len(ARGV[2])) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[3])
return 1
";

/// Renews the lease if this node (ARGV[1]) holds it, takes it if nobody does: KEYS lease, epoch, input;
/// returns {holder, epoch, input position at takeover ('' unless just taken)}.
const ACQUIRE: &str = r"
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, ':', 1, true)
  local holder = string.sub(current, 1, sep - 1)
  if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return {holder, tonumber(string.sub(current, sep + 1)), ''}
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch, 'PX', ARGV[2])
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local position = '0-0'
if #last > 0 then position = last[1][1] end
return {ARGV[1], epoch, position}
";

/// Raises the epoch counter to at least ARGV[1] (Redis lost it in a restart, the database fence did not).
const RAISE: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
";

/// Gives the lease up if this node holds it (a clean shutdown hands over at once).
const RELEASE: &str = r"
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ':' then
  redis.call('DEL', KEYS[1])
end
return 0
";

/// One change to the queue, as the matchmaker reads it from the input stream.
#[derive(Debug, Serialize, Deserialize)]
enum Input {
    Find(Box<Seeker>),
    Leave { user_id: UserId },
}

#[derive(Debug, Clone)]
struct Keys {
    queue: String,
    input: String,
    lease: String,
    epoch: String,
}

impl Keys {
    fn new(namespace: &str) -> Self {
        Self {
            queue: format!("{namespace}:mm:queue"),
            input: format!("{namespace}:mm:input"),
            lease: format!("{namespace}:mm:lease"),
            epoch: format!("{namespace}:mm:epoch"),
        }
    }
}

/// A node's side of the cluster queue: joining and leaving it.
#[derive(Clone)]
pub struct ClusterQueue {
    conn: ConnectionManager,
    keys: Keys,
}

/// What a queue entry starts with: the socket that made it, so its closing removes only its own entry.
fn entry_prefix(socket_id: u64) -> String {
    format!("{socket_id}|")
}

impl ClusterQueue {
    pub fn new(cluster: &Cluster) -> Self {
        Self { conn: cluster.connection(), keys: Keys::new(cluster.namespace()) }
    }

    /// Puts the seeker in the queue unless the user already waits (from any node); true when newly queued.
    pub async fn find(&self, seeker: &Seeker) -> RedisResult<bool> {
        let entry = format!("{}{}", entry_prefix(seeker.socket_id), serde_json::to_string(seeker).expect("serialises"));
        let input = serde_json::to_string(&Input::Find(Box::new(seeker.clone()))).expect("serialises");
        let joined: i64 = Script::new(JOIN)
            .key(&self.keys.queue)
            .key(&self.keys.input)
            .arg(seeker.user_id().get())
            .arg(entry)
            .arg(input)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(joined == 1)
    }

    /// Takes the user out of the queue (any entry, or only the one `socket_id` made); true when they waited.
    pub async fn leave(&self, user_id: UserId, socket_id: Option<u64>) -> RedisResult<bool> {
        let input = serde_json::to_string(&Input::Leave { user_id }).expect("serialises");
        let left: i64 = Script::new(LEAVE)
            .key(&self.keys.queue)
            .key(&self.keys.input)
            .arg(user_id.get())
            .arg(socket_id.map(entry_prefix).unwrap_or_default())
            .arg(input)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(left == 1)
    }

    /// Removes paired (or departed) users' entries, without telling the matchmaker: it has let go of them.
    async fn remove(&self, users: &[UserId]) -> RedisResult<()> {
        if users.is_empty() {
            return Ok(());
        }
        let users: Vec<i64> = users.iter().map(|u| u.get()).collect();
        redis::cmd("HDEL").arg(&self.keys.queue).arg(users).query_async(&mut self.conn.clone()).await
    }

    /// Every entry, oldest first: the queue a new matchmaker starts from.
    async fn entries(&self) -> RedisResult<Vec<Seeker>> {
        let all: Vec<(i64, String)> =
            redis::cmd("HGETALL").arg(&self.keys.queue).query_async(&mut self.conn.clone()).await?;
        let mut seekers: Vec<Seeker> =
            all.into_iter().filter_map(|(_, entry)| serde_json::from_str(entry.split_once('|')?.1).ok()).collect();
        seekers.sort_by_key(|s| s.candidate.queued_at);
        Ok(seekers)
    }
}

/// The matchmaker's pairing when elected: drops seekers whose node is gone, opens the rest under the lease's
/// epoch, and takes every settled user out of the queue.
struct Fenced<P> {
    opener: Arc<P>,
    cluster: Arc<Cluster>,
    queue: ClusterQueue,
}

/// What the elected matchmaker needs from the hub: opening a batch under an epoch, and the fence.
pub trait Opener: Send + Sync + 'static {
    /// The highest epoch that has written matches; `None` when it cannot be read now.
    fn fence(&self) -> impl Future<Output = Option<i64>> + Send;

    fn open_fenced(
        &self,
        pairs: &[(Seeker, Seeker)],
        epoch: i64,
    ) -> impl Future<Output = Vec<Result<(), Vec<UserId>>>> + Send;

    /// Tells the seeker, wherever their socket is, that they are waiting.
    fn queued(&self, seeker: &Seeker);
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
        let opened = f.opener.open_fenced(&live, self.epoch).await;
        let mut settled = gone;
        for ((a, b), result) in live.iter().zip(&opened) {
            match result {
                Ok(()) => settled.extend([a.user_id(), b.user_id()]),
                Err(dropped) => settled.extend(dropped),
            }
        }
        if let Err(e) = f.queue.remove(&settled).await {
            tracing::warn!(error = %e, "clearing matched users from the cluster queue");
        }
        let mut opened = opened.into_iter();
        results.into_iter().map(|r| r.unwrap_or_else(|| opened.next().expect("one result per live pair"))).collect()
    }
}

/// Takes part in the election until shutdown: renews or takes the lease every third of its life, runs the
/// matchmaker while holding it, and stops it the moment another node is seen holding it.
pub async fn elect<P: Opener>(
    opener: Arc<P>,
    cluster: Arc<Cluster>,
    clock: SharedClock,
    policy: Policy,
    sweeps: Sweeps,
    lease: Duration,
    shutdown: CancellationToken,
) {
    let queue = ClusterQueue::new(&cluster);
    let fenced = Arc::new(Fenced { opener, cluster: cluster.clone(), queue: queue.clone() });
    let mut conn = cluster.connection();
    let mut ticks = tokio::time::interval(lease / 3);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The matchmaker this node runs while it holds the lease: its epoch, and the token that stops it.
    let mut running: Option<(i64, CancellationToken)> = None;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let acquired: RedisResult<(String, i64, String)> = Script::new(ACQUIRE)
            .key(&queue.keys.lease)
            .key(&queue.keys.epoch)
            .key(&queue.keys.input)
            .arg(cluster.node())
            .arg(lease.as_millis() as u64)
            .invoke_async(&mut conn)
            .await;
        let (holder, epoch, position) = match acquired {
            Ok(answer) => answer,
            // Redis is away: whoever holds the lease keeps it until it lapses; a node that cannot renew must
            // assume it lost it.
            Err(e) => {
                tracing::warn!(error = %e, "matchmaker election: Redis unreachable");
                if let Some((_, stop)) = running.take() {
                    stop.cancel();
                }
                continue;
            }
        };
        let mine = holder == cluster.node();
        match (&running, mine) {
            (Some((current, _)), true) if *current == epoch => {}
            (_, true) if !position.is_empty() => {
                if let Some((_, stop)) = running.take() {
                    stop.cancel();
                }
                // An epoch at or below the fence (Redis restarted and counts from 1 again) would be refused, or
                // equal an old holder's: raise the counter past the fence and take the lease again next tick.
                let fence = fenced.opener.fence().await;
                if fence.is_none_or(|fence| epoch <= fence) {
                    if let Some(fence) = fence {
                        let _: RedisResult<i64> =
                            Script::new(RAISE).key(&queue.keys.epoch).arg(fence).invoke_async(&mut conn).await;
                    }
                    let _: RedisResult<i64> =
                        Script::new(RELEASE).key(&queue.keys.lease).arg(cluster.node()).invoke_async(&mut conn).await;
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
                let pairing = Arc::new(Epoch { fenced: fenced.clone(), epoch });
                let matchmaker =
                    Matchmaker::spawn_seeded(pairing, seeded, clock.clone(), policy, sweeps.clone(), stop.clone());
                tokio::spawn(feed(matchmaker, cluster.client().clone(), queue.keys.clone(), position, stop.clone()));
                running = Some((epoch, stop));
            }
            // Held by this node under an epoch it does not run (it lost and retook it between ticks without
            // seeing the stream position): let it lapse rather than run without the queue's changes.
            (_, true) => {}
            (_, false) => {
                if let Some((_, stop)) = running.take() {
                    tracing::info!(holder, "the matchmaker lease is another node's; stopping");
                    stop.cancel();
                }
            }
        }
    }
    if let Some((_, stop)) = running.take() {
        stop.cancel();
    }
    let _: RedisResult<i64> =
        Script::new(RELEASE).key(&queue.keys.lease).arg(cluster.node()).invoke_async(&mut conn).await;
}

/// Reads the input stream from `position` into the matchmaker, in order, until stopped.
async fn feed(
    matchmaker: Matchmaker,
    client: redis::Client,
    keys: Keys,
    mut position: String,
    stop: CancellationToken,
) {
    // Its own connection: a blocking read holds up every command queued behind it on a shared one.
    let config = redis::aio::ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(3)));
    let mut conn = loop {
        match client.get_connection_manager_with_config(config.clone()).await {
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
        for (id, fields) in entries {
            position = id;
            for (_, record) in fields {
                match serde_json::from_str::<Input>(&record) {
                    Ok(input) => inputs.push(input),
                    Err(e) => tracing::error!(error = %e, "an unreadable matchmaking input"),
                }
            }
        }
        // A find is taken only while its entry is still in the queue: one read again after this matchmaker
        // took over (it started from the queue itself) or after its user left or was paired is stale.
        let finders: Vec<i64> =
            inputs.iter().filter_map(|i| if let Input::Find(s) = i { Some(s.user_id().get()) } else { None }).collect();
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
            match input {
                Input::Find(_) => {
                    let entry = waiting.next().flatten();
                    if let Some(seeker) = entry.and_then(|e| serde_json::from_str::<Seeker>(e.split_once('|')?.1).ok())
                    {
                        matchmaker.find(seeker).await;
                    }
                }
                Input::Leave { user_id } => matchmaker.forget(user_id).await,
            }
        }
    }
}
