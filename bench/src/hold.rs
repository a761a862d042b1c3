//! `hold` (issue 79 point 5): N idle, authenticated sockets held on a node, each keeping itself alive as the SDK
//! does, and what that costs and survives. In order:
//!
//! 1. **Ramp.** N sockets open (bearer token, wait for `hello`), `--concurrency` handshakes at a time, from
//!    127.0.0.2 on across 127/8, `--per-source` sockets per address (nginx allows 50 per address), spread over the
//!    `--url`s round robin, users taken from the users file cyclically (a user may hold many sockets).
//! 2. **Window A, keep-alive cost** (`--hold-secs`): nothing else runs. Every socket answers the server's WebSocket
//!    Pings and sends the protocol's `ping` every `--keepalive-secs` ([`held`]). The servers' memory before the ramp
//!    and after the window (KiB per socket) and their CPU over the window, per second per 1 000 sockets.
//! 3. **Window B, a message beside them** (`--duration-secs`): `--pairs` other users (the last 2P of the file, never
//!    held) relay at one message in flight ([`crate::relay`]); send → `msg.accepted` is the report's latency.
//! 4. **Storm** (with `--restart-cmd`): `sh -c CMD` kills the node with -9 and starts it again; every socket whose
//!    connection ends reconnects with the SDK's backoff until `hello`. Time from the kill to each socket back, the
//!    attempts and their failures by kind; then a window of `--after-storm-secs` in which the keep-alives must flow
//!    on the new connections, and the servers' memory after it.
//!
//! Pongs missing (a `ping` still unanswered when the next one falls due) and connections dropped are counted per
//! window. One process holds at most as many sockets as it may open descriptors: several processes run in step
//! through `--sync-dir` ([`peers`]) and `hold-merge` adds their outcomes up ([`outcome`]).

mod held;
mod outcome;
mod peers;
mod storm;

use std::future::Future;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::connections::{loopback_address, raise_nofile, rss_kib};
use crate::cpu::CpuWatch;
use crate::relay::{self, RelayOptions};
use crate::rng::SplitMix64;
use crate::{Progress, Report, SeededUser, histogram, record_us};
use held::{Held, Phase, Shared};
pub use outcome::Outcome;
use outcome::{Params, Samples, Servers, Window};
pub use peers::Peers;

/// How long a socket of the ramp may take from its TCP connect to `hello`.
const RAMP_HELLO_WAIT: Duration = Duration::from_secs(30);
/// A line on stderr this often while the sockets are held.
const STATUS_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, clap::Args)]
pub struct HoldArgs {
    /// Sockets this process holds.
    #[arg(long, default_value_t = 19_000)]
    pub sockets: usize,
    /// Sockets per source address (127.0.0.2, .3, …); nginx's shipped config allows 50 per address.
    #[arg(long, default_value_t = 20_000)]
    pub per_source: usize,
    /// The first source address's number (0: 127.0.0.2), so that processes never share addresses.
    #[arg(long, default_value_t = 0)]
    pub first_source: usize,
    /// Handshakes in flight while ramping.
    #[arg(long, default_value_t = 500)]
    pub concurrency: usize,
    /// Every socket sends `{"type":"ping"}` this often, the first at a random offset; 0 sends none.
    #[arg(long, default_value_t = 20)]
    pub keepalive_secs: u64,
    /// Window A: nothing but the keep-alives.
    #[arg(long, default_value_t = 60)]
    pub hold_secs: u64,
    /// Window B: pairs of other users relaying at one message in flight (0: no window B).
    #[arg(long, default_value_t = 10)]
    pub pairs: usize,
    #[arg(long, default_value_t = 10)]
    pub duration_secs: u64,
    /// After window B: `sh -c CMD` kills the node with -9 and starts it again on the same port and data; whether
    /// it returns at once or once the node is up, the sockets do not wait for it.
    #[arg(long)]
    pub restart_cmd: Option<String>,
    /// A file where the restart command leaves the restarted node's pid: it replaces the first `--server-pid` for
    /// the memory and CPU read after the storm.
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// The storm is called over this long after the kill, whoever is not back yet.
    #[arg(long, default_value_t = 300)]
    pub storm_timeout_secs: u64,
    /// The window after the storm (default: the keep-alive interval + 2 s, so every socket back pings once).
    #[arg(long)]
    pub after_storm_secs: Option<u64>,
    /// Several processes in step: a fresh, empty directory shared by all of them (bench/run.sh HOLD_PROCESSES).
    #[arg(long)]
    pub sync_dir: Option<PathBuf>,
    /// This process's number among `--processes`; 0 leads (measures the servers, relays, restarts).
    #[arg(long, default_value_t = 0)]
    pub process_index: usize,
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
}

/// Kills and restarts the node, and says how that went (`sh -c CMD`'s exit status; in the smoke test, the
/// in-process server stopped and built again).
pub type Restart = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<String>> + Send>> + Send + Sync>;

/// `sh -c cmd`, its output on stderr (stdout may carry the report).
pub fn shell(cmd: String) -> Restart {
    Arc::new(move || {
        let cmd = cmd.clone();
        Box::pin(async move {
            let status = tokio::task::spawn_blocking(move || {
                std::process::Command::new("sh").arg("-c").arg(&cmd).stdout(std::io::stderr()).status()
            })
            .await??;
            Ok(status.to_string())
        })
    })
}

#[derive(Clone)]
pub struct HoldOptions {
    /// One node, several (sockets round robin), or the proxy in front of them.
    pub urls: Vec<String>,
    /// Server pids (memory and CPU) and database process names (CPU).
    pub cpu: CpuWatch,
    pub args: HoldArgs,
    /// The storm's restart; `None`: no storm.
    pub restart: Option<Restart>,
}

/// The n-th client address: 127.0.0.2 … 127.0.0.254, 127.0.1.1 …, across 127/8 (never a last byte of 0 or 255,
/// never 127.0.0.1, which the nodes trust as the proxy behind nginx).
pub fn source_address(n: usize) -> Ipv4Addr {
    let k = n + 1;
    let rest = k / 254;
    Ipv4Addr::new(127, (rest >> 8) as u8, rest as u8, (k % 254 + 1) as u8)
}

pub async fn run(users: &[SeededUser], opts: &HoldOptions) -> anyhow::Result<Report> {
    let args = &opts.args;
    let peers = match &args.sync_dir {
        Some(dir) => Some(Peers::new(dir, args.process_index, args.processes)?),
        None => {
            anyhow::ensure!(args.processes == 1, "--processes needs --sync-dir");
            None
        }
    };
    let outcome = measure(users, opts, peers.as_ref()).await;
    if let Some(peers) = &peers {
        match &outcome {
            Ok(outcome) => std::fs::write(peers.outcome_path(), serde_json::to_vec(outcome)?)?,
            Err(_) => peers.abort(),
        }
    }
    Ok(outcome?.report())
}

/// `hold-merge`: the outcomes every process of one run left in `dir`, added up into one report.
pub fn merge(dir: &Path, processes: usize) -> anyhow::Result<Report> {
    let mut parts = Vec::with_capacity(processes);
    for index in 0..processes {
        let path = peers::outcome_path(dir, index);
        let text = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        parts.push(serde_json::from_slice(&text).with_context(|| format!("parsing {}", path.display()))?);
    }
    Ok(Outcome::merge(parts)?.report())
}

async fn barrier(peers: Option<&Peers>, name: &str) -> anyhow::Result<()> {
    match peers {
        Some(peers) => peers.barrier(name).await,
        None => Ok(()),
    }
}

/// VmRSS summed over the servers; `None` if none is watched or one cannot be read.
fn rss_sum(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() { None } else { pids.iter().map(|&pid| rss_kib(pid)).sum() }
}

async fn measure(users: &[SeededUser], opts: &HoldOptions, peers: Option<&Peers>) -> anyhow::Result<Outcome> {
    let args = &opts.args;
    let leads = peers.is_none_or(Peers::leads);
    anyhow::ensure!(args.sockets > 0 && args.per_source > 0, "hold needs --sockets and --per-source above 0");
    anyhow::ensure!(!opts.urls.is_empty(), "hold needs a server URL");
    let relay_count = 2 * args.pairs;
    anyhow::ensure!(
        users.len() > relay_count,
        "hold takes the relay's {relay_count} users from the end of the users file and at least one user before \
         them for the held sockets; the file has {}",
        users.len()
    );
    let (held_users, relay_users) = users.split_at(users.len() - relay_count);
    let nofile = raise_nofile();
    let needed = (args.sockets + relay_count + 64) as u64;
    anyhow::ensure!(
        nofile == 0 || needed <= nofile,
        "{} sockets need about {needed} descriptors and this process may open {nofile}: run several processes \
         (--processes with --sync-dir; bench/run.sh HOLD_PROCESSES)",
        args.sockets
    );
    let mut servers = Vec::with_capacity(opts.urls.len());
    for url in &opts.urls {
        servers.push(loopback_address(url).await?);
    }
    let keepalive = (args.keepalive_secs > 0).then(|| Duration::from_secs(args.keepalive_secs));
    let shared = Arc::new(Shared::new(args.sockets));
    let (phase, phase_rx) = watch::channel(Phase::Hold);

    let pids = &opts.cpu.server_pids;
    let mut measured = Servers { rss_before_kib: leads.then(|| rss_sum(pids)).flatten(), ..Servers::default() };
    barrier(peers, "start").await?;

    // 1. The ramp.
    let progress = Progress::start("hold");
    let permits = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let started = Instant::now();
    let process = peers.map_or(0, Peers::index) as u64;
    let mut ramp = Vec::with_capacity(args.sockets);
    for i in 0..args.sockets {
        let permit = permits.clone().acquire_owned().await?;
        let held = Held {
            index: i,
            url: opts.urls[i % opts.urls.len()].clone(),
            server: servers[i % servers.len()],
            token: held_users[i % held_users.len()].token.clone(),
            source: source_address(args.first_source + i / args.per_source),
            keepalive,
            rng: SplitMix64((process << 32 | i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x0401D),
        };
        let (shared, phase, progress) = (shared.clone(), phase_rx.clone(), progress.clone());
        ramp.push(tokio::spawn(async move {
            let sent = std::time::Instant::now();
            let opened = held.open(RAMP_HELLO_WAIT).await;
            drop(permit);
            match opened {
                Ok(stream) => {
                    progress.add(1);
                    Ok((sent.elapsed(), tokio::spawn(held.hold(stream, shared, phase))))
                }
                Err(e) => {
                    progress.fail();
                    Err(e)
                }
            }
        }));
    }
    let (mut ramp_times, mut holders, mut first_error) = (histogram(), Vec::with_capacity(args.sockets), None);
    for task in ramp {
        match task.await? {
            Ok((took, holder)) => {
                record_us(&mut ramp_times, took.as_micros() as u64);
                holders.push(holder);
            }
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let ramp_secs = started.elapsed().as_secs_f64();
    let (held, ramp_failures) = progress.finish();
    eprintln!("[hold] {held} sockets held ({ramp_failures} failed) in {ramp_secs:.1} s");
    measured.rss_ramped_kib = leads.then(|| rss_sum(pids)).flatten();
    barrier(peers, "ramped").await?;

    // 2. Window A: the keep-alives alone.
    let cpu_start = leads.then(|| opts.cpu.sample());
    let hold = window(&shared, "keep-alive window", async { tokio::time::sleep(secs(args.hold_secs)).await }).await;
    if let Some(start) = cpu_start {
        let used = opts.cpu.used_since(start);
        (measured.cpu_secs, measured.db_cpu_secs, measured.cpu_by_thread) =
            (used.server_secs, used.db_secs, used.server_threads);
    }
    measured.rss_after_hold_kib = leads.then(|| rss_sum(pids)).flatten();
    barrier(peers, "held").await?;

    // 3. Window B: a relay beside the held sockets (the leader's; the others hold theirs meanwhile).
    let mut relay = None;
    let beside = window(&shared, "relay window", async {
        if leads && args.pairs > 0 {
            let relay_opts = RelayOptions {
                urls: opts.urls.clone(),
                pairs: args.pairs,
                in_flight: 1,
                duration: secs(args.duration_secs),
                cpu: opts.cpu.clone(),
                protocol: 2,
            };
            relay = Some(relay::measure(relay_users, &relay_opts, "hold-relay").await);
        }
        barrier(peers, "relayed").await
    })
    .await;
    let relay = relay.transpose().context("the relay beside the held sockets")?;

    // 4. The storm, and the window after it.
    let storm = match &opts.restart {
        Some(restart) => Some(storm::storm(restart, &shared, &phase, opts, peers).await?),
        None => None,
    };
    phase.send_replace(Phase::Stop);
    for holder in holders {
        let _ = holder.await;
    }
    let params = Params {
        sockets: args.sockets as u64,
        per_source: args.per_source as u64,
        keepalive_secs: args.keepalive_secs,
        hold_secs: args.hold_secs,
        pairs: args.pairs as u64,
        duration_secs: args.duration_secs,
        urls: opts.urls.len() as u64,
        storm: opts.restart.is_some(),
    };
    Ok(Outcome {
        params,
        processes: 1,
        held,
        ramp_failures,
        first_error,
        ramp_secs,
        ramp: Samples::of(&ramp_times),
        servers: measured,
        hold,
        beside,
        relay,
        storm,
    })
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Runs `during` while every socket is held, printing the keep-alive counts every few seconds; the window's
/// counts and ping → pong times.
async fn window<T>(shared: &Shared, label: &str, during: impl Future<Output = T>) -> Window {
    let (before, _) = (shared.counts(), shared.take_rtt());
    let started = Instant::now();
    let mut during = std::pin::pin!(during);
    loop {
        tokio::select! {
            _ = &mut during => break,
            () = tokio::time::sleep(STATUS_EVERY) => {
                let c = shared.counts().since(before);
                eprintln!(
                    "[hold] {label} {:>5.1}s: pings {} pongs {} missing {} dropped {} server pings {}",
                    started.elapsed().as_secs_f64(), c.pings, c.pongs, c.pongs_missing, c.dropped, c.server_pings
                );
            }
        }
    }
    let (rtt, counts) = (Samples::of(&shared.take_rtt()), shared.counts().since(before));
    Window { secs: started.elapsed().as_secs_f64(), counts, rtt, ponged_sockets: shared.ponged(None) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_addresses_run_across_the_loopback_network_skipping_the_proxys() {
        assert_eq!(source_address(0), Ipv4Addr::new(127, 0, 0, 2));
        assert_eq!(source_address(252), Ipv4Addr::new(127, 0, 0, 254));
        assert_eq!(source_address(253), Ipv4Addr::new(127, 0, 1, 1));
        assert_eq!(source_address(254 * 256 - 1), Ipv4Addr::new(127, 1, 0, 1));
        let all: std::collections::HashSet<_> = (0..100_000).map(source_address).collect();
        assert_eq!(all.len(), 100_000, "every address differs");
        assert!(all.iter().all(|a| a.octets()[3] != 0 && a.octets()[3] != 255 && *a != Ipv4Addr::LOCALHOST));
    }
}
