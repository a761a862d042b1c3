//! tanis-bench: the load generator. Each scenario is a library function so the binary (`src/main.rs`) and the
//! smoke test (`tests/smoke.rs`) run exactly the same code. Everything talks to loopback only.

pub mod connections;
pub mod cpu;
pub mod echo;
pub mod hold;
pub mod login_storm;
pub mod matching;
pub mod mix;
pub mod nodes;
pub mod open_loop;
pub mod relay;
pub mod rng;
pub mod turn_churn;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// One account from `tanis dev seed-users` (`<user_id> <phone> <access_token>` per line).
#[derive(Debug, Clone)]
pub struct SeededUser {
    pub id: tanis_proto::UserId,
    pub phone: String,
    pub token: String,
}

/// The password `tanis dev seed-users` uses unless told otherwise; the login storm logs in with it.
pub const SEED_PASSWORD: &str = "bench-password-1";

pub fn load_users(path: &Path) -> anyhow::Result<Vec<SeededUser>> {
    let text = std::fs::read_to_string(path)?;
    let mut users = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut parts = line.split_whitespace();
        let (Some(id), Some(phone), Some(token)) = (parts.next(), parts.next(), parts.next()) else {
            anyhow::bail!("bad users line: {line}");
        };
        users.push(SeededUser { id: id.parse()?, phone: phone.into(), token: token.into() });
    }
    anyhow::ensure!(!users.is_empty(), "no users in {}", path.display());
    Ok(users)
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Latency {
    pub samples: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Self {
        Self {
            samples: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p90_us: h.value_at_quantile(0.90),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        }
    }
}

/// A histogram of microseconds up to one minute, 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds")
}

pub fn record(h: &mut Histogram<u64>, since: Instant) {
    record_us(h, since.elapsed().as_micros() as u64);
}

pub fn record_us(h: &mut Histogram<u64>, us: u64) {
    h.saturating_record(us.clamp(1, 60_000_000));
}

/// What a messaging scenario's side counts (`relay`, `open-loop`), summed over the sides for the report. Each
/// scenario keeps its own counts beside it (offered and late sends; receipts and losses).
pub struct Tally {
    /// This side's send (relay) or scheduled send (open loop) → its `msg.accepted`: the message is durable.
    pub accepted: Histogram<u64>,
    /// The peer's send (the time in the plaintext; both sides share this process's clock) → this side's `msg`.
    pub peer: Histogram<u64>,
    /// Our messages the server accepted.
    pub acked: u64,
    /// The peer's messages that arrived here.
    pub received: u64,
}

impl Tally {
    pub fn new() -> Self {
        Self { accepted: histogram(), peer: histogram(), acked: 0, received: 0 }
    }

    pub fn add(&mut self, other: &Tally) -> anyhow::Result<()> {
        self.accepted.add(&other.accepted)?;
        self.peer.add(&other.peer)?;
        self.acked += other.acked;
        self.received += other.received;
        Ok(())
    }
}

impl Default for Tally {
    fn default() -> Self {
        Self::new()
    }
}

/// The outcome of one scenario: printed as JSON and as one Markdown table row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub scenario: String,
    /// The sizes it ran with (`pairs`, `in_flight`, …).
    pub params: serde_json::Value,
    pub elapsed_secs: f64,
    /// Completed operations (acknowledged messages, matches, sockets, logins).
    pub ops: u64,
    pub failures: u64,
    pub rate_per_sec: f64,
    pub latency: Option<Latency>,
    /// Scenario-specific figures (RSS, decrypted samples, the second relay run…).
    pub extra: serde_json::Value,
}

impl Report {
    pub fn markdown_header() -> &'static str {
        "| scenario | params | ops | failures | rate/s | p50 ms | p90 ms | p99 ms | max ms | notes |\n\
         |---|---|---|---|---|---|---|---|---|---|"
    }

    pub fn markdown_row(&self) -> String {
        let ms = |us: u64| format!("{:.2}", us as f64 / 1000.0);
        let (p50, p90, p99, max) = match &self.latency {
            Some(l) => (ms(l.p50_us), ms(l.p90_us), ms(l.p99_us), ms(l.max_us)),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let params = compact(&self.params);
        let notes = compact(&self.extra);
        format!(
            "| {} | {params} | {} | {} | {:.1} | {p50} | {p90} | {p99} | {max} | {notes} |",
            self.scenario, self.ops, self.failures, self.rate_per_sec
        )
    }
}

/// `{"a":1,"b":2}` → `a=1 b=2` for table cells; nulls and nested objects (full sub-reports) stay in the JSON only.
fn compact(value: &serde_json::Value) -> String {
    match value.as_object() {
        Some(map) => map
            .iter()
            .filter(|(_, v)| !v.is_null() && !v.is_object())
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
            .replace('|', "/"),
        None => String::new(),
    }
}

/// A shared operation counter with a once-per-second progress line on stderr, so a long run shows it is alive.
#[derive(Clone)]
pub struct Progress {
    pub ops: Arc<AtomicU64>,
    pub failures: Arc<AtomicU64>,
    stop: Arc<tokio::sync::Notify>,
}

impl Progress {
    pub fn start(label: &'static str) -> Self {
        let progress = Self {
            ops: Arc::new(AtomicU64::new(0)),
            failures: Arc::new(AtomicU64::new(0)),
            stop: Arc::new(tokio::sync::Notify::new()),
        };
        let p = progress.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            tick.tick().await;
            let mut last = 0;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = p.stop.notified() => return,
                }
                let ops = p.ops.load(Ordering::Relaxed);
                eprintln!(
                    "[{label}] {:>6.1}s ops={ops} rate={}/s failures={}",
                    started.elapsed().as_secs_f64(),
                    ops - last,
                    p.failures.load(Ordering::Relaxed)
                );
                last = ops;
            }
        });
        progress
    }

    pub fn add(&self, n: u64) {
        self.ops.fetch_add(n, Ordering::Relaxed);
    }

    pub fn fail(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn finish(&self) -> (u64, u64) {
        self.stop.notify_one();
        (self.ops.load(Ordering::Relaxed), self.failures.load(Ordering::Relaxed))
    }
}

pub fn rate(ops: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() { 0.0 } else { ops as f64 / elapsed.as_secs_f64() }
}

/// Microseconds since this process first asked: a clock that both sides of a relay pair share, since the load
/// generator runs them all.
pub fn clock_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_micros() as u64
}

/// A ~100-byte plaintext, the size of a typical chat line, so ciphertext sizes match across scenarios. It starts
/// with its send time (`clock_us`), so the receiver can time send → received from the plaintext alone.
pub fn payload(n: u64) -> String {
    payload_at(clock_us(), n)
}

/// A [`payload`] carrying `at_us` (a `clock_us` time, e.g. when it was scheduled) as its send time.
pub fn payload_at(at_us: u64, n: u64) -> String {
    let mut text = format!("{at_us} bench message {n} ");
    while text.len() < 100 {
        text.push('x');
    }
    text
}

/// The send time a [`payload`] carries.
pub fn sent_at_us(plaintext: &str) -> Option<u64> {
    plaintext.split(' ').next()?.parse().ok()
}
