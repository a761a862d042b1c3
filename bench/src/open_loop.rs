//! `open-loop`: messages offered at a fixed total rate, whatever the answers do — latency as users make it. A
//! closed loop (relay: K in flight per side) measures Little's law: the slower the server answers, the less it is
//! asked, so its latency hides in a lower rate. Here P text pairs stay matched and each of the 2P sides sends on its
//! own Poisson process of rate R / 2P (together one Poisson stream of rate R across random pairs), every message
//! acknowledged by its receiver as in relay. Latencies run from each message's *scheduled* send time, so a late
//! client or a stalled server is counted, not omitted (coordinated omission): send → `msg.accepted` (durable)
//! and send → the peer's `msg`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tanis_client::{Acks, Chat, Connection};
use tanis_proto::{ClientFrame, ServerFrame};
use tokio::sync::Barrier;
use tokio::time::{sleep_until, timeout_at};

use crate::cpu::CpuWatch;
use crate::relay::{connect_all, join_sides, leave, pair_all};
use crate::rng::SplitMix64;
use crate::{Latency, Progress, Report, SeededUser, Tally, clock_us, payload_at, rate, record_us, sent_at_us};

/// A send this much after its scheduled time counts as late (tokio's timers tick by the millisecond).
const LATE: Duration = Duration::from_millis(5);
/// How long a side waits after the window for its last acknowledgements and the peer's last messages.
const DRAIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct OpenLoopOptions {
    pub urls: Vec<String>,
    pub pairs: usize,
    /// Messages offered per second, all sides together.
    pub rate: f64,
    pub duration: Duration,
    pub cpu: CpuWatch,
    /// The protocol version the clients offer (1 or 2).
    pub protocol: u32,
}

pub async fn run(users: &[SeededUser], opts: &OpenLoopOptions) -> anyhow::Result<Report> {
    let sides = opts.pairs * 2;
    anyhow::ensure!(users.len() >= sides, "open-loop needs {sides} distinct users, the file has {}", users.len());
    anyhow::ensure!(opts.rate > 0.0, "the offered rate must be positive");
    let relay = crate::relay::RelayOptions {
        urls: opts.urls.clone(),
        pairs: opts.pairs,
        in_flight: 1,
        duration: opts.duration,
        cpu: opts.cpu.clone(),
        protocol: opts.protocol,
    };
    let paired = pair_all(connect_all(&users[..sides], &relay).await?).await?;
    let label = "open-loop";
    eprintln!("[{label}] {} pairs, {} msgs/s offered", opts.pairs, opts.rate);
    let progress = Progress::start(label);
    let barrier = Arc::new(Barrier::new(sides + 1));
    // Nobody leaves before every side has drained: a leave ends the match for the peer, still reading.
    let finished = Arc::new(Barrier::new(sides));
    let per_side = opts.rate / sides as f64;
    let mut tasks = Vec::with_capacity(sides);
    for (k, (mut conn, mut chat)) in paired.into_iter().enumerate() {
        let (barrier, finished, progress, duration) =
            (barrier.clone(), finished.clone(), progress.clone(), opts.duration);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut side = Side::new(k as u64, conn.protocol);
            let result = side.run(&mut conn, &mut chat, per_side, duration, &progress).await;
            finished.wait().await;
            leave(&mut conn, &chat).await;
            result.map(|()| side)
        }));
    }
    let cpu_start = opts.cpu.sample();
    barrier.wait().await;
    let started = Instant::now();
    let mut all = Side::new(0, opts.protocol);
    let (failed_sides, first_error) = join_sides(tasks, |side| all.add(&side)).await?;
    let cpu = opts.cpu.used_since(cpu_start);
    let elapsed = started.elapsed();
    let (_, failures) = progress.finish();
    let peer = Latency::from_histogram(&all.tally.peer);
    let mut extra = serde_json::json!({
        "offered_per_sec": opts.rate,
        "offered": all.offered,
        "received": all.tally.received,
        "late_sends": all.late,
        "peer_p50_ms": peer.p50_us as f64 / 1000.0,
        "peer_p99_ms": peer.p99_us as f64 / 1000.0,
        "peer_latency": peer,
        "failed_sides": failed_sides,
        "first_error": first_error,
    });
    cpu.add_to(&mut extra, "cpu_s_per_1000_msgs", all.tally.acked);
    Ok(Report {
        scenario: label.into(),
        params: serde_json::json!({"pairs": opts.pairs, "rate": opts.rate, "duration_secs": opts.duration.as_secs_f64(), "nodes": opts.urls.len()}),
        elapsed_secs: elapsed.as_secs_f64(),
        ops: all.tally.acked,
        failures: failures
            + failed_sides
            + (all.offered - all.tally.acked)
            + (all.tally.acked - all.tally.received.min(all.tally.acked)),
        rate_per_sec: rate(all.tally.acked, opts.duration),
        latency: Some(Latency::from_histogram(&all.tally.accepted)),
        extra,
    })
}

/// One side: its schedule, what it waits for, and what it measured.
struct Side {
    rng: SplitMix64,
    /// Timed from the schedule: scheduled send → `msg.accepted`, and the peer's scheduled send → its `msg` here.
    tally: Tally,
    /// Sent, not yet accepted: `client_msg_id` → scheduled send time (`clock_us`).
    pending: HashMap<String, u64>,
    offered: u64,
    /// Messages sent more than [`LATE`] after their scheduled time (the client fell behind; still timed from the
    /// schedule).
    late: u64,
    /// Version 2's acknowledgements owed (riding on the next send, or one `msg.ack` after the delay); `None` in
    /// version 1, which acknowledges every message at once.
    acks: Option<Acks>,
}

impl Side {
    fn new(seed: u64, protocol: u32) -> Self {
        Self {
            acks: (protocol >= 2).then(Acks::new),
            rng: SplitMix64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5EED),
            tally: Tally::new(),
            pending: HashMap::new(),
            offered: 0,
            late: 0,
        }
    }

    fn add(&mut self, other: &Side) -> anyhow::Result<()> {
        self.tally.add(&other.tally)?;
        self.offered += other.offered;
        self.late += other.late;
        Ok(())
    }

    /// Sends on a Poisson schedule of `per_second` for `duration`, reading whatever comes meanwhile; then drains.
    async fn run(
        &mut self,
        conn: &mut Connection,
        chat: &mut Chat,
        per_second: f64,
        duration: Duration,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let start = tokio::time::Instant::now();
        let (start_us, deadline) = (clock_us(), start + duration);
        let mut next = self.rng.exponential(per_second);
        loop {
            let due = start + next;
            let ack_due = self.acks.as_ref().and_then(Acks::due).map(tokio::time::Instant::from_std);
            if due < deadline {
                tokio::select! {
                    biased;
                    () = sleep_until(ack_due.unwrap_or(due)), if ack_due.is_some_and(|at| at < due) => {
                        self.acks_due(conn, Instant::now()).await?;
                    }
                    () = sleep_until(due) => {
                        let scheduled_us = start_us + next.as_micros() as u64;
                        if clock_us() > scheduled_us + LATE.as_micros() as u64 {
                            self.late += 1;
                        }
                        self.offered += 1;
                        let mut frame = chat.message(&payload_at(scheduled_us, self.offered));
                        if let Some(acks) = &mut self.acks {
                            acks.ride(&mut frame);
                        }
                        let ClientFrame::MsgSend { client_msg_id, .. } = &frame else { unreachable!() };
                        self.pending.insert(client_msg_id.clone(), scheduled_us);
                        conn.send(&frame).await?;
                        next += self.rng.exponential(per_second);
                    }
                    frame = conn.next() => self.take(frame?, conn, chat, progress).await?,
                }
            } else {
                return self.drain(conn, chat, deadline, progress).await;
            }
        }
    }

    /// Once this side has nothing more to send before the window ends at `deadline` (its next arrival falls after
    /// it, which at a low rate can be well before): this side's last acknowledgements, then the peer's messages —
    /// the peer sends until `deadline` — until a quiet second after it (or [`DRAIN`] after it).
    async fn drain(
        &mut self,
        conn: &mut Connection,
        chat: &mut Chat,
        deadline: tokio::time::Instant,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let until = deadline + DRAIN;
        loop {
            let second = Duration::from_secs(1);
            let quiet = (tokio::time::Instant::now() + second).max(deadline + second);
            let wait = if self.pending.is_empty() { quiet.min(until) } else { until };
            let ack_due = self.acks.as_ref().and_then(Acks::due).map(tokio::time::Instant::from_std);
            match timeout_at(ack_due.map_or(wait, |at| at.min(wait)), conn.next()).await {
                Ok(frame) => self.take(frame?, conn, chat, progress).await?,
                Err(_) if ack_due.is_some_and(|at| at < wait) => self.acks_due(conn, Instant::now()).await?,
                Err(_) if self.pending.is_empty() => {
                    // Nothing more will be sent for them to ride on: what is owed goes now.
                    return self.acks_due(conn, Instant::now() + tanis_client::ACK_DELAY).await;
                }
                Err(_) => anyhow::bail!("{} messages never acknowledged", self.pending.len()),
            }
        }
    }

    /// Sends the standalone `msg.ack`s due at `now` (version 2).
    async fn acks_due(&mut self, conn: &mut Connection, now: Instant) -> anyhow::Result<()> {
        for ack in self.acks.as_mut().map(|acks| acks.take_due(now)).unwrap_or_default() {
            conn.send(&ack).await?;
        }
        Ok(())
    }

    async fn take(
        &mut self,
        frame: ServerFrame,
        conn: &mut Connection,
        chat: &mut Chat,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        match frame {
            ServerFrame::MsgAccepted { client_msg_id, .. } => {
                if let Some(scheduled) = self.pending.remove(&client_msg_id) {
                    record_us(&mut self.tally.accepted, clock_us().saturating_sub(scheduled));
                    self.tally.acked += 1;
                    progress.add(1);
                }
            }
            ServerFrame::Msg { mine: false, match_id, seq, .. } => {
                let text = chat.read(&frame)?;
                let sent_at = sent_at_us(&text).ok_or_else(|| anyhow::anyhow!("no send time in {text:?}"))?;
                record_us(&mut self.tally.peer, clock_us().saturating_sub(sent_at));
                self.tally.received += 1;
                match &mut self.acks {
                    Some(acks) => acks.received(match_id, seq, Instant::now()),
                    None => conn.send(&ClientFrame::MsgAck { id: None, match_id, seq }).await?,
                }
            }
            ServerFrame::Error { code, message, .. } => {
                progress.fail();
                anyhow::bail!("server error {code:?}: {message}");
            }
            ServerFrame::MatchEnded { .. } => anyhow::bail!("the match ended mid-run"),
            _ => {}
        }
        Ok(())
    }
}
