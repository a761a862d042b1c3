//! The storm: the leader runs the restart command (kill -9 of the node, then the node again), every held socket
//! whose connection ends reconnects on its own ([`super::held`]); this waits until none is reconnecting, tallies how
//! long each took to come back from the kill and what its failed attempts ran into, then holds them all for a window
//! in which the keep-alives must flow on the new connections, and reads the servers' memory after it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;
use tokio::time::Instant;

use super::held::{Phase, Shared, unix_us};
use super::outcome::{Samples, StormOutcome, storm_histogram};
use super::{HoldOptions, Peers, Restart, barrier, rss_sum, secs, window};
use crate::cpu::{clock_ticks_per_sec, process_ticks};

/// The storm is over once nobody is reconnecting this long after the restart command returned.
const SETTLE: Duration = Duration::from_secs(2);
/// A restart that ended no connection of this process, this long after the command returned: nothing to wait for.
const NOTHING_ENDED: Duration = Duration::from_secs(10);

/// The kill and restart, every socket back, and the window after.
pub(super) async fn storm(
    restart: &Restart,
    shared: &Arc<Shared>,
    phase: &watch::Sender<Phase>,
    opts: &HoldOptions,
    peers: Option<&Peers>,
) -> anyhow::Result<StormOutcome> {
    let args = &opts.args;
    let leads = peers.is_none_or(Peers::leads);
    phase.send_replace(Phase::Storm);
    barrier(peers, "storm").await?;
    let counters = &shared.storm;
    let started = Instant::now();
    let mut outcome = StormOutcome::default();
    let (kill_us, mut running) = if leads {
        let kill_us = unix_us();
        if let Some(peers) = peers {
            peers.publish("kill", &kill_us.to_string())?;
        }
        eprintln!("[hold] storm: running the restart command");
        (kill_us, Some(tokio::spawn(restart())))
    } else {
        (peers.expect("a follower has peers").read("kill").await?.trim().parse()?, None)
    };
    let mut restarted: Option<Instant> = None;
    let mut shown = started;
    outcome.timed_out = loop {
        if restarted.is_none() {
            if running.as_ref().is_some_and(|task| task.is_finished()) {
                let said = running.take().expect("checked").await;
                outcome.restart = match said {
                    Ok(Ok(status)) => status,
                    Ok(Err(e)) => format!("failed: {e:#}"),
                    Err(e) => format!("failed: {e}"),
                };
                outcome.restart_secs = Some(started.elapsed().as_secs_f64());
                eprintln!(
                    "[hold] storm: the restart command returned ({}) after {:.1?}",
                    outcome.restart,
                    started.elapsed()
                );
                restarted = Some(Instant::now());
                if let Some(peers) = peers {
                    peers.publish("restarted", &outcome.restart)?;
                }
            } else if !leads && peers.and_then(|p| p.peek("restarted")).is_some() {
                restarted = Some(Instant::now());
            }
        }
        let (ended, down) = (counters.ended.load(Ordering::Relaxed), counters.down.load(Ordering::Relaxed));
        if let Some(at) = restarted {
            if ended > 0 && down == 0 && at.elapsed() >= SETTLE {
                break false;
            }
            if ended == 0 && at.elapsed() >= NOTHING_ENDED {
                break false;
            }
        }
        if started.elapsed() >= secs(args.storm_timeout_secs) {
            break true;
        }
        if shown.elapsed() >= Duration::from_secs(1) {
            shown = Instant::now();
            let attempts = counters.attempts.load(Ordering::Relaxed);
            eprintln!(
                "[hold] storm {:>5.1}s: connections ended {ended}, reconnecting {down}, attempts {attempts}",
                started.elapsed().as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    outcome.never_back = counters.down.load(Ordering::Relaxed);
    outcome.ended = counters.ended.load(Ordering::Relaxed);
    outcome.attempts = counters.attempts.load(Ordering::Relaxed);
    outcome.failures = counters.failures.lock().expect("failures lock").clone();
    outcome.ended_codes = counters.ended_codes.lock().expect("codes lock").clone();
    outcome.closed_codes = counters.closed_codes.lock().expect("codes lock").clone();
    outcome.first_other = counters.first_other.lock().expect("other lock").clone();
    let mut back = storm_histogram();
    for at in &counters.back_at_us {
        let at = at.load(Ordering::Relaxed);
        if at >= kill_us {
            let ms = (at - kill_us) / 1000;
            back.saturating_record(ms.max(1));
            outcome.back_count += 1;
            outcome.last_back_ms = outcome.last_back_ms.max(ms);
        }
    }
    outcome.back = Samples::of(&back);
    eprintln!(
        "[hold] storm over after {:.1?}: {} back, the last {:.2} s after the kill, {} never back",
        started.elapsed(),
        outcome.back_count,
        outcome.last_back_ms as f64 / 1000.0,
        outcome.never_back
    );
    // A connection that ends from here on is a drop again.
    phase.send_replace(Phase::Hold);
    barrier(peers, "back").await?;

    let after = args.after_storm_secs.unwrap_or(args.keepalive_secs + 2);
    outcome.after = window(shared, "after the storm", tokio::time::sleep(secs(after))).await;
    outcome.ponged_back = shared.ponged(Some(kill_us));
    if leads {
        let mut pids = opts.cpu.server_pids.clone();
        if let Some(file) = &args.pid_file {
            let text = std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
            let pid: u32 = text.trim().parse().with_context(|| format!("a pid in {}", file.display()))?;
            outcome.restarted_cpu_secs = process_ticks(pid).map(|t| t as f64 / clock_ticks_per_sec());
            match pids.first_mut() {
                Some(first) => *first = pid,
                None => pids.push(pid),
            }
        }
        outcome.rss_after_kib = rss_sum(&pids);
    }
    barrier(peers, "done").await?;
    Ok(outcome)
}
