//! `connections`: N authenticated idle sockets. What it measures is the server's memory per socket (VmRSS of
//! `--server-pid` before and after), how fast it accepts them, and the CPU that costs (over the ramp). It owns
//! opening one such socket ([`open`], failures by kind in [`OpenError`]), which `hold` does too.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::net::{TcpSocket, lookup_host};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::error::{Error as WsError, ProtocolError};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::cpu::CpuWatch;
use crate::{Latency, Progress, Report, SeededUser, histogram, rate, record};

/// Sockets per source address: below the ~28k ephemeral ports one loopback address offers.
const PER_SOURCE_ADDRESS: usize = 20_000;

#[derive(Debug, Clone)]
pub struct ConnectionsOptions {
    pub url: String,
    pub count: usize,
    /// Its first server pid is the one whose memory is read.
    pub cpu: CpuWatch,
    /// How long the sockets stay open after the ramp (the server's pings keep flowing meanwhile).
    pub hold: Duration,
    /// Handshakes in flight while ramping.
    pub concurrency: usize,
}

/// Raises RLIMIT_NOFILE to the hard limit: 100k sockets need 100k descriptors. Returns the new soft limit.
pub fn raise_nofile() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

/// VmRSS of a process in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

pub async fn run(users: &[SeededUser], opts: &ConnectionsOptions) -> anyhow::Result<Report> {
    anyhow::ensure!(!users.is_empty(), "no users");
    let nofile = raise_nofile();
    let server = loopback_address(&opts.url).await?;
    let server_pid = opts.cpu.server_pids.first().copied();
    let rss_before = server_pid.and_then(rss_kib);
    let cpu_start = opts.cpu.sample();
    let progress = Progress::start("connections");
    let permits = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let (close_tx, close_rx) = watch::channel(());
    let dropped = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut ramp = Vec::with_capacity(opts.count);
    for i in 0..opts.count {
        let permit = permits.clone().acquire_owned().await?;
        let source = Ipv4Addr::new(127, 0, 0, 1 + (i / PER_SOURCE_ADDRESS) as u8);
        let token = users[i % users.len()].token.clone();
        let (url, progress, close_rx, dropped) =
            (opts.url.clone(), progress.clone(), close_rx.clone(), dropped.clone());
        ramp.push(tokio::spawn(async move {
            let sent = Instant::now();
            let opened = open(&url, &token, source, server, HELLO_WAIT).await;
            drop(permit);
            match opened {
                Ok(stream) => {
                    progress.add(1);
                    // Keep reading (and discarding) so tungstenite answers the server's pings; stop on the signal.
                    tokio::spawn(idle(stream, close_rx, dropped));
                    Ok(sent)
                }
                Err(e) => {
                    progress.fail();
                    Err(e)
                }
            }
        }));
    }
    let mut hist = histogram();
    let mut first_error = None;
    for task in ramp {
        match task.await? {
            Ok(sent) => record(&mut hist, sent),
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    let ramp_time = started.elapsed();
    let cpu = opts.cpu.used_since(cpu_start);
    let (ok, failures) = progress.finish();
    let rss_ramped = server_pid.and_then(rss_kib);
    tokio::time::sleep(opts.hold).await;
    let rss_after = server_pid.and_then(rss_kib);
    let dropped_during_hold = dropped.load(Ordering::Relaxed);
    drop(close_tx);
    let per_socket = match (rss_before, rss_after) {
        (Some(b), Some(a)) if ok > 0 => Some((a.saturating_sub(b)) as f64 / ok as f64),
        _ => None,
    };
    let mut extra = serde_json::json!({
        "server_rss_before_kib": rss_before,
        "server_rss_ramped_kib": rss_ramped,
        "server_rss_after_hold_kib": rss_after,
        "kib_per_socket": per_socket.map(|k| (k * 100.0).round() / 100.0),
        "dropped_during_hold": dropped_during_hold,
        "nofile_limit": nofile,
        "first_error": first_error,
    });
    // Over the ramp: per socket, the WebSocket handshake, the token check and `hello`.
    cpu.add_to(&mut extra, "cpu_ms_per_socket", ok);
    Ok(Report {
        scenario: "connections".into(),
        params: serde_json::json!({"count": opts.count, "hold_secs": opts.hold.as_secs_f64(), "concurrency": opts.concurrency}),
        elapsed_secs: ramp_time.as_secs_f64(),
        ops: ok,
        failures,
        rate_per_sec: rate(ok, ramp_time),
        // Per-socket time from TCP connect to `hello`.
        latency: Some(Latency::from_histogram(&hist)),
        extra,
    })
}

pub(crate) type Stream = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// How long a socket of the ramp may take from its TCP connect to `hello` (100k handshakes queue behind each other).
const HELLO_WAIT: Duration = Duration::from_secs(30);

/// The server's address from a `ws://` URL; only loopback is targeted.
pub(crate) async fn loopback_address(url: &str) -> anyhow::Result<SocketAddr> {
    let request = url.into_client_request()?;
    let host = request.uri().host().unwrap_or("127.0.0.1").to_string();
    let port = request.uri().port_u16().unwrap_or(80);
    let server = lookup_host((host, port)).await?.next().ok_or_else(|| anyhow::anyhow!("cannot resolve {url}"))?;
    anyhow::ensure!(server.ip().is_loopback(), "the load generator only targets loopback, not {server}");
    Ok(server)
}

/// Why a socket did not reach `hello`, by the kind a reconnecting client runs into.
#[derive(Debug)]
pub enum OpenError {
    /// The TCP connect was refused: nothing listens on the port (a node down or restarting).
    Refused,
    /// The upgrade was answered with this status instead of 101 (503 from a draining node or from nginx's
    /// per-address limit, 502 from nginx with no node up, 429).
    Http(u16),
    /// No `hello` within the time allowed, the TCP connect and the handshake included.
    Timeout,
    /// The connection ended before `hello`: with a close frame's code (4013 overloaded, 4001, 1001) or without
    /// one (a reset, an end of stream).
    Closed(Option<u16>),
    /// Anything else: a bind failure, an unexpected first frame.
    Other(String),
}

impl OpenError {
    /// `refused`, `http_503`, `timeout`, `closed`, `other`: the tallies of a reconnect storm.
    pub fn kind(&self) -> String {
        match self {
            Self::Refused => "refused".into(),
            Self::Http(status) => format!("http_{status}"),
            Self::Timeout => "timeout".into(),
            Self::Closed(_) => "closed".into(),
            Self::Other(_) => "other".into(),
        }
    }

    fn from_io(e: &std::io::Error) -> Self {
        use std::io::ErrorKind;
        match e.kind() {
            ErrorKind::ConnectionRefused => Self::Refused,
            ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::UnexpectedEof
            | ErrorKind::BrokenPipe => Self::Closed(None),
            _ => Self::Other(e.to_string()),
        }
    }

    fn from_ws(e: WsError) -> Self {
        match e {
            WsError::Http(response) => Self::Http(response.status().as_u16()),
            WsError::Io(e) => Self::from_io(&e),
            WsError::ConnectionClosed | WsError::AlreadyClosed => Self::Closed(None),
            WsError::Protocol(ProtocolError::HandshakeIncomplete | ProtocolError::ResetWithoutClosingHandshake) => {
                Self::Closed(None)
            }
            other => Self::Other(other.to_string()),
        }
    }
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused => write!(f, "connection refused"),
            Self::Http(status) => write!(f, "HTTP {status} instead of the upgrade"),
            Self::Timeout => write!(f, "no hello in time"),
            Self::Closed(Some(code)) => write!(f, "closed with {code} before hello"),
            Self::Closed(None) => write!(f, "closed before hello"),
            Self::Other(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpenError {}

/// TCP from `source`, the WebSocket handshake with the bearer token, then the first frame, which must be `hello`;
/// all of it within `within`.
pub(crate) async fn open(
    url: &str,
    token: &str,
    source: Ipv4Addr,
    server: SocketAddr,
    within: Duration,
) -> Result<Stream, OpenError> {
    let opening = async {
        let socket = TcpSocket::new_v4().map_err(|e| OpenError::from_io(&e))?;
        socket.bind(SocketAddr::from((source, 0))).map_err(|e| OpenError::Other(format!("bind {source}: {e}")))?;
        let tcp = socket.connect(server).await.map_err(|e| OpenError::from_io(&e))?;
        let mut request = url.into_client_request().map_err(OpenError::from_ws)?;
        let bearer = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|e| OpenError::Other(e.to_string()))?;
        request.headers_mut().insert("authorization", bearer);
        // Small buffers: the client side must not be what runs out of memory at 100k sockets.
        let config =
            WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0).max_write_buffer_size(64 * 1024);
        let (mut stream, _) = tokio_tungstenite::client_async_with_config(request, tcp, Some(config))
            .await
            .map_err(OpenError::from_ws)?;
        match stream.next().await {
            Some(Ok(Message::Text(text))) if text.as_str().contains(r#""type":"hello""#) => Ok(stream),
            Some(Ok(Message::Close(frame))) => Err(OpenError::Closed(frame.map(|f| u16::from(f.code)))),
            Some(Ok(other)) => Err(OpenError::Other(format!("expected hello, got {other:?}"))),
            Some(Err(e)) => Err(OpenError::from_ws(e)),
            None => Err(OpenError::Closed(None)),
        }
    };
    tokio::time::timeout(within, opening).await.unwrap_or(Err(OpenError::Timeout))
}

async fn idle(mut stream: Stream, mut close: watch::Receiver<()>, dropped: Arc<AtomicU64>) {
    loop {
        tokio::select! {
            message = stream.next() => {
                if !matches!(message, Some(Ok(_))) {
                    dropped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            _ = close.changed() => return,
        }
    }
}
