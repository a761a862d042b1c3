//! `echo-baseline`: the same round-trip loop as `relay`, against a bare tokio-tungstenite echo server started
//! in this process. Same frames (real E2E ciphertext of the same plaintext sizes, same `msg.send` JSON), no
//! hub, no database: the ceiling this machine allows, to read the server's numbers against.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tanis_client::{E2eSession, Identity, Role};
use tanis_proto::{ClientFrame, MatchId};
use tokio::net::TcpListener;
use tokio::sync::Barrier;
use tokio::time::timeout_at;
use tokio_tungstenite::tungstenite::Message;

use crate::{Latency, Progress, Report, histogram, payload, rate, record};

const DRAIN: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct EchoOptions {
    pub pairs: usize,
    pub in_flight: usize,
    pub duration: Duration,
}

/// Starts the echo server on 127.0.0.1:0 and returns its address.
pub async fn start_echo_server() -> anyhow::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            // The same socket option as tanis sets, so the ratio compares servers, not TCP settings.
            let _ = tcp.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                let (tx, rx) = ws.split();
                // Text frames go straight back; tungstenite answers pings itself.
                let _ = rx
                    .filter(|m| std::future::ready(matches!(m, Ok(Message::Text(_))) || m.is_err()))
                    .forward(tx)
                    .await;
            });
        }
    });
    Ok(address)
}

pub async fn run(opts: &EchoOptions) -> anyhow::Result<Report> {
    let address = start_echo_server().await?;
    let url = format!("ws://{address}/");
    let clients = opts.pairs * 2;
    let progress = Progress::start("echo");
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for pair in 0..opts.pairs {
        // A real pair of E2E sessions, so every frame carries real ciphertext of the relay's size.
        let (a, b) = (Identity::generate(), Identity::generate());
        let (a_pub, b_pub) = (a.public_key_b64(), b.public_key_b64());
        let match_id = MatchId(pair as i64 + 1);
        let sessions = [
            E2eSession::establish(a, &b_pub, match_id, Role::Initiator)?,
            E2eSession::establish(b, &a_pub, match_id, Role::Responder)?,
        ];
        for session in sessions {
            let (url, opts, barrier, progress) = (url.clone(), opts.clone(), barrier.clone(), progress.clone());
            tasks.push(tokio::spawn(async move {
                let connected = tokio_tungstenite::connect_async_with_config(url.as_str(), None, true).await;
                barrier.wait().await;
                let (mut ws, _) = connected?;
                client(&mut ws, session, match_id, &opts, &progress).await
            }));
        }
    }
    barrier.wait().await;
    let started = Instant::now();
    let mut hist = histogram();
    let (mut failed, mut first_error) = (0u64, None);
    for task in tasks {
        match task.await? {
            Ok(h) => hist.add(&h)?,
            Err(e) => {
                failed += 1;
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let elapsed = started.elapsed();
    let (ops, failures) = progress.finish();
    Ok(Report {
        scenario: "echo-baseline".into(),
        params: serde_json::json!({"pairs": opts.pairs, "in_flight": opts.in_flight, "duration_secs": opts.duration.as_secs_f64()}),
        elapsed_secs: elapsed.as_secs_f64(),
        ops,
        failures: failures + failed,
        rate_per_sec: rate(ops, opts.duration.min(elapsed)),
        latency: Some(Latency::from_histogram(&hist)),
        extra: serde_json::json!({"failed_clients": failed, "first_error": first_error}),
    })
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn client(
    ws: &mut Ws,
    mut session: E2eSession,
    match_id: MatchId,
    opts: &EchoOptions,
    progress: &Progress,
) -> anyhow::Result<hdrhistogram::Histogram<u64>> {
    let deadline = tokio::time::Instant::now() + opts.duration;
    let mut hist = histogram();
    let mut pending: HashMap<String, Instant> = HashMap::new();
    let mut n = 0u64;
    loop {
        let sending = tokio::time::Instant::now() < deadline;
        if sending {
            while pending.len() < opts.in_flight {
                n += 1;
                let (franked, commitment) = tanis_client::franking::frank(&payload(n));
                let sealed = session.seal(&franked);
                let client_msg_id = format!("m{n}");
                let frame = ClientFrame::MsgSend {
                    id: Some(client_msg_id.clone()),
                    match_id,
                    client_msg_id: client_msg_id.clone(),
                    ciphertext: sealed.ciphertext,
                    nonce: sealed.nonce,
                    commitment,
                    ack: None,
                };
                pending.insert(client_msg_id, Instant::now());
                ws.send(Message::Text(serde_json::to_string(&frame)?.into())).await?;
            }
        } else if pending.is_empty() {
            return Ok(hist);
        }
        let message = match timeout_at(if sending { deadline } else { deadline + DRAIN }, ws.next()).await {
            Ok(Some(message)) => message?,
            Ok(None) => anyhow::bail!("echo server closed"),
            Err(_) if sending => continue,
            Err(_) => anyhow::bail!("{} echoes never came back", pending.len()),
        };
        // Parse the echo as the relay client parses its frames, so JSON work is comparable.
        if let Message::Text(text) = message
            && let ClientFrame::MsgSend { client_msg_id, .. } = serde_json::from_str(text.as_str())?
            && let Some(sent) = pending.remove(&client_msg_id)
        {
            record(&mut hist, sent);
            progress.add(1);
        }
    }
}
