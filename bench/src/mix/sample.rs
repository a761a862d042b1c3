//! What a soak adds to the mix (BENCHMARKS.md, Soak): logins beside the traffic, and a CSV row per node every few
//! seconds, so growth (memory, descriptors, tasks, queues) and drift (latency) show over an hour where the
//! report's one window would average them away.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use tokio::time::Instant;

use super::tally::Tally;
use crate::nodes::ClusterWatch;
use crate::rng::SplitMix64;
use crate::{SEED_PASSWORD, SeededUser, clock_us, record_us};

/// The CSV's columns. Per node: its memory, descriptors and gauges; then the load generator's figures over the
/// interval that ended, the same on every node's row (they are the run's, not a node's).
const HEADER: &str = "t_secs,node,rss_mib,sqlite_heap_mib,fds,tasks,sessions,matching_queue,commit_queue,\
                      acked,accepted_p50_ms,accepted_p99_ms,peer_p50_ms,peer_p99_ms,found_p50_ms,found_p99_ms,\
                      offers,signal_p99_ms,logins,login_p99_ms,errors";

/// Every `every`, until aborted: takes the interval's tally (leaving a fresh one) and writes a row per node.
pub async fn sample(
    cluster: ClusterWatch,
    window: Arc<Mutex<Tally>>,
    path: &Path,
    every: Duration,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    writeln!(out, "{HEADER}")?;
    out.flush()?;
    let started = Instant::now();
    let mut tick = tokio::time::interval_at(started + every, every);
    // A slow scrape delays the next row rather than bunching rows up (each row is one interval's).
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let t = std::mem::take(&mut *window.lock().expect("no user panics holding it"));
        let s = cluster.sample().await;
        let at = started.elapsed().as_secs();
        // The run's figures: a column is empty when nothing of its kind happened in the interval.
        let ms = |h: &Histogram<u64>, q: f64| {
            if h.is_empty() { String::new() } else { format!("{:.2}", h.value_at_quantile(q) as f64 / 1e3) }
        };
        let errors = t.error_count() + t.connect_failures;
        let run = [
            t.acked.to_string(),
            ms(&t.accepted, 0.5),
            ms(&t.accepted, 0.99),
            ms(&t.peer, 0.5),
            ms(&t.peer, 0.99),
            ms(&t.found, 0.5),
            ms(&t.found, 0.99),
            t.offers.to_string(),
            ms(&t.signal, 0.99),
            t.logins.to_string(),
            ms(&t.login, 0.99),
            errors.to_string(),
        ]
        .join(",");
        for (i, node) in s.nodes().iter().enumerate() {
            let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v}"));
            let rss = node.rss_kib().map(|k| (k as f64 / 102.4).round() / 10.0);
            // Of which SQLite's heap (its page caches fill up to a ceiling): 0 on PostgreSQL.
            let sqlite = node.series("sqlite_heap").map(|b| (b / 104_857.6).round() / 10.0);
            let gauges = ["tasks", "sockets", "matching_queue", "commit_queue"].map(|g| opt(node.series(g)));
            let fds = opt(node.fds().map(|f| f as f64));
            writeln!(out, "{at},{},{},{},{fds},{},{run}", i + 1, opt(rss), opt(sqlite), gauges.join(","))?;
        }
        // A row per tick on disk at once: a soak stopped early keeps what it sampled.
        out.flush()?;
    }
}

/// `POST /v1/auth/login` on a Poisson schedule of `per_min`, round robin over `users`' phones (bcrypt at the
/// production cost each), from the mix's source addresses; until aborted.
pub async fn logins(users: Vec<SeededUser>, base: String, from: Vec<IpAddr>, per_min: f64, window: Arc<Mutex<Tally>>) {
    let mut clients: Vec<reqwest::Client> =
        from.iter().filter_map(|a| reqwest::Client::builder().local_address(*a).build().ok()).collect();
    if clients.is_empty() {
        clients.push(reqwest::Client::new());
    }
    let url = format!("{base}/v1/auth/login");
    let mut rng = SplitMix64(0x5EED_1061);
    let mut due = Instant::now();
    for n in 0.. {
        due += rng.exponential(per_min / 60.0);
        tokio::time::sleep_until(due).await;
        let (user, http) = (&users[n % users.len()], &clients[n % clients.len()]);
        let body = serde_json::json!({"phone": user.phone, "password": SEED_PASSWORD});
        let sent = clock_us();
        // Its own task: a slow login (bcrypt queues under load) must not hold back the schedule.
        let (request, window) = (http.post(&url).json(&body), window.clone());
        tokio::spawn(async move {
            let outcome = request.send().await.map(|r| r.status());
            let took = clock_us().saturating_sub(sent);
            let mut t = window.lock().expect("no user panics holding it");
            match outcome {
                Ok(status) if status.is_success() => {
                    record_us(&mut t.login, took);
                    t.logins += 1;
                }
                Ok(status) => *t.errors.entry(format!("login_{}", status.as_u16())).or_default() += 1,
                Err(_) => *t.errors.entry("login_unanswered".into()).or_default() += 1,
            }
        });
    }
}
