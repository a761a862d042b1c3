//! The embedded TURN server (UDP), built on webrtc-rs `turn` 0.17.
//!
//! Relay-only media means every call goes through a TURN server, so tanis can run one in-process
//! instead of requiring a separate coturn. Authentication is the TURN REST scheme from
//! [`crate::credentials`], so the same credentials also work against an external coturn
//! configured with `use-auth-secret` and the same secret.

mod peer_filter;
mod stats;

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use turn::auth::{AuthHandler, generate_auth_key};
use turn::relay::RelayAddressGenerator;
use turn::relay::relay_static::RelayAddressGeneratorStatic;
use turn::server::Server;
use turn::server::config::{ConnConfig, ServerConfig};
use webrtc_util::vnet::net::Net;

pub use peer_filter::is_forbidden_peer;
pub use stats::{TurnCounters, TurnStats};
use peer_filter::{FilteringRelayGenerator, RefusedCounter};

use crate::credentials;

/// Unix time in seconds. Injected so tests can move time and expire credentials.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// A clock reading the system time, for production.
pub fn system_clock() -> Clock {
    Arc::new(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
}

pub struct TurnServerConfig {
    /// UDP address to listen on (port 0 picks a free port; see [`EmbeddedTurn::local_addr`]).
    /// Relay sockets are bound on the same IP, on ephemeral ports.
    pub listen: SocketAddr,
    /// The address advertised in relay candidates: the server's public IP (127.0.0.1 in tests).
    pub relay_ip: IpAddr,
    pub realm: String,
    /// Shared secret for [`credentials::issue`]; must not be empty.
    pub secret: Vec<u8>,
    /// Refuse relaying to/from non-global addresses ([`is_forbidden_peer`]). Must be `true` in
    /// production; `false` only for tests where every peer is on loopback.
    pub refuse_private_peers: bool,
    pub clock: Clock,
}

impl fmt::Debug for TurnServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TurnServerConfig")
            .field("listen", &self.listen)
            .field("relay_ip", &self.relay_ip)
            .field("realm", &self.realm)
            .field("secret", &"<redacted>")
            .field("refuse_private_peers", &self.refuse_private_peers)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TurnError {
    #[error("TURN secret must not be empty")]
    EmptySecret,
    #[error("cannot bind TURN listener on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("TURN server: {0}")]
    Turn(#[from] turn::Error),
}

/// A running TURN server. Call [`EmbeddedTurn::close`] to stop it; dropping it without closing
/// schedules the shutdown on the current tokio runtime, if any.
pub struct EmbeddedTurn {
    server: Option<Server>,
    local_addr: SocketAddr,
    refused: RefusedCounter,
    counters: TurnCounters,
}

impl EmbeddedTurn {
    pub async fn start(config: TurnServerConfig) -> Result<EmbeddedTurn, TurnError> {
        if config.secret.is_empty() {
            return Err(TurnError::EmptySecret);
        }
        let bind_err = |source| TurnError::Bind { addr: config.listen, source };
        let socket = UdpSocket::bind(config.listen).await.map_err(bind_err)?;
        let local_addr = socket.local_addr().map_err(bind_err)?;

        let relay = RelayAddressGeneratorStatic {
            relay_address: config.relay_ip,
            // turn formats this as "{address}:{port}", so IPv6 needs brackets.
            address: match config.listen.ip() {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            },
            net: Arc::new(Net::new(None)),
        };
        let refused: RefusedCounter = Arc::new(watch::Sender::new(0));
        let relay_addr_generator: Box<dyn RelayAddressGenerator + Send + Sync> = if config.refuse_private_peers {
            Box::new(FilteringRelayGenerator { inner: relay, refused: Arc::clone(&refused) })
        } else {
            Box::new(relay)
        };
        let auth = RestAuthHandler { secret: config.secret, realm: config.realm.clone(), clock: config.clock };
        let server = Server::new(ServerConfig {
            conn_configs: vec![ConnConfig { conn: Arc::new(socket), relay_addr_generator }],
            realm: config.realm,
            auth_handler: Arc::new(auth),
            // Zero selects turn's default (10 minutes).
            channel_bind_timeout: Duration::ZERO,
            alloc_close_notify: None,
        })
        .await?;
        tracing::info!(%local_addr, relay_ip = %config.relay_ip, refuse_private_peers = config.refuse_private_peers, "TURN server listening");
        Ok(EmbeddedTurn { server: Some(server), local_addr, refused, counters: TurnCounters::default() })
    }

    /// The bound UDP address (with the real port when `listen` used port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The relay's counters (allocations, packets, bytes, drops), readable after the server stops.
    pub fn counters(&self) -> TurnCounters {
        self.counters.clone()
    }

    /// How many datagrams the peer-address policy has dropped so far (both directions).
    pub fn refused_peer_datagrams(&self) -> u64 {
        *self.refused.borrow()
    }

    /// Watches [`Self::refused_peer_datagrams`], to await a refusal instead of polling.
    pub fn watch_refused_peer_datagrams(&self) -> watch::Receiver<u64> {
        self.refused.subscribe()
    }

    /// Stops the listener and closes every allocation.
    pub async fn close(mut self) {
        if let Some(server) = self.server.take() {
            close_server(server).await;
        }
    }
}

async fn close_server(server: Server) {
    if let Err(err) = server.close().await {
        tracing::warn!(%err, "error closing TURN server");
    }
}

impl Drop for EmbeddedTurn {
    fn drop(&mut self) {
        // turn's tasks outlive `Server`, so an unclosed server would keep its sockets forever.
        if let Some(server) = self.server.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(close_server(server));
        }
    }
}

/// Verifies TURN REST credentials: the password is recomputed from the username, which must
/// carry an unexpired expiry according to the injected clock.
struct RestAuthHandler {
    secret: Vec<u8>,
    realm: String,
    clock: Clock,
}

impl AuthHandler for RestAuthHandler {
    fn auth_handle(&self, username: &str, _realm: &str, src_addr: SocketAddr) -> Result<Vec<u8>, turn::Error> {
        match credentials::password_for(&self.secret, username, (self.clock)()) {
            // Keyed on our realm, not the client's: a client echoing another realm simply fails
            // the MESSAGE-INTEGRITY check.
            Some(password) => Ok(generate_auth_key(username, &self.realm, &password)),
            None => {
                // The username is an expiry plus an opaque ref (see credentials::issue), so it is
                // safe to log; the password never reaches this point.
                tracing::info!(%src_addr, username, "TURN request refused: malformed or expired credentials");
                Err(turn::Error::ErrNoSuchUser)
            }
        }
    }
}
