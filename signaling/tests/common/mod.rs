//! What the TURN tests share: a server on loopback with an injected clock, webrtc-rs's TURN client
//! over UDP, TCP or TLS, and credentials. Every await on the network is bounded by [`STEP`].
#![allow(dead_code)]

mod stream_conn;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tanis_signaling::credentials::{TurnCredentials, issue};
use tanis_signaling::turn_server::{EmbeddedTurn, TurnServerConfig, TurnTls};
use tokio::net::UdpSocket;
use tokio::time::timeout;
use turn::client::{Client, ClientConfig};
use webrtc_util::Conn;

#[allow(unused_imports)] // each test binary uses a part of this module
pub use stream_conn::{StreamConn, TestCertificate};

pub const SECRET: &[u8] = b"integration-secret";
pub const REALM: &str = "tanis.test";
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
pub const T0: i64 = 1_700_000_000;
/// Generous bound for things that should happen within milliseconds on loopback.
pub const STEP: Duration = Duration::from_secs(5);

pub struct Harness {
    pub turn: EmbeddedTurn,
    pub now: Arc<AtomicI64>,
    pub certificate: Option<TestCertificate>,
}

pub struct Options {
    pub relay_ip: IpAddr,
    pub refuse_private_peers: bool,
    pub tcp: bool,
    pub tls: bool,
    pub max_allocations: usize,
    pub relay_ports: Option<std::ops::RangeInclusive<u16>>,
    /// Listening sockets besides TURN's own that the relay must refuse as peers (the HTTP listener's part).
    pub own_listeners: Vec<SocketAddr>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            relay_ip: LOOPBACK,
            refuse_private_peers: false,
            tcp: false,
            tls: false,
            max_allocations: 1000,
            relay_ports: None,
            own_listeners: Vec::new(),
        }
    }
}

pub async fn start(relay_ip: IpAddr, refuse_private_peers: bool) -> Harness {
    start_with(Options { relay_ip, refuse_private_peers, ..Options::default() }).await
}

pub async fn start_with(o: Options) -> Harness {
    let now = Arc::new(AtomicI64::new(T0));
    let clock_now = Arc::clone(&now);
    let certificate = o.tls.then(TestCertificate::new);
    let tls = certificate.as_ref().map(|c| TurnTls {
        listen: SocketAddr::new(LOOPBACK, 0),
        certificate_chain_pem: c.certificate_pem.clone().into_bytes(),
        private_key_pem: c.private_key_pem.clone().into_bytes(),
    });
    let turn = EmbeddedTurn::start(TurnServerConfig {
        listen: SocketAddr::new(LOOPBACK, 0),
        tcp_listen: o.tcp.then_some(SocketAddr::new(LOOPBACK, 0)),
        tls,
        relay_ip: o.relay_ip,
        relay_ports: o.relay_ports,
        realm: REALM.to_owned(),
        secret: SECRET.to_vec(),
        refuse_private_peers: o.refuse_private_peers,
        own_listeners: o.own_listeners.clone(),
        max_allocations: o.max_allocations,
        clock: Arc::new(move || clock_now.load(Ordering::SeqCst)),
    })
    .await
    .expect("TURN server starts");
    assert_ne!(turn.local_addr().port(), 0);
    Harness { turn, now, certificate }
}

impl Harness {
    /// Moves the injected clock forward.
    pub fn advance(&self, secs: i64) {
        self.now.fetch_add(secs, Ordering::SeqCst);
    }

    /// Waits (bounded) until exactly `n` allocations are alive.
    pub async fn wait_for_allocations(&self, n: u64) {
        let mut active = self.turn.counters().watch_allocations();
        let reached = timeout(STEP, active.wait_for(|a| *a == n)).await;
        assert!(reached.is_ok(), "expected {n} live allocations, still {:?}", self.turn.counters().snapshot());
    }
}

/// A TURN client over its own UDP socket.
pub async fn client(turn: &EmbeddedTurn, username: &str, password: &str) -> Client {
    let socket = UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
    client_over(turn.local_addr(), Arc::new(socket), username, password).await
}

/// A TURN client speaking over `conn` (UDP, or a [`StreamConn`] for TCP and TLS).
pub async fn client_over(
    server: SocketAddr,
    conn: Arc<dyn Conn + Send + Sync>,
    username: &str,
    password: &str,
) -> Client {
    let addr = server.to_string();
    let client = Client::new(ClientConfig {
        stun_serv_addr: addr.clone(),
        turn_serv_addr: addr,
        username: username.to_owned(),
        password: password.to_owned(),
        realm: REALM.to_owned(),
        software: String::new(),
        rto_in_ms: 0,
        conn,
        vnet: None,
    })
    .await
    .unwrap();
    client.listen().await.unwrap();
    client
}

pub fn creds(user_ref: &str) -> TurnCredentials {
    issue(SECRET, user_ref, T0, 600)
}

/// Allocates with the given credentials; `Err` when the server refused (not on timeout).
pub async fn allocate(client: &Client) -> Result<impl Conn + use<>, turn::Error> {
    timeout(STEP, client.allocate()).await.expect("allocation answered in time")
}

/// The STUN error code of a refused request, as webrtc-rs's client reports it ("… (error 403: …)"); `None` for any
/// other failure (a timeout, a socket error, a malformed answer), which is not a refusal.
pub fn stun_code(err: &impl std::fmt::Display) -> Option<u16> {
    let text = err.to_string();
    let (_, rest) = text.split_once("(error ")?;
    rest.get(..3)?.parse().ok()
}

/// Allocates with the given credentials, which the server must refuse; the STUN error code it answered.
pub async fn allocation_refusal(client: &Client) -> Option<u16> {
    match allocate(client).await {
        Ok(relay) => panic!("allocated {:?} where a refusal was expected", relay.local_addr()),
        Err(e) => stun_code(&e),
    }
}

/// Sends `payload` from `from` to `to`'s relay address and returns it as `to` received it, after
/// `to` opened a permission toward `from` (TURN delivers only from permitted peers). Earlier
/// "open" datagrams that reach either side are skipped.
pub async fn exchange(from: &impl Conn, to: &impl Conn, payload: &[u8]) -> Vec<u8> {
    let (from_addr, to_addr) = (from.local_addr().unwrap(), to.local_addr().unwrap());
    timeout(STEP, to.send_to(b"open", from_addr)).await.unwrap().unwrap();
    timeout(STEP, from.send_to(payload, to_addr)).await.unwrap().unwrap();
    let mut buf = [0u8; 1500];
    loop {
        let (n, peer) = timeout(STEP, to.recv_from(&mut buf)).await.expect("datagram relayed").unwrap();
        assert_eq!(peer, from_addr, "only the permitted peer's datagrams arrive");
        if &buf[..n] != b"open" {
            return buf[..n].to_vec();
        }
    }
}

/// Open file descriptors of this process (nextest runs each test in its own process).
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}
