//! A small deterministic generator (SplitMix64) for the open-loop scenarios: each user's or side's arrivals
//! differ, and repeat run to run.

use std::time::Duration;

pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 53 random bits in (0, 1]: never 0, so the logarithm below is finite.
        ((z >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// An exponential inter-arrival time of a Poisson process with `per_second` events a second.
    pub fn exponential(&mut self, per_second: f64) -> Duration {
        Duration::from_secs_f64(-self.next_f64().ln() / per_second)
    }
}
