//! What one `hold` process measured, in a form that travels between processes: `hold-merge` adds up the outcomes of
//! several processes, and one process's report and the merged one are built by the same function.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::held::KeepAliveCounts;
use crate::{Latency, Report, histogram, rate};

/// The sizes the run was asked for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Params {
    /// Asked for (every process's, after a merge).
    pub sockets: u64,
    pub per_source: u64,
    pub keepalive_secs: u64,
    pub hold_secs: u64,
    pub pairs: u64,
    pub duration_secs: u64,
    /// URLs the sockets were spread over (1: one node, or nginx in front of several).
    pub urls: u64,
    pub storm: bool,
}

/// A histogram as its recorded values and their counts, so that processes' histograms can be added.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Samples(Vec<(u64, u64)>);

impl Samples {
    pub fn of(h: &Histogram<u64>) -> Self {
        Self(h.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect())
    }

    pub fn add(&mut self, other: &Self) {
        self.0.extend_from_slice(&other.0);
    }

    /// Recorded into `into` (an empty histogram with the right bounds).
    pub fn to_histogram(&self, mut into: Histogram<u64>) -> Histogram<u64> {
        for &(value, count) in &self.0 {
            into.saturating_record_n(value, count);
        }
        into
    }
}

/// Milliseconds up to an hour: a socket's time back after a kill (the backoff alone reaches 30 s a try).
pub fn storm_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000, 3).expect("static bounds")
}

/// A window in which every socket was held: its keep-alive counts and ping → pong times (µs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Window {
    pub secs: f64,
    pub counts: KeepAliveCounts,
    pub rtt: Samples,
    /// Sockets that had a `pong` on their current connection by the window's end.
    pub ponged_sockets: u64,
}

impl Window {
    fn add(&mut self, other: &Self) {
        self.counts.add(&other.counts);
        self.rtt.add(&other.rtt);
        self.ponged_sockets += other.ponged_sockets;
    }

    fn figures(&self) -> serde_json::Value {
        let rtt = self.rtt.to_histogram(histogram());
        let latency = Latency::from_histogram(&rtt);
        json!({"secs": round(self.secs, 1), "counts": self.counts, "ponged_sockets": self.ponged_sockets, "pong_latency": latency})
    }
}

/// The servers, as the leading process read them (the others read the same processes).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Servers {
    /// VmRSS summed over every `--server-pid`: before the ramp, after it, after the keep-alive window.
    pub rss_before_kib: Option<u64>,
    pub rss_ramped_kib: Option<u64>,
    pub rss_after_hold_kib: Option<u64>,
    /// CPU over the keep-alive window: the servers', the database's, the servers' by thread name.
    pub cpu_secs: Option<f64>,
    pub db_cpu_secs: Option<f64>,
    pub cpu_by_thread: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StormOutcome {
    /// The restart command's exit status (the leader's), and how long it ran.
    pub restart: String,
    pub restart_secs: Option<f64>,
    /// Held connections that ended, and their close codes (1006: no close frame).
    pub ended: u64,
    pub ended_codes: BTreeMap<u16, u64>,
    pub attempts: u64,
    /// Failed attempts by kind, and the close codes of those closed before `hello`.
    pub failures: BTreeMap<String, u64>,
    pub closed_codes: BTreeMap<u16, u64>,
    pub first_other: Option<String>,
    /// Kill → `hello` again, per socket back (ms), and the last of them.
    pub back: Samples,
    pub back_count: u64,
    pub last_back_ms: u64,
    /// Sockets still reconnecting when the storm was called over.
    pub never_back: u64,
    /// The storm ran into `--storm-timeout-secs`.
    pub timed_out: bool,
    /// The window after the storm, and the sockets back that had a `pong` on their new connection in it.
    pub after: Window,
    pub ponged_back: u64,
    /// The servers' VmRSS after it (the restarted node's new pid from `--pid-file`), and that node's CPU from its
    /// start (its boot and the storm) to the end of the window after.
    pub rss_after_kib: Option<u64>,
    pub restarted_cpu_secs: Option<f64>,
}

/// Everything one process measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub params: Params,
    pub processes: u64,
    /// Sockets held after the ramp, and those that never opened.
    pub held: u64,
    pub ramp_failures: u64,
    pub first_error: Option<String>,
    pub ramp_secs: f64,
    /// TCP connect → `hello` of each socket of the ramp, µs.
    pub ramp: Samples,
    pub servers: Servers,
    /// Window A (nothing but keep-alives) and window B (the relay beside the held sockets).
    pub hold: Window,
    pub beside: Window,
    pub relay: Option<Report>,
    pub storm: Option<StormOutcome>,
}

impl Outcome {
    /// The processes' outcomes added up; the servers' figures, the relay and the restart are the leader's (the
    /// first), and the per-socket figures are recomputed over all the sockets.
    pub fn merge(mut parts: Vec<Outcome>) -> anyhow::Result<Outcome> {
        anyhow::ensure!(!parts.is_empty(), "no outcomes to merge");
        let rest = parts.split_off(1);
        let mut all = parts.pop().expect("one part");
        for part in &rest {
            all.params.sockets += part.params.sockets;
            all.held += part.held;
            all.ramp_failures += part.ramp_failures;
            if all.first_error.is_none() {
                all.first_error.clone_from(&part.first_error);
            }
            all.ramp_secs = all.ramp_secs.max(part.ramp_secs);
            all.ramp.add(&part.ramp);
            all.hold.add(&part.hold);
            all.beside.add(&part.beside);
            if let (Some(storm), Some(theirs)) = (&mut all.storm, &part.storm) {
                storm.add(theirs);
            }
        }
        all.processes = 1 + rest.len() as u64;
        Ok(all)
    }

    pub fn report(&self) -> Report {
        let ms = |us: u64| us as f64 / 1000.0;
        let ramp = Latency::from_histogram(&self.ramp.to_histogram(histogram()));
        let servers = &self.servers;
        let kib_per_socket = match (servers.rss_before_kib, servers.rss_after_hold_kib) {
            (Some(before), Some(after)) if self.held > 0 => {
                Some(round(after.saturating_sub(before) as f64 / self.held as f64, 2))
            }
            _ => None,
        };
        // CPU per second of keep-alive per 1 000 sockets: (server + database) s × 1000 / window s / (sockets / 1000).
        let per_1000 = |secs: Option<f64>| {
            secs.filter(|_| self.held > 0 && self.hold.secs > 0.0)
                .map(|s| round(s * 1000.0 / self.hold.secs / (self.held as f64 / 1000.0), 4))
        };
        let total_cpu = servers.cpu_secs.map(|s| s + servers.db_cpu_secs.unwrap_or(0.0));
        let hold_rtt = Latency::from_histogram(&self.hold.rtt.to_histogram(histogram()));
        let relay_latency = self.relay.as_ref().and_then(|r| r.latency.clone());
        let mut extra = json!({
            "held": self.held,
            "processes": self.processes,
            "ramp_failures": self.ramp_failures,
            "ramp_p99_ms": ms(ramp.p99_us),
            "rss_before_kib": servers.rss_before_kib,
            "rss_after_hold_kib": servers.rss_after_hold_kib,
            "kib_per_socket": kib_per_socket,
            "hold_server_cpu_secs": servers.cpu_secs.map(|s| round(s, 2)),
            "hold_db_cpu_secs": servers.db_cpu_secs.map(|s| round(s, 2)),
            "cpu_ms_per_sec_per_1000_sockets": per_1000(total_cpu),
            "server_cpu_ms_per_sec_per_1000_sockets": per_1000(servers.cpu_secs),
            "hold_pings": self.hold.counts.pings,
            "hold_pongs": self.hold.counts.pongs,
            "hold_pongs_missing": self.hold.counts.pongs_missing,
            "hold_ponged_sockets": self.hold.ponged_sockets,
            "hold_dropped": self.hold.counts.dropped,
            "hold_server_pings": self.hold.counts.server_pings,
            "hold_pong_p99_ms": ms(hold_rtt.p99_us),
            "beside_pongs_missing": self.beside.counts.pongs_missing,
            "beside_dropped": self.beside.counts.dropped,
            "relay_msgs": self.relay.as_ref().map(|r| r.ops),
            "relay_p50_ms": relay_latency.as_ref().map(|l| ms(l.p50_us)),
            "relay_p99_ms": relay_latency.as_ref().map(|l| ms(l.p99_us)),
            "relay_max_ms": relay_latency.as_ref().map(|l| ms(l.max_us)),
            "first_error": self.first_error,
            "ramp_latency": ramp,
            "hold_window": self.hold.figures(),
            "beside_window": self.beside.figures(),
            "rss_ramped_kib": servers.rss_ramped_kib,
            "server_cpu_by_thread": servers.cpu_by_thread,
            "relay": self.relay,
        });
        let mut failures = self.ramp_failures
            + self.hold.counts.pongs_missing
            + self.hold.counts.dropped
            + self.beside.counts.pongs_missing
            + self.beside.counts.dropped
            + self.relay.as_ref().map_or(0, |r| r.failures);
        if let Some(storm) = &self.storm {
            failures += storm.never_back + storm.after.counts.pongs_missing + storm.after.counts.dropped;
            storm.add_to(&mut extra);
        }
        Report {
            scenario: "hold".into(),
            params: serde_json::to_value(&self.params).expect("params serialize"),
            elapsed_secs: self.ramp_secs,
            ops: self.held,
            failures,
            rate_per_sec: rate(self.held, std::time::Duration::from_secs_f64(self.ramp_secs)),
            // The relayed message's send → `msg.accepted` while the sockets are held: the figure asked for.
            latency: relay_latency,
            extra,
        }
    }
}

impl StormOutcome {
    fn add(&mut self, other: &Self) {
        self.ended += other.ended;
        self.attempts += other.attempts;
        add_counts(&mut self.ended_codes, &other.ended_codes);
        add_counts(&mut self.failures, &other.failures);
        add_counts(&mut self.closed_codes, &other.closed_codes);
        if self.first_other.is_none() {
            self.first_other.clone_from(&other.first_other);
        }
        self.back.add(&other.back);
        self.back_count += other.back_count;
        self.last_back_ms = self.last_back_ms.max(other.last_back_ms);
        self.never_back += other.never_back;
        self.timed_out |= other.timed_out;
        self.after.add(&other.after);
        self.ponged_back += other.ponged_back;
    }

    fn add_to(&self, extra: &mut serde_json::Value) {
        let back = self.back.to_histogram(storm_histogram());
        let secs = |ms: u64| round(ms as f64 / 1000.0, 2);
        let tallies = self.failures.iter().map(|(kind, n)| format!("{kind}={n}")).collect::<Vec<_>>().join(",");
        let figures = json!({
            "storm_ended": self.ended,
            "storm_back": self.back_count,
            "storm_never_back": self.never_back,
            "storm_timed_out": self.timed_out,
            "storm_last_back_secs": secs(self.last_back_ms),
            "storm_back_p50_secs": secs(back.value_at_quantile(0.50)),
            "storm_back_p99_secs": secs(back.value_at_quantile(0.99)),
            "storm_back_max_secs": secs(back.max()),
            "storm_attempts": self.attempts,
            "storm_failures": tallies,
            "after_storm_pongs": self.after.counts.pongs,
            "after_storm_pongs_missing": self.after.counts.pongs_missing,
            "after_storm_dropped": self.after.counts.dropped,
            "after_storm_ponged_sockets": self.ponged_back,
            "rss_after_storm_kib": self.rss_after_kib,
            "restarted_node_cpu_secs": self.restarted_cpu_secs.map(|s| round(s, 2)),
            "storm": {
                "restart": self.restart,
                "restart_secs": self.restart_secs.map(|s| round(s, 2)),
                "failures": self.failures,
                "ended_codes": self.ended_codes,
                "closed_codes": self.closed_codes,
                "first_other": self.first_other,
                "after_window": self.after.figures(),
            },
        });
        if let (Some(map), serde_json::Value::Object(storm)) = (extra.as_object_mut(), figures) {
            map.extend(storm);
        }
    }
}

fn add_counts<K: Ord + Clone>(into: &mut BTreeMap<K, u64>, from: &BTreeMap<K, u64>) {
    for (key, n) in from {
        *into.entry(key.clone()).or_default() += n;
    }
}

fn round(x: f64, digits: i32) -> f64 {
    (x * 10f64.powi(digits)).round() / 10f64.powi(digits)
}
