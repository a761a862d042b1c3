//! CPU the server spent on a scenario: user + system time of the server process(es), split by thread name too,
//! and, optionally, of every database process (by name), read from `/proc` at the start and at the end of the
//! measured window only.

use std::collections::BTreeMap;
use std::sync::OnceLock;

/// What to watch. Empty: nothing is read and the report's CPU fields are null.
#[derive(Debug, Clone, Default)]
pub struct CpuWatch {
    /// The server processes (every node of a cluster).
    pub server_pids: Vec<u32>,
    /// Names (`/proc/<pid>/comm`) of the database's processes, e.g. `postgres`: every process of that name on the
    /// machine is summed, the postmaster's children included.
    pub db_processes: Vec<String>,
}

/// Clock ticks at one moment; `None` where nothing was watched or could be read.
#[derive(Debug, Clone)]
pub struct CpuSample {
    server: Option<u64>,
    db: Option<u64>,
    /// The servers' threads, summed by name over every node.
    threads: BTreeMap<String, u64>,
}

/// CPU seconds spent between two samples.
#[derive(Debug, Clone, Default)]
pub struct CpuUsed {
    pub server_secs: Option<f64>,
    pub db_secs: Option<f64>,
    /// The servers' CPU by thread name (`tokio-rt-worker`, `tanis-group-com…`): which side of the server a
    /// message's cost is on (BENCHMARKS.md, issue 63 points 1 and 2). A thread that ends within the window is
    /// missed, and one that starts in it counts from its start.
    pub server_threads: BTreeMap<String, f64>,
}

impl CpuWatch {
    pub fn sample(&self) -> CpuSample {
        let server = if self.server_pids.is_empty() {
            None
        } else {
            // A server that cannot be read (gone) makes the figure unknown rather than too small.
            self.server_pids.iter().map(|&pid| process_ticks(pid)).sum::<Option<u64>>()
        };
        let db = if self.db_processes.is_empty() { None } else { named_ticks(&self.db_processes) };
        let mut threads = BTreeMap::new();
        for &pid in &self.server_pids {
            thread_ticks(pid, &mut threads);
        }
        CpuSample { server, db, threads }
    }

    pub fn used_since(&self, start: CpuSample) -> CpuUsed {
        let end = self.sample();
        // Saturating: a child that exited but is not reaped yet has left one sum and not reached its parent's.
        let secs = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?) as f64 / clock_ticks_per_sec());
        let server_threads = (end.threads.iter())
            .map(|(name, &ticks)| {
                let before = start.threads.get(name).copied().unwrap_or(0);
                (name.clone(), ticks.saturating_sub(before) as f64 / clock_ticks_per_sec())
            })
            .collect();
        CpuUsed { server_secs: secs(start.server, end.server), db_secs: secs(start.db, end.db), server_threads }
    }
}

impl CpuUsed {
    /// Server plus database; `None` when the server was not watched.
    pub fn total_secs(&self) -> Option<f64> {
        Some(self.server_secs? + self.db_secs.unwrap_or(0.0))
    }

    /// Adds `server_cpu_secs`, `db_cpu_secs`, `server_cpu_by_thread` (seconds by thread name) and `per_name` =
    /// (server + db) seconds × 1000 / ops to a report's `extra`. Seconds × 1000 / ops reads both as "s per 1 000
    /// ops" (`cpu_s_per_1000_msgs`) and as "ms per op" (`cpu_ms_per_match`): the two ways the targets are stated.
    pub fn add_to(&self, extra: &mut serde_json::Value, per_name: &str, ops: u64) {
        let round = |x: f64, digits: i32| (x * 10f64.powi(digits)).round() / 10f64.powi(digits);
        let per = self.total_secs().filter(|_| ops > 0).map(|s| round(s * 1000.0 / ops as f64, 4));
        if let Some(map) = extra.as_object_mut() {
            map.insert("server_cpu_secs".into(), self.server_secs.map(|s| round(s, 2)).into());
            map.insert("db_cpu_secs".into(), self.db_secs.map(|s| round(s, 2)).into());
            map.insert(per_name.into(), per.into());
            if !self.server_threads.is_empty() {
                let threads = self.server_threads.iter().map(|(name, &s)| (name.clone(), round(s, 2).into()));
                map.insert("server_cpu_by_thread".into(), serde_json::Value::Object(threads.collect()));
            }
        }
    }
}

/// utime + stime + cutime + cstime of one process, in clock ticks. The children's part counts the CPU of
/// processes that exited (and were reaped) during the window, e.g. a PostgreSQL backend of a closed connection.
pub fn process_ticks(pid: u32) -> Option<u64> {
    stat_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?, 4)
}

/// The sum of the first `count` of fields 14–17 of a `stat` file (utime, stime, cutime, cstime).
fn stat_ticks(stat: &str, count: usize) -> Option<u64> {
    // The name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3.
    fields.get(11..11 + count)?.iter().map(|f| f.parse::<u64>().ok()).sum()
}

/// Adds utime + stime of each thread of `pid` to `into`, under the thread's name (`/proc/<pid>/task/*/comm`).
/// A thread that ends while it is read is skipped.
fn thread_ticks(pid: u32, into: &mut BTreeMap<String, u64>) {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return };
    for task in tasks.flatten() {
        let dir = task.path();
        let (Ok(name), Ok(stat)) =
            (std::fs::read_to_string(dir.join("comm")), std::fs::read_to_string(dir.join("stat")))
        else {
            continue;
        };
        if let Some(ticks) = stat_ticks(&stat, 2) {
            *into.entry(name.trim_end().to_owned()).or_default() += ticks;
        }
    }
}

/// The summed ticks of every process whose name is one of `names`; `None` if there is none.
pub fn named_ticks(names: &[String]) -> Option<u64> {
    let mut total = None;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(comm) = std::fs::read_to_string(format!("/proc/{pid}/comm")) else { continue };
        if names.iter().any(|n| n == comm.trim_end()) {
            // A process that exits between the two reads is skipped; its parent's cutime has it (or soon will).
            if let Some(ticks) = process_ticks(pid) {
                total = Some(total.unwrap_or(0) + ticks);
            }
        }
    }
    total
}

/// `getconf CLK_TCK` (the bench has no libc binding of its own); 100, Linux's value everywhere in practice, if
/// that cannot run.
pub fn clock_ticks_per_sec() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_readable_and_its_cpu_never_goes_backwards() {
        let watch = CpuWatch { server_pids: vec![std::process::id()], db_processes: vec![] };
        let start = watch.sample();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let used = watch.used_since(start);
        assert!(used.server_secs.is_some_and(|s| s >= 0.0), "{used:?}");
        assert!(used.db_secs.is_none());
        let mut extra = serde_json::json!({});
        used.add_to(&mut extra, "cpu_ms_per_op", 10);
        assert!(extra["cpu_ms_per_op"].is_number(), "{extra}");
        assert!(extra["server_cpu_by_thread"].is_object(), "{extra}");
    }

    #[test]
    fn a_threads_ticks_are_read_under_its_name() {
        let (ready, wait) = std::sync::mpsc::channel();
        let (done, stop) = std::sync::mpsc::channel::<()>();
        let spinner = std::thread::Builder::new()
            .name("cpu-test-named".into())
            .spawn(move || {
                let mut x = 0u64;
                let mut own = BTreeMap::new();
                // Busy until charged a tick (10 ms: a few rounds) or for two thousand rounds at most, then
                // tell, and stay alive until told to stop.
                for _ in 0..2_000 {
                    if own.get("cpu-test-named").is_some_and(|&t| t >= 1) {
                        break;
                    }
                    for i in 0..1_000_000u64 {
                        x = x.wrapping_mul(31).wrapping_add(i);
                    }
                    own.clear();
                    thread_ticks(std::process::id(), &mut own);
                }
                std::hint::black_box(x);
                ready.send(()).unwrap();
                let _ = stop.recv();
            })
            .unwrap();
        wait.recv().unwrap();
        let mut threads = BTreeMap::new();
        thread_ticks(std::process::id(), &mut threads);
        done.send(()).unwrap();
        spinner.join().unwrap();
        assert!(threads.get("cpu-test-named").is_some_and(|&t| t >= 1), "{threads:?}");
    }

    #[test]
    fn a_name_that_no_process_has_reads_as_unknown() {
        assert_eq!(named_ticks(&["no-such-process-name".into()]), None);
    }
}
