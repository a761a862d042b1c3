//! CPU the server spent on a scenario: user + system time of the server process(es) and, optionally, of every
//! database process (by name), read from `/proc` at the start and at the end of the measured window only.

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
#[derive(Debug, Clone, Copy)]
pub struct CpuSample {
    server: Option<u64>,
    db: Option<u64>,
}

/// CPU seconds spent between two samples.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuUsed {
    pub server_secs: Option<f64>,
    pub db_secs: Option<f64>,
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
        CpuSample { server, db }
    }

    pub fn used_since(&self, start: CpuSample) -> CpuUsed {
        let end = self.sample();
        // Saturating: a child that exited but is not reaped yet has left one sum and not reached its parent's.
        let secs = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?) as f64 / clock_ticks_per_sec());
        CpuUsed { server_secs: secs(start.server, end.server), db_secs: secs(start.db, end.db) }
    }
}

impl CpuUsed {
    /// Server plus database; `None` when the server was not watched.
    pub fn total_secs(&self) -> Option<f64> {
        Some(self.server_secs? + self.db_secs.unwrap_or(0.0))
    }

    /// Adds `server_cpu_secs`, `db_cpu_secs` and `per_name` = (server + db) seconds × 1000 / ops to a report's
    /// `extra`. Seconds × 1000 / ops reads both as "s per 1 000 ops" (`cpu_s_per_1000_msgs`) and as "ms per op"
    /// (`cpu_ms_per_match`): the two ways the targets are stated.
    pub fn add_to(&self, extra: &mut serde_json::Value, per_name: &str, ops: u64) {
        let round = |x: f64, digits: i32| (x * 10f64.powi(digits)).round() / 10f64.powi(digits);
        let per = self.total_secs().filter(|_| ops > 0).map(|s| round(s * 1000.0 / ops as f64, 4));
        if let Some(map) = extra.as_object_mut() {
            map.insert("server_cpu_secs".into(), self.server_secs.map(|s| round(s, 2)).into());
            map.insert("db_cpu_secs".into(), self.db_secs.map(|s| round(s, 2)).into());
            map.insert(per_name.into(), per.into());
        }
    }
}

/// utime + stime + cutime + cstime of one process, in clock ticks. The children's part counts the CPU of
/// processes that exited (and were reaped) during the window, e.g. a PostgreSQL backend of a closed connection.
pub fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The name (field 2) is in parentheses and may hold spaces: count fields after its closing one.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14–17 of proc(5); `rest` starts at field 3.
    fields.get(11..15)?.iter().map(|f| f.parse::<u64>().ok()).sum()
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
    }

    #[test]
    fn a_name_that_no_process_has_reads_as_unknown() {
        assert_eq!(named_ticks(&["no-such-process-name".into()]), None);
    }
}
