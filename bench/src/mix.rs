//! `mix`: a population that behaves like traffic, open loop. U users arrive (connect, `GET /v1/me`) at a fixed
//! rate, hold their sockets idle for a moment (what idle sockets cost), then for the window each asks for a text
//! match and lives on three Poisson schedules of its own that never wait for an answer: it writes messages (M a
//! minute: a message falls due whether or not it has a partner, and one due without a partner is counted, not
//! sent), skips (S a minute: leave, then ask again) and drops its connection (R a minute: reconnect, `resume` the
//! match, send again what was not acknowledged). A user whose partner skipped asks again at once. Every message
//! received is decrypted and acknowledged (`msg.ack`) as an app does.
//!
//! Latencies: scheduled send → `msg.accepted` (durable), the peer's scheduled send → its `msg` here, `match.find`
//! → `match.found`, and a drop → the new socket's `hello`. Each part of the cluster (nodes, Redis, proxy,
//! database) is measured over the window on its own ([`crate::nodes`]). With one URL (nginx in front of the
//! nodes) the proxy decides where each socket goes; with several, user i connects to `urls[i % n]`.
//!
//! For a soak (bench/soak.sh) three things can be added, all off by default: a share of the users ask for video
//! matches and signal a call in each (offer, answer, a candidate each way, `rtc.connected`), logins at a rate beside
//! the traffic, and a CSV row per node every few seconds ([`sample`]).

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::Barrier;
use tokio::time::Instant;

use crate::cpu::CpuWatch;
use crate::nodes::{ClusterWatch, spent};
use crate::{Latency, Progress, Report, SeededUser, rate};

mod sample;
mod tally;
mod user;

use tally::Tally;
use user::User;

/// How long a user waits after the window for its last acknowledgements.
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, clap::Args)]
pub struct MixArgs {
    /// Users in the population (distinct seeded accounts).
    pub users_count: usize,
    /// Users arriving (connecting) per second before the window.
    #[arg(long, default_value_t = 100.0)]
    pub arrivals_per_sec: f64,
    /// Seconds every user holds its socket idle after the last arrival, before the window: the idle cost.
    #[arg(long, default_value_t = 5)]
    pub idle_secs: u64,
    /// The measured window, after the idle hold.
    #[arg(long, default_value_t = 30)]
    pub duration_secs: u64,
    /// Messages each user writes a minute (while it has a partner).
    #[arg(long, default_value_t = 6.0)]
    pub messages_per_min: f64,
    /// Skips each user makes a minute (while it has a partner): leave, then ask again.
    #[arg(long, default_value_t = 1.0)]
    pub skips_per_min: f64,
    /// Connection drops each user has a minute: reconnect, `resume`, send the unacknowledged again.
    #[arg(long, default_value_t = 0.2)]
    pub reconnects_per_min: f64,
    /// Users connect from 127.0.0.2 … 127.0.0.(1+N), as clients from many addresses (the proxy limits sockets
    /// and requests per address); 0 connects from wherever the kernel picks.
    #[arg(long, default_value_t = 64)]
    pub source_addresses: u8,
    /// Each node's metrics (`http://127.0.0.1:PORT/metrics`), in the order of `--server-pid`; repeatable.
    #[arg(long = "node-metrics")]
    pub node_metrics: Vec<String>,
    /// The cluster's Redis server: its CPU over the window.
    #[arg(long)]
    pub redis_pid: Option<u32>,
    /// Also count the CPU of every process with this name as the proxy's, e.g. `nginx`; repeatable.
    #[arg(long = "proxy-processes")]
    pub proxy_processes: Vec<String>,
    /// The run's database name: the CPU of its own backends is reported beside every `--db-processes` process's.
    #[arg(long)]
    pub db_name: Option<String>,
    /// Share of the users (0 to 1) that ask for video matches and signal a call in each: the initiator offers,
    /// the peer answers, a relay candidate each way, then `rtc.connected`.
    #[arg(long, default_value_t = 0.0)]
    pub video_share: f64,
    /// Logins (`POST /v1/auth/login`, bcrypt at the production cost) a minute across the run, with the seeded
    /// users after the population's (the file's first ones when there are none); counted in `--sample-csv`.
    #[arg(long, default_value_t = 0.0)]
    pub logins_per_min: f64,
    /// Writes a CSV row per node every `--sample-secs` from the first arrival to the window's end: memory,
    /// descriptors, tasks, sockets and queues, and the interval's latencies and errors (bench/plot_soak.py).
    #[arg(long)]
    pub sample_csv: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    pub sample_secs: u64,
    /// Chaos (bench/chaos.sh): a broken socket or a failed send is a node killed or restarted, not the end of
    /// the user: it connects again (to whichever node the proxy picks), resumes and sends again, as an app does.
    #[arg(long)]
    pub survive_drops: bool,
    /// After the drain every user leaves its match and asks again; it must be paired within this many seconds
    /// (0: no such phase). Chaos: "every user able to match again".
    #[arg(long, default_value_t = 0)]
    pub rematch_secs: u64,
    /// Writes every acknowledged message's `match_id seq`, one a line: the store is checked against it.
    #[arg(long)]
    pub acked_out: Option<std::path::PathBuf>,
    /// Writes every message a peer read live as `match_id seq`, one a line: with `--acked-out`, the difference
    /// names the acknowledged messages no live peer received.
    #[arg(long)]
    pub received_out: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone)]
pub struct MixOptions {
    /// One URL (the proxy) or several nodes.
    pub urls: Vec<String>,
    pub args: MixArgs,
    /// Server pids and database process names, as every scenario takes them.
    pub cpu: CpuWatch,
}

impl MixOptions {
    fn cluster(&self) -> ClusterWatch {
        let nodes = self
            .cpu
            .server_pids
            .iter()
            .enumerate()
            .map(|(i, &pid)| crate::nodes::NodeWatch { pid, metrics: self.args.node_metrics.get(i).cloned() })
            .collect();
        ClusterWatch {
            nodes,
            redis_pid: self.args.redis_pid,
            proxy_processes: self.args.proxy_processes.clone(),
            db_processes: self.cpu.db_processes.clone(),
            db_name: self.args.db_name.clone(),
        }
    }
}

pub async fn run(users: &[SeededUser], opts: &MixOptions) -> anyhow::Result<Report> {
    let a = &opts.args;
    let count = a.users_count;
    anyhow::ensure!(users.len() >= count, "mix needs {count} distinct users, the file has {}", users.len());
    anyhow::ensure!(!opts.urls.is_empty() && count >= 2, "mix needs a server URL and two users");
    anyhow::ensure!(a.arrivals_per_sec > 0.0, "the arrival rate must be positive");
    // 127.0.0.2 … 127.0.0.254: the last octet stays an address of the loopback network's hosts.
    anyhow::ensure!(a.source_addresses <= 253, "at most 253 source addresses (127.0.0.2 … 127.0.0.254)");
    anyhow::ensure!((0.0..=1.0).contains(&a.video_share), "the video share is between 0 and 1");
    anyhow::ensure!(a.sample_secs > 0, "the sample interval must be positive");
    let cluster = opts.cluster();
    let label = "mix";
    eprintln!(
        "[{label}] {count} users, {} msgs/min, {} skips/min, {} reconnects/min each, {} nodes watched",
        a.messages_per_min,
        a.skips_per_min,
        a.reconnects_per_min,
        cluster.nodes.len()
    );
    let before_arrivals = cluster.sample().await;
    let progress = Progress::start(label);
    // Phases, each a barrier of every user and this task: all arrived; the window starts; all drained (the
    // sockets are still open, so the nodes' socket gauges are read then); they may go.
    let phases: [Arc<Barrier>; 4] = std::array::from_fn(|_| Arc::new(Barrier::new(count + 1)));
    // The interval's tally, shared by every user, the logins and the sampler (only when sampling or logging in).
    let window = (a.sample_csv.is_some() || a.logins_per_min > 0.0).then(|| Arc::new(Mutex::new(Tally::new())));
    let mut soak = Vec::new();
    if let (Some(path), Some(window)) = (a.sample_csv.clone(), &window) {
        let (cluster, window, every) = (cluster.clone(), window.clone(), Duration::from_secs(a.sample_secs));
        soak.push(tokio::spawn(async move {
            if let Err(e) = sample::sample(cluster, window, &path, every).await {
                eprintln!("[mix] sampling stopped: {e:#}");
            }
        }));
    }
    if let Some(window) = window.as_ref().filter(|_| a.logins_per_min > 0.0) {
        let others = if users.len() > count { &users[count..] } else { users };
        let from = (0..a.source_addresses).map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i))).collect();
        let base = user::http_base(&opts.urls[0]);
        soak.push(tokio::spawn(sample::logins(others.to_vec(), base, from, a.logins_per_min, window.clone())));
    }
    let arrivals = Instant::now();
    let mut tasks = Vec::with_capacity(count);
    for (i, seeded) in users[..count].iter().enumerate() {
        let from = (a.source_addresses > 0)
            .then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (i % a.source_addresses as usize) as u8)));
        let user = User::new(i, seeded, opts.urls[i % opts.urls.len()].clone(), from, a);
        let (phases, progress, window) = (phases.clone(), progress.clone(), window.clone());
        let (arrive, duration) = (arrivals + Duration::from_secs_f64(i as f64 / a.arrivals_per_sec), a.duration_secs);
        tasks.push(tokio::spawn(async move {
            user.live(arrive, Duration::from_secs(duration), DRAIN, &phases, &progress, window).await
        }));
    }
    phases[0].wait().await;
    let arrived = cluster.sample().await;
    tokio::time::sleep(Duration::from_secs(a.idle_secs)).await;
    let window_start = cluster.sample().await;
    let cpu_start = opts.cpu.sample();
    let started = Instant::now();
    phases[1].wait().await;
    phases[2].wait().await;
    // The soak's samples end with the window (and its drain): the sockets then close.
    for task in &soak {
        task.abort();
    }
    let cpu = opts.cpu.used_since(cpu_start);
    let window_end = cluster.sample().await;
    let elapsed = started.elapsed();
    phases[3].wait().await;
    let mut all = Tally::new();
    let (mut failed_users, mut first_error) = (0u64, None);
    for task in tasks {
        let tally = task.await?;
        if let Some(e) = &tally.fatal {
            failed_users += 1;
            first_error.get_or_insert_with(|| e.clone());
        }
        all.add(&tally)?;
    }
    // Every failure is in the tallies (the progress line only shows them as they come).
    let _ = progress.finish();
    for (path, seqs) in [(&a.acked_out, &all.acked_seqs), (&a.received_out, &all.received_seqs)] {
        if let Some(path) = path {
            let lines: String = seqs.iter().map(|(m, s)| format!("{m}\t{s}\n")).collect();
            std::fs::write(path, lines)?;
        }
    }

    let parts = spent(&window_start, &window_end);
    let idle = spent(&arrived, &window_start);
    let memory = spent(&before_arrivals, &window_end);
    let extra = figures(&all, opts, &parts, &idle, &memory, failed_users, first_error);
    // A failed reconnect ends its user: it is in `failed_users` (and `connect_failures` says which kind it was).
    let failures = failed_users + all.unacknowledged + all.not_received() + all.error_count() + all.rematch_missed;
    Ok(Report {
        scenario: label.into(),
        params: json!({
            "users": count, "duration_secs": a.duration_secs, "idle_secs": a.idle_secs,
            "arrivals_per_sec": a.arrivals_per_sec, "messages_per_min": a.messages_per_min,
            "skips_per_min": a.skips_per_min, "reconnects_per_min": a.reconnects_per_min,
            "video_share": a.video_share, "logins_per_min": a.logins_per_min,
            "urls": opts.urls.len(), "nodes": cluster.nodes.len(),
        }),
        elapsed_secs: elapsed.as_secs_f64(),
        ops: all.acked,
        failures,
        rate_per_sec: rate(all.acked, Duration::from_secs(a.duration_secs)),
        latency: Some(Latency::from_histogram(&all.accepted)),
        extra: {
            let mut extra = extra;
            cpu.add_to(&mut extra, "cpu_s_per_1000_msgs", all.acked);
            extra
        },
    })
}

/// The report's `extra`: counts, the other latencies, every part's spending and the unit costs.
fn figures(
    all: &Tally,
    opts: &MixOptions,
    parts: &serde_json::Value,
    idle: &serde_json::Value,
    memory: &serde_json::Value,
    failed_users: u64,
    first_error: Option<String>,
) -> serde_json::Value {
    let ms =
        |l: &Latency| json!({"p50": l.p50_us as f64 / 1e3, "p99": l.p99_us as f64 / 1e3, "max": l.max_us as f64 / 1e3});
    let (peer, found, reconnect) = (
        Latency::from_histogram(&all.peer),
        Latency::from_histogram(&all.found),
        Latency::from_histogram(&all.reconnect),
    );
    let nodes = parts["nodes"].as_array().cloned().unwrap_or_default();
    let sum = |v: &serde_json::Value, key: &str| -> f64 {
        v["nodes"].as_array().map_or(0.0, |n| n.iter().filter_map(|x| x[key].as_f64()).sum())
    };
    let node_cpu = sum(parts, "cpu_secs");
    // The database's part: its own backends when they were told apart (other databases' work on a shared machine
    // is not this run's), else every database process.
    let db = parts["db_backends_cpu_secs"].as_f64().or(parts["db_cpu_secs"].as_f64()).unwrap_or(0.0);
    let others: f64 = ["redis_cpu_secs", "proxy_cpu_secs"].iter().filter_map(|k| parts[k].as_f64()).sum::<f64>() + db;
    let (messages, matches, sockets) = (sum(parts, "messages"), sum(parts, "matches"), sum(parts, "sockets"));
    // Milliseconds to 0.1 µs: an idle socket-second costs microseconds.
    let per = |cpu_secs: f64, n: f64| (n > 0.0).then(|| (cpu_secs * 1e7 / n).round() / 1e4);
    let window = opts.args.duration_secs as f64;
    // Unit costs over the whole window's CPU (nodes; nodes + Redis + database + proxy): in a mix each ratio carries
    // the others' work too, so they are upper bounds for a model; the idle socket's cost is measured apart.
    let units = json!({
        "node_cpu_ms_per_message": per(node_cpu, messages),
        "cluster_cpu_ms_per_message": per(node_cpu + others, messages),
        "node_cpu_ms_per_match": per(node_cpu, matches),
        "cluster_cpu_ms_per_match": per(node_cpu + others, matches),
        "node_cpu_ms_per_socket_sec": per(node_cpu, sockets * window),
        "idle_node_cpu_ms_per_socket_sec": per(sum(idle, "cpu_secs"), sockets * opts.args.idle_secs as f64),
        "rss_kib_per_socket": (sockets > 0.0).then(|| (sum(memory, "rss_growth_mib") * 1024.0 / sockets).round()),
    });
    json!({
        "offered": all.offered,
        "without_partner": all.without_partner,
        "received": all.received,
        "not_received": all.not_received(),
        "receipts": all.receipts,
        "delivered": all.delivered,
        "unacknowledged": all.unacknowledged,
        "refused_match_over": all.refused_match_over,
        "finds": all.finds,
        "found": all.found.len(),
        "skips": all.skips,
        "ended_by_peer": all.ended_by_peer,
        "reconnects": all.reconnect.len(),
        "offers": all.offers,
        "answers": all.answers,
        "signal_ms": ms(&Latency::from_histogram(&all.signal)),
        "connect_failures": all.connect_failures,
        "resends": all.resends,
        "errors": all.errors,
        "resume_refused": all.resume_refused,
        "unreadable": all.unreadable,
        "failed_users": failed_users,
        "first_error": first_error,
        "late_sends": all.late,
        "resyncs": all.resyncs,
        "drops_survived": all.drops_survived,
        "worst_pause_ms": all.worst_pause_us as f64 / 1e3,
        "rematched": all.rematch.len(),
        "rematch_missed": all.rematch_missed,
        "rematch_ms": ms(&Latency::from_histogram(&all.rematch)),
        "peer_ms": ms(&peer),
        "found_ms": ms(&found),
        "reconnect_ms": ms(&reconnect),
        "peer_latency": peer,
        "found_latency": found,
        "reconnect_latency": reconnect,
        "parts": parts,
        "idle_parts": idle,
        // From before the first arrival to the window's end: what the run grew each node's memory by.
        "from_arrivals": memory,
        "units": units,
        "node_count": nodes.len(),
    })
}
