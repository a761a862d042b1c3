//! `matching`: U users loop `match.find` → `match.found` → leave. The initiator of each match leaves and the
//! other side waits for `match.ended`, so nobody queues while still in a match (`already_in_match`).
//! The server must run with `TANIS_MATCHING__RECENT_PARTNER_HOURS=0` or pairs run out after one round.
//! Given several URLs (nodes of one cluster), user i connects to `urls[i % n]`; who meets whom is the
//! matchmaker's choice, so about half the matches cross nodes with two.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tanis_client::{Connection, Identity};
use tanis_proto::{ClientFrame, MatchId, MatchKind, ServerFrame};
use tokio::sync::Barrier;
use tokio::time::{Instant as Deadline, timeout_at};

use crate::cpu::CpuWatch;
use crate::{Latency, Progress, Report, SeededUser, histogram, rate, record, relay::leave_active};

#[derive(Debug, Clone)]
pub struct MatchingOptions {
    /// One server, or several nodes of one cluster.
    pub urls: Vec<String>,
    pub users: usize,
    pub duration: Duration,
    pub cpu: CpuWatch,
}

pub async fn run(users: &[SeededUser], opts: &MatchingOptions) -> anyhow::Result<Report> {
    anyhow::ensure!(
        users.len() >= opts.users,
        "matching needs {} distinct users, the file has {}",
        opts.users,
        users.len()
    );
    anyhow::ensure!(!opts.urls.is_empty(), "matching needs a server URL");
    let progress = Progress::start("matching");
    let barrier = Arc::new(Barrier::new(opts.users + 1));
    let mut tasks = Vec::new();
    for (i, user) in users[..opts.users].iter().enumerate() {
        let url = opts.urls[i % opts.urls.len()].clone();
        let (token, opts, barrier, progress) = (user.token.clone(), opts.clone(), barrier.clone(), progress.clone());
        tasks.push(tokio::spawn(async move {
            let setup = async {
                let (mut conn, hello) = Connection::connect(&url, &token).await?;
                // The deadline bounds every wait; the client's own 10 s limit would cut a long queue wait short.
                conn.wait = Duration::from_secs(3600);
                leave_active(&mut conn, &hello).await?;
                anyhow::Ok(conn)
            }
            .await;
            barrier.wait().await;
            let mut conn = setup?;
            let deadline = Deadline::now() + opts.duration;
            let mut hist = histogram();
            let result = user_loop(&mut conn, deadline, &mut hist, &progress).await;
            // Whatever state the loop stopped in, leave nothing behind in the queue or a match.
            let _ = conn.send(&ClientFrame::MatchCancel { id: Some("cancel".into()) }).await;
            if let Some(match_id) = result.as_ref().ok().copied().flatten() {
                let _ = conn.send(&ClientFrame::MatchLeave { id: Some("end".into()), match_id }).await;
            }
            result.map(|_| hist)
        }));
    }
    // Sampled while every user waits at the barrier: the connecting is not part of the window.
    let cpu_start = opts.cpu.sample();
    barrier.wait().await;
    let started = Instant::now();
    let mut hist = histogram();
    let (mut failed_users, mut first_error) = (0u64, None);
    for task in tasks {
        match task.await? {
            Ok(h) => hist.add(&h)?,
            Err(e) => {
                failed_users += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let cpu = opts.cpu.used_since(cpu_start);
    let elapsed = started.elapsed();
    let (_, failures) = progress.finish();
    // Every match is seen by both of its users: count it once.
    let matches = hist.len() / 2;
    let mut extra = serde_json::json!({"failed_users": failed_users, "first_error": first_error});
    cpu.add_to(&mut extra, "cpu_ms_per_match", matches);
    Ok(Report {
        scenario: "matching".into(),
        params: serde_json::json!({"users": opts.users, "duration_secs": opts.duration.as_secs_f64(), "nodes": opts.urls.len()}),
        elapsed_secs: elapsed.as_secs_f64(),
        ops: matches,
        failures: failures + failed_users,
        rate_per_sec: rate(matches, opts.duration.min(elapsed)),
        latency: Some(Latency::from_histogram(&hist)),
        extra,
    })
}

/// Returns the match the user is still in when time ran out, if any.
async fn user_loop(
    conn: &mut Connection,
    deadline: Deadline,
    hist: &mut Histogram<u64>,
    progress: &Progress,
) -> anyhow::Result<Option<MatchId>> {
    let mut round = 0u64;
    loop {
        round += 1;
        let find = ClientFrame::MatchFind {
            id: Some(format!("f{round}")),
            kind: MatchKind::Text,
            public_key: Identity::generate().public_key_b64(),
            nearby: false,
            interests: Default::default(),
        };
        let sent = Instant::now();
        conn.send(&find).await?;
        let info = loop {
            let Ok(frame) = timeout_at(deadline, conn.next()).await else { return Ok(None) };
            match frame? {
                ServerFrame::MatchFound { info, .. } => break info,
                // A peer's leave can race our next find by a hair; queue again shortly.
                ServerFrame::Error { code, message, .. } => {
                    progress.fail();
                    tracing_free_log(&format!("find error {code:?}: {message}"));
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    conn.send(&find).await?;
                }
                _ => {}
            }
        };
        record(hist, sent);
        if info.initiator {
            // Only one side counts the match in the progress line; the histogram has both sides.
            progress.add(1);
            conn.send(&ClientFrame::MatchLeave { id: Some(format!("l{round}")), match_id: info.match_id }).await?;
            wait_for(conn, deadline, |f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await?;
        } else {
            let ended = wait_for(conn, deadline, |f| matches!(f, ServerFrame::MatchEnded { .. })).await?;
            if !ended {
                return Ok(Some(info.match_id));
            }
        }
        if Deadline::now() >= deadline {
            return Ok(None);
        }
    }
}

/// Waits for a frame; `false` when the deadline came first.
async fn wait_for(
    conn: &mut Connection,
    deadline: Deadline,
    wanted: impl Fn(&ServerFrame) -> bool,
) -> anyhow::Result<bool> {
    match timeout_at(deadline, conn.next_where(wanted)).await {
        Ok(frame) => frame.map(|_| true).map_err(Into::into),
        Err(_) => Ok(false),
    }
}

fn tracing_free_log(line: &str) {
    eprintln!("[matching] {line}");
}
