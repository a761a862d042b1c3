//! One held socket for its whole life, and the counters every held socket adds to.
//!
//! A held socket keeps reading, so tungstenite answers the server's WebSocket Pings: reading a Ping queues the
//! Pong, and the next read (this loop always makes one) writes and flushes it before it reads anything else. It
//! sends the protocol's `ping` every keep-alive interval and times the `pong`. When its connection ends during a
//! storm it connects again as the SDK does (`tanis_client::core::policy::reconnect_delay`: full jitter, 500 ms
//! doubling to 30 s, attempt counted per socket), counting every failed attempt by kind, until it has `hello`
//! again. Outside a storm an ended connection is counted as dropped and the socket stays down.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use tanis_client::core::policy::reconnect_delay;
use tanis_proto::{ClientFrame, ServerFrame};
use tokio::sync::watch;
use tokio::time::{Instant, sleep_until};
use tokio_tungstenite::tungstenite::Message;

use crate::connections::{OpenError, Stream, open};
use crate::rng::SplitMix64;
use crate::{histogram, record};

/// How long a new socket has from its TCP connect to `hello`: the SDK's `helloTimeoutMs`.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// The close code a connection that ended without a close frame reports (RFC 6455), as the SDK passes it on.
const ABNORMAL: u16 = 1006;

/// Where the held sockets are in the run; the scenario sets it for all of them at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// An ended connection is a drop: counted, and the socket stays down.
    Hold,
    /// The node is being killed and restarted: an ended connection reconnects with the SDK's backoff.
    Storm,
    /// The run is over: every socket stops.
    Stop,
}

/// What every held socket adds to. The scenario reads it at the boundaries of its windows.
pub struct Shared {
    pings: AtomicU64,
    pongs: AtomicU64,
    /// Pings still unanswered when the next one fell due.
    missing: AtomicU64,
    /// WebSocket Pings from the server (each answered with a Pong by tungstenite).
    server_pings: AtomicU64,
    /// Connections that ended outside a storm.
    dropped: AtomicU64,
    /// Application ping → pong, microseconds; taken anew for every window.
    rtt: Mutex<Histogram<u64>>,
    /// Per socket, whether a `pong` came on its current connection.
    ponged: Vec<AtomicBool>,
    pub storm: StormCounters,
}

/// The storm's side of [`Shared`].
pub struct StormCounters {
    /// Connections that ended during the storm.
    pub ended: AtomicU64,
    /// Sockets reconnecting now.
    pub down: AtomicU64,
    /// Connection attempts made while reconnecting.
    pub attempts: AtomicU64,
    /// Failed attempts by kind (`refused`, `http_503`, `timeout`, `closed`, `other`).
    pub failures: Mutex<BTreeMap<String, u64>>,
    /// The close codes of the held connections that ended (1006: no close frame, as after a kill -9).
    pub ended_codes: Mutex<BTreeMap<u16, u64>>,
    /// The close codes of the attempts that closed before `hello` (4013 overloaded, 1001 …).
    pub closed_codes: Mutex<BTreeMap<u16, u64>>,
    pub first_other: Mutex<Option<String>>,
    /// Per socket, when it last had `hello` again after a storm drop (Unix µs; 0: never).
    pub back_at_us: Vec<AtomicU64>,
}

/// The keep-alive counters at one moment; the difference of two is a window's.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct KeepAliveCounts {
    pub pings: u64,
    pub pongs: u64,
    pub pongs_missing: u64,
    pub server_pings: u64,
    pub dropped: u64,
}

impl KeepAliveCounts {
    pub fn since(self, earlier: Self) -> Self {
        Self {
            pings: self.pings - earlier.pings,
            pongs: self.pongs - earlier.pongs,
            pongs_missing: self.pongs_missing - earlier.pongs_missing,
            server_pings: self.server_pings - earlier.server_pings,
            dropped: self.dropped - earlier.dropped,
        }
    }

    pub fn add(&mut self, other: &Self) {
        self.pings += other.pings;
        self.pongs += other.pongs;
        self.pongs_missing += other.pongs_missing;
        self.server_pings += other.server_pings;
        self.dropped += other.dropped;
    }
}

impl Shared {
    pub fn new(sockets: usize) -> Self {
        let counter = || AtomicU64::new(0);
        Self {
            pings: counter(),
            pongs: counter(),
            missing: counter(),
            server_pings: counter(),
            dropped: counter(),
            rtt: Mutex::new(histogram()),
            ponged: (0..sockets).map(|_| AtomicBool::new(false)).collect(),
            storm: StormCounters {
                ended: counter(),
                down: counter(),
                attempts: counter(),
                failures: Mutex::default(),
                ended_codes: Mutex::default(),
                closed_codes: Mutex::default(),
                first_other: Mutex::default(),
                back_at_us: (0..sockets).map(|_| counter()).collect(),
            },
        }
    }

    pub fn counts(&self) -> KeepAliveCounts {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        KeepAliveCounts {
            pings: read(&self.pings),
            pongs: read(&self.pongs),
            pongs_missing: read(&self.missing),
            server_pings: read(&self.server_pings),
            dropped: read(&self.dropped),
        }
    }

    /// Sockets that had a `pong` on their current connection (of those back after `since_us`, when given).
    pub fn ponged(&self, since_us: Option<u64>) -> u64 {
        let back = |i: usize| since_us.is_none_or(|t| self.storm.back_at_us[i].load(Ordering::Relaxed) >= t);
        (self.ponged.iter().enumerate()).filter(|(i, p)| p.load(Ordering::Relaxed) && back(*i)).count() as u64
    }

    /// The ping → pong times since the last call, and a fresh histogram for the next window.
    pub fn take_rtt(&self) -> Histogram<u64> {
        std::mem::replace(&mut *self.rtt.lock().expect("rtt lock"), histogram())
    }
}

impl StormCounters {
    fn failed(&self, e: &OpenError) {
        *self.failures.lock().expect("failures lock").entry(e.kind()).or_default() += 1;
        match e {
            OpenError::Closed(Some(code)) => {
                *self.closed_codes.lock().expect("codes lock").entry(*code).or_default() += 1;
            }
            OpenError::Other(text) => {
                self.first_other.lock().expect("other lock").get_or_insert_with(|| text.clone());
            }
            _ => {}
        }
    }
}

/// Unix time in microseconds: the storm's times are compared across processes.
pub fn unix_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// How a connection's keep-alive ended.
enum Ended {
    Stopped,
    /// The connection ended, with its close code.
    Closed(u16),
}

/// One socket: who it is, where it connects from and to.
pub struct Held {
    pub index: usize,
    pub url: String,
    pub server: SocketAddr,
    pub token: String,
    pub source: Ipv4Addr,
    /// The application ping's interval; `None` sends none (the server's WebSocket Pings are still answered).
    pub keepalive: Option<Duration>,
    pub rng: SplitMix64,
}

impl Held {
    /// Opens the socket (TCP from `source`, the bearer token, `hello`).
    pub async fn open(&self, within: Duration) -> Result<Stream, OpenError> {
        open(&self.url, &self.token, self.source, self.server, within).await
    }

    /// Holds `stream` until the phase is `Stop` (or its connection ends outside a storm).
    pub async fn hold(mut self, mut stream: Stream, shared: Arc<Shared>, mut phase: watch::Receiver<Phase>) {
        // The first ping at a uniformly random offset in [0, interval), so that the sockets' pings spread.
        let mut first = self.keepalive.map(|every| Instant::now() + every.mul_f64(1.0 - self.rng.next_f64()));
        loop {
            let code = match self.keep_alive(&mut stream, &shared, &mut phase, first).await {
                Ended::Stopped => return,
                Ended::Closed(code) => code,
            };
            drop(stream);
            shared.ponged[self.index].store(false, Ordering::Relaxed);
            if *phase.borrow() != Phase::Storm {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let storm = &shared.storm;
            storm.ended.fetch_add(1, Ordering::Relaxed);
            storm.down.fetch_add(1, Ordering::Relaxed);
            *storm.ended_codes.lock().expect("codes lock").entry(code).or_default() += 1;
            let Some(again) = self.reconnect(code, &shared, &mut phase).await else { return };
            stream = again;
            storm.back_at_us[self.index].store(unix_us(), Ordering::Relaxed);
            storm.down.fetch_sub(1, Ordering::Relaxed);
            // As the SDK does: the ping interval starts again from `hello`.
            first = self.keepalive.map(|every| Instant::now() + every);
        }
    }

    /// Reads everything (answering the server's Pings), sends a `ping` every interval from `next_ping` on, and
    /// times each `pong`, until the connection ends or the run stops.
    async fn keep_alive(
        &mut self,
        stream: &mut Stream,
        shared: &Shared,
        phase: &mut watch::Receiver<Phase>,
        mut next_ping: Option<Instant>,
    ) -> Ended {
        // The ping waiting for its pong: its number and when it was sent.
        let mut outstanding: Option<(u64, std::time::Instant)> = None;
        let mut n = 0u64;
        loop {
            let ping_due = async move {
                match next_ping {
                    Some(at) => sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                message = stream.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        let Some((number, sent)) = outstanding else { continue };
                        if let Ok(ServerFrame::Pong { id: Some(id) }) = serde_json::from_str(text.as_str())
                            && id == ping_id(number)
                        {
                            outstanding = None;
                            shared.pongs.fetch_add(1, Ordering::Relaxed);
                            record(&mut shared.rtt.lock().expect("rtt lock"), sent);
                            shared.ponged[self.index].store(true, Ordering::Relaxed);
                        }
                    }
                    Some(Ok(Message::Ping(_))) => {
                        shared.server_pings.fetch_add(1, Ordering::Relaxed);
                    }
                    // No code in the close frame: 1005, "no status received".
                    Some(Ok(Message::Close(frame))) => return Ended::Closed(frame.map_or(1005, |f| f.code.into())),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return Ended::Closed(ABNORMAL),
                },
                () = ping_due => {
                    if outstanding.is_some() {
                        shared.missing.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                    let ping = ClientFrame::Ping { id: Some(ping_id(n)) };
                    let text = serde_json::to_string(&ping).expect("a ping serializes");
                    // `send` flushes: the ping (and any Pong queued before it) is on the wire when it returns.
                    if stream.send(Message::text(text)).await.is_err() {
                        return Ended::Closed(ABNORMAL);
                    }
                    shared.pings.fetch_add(1, Ordering::Relaxed);
                    outstanding = Some((n, std::time::Instant::now()));
                    next_ping = next_ping.zip(self.keepalive).map(|(at, every)| at + every);
                }
                changed = phase.changed() => {
                    if changed.is_err() || *phase.borrow() == Phase::Stop {
                        return Ended::Stopped;
                    }
                }
            }
        }
    }

    /// Connects again after the SDK's backoff, as many times as it takes, until `hello`; `None` if the run
    /// stops first.
    async fn reconnect(
        &mut self,
        mut code: u16,
        shared: &Shared,
        phase: &mut watch::Receiver<Phase>,
    ) -> Option<Stream> {
        let storm = &shared.storm;
        for attempt in 0u32.. {
            // In [0, 1), as the policy takes it.
            let delay = reconnect_delay(code, attempt, 1.0 - self.rng.next_f64());
            let attempted = async {
                tokio::time::sleep(delay).await;
                storm.attempts.fetch_add(1, Ordering::Relaxed);
                self.open(HELLO_TIMEOUT).await
            };
            let result = tokio::select! {
                result = attempted => result,
                _ = phase.wait_for(|p| *p == Phase::Stop) => return None,
            };
            match result {
                Ok(stream) => return Some(stream),
                Err(e) => {
                    storm.failed(&e);
                    code = match e {
                        OpenError::Closed(Some(code)) => code,
                        _ => ABNORMAL,
                    };
                }
            }
        }
        None
    }
}

fn ping_id(n: u64) -> String {
    format!("k{n}")
}
