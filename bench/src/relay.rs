//! `relay`: P text matches, both sides sending E2E-encrypted messages with K in flight and acknowledging every
//! message they receive, as a real client does: with protocol 2 (the default) as `tanis_client::Acks` does it
//! (riding on the next send, or one `msg.ack` up to the highest seq after 150 ms without one), with protocol 1
//! (`--protocol 1`) one `msg.ack` per message. Two latencies: send → the sender's own `msg.accepted`, which
//! the server sends only once the message is durable (`latency`), and send → the peer's `msg` (`peer_latency`).
//!
//! Given several URLs (nodes of one cluster), side k connects to `urls[k % n]`: with two nodes every pair is
//! split across them, so every message crosses nodes through Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tanis_client::{Acks, Chat, Connection};
use tanis_proto::{ClientFrame, MatchKind, ServerFrame};
use tokio::sync::Barrier;
use tokio::time::timeout_at;

use crate::cpu::CpuWatch;
use crate::{Latency, Progress, Report, SeededUser, Tally, clock_us, payload, rate, record, record_us, sent_at_us};

/// How long a side waits, after the measured window, for its last acknowledgements, and then for the peer's last
/// messages.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// One server, or several nodes of one cluster.
    pub urls: Vec<String>,
    pub pairs: usize,
    pub in_flight: usize,
    pub duration: Duration,
    pub cpu: CpuWatch,
    /// The protocol version the clients offer (1 or 2).
    pub protocol: u32,
}

/// Runs the measurement and returns the report (scenario "relay").
pub async fn run(users: &[SeededUser], opts: &RelayOptions) -> anyhow::Result<Report> {
    measure(users, opts, "relay").await
}

pub async fn measure(users: &[SeededUser], opts: &RelayOptions, label: &'static str) -> anyhow::Result<Report> {
    let sides = opts.pairs * 2;
    anyhow::ensure!(!opts.urls.is_empty(), "relay needs a server URL");
    anyhow::ensure!(users.len() >= sides, "relay needs {sides} distinct users, the file has {}", users.len());
    let url = |side: usize| &opts.urls[side % opts.urls.len()];
    // Setup is not measured. Everyone connects at once; the pairing then goes one pair at a time.
    let setup_started = Instant::now();
    let paired = pair_all(connect_all(&users[..sides], opts).await?).await?;
    let setup = setup_started.elapsed();
    let cross_node_pairs = (0..opts.pairs).filter(|p| url(2 * p) != url(2 * p + 1)).count();
    eprintln!("[{label}] {} pairs ({cross_node_pairs} across nodes) set up in {setup:.1?}", opts.pairs);

    let progress = Progress::start(label);
    // The clock starts for all sides at once.
    let barrier = Arc::new(Barrier::new(sides + 1));
    // Nobody drains or leaves before everyone has their last acknowledgement: then every message is stored and on
    // its way to the peer, so each side knows how many it still has to receive; and a leave ends the match for
    // both sides, so the peer's messages still in flight would be refused (`not_in_match`).
    let finished = Arc::new(Barrier::new(sides));
    // Per pair, the messages each side had accepted: what its peer must receive.
    let accepted: Vec<Arc<[AtomicU64; 2]>> = (0..opts.pairs).map(|_| Arc::default()).collect();
    let mut tasks = Vec::with_capacity(sides);
    for (k, (mut conn, mut chat)) in paired.into_iter().enumerate() {
        let (opts, barrier, finished, progress) = (opts.clone(), barrier.clone(), finished.clone(), progress.clone());
        let (accepted, me) = (accepted[k / 2].clone(), k % 2);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut side = Side::new(opts.in_flight, conn.protocol);
            let sent = side.send_for(&mut conn, &mut chat, &opts, &progress).await;
            accepted[me].store(side.tally.acked, Ordering::Relaxed);
            finished.wait().await;
            let result = match sent {
                Ok(()) => side.drain(&mut conn, &mut chat, &progress, accepted[1 - me].load(Ordering::Relaxed)).await,
                Err(e) => Err(e),
            };
            // End the match so the same users can pair again in the next scenario, and wait for the answer: a
            // leave still in flight when the next scenario reconnects would end ITS match. The receipts just sent
            // need not land first: a `msg.ack` is taken after the match has ended too.
            leave(&mut conn, &chat).await;
            result.map(|()| side)
        }));
    }
    // Sampled while every side waits at the barrier, so no load falls outside the window.
    let cpu_start = opts.cpu.sample();
    barrier.wait().await;
    let started = Instant::now();
    // Every side's figures, summed.
    let mut all = Side::new(0, opts.protocol);
    let (failed_sides, first_error) = join_sides(tasks, |side| all.add(&side)).await?;
    let cpu = opts.cpu.used_since(cpu_start);
    let elapsed = started.elapsed().min(opts.duration + DRAIN * 2);
    let (_, failures) = progress.finish();
    // The rate is over the measured window: acknowledgements drained afterwards are few (≤ K per side).
    let window = opts.duration.min(elapsed);
    let peer_latency = Latency::from_histogram(&all.tally.peer);
    let mut extra = serde_json::json!({
        "received": all.tally.received,
        "receipts": all.receipts,
        "piggybacked_acks": all.piggybacked,
        "delivered": all.delivered,
        "delivered_riding": all.delivered_riding,
        "protocol": opts.protocol,
        "frames_per_msg": frames_per_msg(all.frames, all.tally.acked),
        "not_received": all.not_received,
        "peer_p99_ms": peer_latency.p99_us as f64 / 1000.0,
        "peer_latency": peer_latency,
        "failed_sides": failed_sides,
        "cross_node_pairs": cross_node_pairs,
        "setup_secs": (setup.as_secs_f64() * 100.0).round() / 100.0,
        "first_error": first_error,
    });
    cpu.add_to(&mut extra, "cpu_s_per_1000_msgs", all.tally.acked);
    Ok(Report {
        scenario: label.into(),
        params: serde_json::json!({"pairs": opts.pairs, "in_flight": opts.in_flight, "duration_secs": opts.duration.as_secs_f64(), "nodes": opts.urls.len()}),
        elapsed_secs: elapsed.as_secs_f64(),
        ops: all.tally.acked,
        // A message the peer never received is lost to a live client (it would have to `resume` it).
        failures: failures + failed_sides + all.not_received,
        rate_per_sec: rate(all.tally.acked, window),
        latency: Some(Latency::from_histogram(&all.tally.accepted)),
        extra,
    })
}

/// Connects every side (side k to `urls[k % n]`) concurrently and ends any match left over from an earlier run.
pub(crate) async fn connect_all(users: &[SeededUser], opts: &RelayOptions) -> anyhow::Result<Vec<Connection>> {
    let tasks: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(k, user)| {
            let (url, token) = (opts.urls[k % opts.urls.len()].clone(), user.token.clone());
            let protocol = opts.protocol;
            tokio::spawn(async move {
                let connect = async {
                    let (mut conn, hello) = Connection::connect_version(&url, &token, protocol).await?;
                    // A server that predates version 2 selects version 1 whatever is offered: the side then
                    // acknowledges as version 1 does.
                    if let ServerFrame::Hello { protocol, .. } = &hello {
                        conn.protocol = *protocol;
                    }
                    conn.wait = Duration::from_secs(30);
                    leave_active(&mut conn, &hello).await?;
                    anyhow::Ok(conn)
                };
                connect.await.map_err(|e| e.context(format!("side {k} on {url}")))
            })
        })
        .collect();
    let mut conns = Vec::with_capacity(tasks.len());
    for task in tasks {
        conns.push(task.await??);
    }
    Ok(conns)
}

/// Pairs sides 2p and 2p+1 for every p, one pair at a time: the matchmaker pairs whoever is queued, so only with
/// nobody else in the queue is each pair sure to be the two users (and the two nodes) chosen for it.
pub(crate) async fn pair_all(conns: Vec<Connection>) -> anyhow::Result<Vec<(Connection, Chat)>> {
    let mut paired = Vec::with_capacity(conns.len());
    let mut conns = conns.into_iter();
    let mut p = 0;
    while let (Some(mut first), Some(mut second)) = (conns.next(), conns.next()) {
        let (a, b) = pair(&mut first, &mut second).await.map_err(|e| e.context(format!("pairing pair {p}")))?;
        paired.extend([(first, a), (second, b)]);
        p += 1;
    }
    Ok(paired)
}

/// The first side queues, and is seen queued, before the second looks; both must then report the same match.
async fn pair(first: &mut Connection, second: &mut Connection) -> anyhow::Result<(Chat, Chat)> {
    let first_id = Chat::ask(first, MatchKind::Text).await?;
    let queued = first
        .next_where(|f| {
            matches!(f, ServerFrame::MatchQueued { .. } | ServerFrame::MatchFound { .. } | ServerFrame::Error { .. })
        })
        .await?;
    // `match.found` first would mean a stranger (a stale queue entry) was waiting already.
    anyhow::ensure!(matches!(queued, ServerFrame::MatchQueued { .. }), "expected match.queued, got {queued:?}");
    let second_id = Chat::ask(second, MatchKind::Text).await?;
    let (a, b) = (Chat::found(first, first_id).await?, Chat::found(second, second_id).await?);
    anyhow::ensure!(
        a.info.match_id == b.info.match_id,
        "the sides were paired apart (matches {} and {})",
        a.info.match_id,
        b.info.match_id
    );
    Ok((a, b))
}

/// Ends the side's match and waits for the answer, so the same users can pair again in the next scenario: a leave
/// still in flight when the next scenario reconnects would end ITS match.
pub(crate) async fn leave(conn: &mut Connection, chat: &Chat) {
    let leave = ClientFrame::MatchLeave { id: Some("leave".into()), match_id: chat.info.match_id };
    if conn.send(&leave).await.is_ok() {
        let _ = conn.next_where(|f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await;
    }
}

/// Waits for every side's task: each side that finished goes to `add`; the count of those that failed, and the
/// first failure's error.
pub(crate) async fn join_sides<S>(
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<S>>>,
    mut add: impl FnMut(S) -> anyhow::Result<()>,
) -> anyhow::Result<(u64, Option<String>)> {
    let (mut failed, mut first_error) = (0u64, None);
    for task in tasks {
        match task.await? {
            Ok(side) => add(side)?,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    Ok((failed, first_error))
}

/// A user still in a match cannot queue (`already_in_match`): leave it first.
pub async fn leave_active(conn: &mut Connection, hello: &ServerFrame) -> anyhow::Result<()> {
    if let ServerFrame::Hello { active_match: Some(info), .. } = hello {
        conn.send(&ClientFrame::MatchLeave { id: Some("stale".into()), match_id: info.match_id }).await?;
        conn.next_where(|f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await?;
    }
    Ok(())
}

/// Frames on the wire per message accepted, both ways, both sides.
fn frames_per_msg(frames: u64, messages: u64) -> f64 {
    if messages == 0 { 0.0 } else { (frames as f64 / messages as f64 * 100.0).round() / 100.0 }
}

/// One side of a pair, behaving as a chat app does: it sends, decrypts every message it receives and acknowledges
/// it (as an app does once the message is on screen): at once with a `msg.ack` in version 1, through [`Acks`] in
/// version 2.
struct Side {
    /// Version 2's acknowledgements owed; `None` in version 1.
    acks: Option<Acks>,
    /// Acknowledgements that rode on a send (version 2).
    piggybacked: u64,
    /// `msg` frames that carried a receipt (`delivered`, version 2).
    delivered_riding: u64,
    /// Protocol frames this side sent and received.
    frames: u64,
    /// Send → this side's `msg.accepted`, and the peer's send → its `msg` here.
    tally: Tally,
    /// Sent and not yet accepted: `client_msg_id` → send time.
    pending: HashMap<String, Instant>,
    /// `msg.ack`s sent.
    receipts: u64,
    /// `msg.delivered` frames seen (the peer's receipts of our messages) before leaving; nothing waits for them.
    delivered: u64,
    /// Messages the peer had accepted that never arrived here within the drain.
    not_received: u64,
}

impl Side {
    fn new(in_flight: usize, protocol: u32) -> Self {
        Self {
            acks: (protocol >= 2).then(Acks::new),
            piggybacked: 0,
            delivered_riding: 0,
            frames: 0,
            tally: Tally::new(),
            pending: HashMap::with_capacity(in_flight),
            receipts: 0,
            delivered: 0,
            not_received: 0,
        }
    }

    fn add(&mut self, other: &Side) -> anyhow::Result<()> {
        self.tally.add(&other.tally)?;
        self.receipts += other.receipts;
        self.piggybacked += other.piggybacked;
        self.delivered += other.delivered;
        self.delivered_riding += other.delivered_riding;
        self.frames += other.frames;
        self.not_received += other.not_received;
        Ok(())
    }

    /// Sends with K in flight for the duration, then waits for its own last acknowledgements.
    async fn send_for(
        &mut self,
        conn: &mut Connection,
        chat: &mut Chat,
        opts: &RelayOptions,
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + opts.duration;
        let mut n = 0u64;
        loop {
            let sending = tokio::time::Instant::now() < deadline;
            if sending {
                while self.pending.len() < opts.in_flight {
                    n += 1;
                    let mut frame = chat.message(&payload(n));
                    if let Some(acks) = &mut self.acks {
                        acks.ride(&mut frame);
                    }
                    let ClientFrame::MsgSend { client_msg_id, ack, .. } = &frame else { unreachable!() };
                    self.piggybacked += u64::from(ack.is_some());
                    self.pending.insert(client_msg_id.clone(), Instant::now());
                    self.send(conn, &frame).await?;
                }
            } else if self.pending.is_empty() {
                return Ok(());
            }
            // Until the deadline we wait for whatever comes (or a standalone acknowledgement falling due);
            // afterwards only for our last acknowledgements.
            let until = if sending { deadline } else { deadline + DRAIN };
            let ack_due = self.acks.as_ref().and_then(Acks::due).map(tokio::time::Instant::from_std);
            let frame = match timeout_at(ack_due.map_or(until, |due| due.min(until)), conn.next()).await {
                Ok(frame) => frame?,
                Err(_) if ack_due.is_some_and(|due| due < until) => {
                    self.acks_due(conn, Instant::now()).await?;
                    continue;
                }
                Err(_) if sending => continue,
                Err(_) => anyhow::bail!("{} messages never acknowledged", self.pending.len()),
            };
            self.take(frame, conn, chat, progress, sending).await?;
        }
    }

    /// Receives (and acknowledges) the peer's last messages, until `expected` have arrived in all.
    async fn drain(
        &mut self,
        conn: &mut Connection,
        chat: &mut Chat,
        progress: &Progress,
        expected: u64,
    ) -> anyhow::Result<()> {
        let until = tokio::time::Instant::now() + DRAIN;
        while self.tally.received < expected {
            match timeout_at(until, conn.next()).await {
                Ok(frame) => self.take(frame?, conn, chat, progress, false).await?,
                Err(_) => {
                    self.not_received = expected - self.tally.received;
                    break;
                }
            }
        }
        // Nothing more will be sent for them to ride on: what is owed goes now, as it would after the delay.
        self.acks_due(conn, Instant::now() + tanis_client::ACK_DELAY).await
    }

    /// Sends the standalone `msg.ack`s due at `now` (version 2).
    async fn acks_due(&mut self, conn: &mut Connection, now: Instant) -> anyhow::Result<()> {
        let due = self.acks.as_mut().map(|acks| acks.take_due(now)).unwrap_or_default();
        for ack in due {
            self.send(conn, &ack).await?;
            self.receipts += 1;
        }
        Ok(())
    }

    async fn send(&mut self, conn: &mut Connection, frame: &ClientFrame) -> anyhow::Result<()> {
        self.frames += 1;
        Ok(conn.send(frame).await?)
    }

    async fn take(
        &mut self,
        frame: ServerFrame,
        conn: &mut Connection,
        chat: &mut Chat,
        progress: &Progress,
        sending: bool,
    ) -> anyhow::Result<()> {
        self.frames += 1;
        match frame {
            ServerFrame::MsgAccepted { client_msg_id, .. } => {
                if let Some(sent) = self.pending.remove(&client_msg_id) {
                    record(&mut self.tally.accepted, sent);
                    self.tally.acked += 1;
                    progress.add(1);
                }
            }
            ServerFrame::Msg { mine: false, match_id, seq, delivered, .. } => {
                // Every message is decrypted, as an app must to show it: a bad ciphertext fails the side.
                let text = chat.read(&frame)?;
                let received_at = clock_us();
                let sent_at = sent_at_us(&text).ok_or_else(|| anyhow::anyhow!("no send time in {text:?}"))?;
                record_us(&mut self.tally.peer, received_at.saturating_sub(sent_at));
                self.tally.received += 1;
                self.delivered_riding += u64::from(delivered.is_some());
                match &mut self.acks {
                    Some(acks) => acks.received(match_id, seq, Instant::now()),
                    None => {
                        self.send(conn, &ClientFrame::MsgAck { id: None, match_id, seq }).await?;
                        self.receipts += 1;
                    }
                }
            }
            ServerFrame::MsgDelivered { .. } => self.delivered += 1,
            // A receipt's error has no id (`msg.ack` sent none); any error is a failure all the same.
            ServerFrame::Error { code, message, .. } => {
                progress.fail();
                anyhow::bail!("server error {code:?}: {message}");
            }
            ServerFrame::MatchEnded { .. } if sending => anyhow::bail!("the match ended mid-run"),
            _ => {}
        }
        Ok(())
    }
}
