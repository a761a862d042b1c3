//! A token bucket per user: `rate` messages per second sustained, `burst` at once. On one node the buckets
//! live in memory; in a cluster they live in Redis, so a user with sockets on two nodes has one bucket, not two.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use redis::Script;

/// One token from the user's bucket at Redis's own clock (so the nodes' clocks never disagree about it):
/// KEYS bucket; ARGV rate per second, burst. The bucket expires once it would be full again anyway.
const TAKE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - at) / 1000000 * rate)
local taken = 0
if tokens >= 1 then
  tokens = tokens - 1
  taken = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return taken
";

/// Per-user buckets of one kind (messages, or video signalling).
pub enum Limiter {
    Local(Mutex<HashMap<i64, Bucket>>),
    /// In Redis under `{prefix}{user}`; the local buckets are the fallback while Redis cannot answer, so a
    /// node still limits on its own then.
    Redis {
        conn: redis::aio::ConnectionManager,
        prefix: String,
        fallback: Mutex<HashMap<i64, Bucket>>,
    },
}

impl Limiter {
    pub fn local() -> Self {
        Limiter::Local(Mutex::default())
    }

    pub fn redis(conn: redis::aio::ConnectionManager, namespace: &str, kind: &str) -> Self {
        Limiter::Redis { conn, prefix: format!("{namespace}:rate:{kind}:"), fallback: Mutex::default() }
    }

    /// Takes one token for the user.
    pub async fn allow(&self, user_id: i64, rate: u32, burst: u32) -> bool {
        let local = |buckets: &Mutex<HashMap<i64, Bucket>>| {
            let now = Instant::now();
            let mut buckets = buckets.lock().expect("rates lock");
            buckets.entry(user_id).or_insert_with(|| Bucket::full(burst, now)).try_take(rate, burst, now)
        };
        match self {
            Limiter::Local(buckets) => local(buckets),
            Limiter::Redis { conn, prefix, fallback } => {
                let taken: redis::RedisResult<i64> = Script::new(TAKE)
                    .key(format!("{prefix}{user_id}"))
                    .arg(rate)
                    .arg(burst)
                    .invoke_async(&mut conn.clone())
                    .await;
                match taken {
                    Ok(taken) => taken == 1,
                    Err(e) => {
                        tracing::warn!(error = %e, "rate limit in Redis unavailable; limiting on this node");
                        local(fallback)
                    }
                }
            }
        }
    }

    /// Drops the user's bucket on this node (their last socket here closed). A bucket in Redis expires by itself.
    pub fn forget(&self, user_id: i64) {
        let (Limiter::Local(buckets) | Limiter::Redis { fallback: buckets, .. }) = self;
        buckets.lock().expect("rates lock").remove(&user_id);
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

impl Bucket {
    pub fn full(burst: u32, now: Instant) -> Self {
        Self { tokens: burst as f64, last: now }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self, rate: u32, burst: u32, now: Instant) -> bool {
        let refill = now.saturating_duration_since(self.last).as_secs_f64() * rate as f64;
        self.tokens = (self.tokens + refill).min(burst as f64);
        self.last = now;
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
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_sustained_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::full(3, start);
        assert!((0..3).all(|_| bucket.try_take(10, 3, start)));
        assert!(!bucket.try_take(10, 3, start), "the burst is spent");
        assert!(bucket.try_take(10, 3, start + Duration::from_millis(100)), "one token per 100 ms at 10/s");
        assert!(!bucket.try_take(10, 3, start + Duration::from_millis(150)));
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_the_burst() {
        let start = Instant::now();
        let mut bucket = Bucket::full(2, start);
        bucket.try_take(10, 2, start);
        let later = start + Duration::from_secs(60);
        assert!(bucket.try_take(10, 2, later) && bucket.try_take(10, 2, later));
        assert!(!bucket.try_take(10, 2, later));
    }
}
