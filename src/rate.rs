//! A token bucket per user: `rate` messages per second sustained (a fraction for per-minute limits), `burst` at once. On one node the buckets
//! live in memory; in a cluster they live in Redis, so a user with sockets on two nodes has one bucket, not two.
//!
//! In a cluster a node takes tokens from the shared bucket a few at a time (a [`Lease`], [`lease_size`]) and spends
//! them locally: a user sending fast costs Redis one call per lease instead of one per message, and no node ever
//! spends a token the shared bucket did not give it. A lease's unspent tokens are dropped after [`LEASE_LIFE`], so
//! the tokens a user holds outside the bucket are at most one lease less one per node, for at most that long.
//!
//! Time is the server's [`Clock`](crate::clock::Clock), never the machine's monotonic clock or Redis's `TIME`:
//! tests move a manual clock instead of hoping the machine is fast enough that no token refills meanwhile.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use redis::Script;

use crate::clock::SharedClock;
use crate::delivery::Cluster;
use crate::domain::UserId;

/// How long a bucket in Redis outlives the moment it would be full again: only a bound on what idle users
/// leave behind (a bucket that expires is full anyway). Redis expires keys by its own clock, so the margin is
/// generous: a test's clock stands still while real time passes, and its bucket must not vanish meanwhile
/// (a minute between two of a test's sends is far beyond any of its failure bounds).
const IDLE_MS: u64 = 60 * 1000;

/// Up to `ARGV[5]` tokens (1 when absent, as the previous version asked) from the user's bucket: KEYS bucket; ARGV
/// rate per second, burst, now (ms, the node's clock), how long an idle bucket is kept (ms). Returns how many it
/// gave (all it holds in whole tokens when that is fewer, 0 when it is empty) and, when it gave none, how many ms
/// until it holds a whole token again (0 otherwise). A node of the previous version runs its own script (returning
/// the count alone) on the same hash: the bucket's fields are unchanged.
///
/// The time comes from the calling node's clock. Nodes' clocks are NTP-synced, and a skew between them only
/// shifts refills by the skew: the bucket's stamp never goes back, so a node whose clock is behind refills
/// nothing until its clock passes the stamp (a user never gains tokens from a skew, at most waits it out).
const TAKE: &str = r"
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(burst, tokens + (now - at) / 1000 * rate)
  at = now
end
local taken = math.max(0, math.min(tonumber(ARGV[5]) or 1, math.floor(tokens + 1e-9)))
tokens = tokens - taken
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + tonumber(ARGV[4]))
local wait = 0
if taken == 0 then
  wait = math.max(1, math.ceil((1 - tokens) / rate * 1000))
end
return {taken, wait}
";

/// How long a lease's unspent tokens stay spendable on the node that took them.
const LEASE_LIFE: TimeDelta = TimeDelta::seconds(1);

/// Tokens a node takes from the shared bucket at once: half a second of the sustained rate, at most a quarter of
/// the burst, at least one. The production message limit (10 a second, a burst of 30) leases 5; a limit of one a second
/// (or a burst under 8) leases one at a time, which is exactly one bucket shared.
fn lease_size(rate: f64, burst: u32) -> u32 {
    (rate * 0.5).min(f64::from(burst / 4)).floor().max(1.0) as u32
}

/// Tokens this node took from a user's shared bucket and has not spent yet.
#[derive(Debug, Clone, Copy)]
struct Lease {
    tokens: u32,
    /// After this (the node's clock) the rest is dropped.
    until: DateTime<Utc>,
}

/// Per-user buckets of one kind (messages, or video signalling).
pub struct Limiter {
    clock: SharedClock,
    /// This node's buckets: the only ones on a single node; in a cluster, the fallback while Redis cannot
    /// answer, so a node still limits on its own then (docs/operations.md).
    local: Mutex<HashMap<UserId, Bucket>>,
    /// In a cluster: the shared buckets, in Redis under `{prefix}{user}`.
    shared: Option<Shared>,
    /// In a cluster: what this node holds of each user's shared bucket.
    leases: Mutex<HashMap<UserId, Lease>>,
    /// Buckets of users whose last socket here closed, by when each is full again: kept until then, so that closing
    /// and reopening a socket refills nothing (docs/testing.md row 20), and dropped after, when an absent bucket is
    /// the same as a full one.
    idle: Mutex<BinaryHeap<Reverse<(DateTime<Utc>, UserId)>>>,
}

struct Shared {
    /// Whether Redis is reachable now ([`Cluster::linked`]).
    cluster: Arc<Cluster>,
    conn: crate::redis_link::Conn,
    prefix: String,
}

impl Limiter {
    pub fn local(clock: SharedClock) -> Self {
        Self { clock, local: Mutex::default(), shared: None, leases: Mutex::default(), idle: Mutex::default() }
    }

    /// In memory on one node; in Redis in a cluster (`cluster`), where a user's sockets may be on several nodes.
    /// Either way at the server's clock.
    pub fn of_node(cluster: Option<&Arc<Cluster>>, clock: &SharedClock, kind: &str) -> Self {
        match cluster {
            None => Self::local(clock.clone()),
            Some(cluster) => Self::redis(clock.clone(), cluster.clone(), kind),
        }
    }

    pub fn redis(clock: SharedClock, cluster: Arc<Cluster>, kind: &str) -> Self {
        let prefix = format!("{}:rate:{kind}:", cluster.namespace());
        let shared = Shared { conn: cluster.connection(), cluster, prefix };
        Self { clock, local: Mutex::default(), shared: Some(shared), leases: Mutex::default(), idle: Mutex::default() }
    }

    /// Takes one token for the user: from the shared bucket while Redis is reachable (through this node's lease of
    /// it), else from this node's.
    pub async fn allow(&self, user_id: UserId, rate: f64, burst: u32) -> bool {
        self.take(user_id, rate, burst).await.is_ok()
    }

    /// [`Limiter::allow`], telling on a refusal how long until the bucket holds a token again (on the server's
    /// clock). In a cluster that is the shared bucket's wait: tokens other nodes hold in leases are not counted,
    /// so it is the earliest a send can succeed, not a promise that it will.
    pub async fn take(&self, user_id: UserId, rate: f64, burst: u32) -> Result<(), Duration> {
        let now = self.clock.now();
        // Not even tried while the node knows Redis is away: every call would wait out the reconnection first.
        if let Some(Shared { conn, prefix, .. }) = self.shared.as_ref().filter(|s| s.cluster.linked()) {
            if self.spend_leased(user_id, now) {
                return Ok(());
            }
            let taken: redis::RedisResult<(u32, u64)> = Script::new(TAKE)
                .key(format!("{prefix}{user_id}"))
                .arg(rate)
                .arg(burst)
                .arg(now.timestamp_millis())
                .arg(IDLE_MS)
                .arg(lease_size(rate, burst))
                .invoke_async(&mut conn.clone())
                .await;
            match taken {
                Ok((0, wait_ms)) => return Err(Duration::from_millis(wait_ms.max(1))),
                Ok((taken, _)) => {
                    let lease = Lease { tokens: taken - 1, until: now + LEASE_LIFE };
                    self.leases.lock().expect("leases lock").insert(user_id, lease);
                    return Ok(());
                }
                Err(e) => tracing::warn!(error = %e, "rate limit in Redis unavailable; limiting on this node"),
            }
        }
        let mut buckets = self.local.lock().expect("rates lock");
        buckets.entry(user_id).or_insert_with(|| Bucket::full(burst, now)).take(rate, burst, now)
    }

    /// Spends one token of this node's lease of the user's shared bucket, if it holds one still valid at `now`.
    fn spend_leased(&self, user_id: UserId, now: DateTime<Utc>) -> bool {
        let mut leases = self.leases.lock().expect("leases lock");
        match leases.get_mut(&user_id) {
            Some(lease) if lease.tokens > 0 && now < lease.until => {
                lease.tokens -= 1;
                true
            }
            Some(_) => {
                leases.remove(&user_id);
                false
            }
            None => false,
        }
    }

    /// The user's last socket here closed: their bucket goes once it is full again (until then a new socket finds
    /// it as it was: reconnecting refills nothing), and so do the buckets of others who left before and are full by
    /// now. The lease is dropped (its tokens are lost to the user, never gained). A bucket in Redis expires by itself.
    pub fn forget(&self, user_id: UserId) {
        let now = self.clock.now();
        self.leases.lock().expect("leases lock").remove(&user_id);
        let mut buckets = self.local.lock().expect("rates lock");
        let mut idle = self.idle.lock().expect("idle lock");
        match buckets.get(&user_id) {
            Some(bucket) if bucket.full_at > now && !forget_drops_bucket() => {
                idle.push(Reverse((bucket.full_at, user_id)))
            }
            _ => drop(buckets.remove(&user_id)),
        }
        while let Some(&Reverse((full_at, user))) = idle.peek()
            && full_at <= now
        {
            idle.pop();
            // A bucket spent again since (the user came back) is not full: it is queued again at its next forget.
            if buckets.get(&user).is_some_and(|b| b.full_at <= now) {
                buckets.remove(&user);
            }
        }
    }

    /// Buckets this node keeps in memory (for tests: the idle ones go once full).
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.local.lock().expect("rates lock").len()
    }
}

#[cfg(test)]
thread_local! {
    /// The mutation the limits' walk must catch: a bucket dropped with its user's last socket (issue 75, row 20).
    static FORGET_DROPS_BUCKET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn forget_drops_bucket() -> bool {
    #[cfg(test)]
    return FORGET_DROPS_BUCKET.with(|m| m.get());
    #[cfg(not(test))]
    false
}

/// What counts as a whole token: a hair under one, so that a client waiting exactly the `retry_after_ms` it was told
/// is not refused for a rounding error of the refill's floating point (the [`TAKE`] script counts alike).
const WHOLE: f64 = 1.0 - 1e-9;

#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    /// The latest time the bucket was refilled to; it never goes back (the same rule as [`TAKE`]).
    last: DateTime<Utc>,
    /// When it holds its whole burst again, if nothing is taken meanwhile.
    full_at: DateTime<Utc>,
}

impl Bucket {
    pub fn full(burst: u32, now: DateTime<Utc>) -> Self {
        Self { tokens: burst as f64, last: now, full_at: now }
    }

    /// Takes one token if there is one; when there is none, how long from `now` until the bucket holds a whole
    /// token again. A `now` before the last refill (the clock was set back) refills nothing, and the wait then
    /// includes the way back to it.
    pub fn take(&mut self, rate: f64, burst: u32, now: DateTime<Utc>) -> Result<(), Duration> {
        if now > self.last {
            let elapsed = (now - self.last).to_std().unwrap_or_default().as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(burst as f64);
            self.last = now;
        }
        if self.tokens >= WHOLE {
            self.tokens -= 1.0;
            let refill = Duration::try_from_secs_f64(((burst as f64 - self.tokens) / rate).max(0.0));
            let refill = refill.ok().and_then(|d| TimeDelta::from_std(d).ok());
            self.full_at = refill.and_then(|d| self.last.checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC);
            return Ok(());
        }
        let behind = (self.last - now).to_std().unwrap_or_default();
        Err(behind + Duration::from_secs_f64((1.0 - self.tokens) / rate))
    }
}

/// A wait as the `retry_after_ms` of an `error` frame: rounded up to whole milliseconds, so that a client waiting
/// exactly that long finds the token there, and at least one.
pub fn retry_after_ms(wait: Duration) -> u64 {
    let ms = wait.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

#[cfg(test)]
#[path = "rate_tests.rs"]
mod tests;
