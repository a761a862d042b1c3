//! `login-storm`: does bcrypt work on logins hurt message latency? Runs the relay measurement alone, then again
//! while C loops `POST /v1/auth/login` (seeded phones, `bench-password-1`), and reports both p99s and logins/s.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::relay::{self, RelayOptions};
use crate::{Latency, Progress, Report, SEED_PASSWORD, SeededUser, histogram, rate, record};

#[derive(Debug, Clone)]
pub struct LoginStormOptions {
    pub relay: RelayOptions,
    /// `http://127.0.0.1:8080`
    pub http: String,
    pub concurrency: usize,
}

pub async fn run(users: &[SeededUser], opts: &LoginStormOptions) -> anyhow::Result<Report> {
    let alone = relay::measure(users, &opts.relay, "relay-alone").await?;
    // Log in as users the relay does not use when there are enough, so the storm does not touch its sessions.
    let relay_users = opts.relay.pairs * 2;
    let phones: Arc<Vec<String>> = Arc::new(
        if users.len() > relay_users { &users[relay_users..] } else { users }.iter().map(|u| u.phone.clone()).collect(),
    );
    let progress = Progress::start("logins");
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::builder().pool_max_idle_per_host(opts.concurrency).build()?;
    let url = format!("{}/v1/auth/login", opts.http.trim_end_matches('/'));
    let cpu_start = opts.relay.cpu.sample();
    let started = Instant::now();
    let mut storm = Vec::new();
    for worker in 0..opts.concurrency {
        let (http, url, phones, stop, progress) =
            (http.clone(), url.clone(), phones.clone(), stop.clone(), progress.clone());
        storm.push(tokio::spawn(async move {
            let mut hist = histogram();
            let mut first_error = None;
            let mut i = worker;
            while !stop.load(Ordering::Relaxed) {
                let phone = &phones[i % phones.len()];
                i += opts_stride(phones.len());
                let sent = Instant::now();
                let body = serde_json::json!({"phone": phone, "password": SEED_PASSWORD});
                match http.post(&url).json(&body).send().await {
                    Ok(response) if response.status().is_success() => {
                        record(&mut hist, sent);
                        progress.add(1);
                    }
                    Ok(response) => {
                        progress.fail();
                        first_error.get_or_insert(format!("HTTP {}", response.status()));
                        // Back off a little on refusals (429/503) so the loop measures the server, not a spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    Err(e) => {
                        progress.fail();
                        first_error.get_or_insert(e.to_string());
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (hist, first_error)
        }));
    }
    // Give the storm a moment to saturate the bcrypt pool before measuring under it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stormy = relay::measure(users, &opts.relay, "relay-under-storm").await;
    stop.store(true, Ordering::Relaxed);
    let mut login_hist = histogram();
    let mut first_error = None;
    for task in storm {
        let (h, e) = task.await?;
        login_hist.add(&h)?;
        if let Some(e) = e {
            first_error.get_or_insert(e);
        }
    }
    let elapsed = started.elapsed();
    let cpu = opts.relay.cpu.used_since(cpu_start);
    let (logins, failures) = progress.finish();
    let stormy = stormy?;
    let p99 = |r: &Report| r.latency.as_ref().map(|l| l.p99_us);
    let mut extra = serde_json::json!({
        "relay_p99_us_alone": p99(&alone),
        "relay_p99_us_storm": p99(&stormy),
        "relay_rate_alone": alone.rate_per_sec,
        "relay_rate_storm": stormy.rate_per_sec,
        "relay_acked_storm": stormy.ops,
        "relay_cpu_s_per_1000_msgs_alone": alone.extra["cpu_s_per_1000_msgs"],
        "first_error": first_error,
        "relay_alone": alone,
        "relay_storm": stormy,
    });
    // The whole storm, the relay running beside it included: an upper bound on a login's CPU (bcrypt at cost 12
    // dominates it).
    cpu.add_to(&mut extra, "cpu_ms_per_login", logins);
    Ok(Report {
        scenario: "login-storm".into(),
        params: serde_json::json!({"concurrency": opts.concurrency, "pairs": opts.relay.pairs, "in_flight": opts.relay.in_flight, "duration_secs": opts.relay.duration.as_secs_f64()}),
        elapsed_secs: elapsed.as_secs_f64(),
        ops: logins,
        failures,
        rate_per_sec: rate(logins, elapsed),
        // Latency of the logins themselves; the relay's is in `extra`.
        latency: Some(Latency::from_histogram(&login_hist)),
        extra,
    })
}

/// Workers step through the phones in different orders so no phone is hammered by all of them at once.
fn opts_stride(n: usize) -> usize {
    if n > 7 && !n.is_multiple_of(7) { 7 } else { 1 }
}
