//! A token bucket per user: `rate` messages per second sustained, `burst` at once.

use std::time::Instant;

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
