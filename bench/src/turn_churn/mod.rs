//! `turn-churn`: a storm of short video calls against any TURN server that takes TURN REST credentials (coturn's
//! `use-auth-secret`, or tanis's embedded relay). Random video chat skips partners every few seconds, so what
//! matters is how fast a relay sets calls up and whether it gives everything back when they end.
//!
//! Calls start open-loop at `rate` per second (at most `concurrency` at once). Each call is two webrtc-rs `turn`
//! clients, each with its own UDP socket: both allocate a relay; each sends to the other's relay address, which
//! makes the client create a permission (it waits for the answer inside that first `send_to`) and bind a
//! channel (in a task of its own, while the first packets go as Send indications); then each side probes every
//! 10 ms until it hears the other. Time to first relayed packet is call start → the receiver's first packet, one
//! sample per direction. The call then holds for `hold`, a packet each way every `packet_interval`, and closes:
//! a Refresh with lifetime 0 from each client (the scenario waits for its answer, so it knows the server freed
//! the allocation), then the client itself.
//!
//! The round trips of the requests the client hides (CreatePermission, ChannelBind, the closing Refresh) are read
//! off the wire by [`tap`]. The server's CPU, memory and descriptors come from `/proc` ([`footprint`]); after the
//! storm the descriptors must come back to where they started.
//!
//! Rates (allocations, permissions, channel bindings per second) are successes over the time from the first call
//! start to the last success of that kind, so the calls' hold time after the last request does not dilute them.

mod footprint;
mod peer;
pub mod tap;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::connections::raise_nofile;
use crate::cpu::CpuWatch;
use crate::{Latency, Progress, Report, histogram, record_us};
use footprint::{Footprint, PeakWatch};
use peer::{Peer, Phase};
use tap::{DataCounts, Ledger, Method};

#[derive(Debug, Clone)]
pub struct TurnChurnOptions {
    /// The TURN server's UDP address; loopback only.
    pub turn: SocketAddr,
    /// The TURN REST shared secret (coturn's `static-auth-secret`, tanis's `video.turn_secret`).
    pub secret: String,
    pub realm: String,
    /// Names the server in the report (`coturn`, `tanis`…), so side-by-side tables need no guessing.
    pub label: String,
    pub calls: usize,
    /// Calls started per second, on a fixed schedule whatever the server's speed (open loop).
    pub rate: f64,
    /// Calls in flight at most; a start that has to wait for one to end is counted as late.
    pub concurrency: usize,
    /// How long a call lasts after its first relayed packet.
    pub hold: Duration,
    pub packet_interval: Duration,
    /// How long to wait after the storm for the server's descriptors to come back to their baseline.
    pub settle: Duration,
    /// Clients bind to this many loopback addresses (127.0.0.1, .2, …; IPv6 has only ::1), in turn. With one,
    /// the kernel soon hands a new client the port of one that just closed, and a server that still holds that
    /// 5-tuple answers 437 Allocation Mismatch: real clients come from many addresses.
    pub source_addresses: u8,
    /// Its first server pid is the TURN server whose memory and descriptors are read.
    pub cpu: CpuWatch,
}

/// Bounds on each step of a call, so a server that stops answering ends the run instead of hanging it.
const ALLOCATE_LIMIT: Duration = Duration::from_secs(15);
const PERMISSION_LIMIT: Duration = Duration::from_secs(15);
const FIRST_PACKET_LIMIT: Duration = Duration::from_secs(5);
const REFRESH_LIMIT: Duration = Duration::from_secs(3);
const PROBE_INTERVAL: Duration = Duration::from_millis(10);
/// Between the last packet of a call and its close, so a packet still in flight is not counted as lost.
const LAST_PACKET_GRACE: Duration = Duration::from_millis(50);
/// Credentials outlive any run.
const CREDENTIAL_TTL_SECS: u64 = 3600;
/// Descriptors the server may keep above its baseline and still count as settled (log files, a timer…).
const FD_SLACK: u64 = 4;

/// Percentiles in microseconds, with the p95 the TURN targets are stated in.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub samples: u64,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        let q = |q| if h.is_empty() { 0 } else { h.value_at_quantile(q) };
        Self { samples: h.len(), p50_us: q(0.50), p95_us: q(0.95), p99_us: q(0.99), max_us: h.max() }
    }
}

/// Where a call failed.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Allocate,
    Permission,
    FirstPacket,
}

struct CallFailure {
    stage: Stage,
    error: String,
}

/// What a completed call measured.
struct CallTimes {
    /// Per client: `allocate()` from the first request to the relay address, the 401 challenge included.
    allocate_us: [u64; 2],
    /// Per direction: call start → the receiver's first packet.
    first_packet_us: [u64; 2],
}

/// What every call adds to, whatever its outcome.
#[derive(Default)]
struct Totals {
    setup_packets_sent: AtomicU64,
    setup_packets_received: AtomicU64,
    hold_packets_sent: AtomicU64,
    hold_packets_received: AtomicU64,
    /// Closing Refreshes answered (the server confirmed it freed the allocation), and not answered in time.
    frees_confirmed: AtomicU64,
    frees_unconfirmed: AtomicU64,
}

pub async fn run(opts: &TurnChurnOptions) -> anyhow::Result<Report> {
    anyhow::ensure!(opts.turn.ip().is_loopback(), "turn-churn only targets loopback, not {}", opts.turn);
    anyhow::ensure!(opts.rate > 0.0 && opts.calls > 0 && opts.concurrency > 0, "calls, rate and concurrency > 0");
    let nofile = raise_nofile();
    let server_pid = opts.cpu.server_pids.first().copied();
    let bench_fds_before = footprint::fd_count(std::process::id());
    let udp_drops_before = footprint::udp_receive_buffer_drops();
    let server_drops_before = server_pid.and_then(footprint::udp_drops_of);
    let before = server_pid.map(Footprint::read).unwrap_or_default();
    let peak = server_pid.map(|pid| PeakWatch::start(pid, before));

    let started = Instant::now();
    let ledger = Arc::new(Mutex::new(Ledger::new(started)));
    let data = Arc::new(DataCounts::default());
    let totals = Arc::new(Totals::default());
    let progress = Progress::start("turn-churn");
    let permits = Arc::new(Semaphore::new(opts.concurrency));
    let cpu_start = opts.cpu.sample();
    let (mut late_starts, mut worst_lag) = (0u64, Duration::ZERO);
    let mut calls: Vec<JoinHandle<Result<CallTimes, CallFailure>>> = Vec::with_capacity(opts.calls);
    for i in 0..opts.calls {
        let scheduled = started + Duration::from_secs_f64(i as f64 / opts.rate);
        tokio::time::sleep_until(scheduled.into()).await;
        let permit = permits.clone().acquire_owned().await?;
        let lag = scheduled.elapsed();
        // A few milliseconds of timer jitter is not a late start; waiting for a free slot is.
        if lag > Duration::from_millis(10) {
            late_starts += 1;
        }
        worst_lag = worst_lag.max(lag);
        let (opts, ledger, data, totals, progress) =
            (opts.clone(), ledger.clone(), data.clone(), totals.clone(), progress.clone());
        calls.push(tokio::spawn(async move {
            let result = call(i, &opts, &ledger, &data, &totals).await;
            match &result {
                Ok(_) => progress.add(1),
                Err(_) => progress.fail(),
            }
            drop(permit);
            result
        }));
    }
    let starting = started.elapsed();

    let (mut allocate, mut first_packet) = (histogram(), histogram());
    let mut failed = [0u64; 3];
    let mut first_error = None;
    for c in calls {
        match c.await? {
            Ok(times) => {
                times.allocate_us.iter().for_each(|&us| record_us(&mut allocate, us));
                times.first_packet_us.iter().for_each(|&us| record_us(&mut first_packet, us));
            }
            Err(failure) => {
                failed[failure.stage as usize] += 1;
                first_error.get_or_insert(format!("{:?}: {}", failure.stage, failure.error));
            }
        }
    }
    let storm = started.elapsed();
    let udp_drops =
        footprint::udp_receive_buffer_drops().zip(udp_drops_before).map(|(after, before)| after.saturating_sub(before));
    let server_drops = server_pid
        .and_then(footprint::udp_drops_of)
        .zip(server_drops_before)
        .map(|(after, before)| after.saturating_sub(before));
    let cpu = opts.cpu.used_since(cpu_start);
    let (completed, failures) = progress.finish();
    let peak = peak.map(PeakWatch::finish).unwrap_or_default();
    let (after, settled_in) = match server_pid {
        Some(pid) => footprint::settle(pid, before, FD_SLACK, opts.settle).await,
        None => (Footprint::default(), None),
    };
    // The load generator's own descriptors: a client that keeps its socket after close would show here.
    let bench_fds_after = footprint::fd_count(std::process::id());

    let ledger = ledger.lock().expect("ledger lock");
    let allocations = ledger.successes(Method::Allocate);
    let (permissions, bindings) = (ledger.successes(Method::CreatePermission), ledger.successes(Method::ChannelBind));
    let per_sec = |m: Method| (ledger.rate(m) * 10.0).round() / 10.0;
    let count = |a: &AtomicU64| a.load(Ordering::Relaxed);
    // Nested objects stay in the JSON only (the Markdown row skips them). Built apart: one `json!` of everything
    // is past the macro's recursion limit.
    let round_trips = serde_json::json!({
        "allocate": Percentiles::of(ledger.round_trips(Method::Allocate)),
        "create_permission": Percentiles::of(ledger.round_trips(Method::CreatePermission)),
        "channel_bind": Percentiles::of(ledger.round_trips(Method::ChannelBind)),
        "refresh": Percentiles::of(ledger.round_trips(Method::Refresh)),
    });
    let detail = serde_json::json!({
        "retransmissions": ledger.retransmissions(),
        "permissions_peak_second": ledger.peak_per_second(Method::CreatePermission),
        "channel_binds_peak_second": ledger.peak_per_second(Method::ChannelBind),
        "setup_packets_sent": count(&totals.setup_packets_sent),
        "setup_packets_received": count(&totals.setup_packets_received),
        "send_indications_out": count(&data.send_indications_out),
        "channel_data_out": count(&data.channel_data_out),
        "data_indications_in": count(&data.data_indications_in),
        "channel_data_in": count(&data.channel_data_in),
        "starting_secs": starting.as_secs_f64(),
        "worst_start_lag_ms": worst_lag.as_secs_f64() * 1000.0,
        "bench_fds_before": bench_fds_before,
        "bench_fds_after": bench_fds_after,
        "nofile_limit": nofile,
    });
    let mut extra = serde_json::json!({
        "server": opts.label,
        "calls_completed": completed,
        "calls_failed": failures,
        "failed_at_allocate": failed[Stage::Allocate as usize],
        "failed_at_permission": failed[Stage::Permission as usize],
        "failed_at_first_packet": failed[Stage::FirstPacket as usize],
        "first_error": first_error,
        "allocations": allocations,
        "allocations_per_sec": per_sec(Method::Allocate),
        "allocations_peak_second": ledger.peak_per_second(Method::Allocate),
        "permissions": permissions,
        "permissions_per_sec": per_sec(Method::CreatePermission),
        "channel_binds": bindings,
        "channel_binds_per_sec": per_sec(Method::ChannelBind),
        "setups_per_sec": per_sec(Method::CreatePermission) + per_sec(Method::ChannelBind),
        "frees_confirmed": count(&totals.frees_confirmed),
        "frees_unconfirmed": count(&totals.frees_unconfirmed),
        "ttfp_p95_ms": Percentiles::of(&first_packet).p95_us as f64 / 1000.0,
        "server_fds_before": before.fds,
        "server_fds_peak": peak.fds,
        "server_fds_after": after.fds,
        "server_rss_before_kib": before.rss_kib,
        "server_rss_peak_kib": peak.rss_kib,
        "server_rss_after_kib": after.rss_kib,
        "settled_secs": settled_in.map(|d| (d.as_secs_f64() * 10.0).round() / 10.0),
        "late_starts": late_starts,
        "hold_packets_sent": count(&totals.hold_packets_sent),
        "hold_packets_received": count(&totals.hold_packets_received),
        "udp_receive_buffer_drops": udp_drops,
        "server_socket_drops": server_drops,
        "time_to_first_relayed_packet": Percentiles::of(&first_packet),
        "allocate": Percentiles::of(&allocate),
        "round_trips": round_trips,
        "error_responses": ledger.errors(),
        "detail": detail,
    });
    cpu.add_to(&mut extra, "cpu_ms_per_allocation", allocations);
    Ok(Report {
        scenario: "turn-churn".into(),
        params: serde_json::json!({
            "calls": opts.calls,
            "rate": opts.rate,
            "concurrency": opts.concurrency,
            "hold_ms": opts.hold.as_millis() as u64,
            "packet_interval_ms": opts.packet_interval.as_millis() as u64,
            "source_addresses": opts.source_addresses,
        }),
        elapsed_secs: storm.as_secs_f64(),
        ops: allocations,
        failures,
        rate_per_sec: ledger.rate(Method::Allocate),
        // The report's standard columns hold time to first relayed packet; `extra` has its p95.
        latency: Some(Latency::from_histogram(&first_packet)),
        extra,
    })
}

/// One call, from both allocations to both frees. Whatever happens, an allocation that was made is freed.
async fn call(
    i: usize,
    opts: &TurnChurnOptions,
    ledger: &Arc<Mutex<Ledger>>,
    data: &Arc<DataCounts>,
    totals: &Totals,
) -> Result<CallTimes, CallFailure> {
    let started = Instant::now();
    let (ref_a, ref_b) = (format!("churn-{i}-a"), format!("churn-{i}-b"));
    let source = |side: usize| match opts.turn.ip() {
        IpAddr::V4(_) => Ipv4Addr::from(
            u32::from(Ipv4Addr::LOCALHOST) + ((2 * i + side) % usize::from(opts.source_addresses.max(1))) as u32,
        )
        .into(),
        IpAddr::V6(_) => IpAddr::from(Ipv6Addr::LOCALHOST),
    };
    let (a, b) = tokio::join!(
        Peer::open(opts, source(0), &ref_a, ledger, data),
        Peer::open(opts, source(1), &ref_b, ledger, data)
    );
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (a, b) => {
            let mut error = String::new();
            for peer in [a, b] {
                match peer {
                    Ok(peer) => peer.close(totals).await,
                    Err(e) if error.is_empty() => error = format!("{e:#}"),
                    Err(_) => {}
                }
            }
            return Err(CallFailure { stage: Stage::Allocate, error });
        }
    };
    let allocate_us = [a.allocated_in, b.allocated_in].map(|d| d.as_micros() as u64);
    let result = relay_both_ways(&a, &b, started, opts, totals).await;
    tokio::join!(a.close(totals), b.close(totals));
    let first_packet_us = result?;
    Ok(CallTimes { allocate_us, first_packet_us })
}

/// Permissions, first packets each way, then the hold. Returns time to first relayed packet per direction.
async fn relay_both_ways(
    a: &Peer,
    b: &Peer,
    started: Instant,
    opts: &TurnChurnOptions,
    totals: &Totals,
) -> Result<[u64; 2], CallFailure> {
    let fail = |stage| move |error: String| CallFailure { stage, error };
    // The first send to a peer blocks on CreatePermission; the ChannelBind it starts runs on meanwhile.
    let permissions = async {
        let (x, y) = tokio::join!(a.send(Phase::Setup, b.relayed, totals), b.send(Phase::Setup, a.relayed, totals));
        x.and(y)
    };
    tokio::time::timeout(PERMISSION_LIMIT, permissions)
        .await
        .map_err(|_| format!("no permission within {PERMISSION_LIMIT:?}"))
        .and_then(|r| r)
        .map_err(fail(Stage::Permission))?;

    // Both permissions exist now, but either side's first packet may have reached the other before the other's
    // permission did, and been dropped: probe until each side has heard the other.
    let (mut a_heard, mut b_heard) = (a.first_heard.clone(), b.first_heard.clone());
    let probing = async {
        loop {
            let (a_at, b_at) = (*a_heard.borrow_and_update(), *b_heard.borrow_and_update());
            if let (Some(a_at), Some(b_at)) = (a_at, b_at) {
                return Ok::<_, String>([b_at, a_at].map(|at| at.duration_since(started).as_micros() as u64));
            }
            if b_at.is_none() {
                a.send(Phase::Setup, b.relayed, totals).await?;
            }
            if a_at.is_none() {
                b.send(Phase::Setup, a.relayed, totals).await?;
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    };
    let first_packet_us = tokio::time::timeout(FIRST_PACKET_LIMIT, probing)
        .await
        .map_err(|_| format!("no relayed packet within {FIRST_PACKET_LIMIT:?}"))
        .and_then(|r| r)
        .map_err(fail(Stage::FirstPacket))?;

    // The call itself: a packet each way every interval. A lost packet here is counted, not a failure.
    // (Packets still in flight when a side frees its allocation would be lost too: the call ends after a
    // grace period, see below.)
    let hold_until = tokio::time::Instant::now() + opts.hold;
    let mut tick = tokio::time::interval(opts.packet_interval);
    while tokio::time::Instant::now() < hold_until {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(hold_until) => break,
        }
        let _ = tokio::join!(a.send(Phase::Hold, b.relayed, totals), b.send(Phase::Hold, a.relayed, totals));
    }
    tokio::time::sleep(LAST_PACKET_GRACE).await;
    Ok(first_packet_us)
}
