//! The TURN server's footprint, read from `/proc/<pid>`: resident memory and open file descriptors. Every relay
//! allocation holds a UDP socket, so descriptors are the leak detector: after the storm they must come back to
//! where they started once every allocation is freed.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::Notify;

use crate::connections::rss_kib;

/// One reading; a field is `None` when it could not be read (the process is gone, or belongs to another user).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Footprint {
    pub rss_kib: Option<u64>,
    pub fds: Option<u64>,
}

impl Footprint {
    pub fn read(pid: u32) -> Self {
        Self { rss_kib: rss_kib(pid), fds: fd_count(pid) }
    }

    fn max(self, other: Self) -> Self {
        let max = |a: Option<u64>, b: Option<u64>| a.max(b);
        Self { rss_kib: max(self.rss_kib, other.rss_kib), fds: max(self.fds, other.fds) }
    }
}

/// Entries of `/proc/<pid>/fd`.
pub fn fd_count(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// UDP datagrams the kernel dropped for a full receive buffer, machine-wide (`RcvbufErrors` of `/proc/net/snmp`):
/// a loss that is neither the server's nor the client's doing.
pub fn udp_receive_buffer_drops() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let column = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// Datagrams dropped so far on the UDP sockets `pid` has open now (the `drops` column of `/proc/<pid>/net/udp`
/// and `udp6`, matched by inode). Read before and after a storm, the difference is what the sockets that lived
/// through it lost: for a TURN server, its listening socket, where every client's requests queue.
pub fn udp_drops_of(pid: u32) -> Option<u64> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .flatten()
        .filter_map(|fd| {
            let link = std::fs::read_link(fd.path()).ok()?;
            let link = link.to_str()?;
            Some(link.strip_prefix("socket:[")?.strip_suffix(']')?.to_string())
        })
        .collect();
    let mut drops = 0;
    for table in ["udp", "udp6"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else { continue };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            if let (Some(inode), Some(d)) = (fields.get(9), fields.get(12))
                && inodes.contains(*inode)
            {
                drops += d.parse::<u64>().unwrap_or(0);
            }
        }
    }
    Some(drops)
}

/// How often the peak is sampled and the settling is polled.
pub const POLL: Duration = Duration::from_millis(250);

/// Samples a process every [`POLL`] until stopped, keeping the highest reading of each figure.
pub struct PeakWatch {
    peak: Arc<Mutex<Footprint>>,
    stop: Arc<Notify>,
}

impl PeakWatch {
    pub fn start(pid: u32, first: Footprint) -> Self {
        let (peak, stop) = (Arc::new(Mutex::new(first)), Arc::new(Notify::new()));
        let (p, s) = (peak.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = s.notified() => return,
                }
                let now = Footprint::read(pid);
                let mut peak = p.lock().expect("peak lock");
                *peak = peak.max(now);
            }
        });
        Self { peak, stop }
    }

    pub fn finish(self) -> Footprint {
        self.stop.notify_one();
        *self.peak.lock().expect("peak lock")
    }
}

/// The footprint once descriptors are back within `slack` of `baseline`, polled every [`POLL`] for at most
/// `limit`; also how long that took, `None` if they never came back.
pub async fn settle(pid: u32, baseline: Footprint, slack: u64, limit: Duration) -> (Footprint, Option<Duration>) {
    let started = Instant::now();
    loop {
        let now = Footprint::read(pid);
        let settled = match (now.fds, baseline.fds) {
            (Some(now_fds), Some(base)) => now_fds <= base + slack,
            // Nothing to compare: report what there is without waiting.
            _ => true,
        };
        if settled {
            return (now, Some(started.elapsed()));
        }
        if started.elapsed() >= limit {
            return (now, None);
        }
        tokio::time::sleep(POLL).await;
    }
}
