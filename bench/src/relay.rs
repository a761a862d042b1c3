//! `relay`: P text matches, both sides sending E2E-encrypted messages with K in flight. The round trip is send →
//! the sender's own `msg.accepted`, which the server sends only once the message is durable.
//!
//! Given several URLs (nodes of one cluster), side k connects to `urls[k % n]`: with two nodes every pair is
//! split across them, so every message crosses nodes through Redis.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, MatchKind, ServerFrame};
use tokio::sync::Barrier;
use tokio::time::timeout_at;

use crate::{Latency, Progress, Report, SeededUser, histogram, payload, rate, record};

/// How long the senders wait for the last acknowledgements after the measured window.
const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// One server, or several nodes of one cluster.
    pub urls: Vec<String>,
    pub pairs: usize,
    pub in_flight: usize,
    pub duration: Duration,
}

/// What one side measured.
struct Side {
    hist: Histogram<u64>,
    acked: u64,
    received: u64,
    decrypted: u64,
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
    // Nobody leaves before everyone has their last acknowledgement: a leave ends the match for both sides,
    // and the peer's messages still in flight would be refused (`not_in_match`).
    let finished = Arc::new(Barrier::new(sides));
    let mut tasks = Vec::with_capacity(sides);
    for (mut conn, mut chat) in paired {
        let (opts, barrier, finished, progress) = (opts.clone(), barrier.clone(), finished.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let side = run_side(&mut conn, &mut chat, &opts, &progress).await;
            finished.wait().await;
            // End the match so the same users can pair again in the next scenario, and wait for the answer: a
            // leave still in flight when the next scenario reconnects would end ITS match.
            let leave = ClientFrame::MatchLeave { id: Some("leave".into()), match_id: chat.info.match_id };
            if conn.send(&leave).await.is_ok() {
                let _ = conn.next_where(|f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await;
            }
            side
        }));
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut hist = histogram();
    let (mut acked, mut received, mut decrypted, mut failed_sides) = (0, 0, 0, 0u64);
    let mut first_error = None;
    for task in tasks {
        match task.await? {
            Ok(side) => {
                hist.add(&side.hist)?;
                acked += side.acked;
                received += side.received;
                decrypted += side.decrypted;
            }
            Err(e) => {
                failed_sides += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let elapsed = started.elapsed().min(opts.duration + DRAIN);
    let (_, failures) = progress.finish();
    // The rate is over the measured window: acknowledgements drained afterwards are few (≤ K per side).
    let window = opts.duration.min(elapsed);
    Ok(Report {
        scenario: label.into(),
        params: serde_json::json!({"pairs": opts.pairs, "in_flight": opts.in_flight, "duration_secs": opts.duration.as_secs_f64(), "nodes": opts.urls.len()}),
        elapsed_secs: elapsed.as_secs_f64(),
        ops: acked,
        failures: failures + failed_sides,
        rate_per_sec: rate(acked, window),
        latency: Some(Latency::from_histogram(&hist)),
        extra: serde_json::json!({
            "received": received,
            "decrypted_samples": decrypted,
            "failed_sides": failed_sides,
            "cross_node_pairs": cross_node_pairs,
            "setup_secs": (setup.as_secs_f64() * 100.0).round() / 100.0,
            "first_error": first_error,
        }),
    })
}

/// Connects every side (side k to `urls[k % n]`) concurrently and ends any match left over from an earlier run.
async fn connect_all(users: &[SeededUser], opts: &RelayOptions) -> anyhow::Result<Vec<Connection>> {
    let tasks: Vec<_> = users
        .iter()
        .enumerate()
        .map(|(k, user)| {
            let (url, token) = (opts.urls[k % opts.urls.len()].clone(), user.token.clone());
            tokio::spawn(async move {
                let connect = async {
                    let (mut conn, hello) = Connection::connect(&url, &token).await?;
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
async fn pair_all(conns: Vec<Connection>) -> anyhow::Result<Vec<(Connection, Chat)>> {
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

/// A user still in a match cannot queue (`already_in_match`): leave it first.
pub async fn leave_active(conn: &mut Connection, hello: &ServerFrame) -> anyhow::Result<()> {
    if let ServerFrame::Hello { active_match: Some(info), .. } = hello {
        conn.send(&ClientFrame::MatchLeave { id: Some("stale".into()), match_id: info.match_id }).await?;
        conn.next_where(|f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await?;
    }
    Ok(())
}

async fn run_side(
    conn: &mut Connection,
    chat: &mut Chat,
    opts: &RelayOptions,
    progress: &Progress,
) -> anyhow::Result<Side> {
    let deadline = tokio::time::Instant::now() + opts.duration;
    let mut side = Side { hist: histogram(), acked: 0, received: 0, decrypted: 0 };
    let mut pending: HashMap<String, Instant> = HashMap::with_capacity(opts.in_flight);
    let mut n = 0u64;
    loop {
        let sending = tokio::time::Instant::now() < deadline;
        if sending {
            while pending.len() < opts.in_flight {
                n += 1;
                let frame = chat.message(&payload(n));
                let ClientFrame::MsgSend { client_msg_id, .. } = &frame else { unreachable!() };
                pending.insert(client_msg_id.clone(), Instant::now());
                conn.send(&frame).await?;
            }
        } else if pending.is_empty() {
            return Ok(side);
        }
        // Until the deadline we wait for whatever comes; afterwards only for our last acknowledgements.
        let frame = match timeout_at(if sending { deadline } else { deadline + DRAIN }, conn.next()).await {
            Ok(frame) => frame?,
            Err(_) if sending => continue,
            Err(_) => anyhow::bail!("{} messages never acknowledged", pending.len()),
        };
        match frame {
            ServerFrame::MsgAccepted { client_msg_id, .. } => {
                if let Some(sent) = pending.remove(&client_msg_id) {
                    record(&mut side.hist, sent);
                    side.acked += 1;
                    progress.add(1);
                }
            }
            ServerFrame::Msg { mine: false, .. } => {
                side.received += 1;
                // Decrypting every 100th proves the bytes are real E2E ciphertext without making the client the
                // bottleneck (the session accepts any increasing counter, so skipping is fine).
                if side.received % 100 == 1 {
                    chat.read(&frame)?;
                    side.decrypted += 1;
                }
            }
            ServerFrame::Error { code, message, .. } => {
                progress.fail();
                anyhow::bail!("server error {code:?}: {message}");
            }
            ServerFrame::MatchEnded { .. } if sending => anyhow::bail!("the match ended mid-run"),
            _ => {}
        }
    }
}
