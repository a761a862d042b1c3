//! A token bucket per user: `rate` messages per second sustained (a fraction for per-minute limits), `burst` at once. On one node the buckets
//! live in memory; in a cluster they live in Redis, so a user with sockets on two nodes has one bucket, not two.
//!
//! Time is the server's [`Clock`](crate::clock::Clock), never the machine's monotonic clock or Redis's `TIME`:
//! tests move a manual clock instead of hoping the machine is fast enough that no token refills meanwhile.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use redis::Script;

use crate::clock::SharedClock;
use crate::delivery::Cluster;
use crate::domain::UserId;

/// How long a bucket in Redis outlives the moment it would be full again: only a bound on what idle users
/// leave behind (a bucket that expires is full anyway). Redis expires keys by its own clock, so the margin is
/// generous: a test's clock stands still while real time passes, and its bucket must not vanish meanwhile
/// (a minute between two of a test's sends is far beyond any of its failure bounds).
const IDLE_MS: u64 = 60 * 1000;

/// One token from the user's bucket: KEYS bucket; ARGV rate per second, burst, now (ms, the node's clock),
/// how long an idle bucket is kept (ms).
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
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + tonumber(ARGV[4]))
return taken
";

/// Per-user buckets of one kind (messages, or video signalling).
pub struct Limiter {
    clock: SharedClock,
    /// This node's buckets: the only ones on a single node; in a cluster, the fallback while Redis cannot
    /// answer, so a node still limits on its own then (docs/operations.md).
    local: Mutex<HashMap<UserId, Bucket>>,
    /// In a cluster: the shared buckets, in Redis under `{prefix}{user}`.
    shared: Option<Shared>,
}

struct Shared {
    /// Whether Redis is reachable now ([`Cluster::linked`]).
    cluster: Arc<Cluster>,
    conn: redis::aio::ConnectionManager,
    prefix: String,
}

impl Limiter {
    pub fn local(clock: SharedClock) -> Self {
        Self { clock, local: Mutex::default(), shared: None }
    }

    pub fn redis(clock: SharedClock, cluster: Arc<Cluster>, kind: &str) -> Self {
        let prefix = format!("{}:rate:{kind}:", cluster.namespace());
        let shared = Shared { conn: cluster.connection(), cluster, prefix };
        Self { clock, local: Mutex::default(), shared: Some(shared) }
    }

    /// Takes one token for the user: from the shared bucket while Redis is reachable, else from this node's.
    pub async fn allow(&self, user_id: UserId, rate: f64, burst: u32) -> bool {
        let now = self.clock.now();
        // Not even tried while the node knows Redis is away: every call would wait out the reconnection first.
        if let Some(Shared { conn, prefix, .. }) = self.shared.as_ref().filter(|s| s.cluster.linked()) {
            let taken: redis::RedisResult<i64> = Script::new(TAKE)
                .key(format!("{prefix}{user_id}"))
                .arg(rate)
                .arg(burst)
                .arg(now.timestamp_millis())
                .arg(IDLE_MS)
                .invoke_async(&mut conn.clone())
                .await;
            match taken {
                Ok(taken) => return taken == 1,
                Err(e) => tracing::warn!(error = %e, "rate limit in Redis unavailable; limiting on this node"),
            }
        }
        let mut buckets = self.local.lock().expect("rates lock");
        buckets.entry(user_id).or_insert_with(|| Bucket::full(burst, now)).try_take(rate, burst, now)
    }

    /// Drops the user's bucket on this node (their last socket here closed). A bucket in Redis expires by itself.
    pub fn forget(&self, user_id: UserId) {
        self.local.lock().expect("rates lock").remove(&user_id);
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    /// The latest time the bucket was refilled to; it never goes back (the same rule as [`TAKE`]).
    last: DateTime<Utc>,
}

impl Bucket {
    pub fn full(burst: u32, now: DateTime<Utc>) -> Self {
        Self { tokens: burst as f64, last: now }
    }

    /// Takes one token if there is one. A `now` before the last refill (the clock was set back) refills nothing.
    pub fn try_take(&mut self, rate: f64, burst: u32, now: DateTime<Utc>) -> bool {
        if now > self.last {
            let elapsed = (now - self.last).to_std().unwrap_or_default().as_secs_f64();
            self.tokens = (self.tokens + elapsed * rate).min(burst as f64);
            self.last = now;
        }
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-21T09:30:00Z").unwrap().with_timezone(&Utc)
    }

    #[test]
    fn a_burst_is_allowed_then_the_sustained_rate() {
        let start = start();
        let mut bucket = Bucket::full(3, start);
        assert!((0..3).all(|_| bucket.try_take(10.0, 3, start)));
        assert!(!bucket.try_take(10.0, 3, start), "the burst is spent");
        assert!(bucket.try_take(10.0, 3, start + TimeDelta::milliseconds(100)), "one token per 100 ms at 10/s");
        assert!(!bucket.try_take(10.0, 3, start + TimeDelta::milliseconds(150)));
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_the_burst() {
        let start = start();
        let mut bucket = Bucket::full(2, start);
        bucket.try_take(10.0, 2, start);
        let later = start + TimeDelta::seconds(60);
        assert!(bucket.try_take(10.0, 2, later) && bucket.try_take(10.0, 2, later));
        assert!(!bucket.try_take(10.0, 2, later));
    }

    #[test]
    fn a_clock_set_back_refills_nothing_until_it_passes_the_last_refill() {
        let start = start();
        let mut bucket = Bucket::full(1, start);
        assert!(bucket.try_take(1.0, 1, start));
        assert!(!bucket.try_take(1.0, 1, start - TimeDelta::seconds(5)), "going back gains no token");
        assert!(!bucket.try_take(1.0, 1, start + TimeDelta::milliseconds(500)), "half a token since the last refill");
        assert!(bucket.try_take(1.0, 1, start + TimeDelta::seconds(1)), "a full second after the last refill");
    }
}
