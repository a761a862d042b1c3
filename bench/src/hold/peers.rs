//! Several `tanis-bench hold` processes in step, through files in one directory. One process holds at most as many
//! sockets as it may open descriptors (20 000 on the benchmark machine, a hard limit), so 38 000 sockets take two:
//! they must ramp, measure, relay, storm and count in the same windows. Process 0 leads: it measures the servers'
//! memory and CPU, runs the relay and the restart command; the others hold their share and wait for it.
//!
//! A barrier is a file per process (`<name>.<index>`) and a wait for all of them; a value is a file written whole
//! (renamed into place). A process that fails writes `abort.<index>` so that no other waits for it for ever.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::time::Instant;

/// How often a waiting process looks at the directory.
const POLL: Duration = Duration::from_millis(20);
/// The longest any barrier waits: a ramp of 20 000 sockets or a relay window take minutes, not an hour.
const LONGEST_WAIT: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct Peers {
    /// Fresh and empty for every run, shared by all the processes.
    dir: PathBuf,
    index: usize,
    count: usize,
}

impl Peers {
    pub fn new(dir: &Path, index: usize, count: usize) -> anyhow::Result<Self> {
        anyhow::ensure!(index < count, "--process-index {index} is not below --processes {count}");
        std::fs::create_dir_all(dir)?;
        Ok(Self { dir: dir.to_owned(), index, count })
    }

    pub fn index(&self) -> usize {
        self.index
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Process 0: it measures the servers, relays and restarts the node.
    pub fn leads(&self) -> bool {
        self.index == 0
    }

    /// Waits until every process has reached the barrier `name`.
    pub async fn barrier(&self, name: &str) -> anyhow::Result<()> {
        std::fs::write(self.dir.join(format!("{name}.{}", self.index)), b"")?;
        let started = Instant::now();
        loop {
            let arrived = (0..self.count).filter(|i| self.dir.join(format!("{name}.{i}")).exists()).count();
            if arrived == self.count {
                return Ok(());
            }
            self.check(started, name)?;
            tokio::time::sleep(POLL).await;
        }
    }

    /// Writes the value `name` for the others (whole: written aside, then renamed into place).
    pub fn publish(&self, name: &str, value: &str) -> anyhow::Result<()> {
        let aside = self.dir.join(format!(".{name}.{}", self.index));
        std::fs::write(&aside, value)?;
        std::fs::rename(aside, self.dir.join(name))?;
        Ok(())
    }

    /// The value `name` if it is there yet.
    pub fn peek(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.dir.join(name)).ok()
    }

    /// Waits for the value `name`.
    pub async fn read(&self, name: &str) -> anyhow::Result<String> {
        let started = Instant::now();
        loop {
            if let Some(value) = self.peek(name) {
                return Ok(value);
            }
            self.check(started, name)?;
            tokio::time::sleep(POLL).await;
        }
    }

    /// Tells the others this process failed.
    pub fn abort(&self) {
        let _ = std::fs::write(self.dir.join(format!("abort.{}", self.index)), b"");
    }

    /// Where this process leaves its outcome for `hold-merge`.
    pub fn outcome_path(&self) -> PathBuf {
        outcome_path(&self.dir, self.index)
    }

    fn check(&self, started: Instant, waiting_for: &str) -> anyhow::Result<()> {
        if let Some(i) = (0..self.count).find(|i| self.dir.join(format!("abort.{i}")).exists()) {
            anyhow::bail!("hold process {i} failed (waiting for {waiting_for})");
        }
        anyhow::ensure!(started.elapsed() < LONGEST_WAIT, "waited {LONGEST_WAIT:?} for {waiting_for}");
        Ok(())
    }
}

pub fn outcome_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("outcome.{index}.json"))
}
