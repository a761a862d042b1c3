//! The embedded TURN server: UDP, TCP and TLS listeners, TURN REST credentials, relay-only.
//!
//! Relay-only media means every call goes through a TURN server, so tanis runs one in-process
//! instead of requiring a separate coturn. Authentication is the TURN REST scheme from
//! [`crate::credentials`], so the same credentials also work against an external coturn
//! configured with `use-auth-secret` and the same secret.
//!
//! The message codec and MESSAGE-INTEGRITY come from webrtc-rs's `stun` crate and the TURN
//! attributes from its `turn` crate; the server itself — allocations, the data path, the
//! listeners — is ours, because `turn`'s server lost 6 % of a video load that coturn relays
//! without loss (BENCHMARKS.md, "TURN relay", and [`data_path`]). Layout:
//!
//! - [`auth`]: long-term credentials over TURN REST usernames, stateless nonces.
//! - [`control`]: Binding, Allocate, Refresh, CreatePermission, ChannelBind, Send.
//! - [`allocation`]: the allocation table, permissions and channels with their lifetimes.
//! - [`data_path`]: datagrams client → peer and peer → client.
//! - [`stream`]: TURN over TCP and TLS.
//! - [`sockets`]: socket buffers and relay ports. [`peer_filter`]: addresses never relayed to (internal ones,
//!   and the server's own listeners).

mod allocation;
mod auth;
mod control;
mod data_path;
#[doc(hidden)]
pub mod fuzzing;
mod peer_filter;
mod sockets;
mod stats;
mod stream;

use std::fmt;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use peer_filter::{OwnAddresses, is_forbidden_peer};
pub use stats::{TurnCounters, TurnStats};

use allocation::{Allocation, ClientKey, ClientLink, Table};
use auth::Auth;
use sockets::RelaySockets;

/// Unix time in seconds. Injected so tests can move time and expire credentials and allocations.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A clock reading the system time, for production.
pub fn system_clock() -> Clock {
    Arc::new(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
}

pub struct TurnServerConfig {
    /// UDP address to listen on (port 0 picks a free port; see [`EmbeddedTurn::local_addr`]).
    /// Relay sockets are bound on the same IP, on ephemeral ports.
    pub listen: SocketAddr,
    /// TURN over TCP (`turn:…?transport=tcp`), for clients whose network passes no UDP.
    pub tcp_listen: Option<SocketAddr>,
    /// TURN over TLS (`turns:`), usually on 443 where only HTTPS gets through.
    pub tls: Option<TurnTls>,
    /// The address advertised in relay candidates: the server's public IP (127.0.0.1 in tests).
    pub relay_ip: IpAddr,
    /// The UDP ports relay sockets take, as coturn's min-port/max-port (a firewall opens just these); `None`:
    /// the kernel's ephemeral ports.
    pub relay_ports: Option<std::ops::RangeInclusive<u16>>,
    pub realm: String,
    /// Shared secret for [`crate::credentials::issue`]; must not be empty.
    pub secret: Vec<u8>,
    /// Refuse relaying to/from non-global addresses ([`is_forbidden_peer`]). Must be `true` in
    /// production; `false` only for tests where every peer is on loopback.
    pub refuse_private_peers: bool,
    /// The process's other listening sockets (the HTTP/WebSocket listener): never a peer, whatever
    /// `refuse_private_peers` says, and neither are TURN's own listeners nor an allocation's own relay address
    /// ([`OwnAddresses`]).
    pub own_listeners: Vec<SocketAddr>,
    /// Allocations (and TCP/TLS connections) held at once; each allocation holds a socket.
    pub max_allocations: usize,
    pub clock: Clock,
}

/// A TLS listener's address and its certificate, as PEM (chain first, then the private key).
pub struct TurnTls {
    pub listen: SocketAddr,
    pub certificate_chain_pem: Vec<u8>,
    pub private_key_pem: Vec<u8>,
}

impl fmt::Debug for TurnServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnServerConfig")
            .field("listen", &self.listen)
            .field("tcp_listen", &self.tcp_listen)
            .field("tls_listen", &self.tls.as_ref().map(|t| t.listen))
            .field("relay_ip", &self.relay_ip)
            .field("relay_ports", &self.relay_ports)
            .field("realm", &self.realm)
            .field("secret", &"<redacted>")
            .field("refuse_private_peers", &self.refuse_private_peers)
            .field("own_listeners", &self.own_listeners)
            .field("max_allocations", &self.max_allocations)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("TURN secret must not be empty")]
    EmptySecret,
    #[error("cannot bind TURN listener on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("TURN TLS certificate or key: {0}")]
    Tls(String),
}

/// What every listener and allocation task shares.
struct Server {
    auth: Auth,
    table: Table,
    sockets: RelaySockets,
    counters: TurnCounters,
    /// Datagrams refused by the peer policy; a `watch` so tests can await a refusal.
    refused: watch::Sender<u64>,
    relay_ip: IpAddr,
    refuse_private_peers: bool,
    /// The server's own listening sockets, never a peer.
    own: OwnAddresses,
    max_allocations: usize,
}

impl Server {
    /// The shared state for `config`, whose listeners (and `own_listeners`) are `listeners`.
    fn new(config: &TurnServerConfig, listeners: &[SocketAddr]) -> Server {
        Server {
            auth: Auth::new(config.secret.clone(), config.realm.clone(), Arc::clone(&config.clock)),
            table: Table::default(),
            sockets: RelaySockets::new(config.listen.ip(), config.relay_ports.clone()),
            counters: TurnCounters::default(),
            refused: watch::Sender::new(0),
            relay_ip: config.relay_ip,
            refuse_private_peers: config.refuse_private_peers,
            own: OwnAddresses::new(listeners, config.relay_ip),
            max_allocations: config.max_allocations,
        }
    }

    /// Whether `peer` is the server itself for `alloc`: one of its listening sockets, or the allocation's own
    /// relay socket (a loop). Refused openly: 403 to a permission or a channel for it.
    fn is_itself(&self, alloc: &Allocation, peer: SocketAddr) -> bool {
        self.own.contains(peer) || (peer.port() == alloc.relay_addr.port() && self.own.is_host(peer.ip()))
    }

    /// Whether the peer policy refuses relaying between `alloc` and `peer` (and counts it).
    fn refuses(&self, alloc: &Allocation, peer: SocketAddr) -> bool {
        let private = self.refuse_private_peers && is_forbidden_peer(peer.ip());
        if !private && !self.is_itself(alloc, peer) {
            return false;
        }
        self.refused.send_modify(|n| *n += 1);
        self.counters.get().dropped(1);
        tracing::debug!(%peer, "TURN relay refused a forbidden peer address");
        true
    }

    fn remove(&self, key: &ClientKey) {
        if self.table.remove(key).is_some() {
            self.counters.get().freed(1);
        }
    }
}

/// A running TURN server. Call [`EmbeddedTurn::close`] to stop it; dropping it stops every
/// listener and frees every allocation too.
pub struct EmbeddedTurn {
    server: Arc<Server>,
    tasks: Vec<JoinHandle<()>>,
    local_addr: SocketAddr,
    tcp_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
}

impl EmbeddedTurn {
    pub async fn start(config: TurnServerConfig) -> Result<EmbeddedTurn, TurnError> {
        if config.secret.is_empty() {
            return Err(TurnError::EmptySecret);
        }
        let tls = config.tls.as_ref().map(tls_acceptor).transpose()?;
        let bind_err = |addr| move |source| TurnError::Bind { addr, source };
        let udp = sockets::udp(config.listen, sockets::LISTENER_BUFFER_BYTES)
            .and_then(UdpSocket::from_std)
            .map_err(bind_err(config.listen))?;
        let local_addr = udp.local_addr().map_err(bind_err(config.listen))?;
        let tcp = match config.tcp_listen {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(bind_err(addr))?),
            None => None,
        };
        let tls_listener = match &config.tls {
            Some(t) => Some(TcpListener::bind(t.listen).await.map_err(bind_err(t.listen))?),
            None => None,
        };
        let tcp_addr = tcp.as_ref().and_then(|l| l.local_addr().ok());
        let tls_addr = tls_listener.as_ref().and_then(|l| l.local_addr().ok());
        let listeners: Vec<SocketAddr> = [Some(local_addr), tcp_addr, tls_addr]
            .into_iter()
            .flatten()
            .chain(config.own_listeners.iter().copied())
            .collect();

        let server = Arc::new(Server::new(&config, &listeners));
        let streams = Arc::new(Semaphore::new(config.max_allocations));
        let mut tasks = vec![
            tokio::spawn(serve_udp(Arc::clone(&server), Arc::new(udp))),
            tokio::spawn(reap_expired(Arc::clone(&server))),
        ];
        if let Some(listener) = tcp {
            tasks.push(tokio::spawn(stream::accept(Arc::clone(&server), listener, None, Arc::clone(&streams))));
        }
        if let (Some(listener), Some(acceptor)) = (tls_listener, tls) {
            tasks.push(tokio::spawn(stream::accept(Arc::clone(&server), listener, Some(acceptor), streams)));
        }
        tracing::info!(%local_addr, ?tcp_addr, ?tls_addr, relay_ip = %config.relay_ip,
            refuse_private_peers = config.refuse_private_peers, own_listeners = ?config.own_listeners,
            "TURN server listening");
        Ok(EmbeddedTurn { server, tasks, local_addr, tcp_addr, tls_addr })
    }

    /// The bound UDP address (with the real port when `listen` used port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The bound TCP address, when TURN over TCP is on.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The bound TLS address, when TURN over TLS is on.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// The relay's counters (allocations, packets, bytes, drops), readable after the server stops.
    pub fn counters(&self) -> TurnCounters {
        self.server.counters.clone()
    }

    /// How many datagrams the peer-address policy has dropped so far (both directions).
    pub fn refused_peer_datagrams(&self) -> u64 {
        *self.server.refused.borrow()
    }

    /// Watches [`Self::refused_peer_datagrams`], to await a refusal instead of polling.
    pub fn watch_refused_peer_datagrams(&self) -> watch::Receiver<u64> {
        self.server.refused.subscribe()
    }

    /// Stops the listeners and frees every allocation (closing its relay socket).
    pub async fn close(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        let freed = self.server.table.remove_where(|_| true);
        self.server.counters.get().freed(freed as u64);
    }
}

impl Drop for EmbeddedTurn {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Reads the UDP listener until aborted: every datagram ready at a wake-up is handled before the
/// next wait, ChannelData on the fast path and everything else as a STUN message.
async fn serve_udp(server: Arc<Server>, socket: Arc<UdpSocket>) {
    let mut buf = vec![0u8; data_path::BUFFER_LEN];
    loop {
        if let Err(e) = socket.readable().await {
            tracing::error!(error = %e, "TURN UDP listener failed");
            return;
        }
        for _ in 0..data_path::BATCH {
            let (n, from) = match socket.try_recv_from(&mut buf) {
                Ok(got) => got,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // ICMP errors of earlier sends to a client: not the listener's end.
                Err(_) => continue,
            };
            udp_datagram(&server, &socket, from, &buf[..n]);
        }
        // Let the allocations' tasks on this worker run between batches.
        tokio::task::yield_now().await;
    }
}

/// One datagram `from` a client on the UDP listener `socket`: ChannelData on the fast path, anything else as a
/// STUN message.
fn udp_datagram(server: &Arc<Server>, socket: &Arc<UdpSocket>, from: SocketAddr, frame: &[u8]) {
    if data_path::is_channel_data(frame) {
        data_path::channel_data_from_client(server, &ClientKey::Udp(from), frame);
    } else {
        let link = ClientLink::Udp { socket: Arc::clone(socket), addr: from };
        control::handle(server, &link, frame);
    }
}

/// Frees allocations whose lifetime ran out (on the injected clock), once a second.
async fn reap_expired(server: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        reap(&server);
    }
}

/// Frees the allocations whose lifetime has run out now.
fn reap(server: &Server) {
    let now = server.auth.now();
    let freed = server.table.remove_where(|a| a.expired(now));
    server.counters.get().freed(freed as u64);
}

fn tls_acceptor(tls: &TurnTls) -> Result<TlsAcceptor, TurnError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(&tls.certificate_chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TurnError::Tls(format!("certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(TurnError::Tls("no certificate in the chain".into()));
    }
    let key =
        PrivateKeyDer::from_pem_slice(&tls.private_key_pem).map_err(|e| TurnError::Tls(format!("private key: {e}")))?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TurnError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TurnError::Tls(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
