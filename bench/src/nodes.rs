//! What each part of a cluster spent over a window, part by part, so a capacity model can be checked against it:
//! per node its CPU, its memory, the sockets it held and the messages and matches it handled (from its own
//! Prometheus `/metrics`); the Redis server's CPU; the proxy's and the database's CPU (every process of a name).
//! Everything is read from `/proc` and `/metrics` at the window's edges only, never during it.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::cpu::{clock_ticks_per_sec, named_ticks, process_ticks};

/// One node: its process, and where its metrics are (`http://127.0.0.1:PORT/metrics`, straight to the node and
/// never through the proxy, which would answer from whichever node it picks).
#[derive(Debug, Clone)]
pub struct NodeWatch {
    pub pid: u32,
    pub metrics: Option<String>,
}

/// Every part watched in one run.
#[derive(Debug, Clone, Default)]
pub struct ClusterWatch {
    pub nodes: Vec<NodeWatch>,
    /// The Redis server of the cluster (`/proc/<pid>/stat`); none with one node on the in-process broker.
    pub redis_pid: Option<u32>,
    /// Names of the proxy's processes (`nginx`: master and workers).
    pub proxy_processes: Vec<String>,
    /// Names of the database's processes (`postgres`: every backend on the machine).
    pub db_processes: Vec<String>,
    /// The run's database: the CPU of the backends serving it alone (a PostgreSQL backend's process title names
    /// its database), apart from other databases' work on a shared machine.
    pub db_name: Option<String>,
}

/// The series of `/metrics` a model or a soak needs, summed over their labels (`tanis_matches_total{kind=…}`):
/// counters, and the gauges a soak samples (`tanis-bench mix --sample-csv`).
const COUNTERS: [(&str, &str); 8] = [
    ("messages", "tanis_messages_total"),
    ("matches", "tanis_matches_total"),
    ("http_requests", "tanis_http_requests_total"),
    ("sockets", "tanis_ws_sessions"),
    ("tasks", "tanis_runtime_alive_tasks"),
    ("matching_queue", "tanis_matching_queue"),
    ("commit_queue", "tanis_group_commit_queue"),
    ("sqlite_heap", "tanis_sqlite_heap_bytes"),
];

/// One node at one moment.
#[derive(Debug, Clone, Default)]
pub struct NodeSample {
    ticks: Option<u64>,
    rss_kib: Option<u64>,
    /// Open descriptors (`/proc/<pid>/fd`): sockets, database files and connections, pipes.
    fds: Option<u64>,
    /// By the short names of [`COUNTERS`]; a counter the node never touched is absent from its page: zero.
    counts: HashMap<&'static str, f64>,
}

/// The whole cluster at one moment.
#[derive(Debug, Clone, Default)]
pub struct ClusterSample {
    nodes: Vec<NodeSample>,
    redis: Option<u64>,
    proxy: Option<u64>,
    db: Option<u64>,
    db_backends: Option<u64>,
}

impl ClusterWatch {
    pub async fn sample(&self) -> ClusterSample {
        let mut nodes = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            let counts = match &node.metrics {
                Some(url) => scrape(url).await.unwrap_or_else(|e| {
                    eprintln!("[nodes] {url}: {e:#}");
                    HashMap::new()
                }),
                None => HashMap::new(),
            };
            let (ticks, rss_kib, fds) = (process_ticks(node.pid), rss_kib(node.pid), fds(node.pid));
            nodes.push(NodeSample { ticks, rss_kib, fds, counts });
        }
        let named = |names: &[String]| if names.is_empty() { None } else { named_ticks(names) };
        ClusterSample {
            nodes,
            redis: self.redis_pid.and_then(process_ticks),
            proxy: named(&self.proxy_processes),
            db: named(&self.db_processes),
            db_backends: self.db_name.as_deref().and_then(|db| backend_ticks(&self.db_processes, db)),
        }
    }
}

impl ClusterSample {
    pub fn nodes(&self) -> &[NodeSample] {
        &self.nodes
    }
}

impl NodeSample {
    pub fn rss_kib(&self) -> Option<u64> {
        self.rss_kib
    }

    pub fn fds(&self) -> Option<u64> {
        self.fds
    }

    /// A series of [`COUNTERS`] by its short name; `None` when the page lacked it (or was not read).
    pub fn series(&self, short: &str) -> Option<f64> {
        self.counts.get(short).copied()
    }
}

/// What each part spent between two samples. Per node: `cpu_secs`, `rss_mib` at the end, `rss_growth_mib` since
/// `start`, `sockets` held at the end, and the `messages`, `matches` and `http_requests` it handled in between.
pub fn spent(start: &ClusterSample, end: &ClusterSample) -> Value {
    let secs = |a: Option<u64>, b: Option<u64>| Some(round(b?.saturating_sub(a?) as f64 / clock_ticks_per_sec(), 3));
    let mib = |kib: Option<u64>| kib.map(|k| round(k as f64 / 1024.0, 1));
    let nodes: Vec<Value> = start
        .nodes
        .iter()
        .zip(&end.nodes)
        .map(|(a, b)| {
            let delta = |name| b.counts.get(name).copied().unwrap_or(0.0) - a.counts.get(name).copied().unwrap_or(0.0);
            json!({
                "cpu_secs": secs(a.ticks, b.ticks),
                "rss_mib": mib(b.rss_kib),
                "rss_growth_mib": (|| Some(round((b.rss_kib? as f64 - a.rss_kib? as f64) / 1024.0, 1)))(),
                "sockets": b.counts.get("sockets").copied().unwrap_or(0.0),
                "messages": delta("messages"),
                "matches": delta("matches"),
                "http_requests": delta("http_requests"),
            })
        })
        .collect();
    json!({
        "nodes": nodes,
        "redis_cpu_secs": secs(start.redis, end.redis),
        "proxy_cpu_secs": secs(start.proxy, end.proxy),
        "db_cpu_secs": secs(start.db, end.db),
        "db_backends_cpu_secs": secs(start.db_backends, end.db_backends),
    })
}

fn round(x: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (x * scale).round() / scale
}

/// The ticks of the processes named one of `names` whose title names database `db` (`postgres: 15/main: user db
/// host(port) state`, the cluster's name only on some installs): its backends. A backend that exits within the window takes its CPU with it (the pools keep theirs).
fn backend_ticks(names: &[String], db: &str) -> Option<u64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else { continue };
        if !names.iter().any(|n| n == comm.trim_end()) {
            continue;
        }
        let Ok(title) = std::fs::read(format!("/proc/{pid}/cmdline")) else { continue };
        let title = String::from_utf8_lossy(&title);
        // The title overwrites argv in place: NULs pad it. Any word that is the database's name (user names
        // differ from the bench's database names).
        if title.split(|c: char| c.is_whitespace() || c == '\0').any(|word| word == db)
            && let Some(ticks) = process_ticks(pid)
        {
            total = Some(total.unwrap_or(0) + ticks);
        }
    }
    total
}

/// Resident memory (`VmRSS`) of a process.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

/// Open descriptors of a process (its entries in `/proc/<pid>/fd`).
fn fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

async fn scrape(url: &str) -> anyhow::Result<HashMap<&'static str, f64>> {
    let response = reqwest::get(url).await?;
    anyhow::ensure!(response.status().is_success(), "GET {url}: {}", response.status());
    Ok(parse_counts(&response.text().await?))
}

/// Sums each of [`COUNTERS`] over its label sets in a Prometheus text page.
fn parse_counts(page: &str) -> HashMap<&'static str, f64> {
    let mut counts = HashMap::new();
    for line in page.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let name = series.split('{').next().unwrap_or(series);
        if let (Some((short, _)), Ok(value)) = (COUNTERS.iter().find(|(_, n)| *n == name), value.parse::<f64>()) {
            *counts.entry(*short).or_insert(0.0) += value;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_summed_over_their_labels_and_other_series_are_ignored() {
        let page = "# TYPE tanis_matches_total counter\n\
                    tanis_matches_total{kind=\"text\"} 7\n\
                    tanis_matches_total{kind=\"video\"} 2\n\
                    tanis_messages_total 120\n\
                    tanis_messages_total_other 5\n\
                    tanis_ws_sessions 33\n";
        let counts = parse_counts(page);
        assert_eq!(counts.get("matches"), Some(&9.0));
        assert_eq!(counts.get("messages"), Some(&120.0));
        assert_eq!(counts.get("sockets"), Some(&33.0));
        assert_eq!(counts.get("http_requests"), None, "never touched: absent, read as zero");
    }
}
