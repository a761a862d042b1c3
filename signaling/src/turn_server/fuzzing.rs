//! A seam for the cargo-fuzz target `turn_server` (fuzz/, docs/fuzzing.md) and the replay of its corpus in the
//! test command: the server's state (allocations, permissions, channels, nonces) without its accept loops, fed one
//! datagram or one stream at a time through the very functions the listeners call ([`super::udp_datagram`],
//! [`super::stream::session`], [`super::reap`]). Nothing else: no listener task, no reaper task. Not for
//! production use; hidden from the documentation.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::AsyncRead;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::{Server, TurnCounters, TurnError, TurnServerConfig, sockets};

/// The server without its accept loops. Create, use and drop it within a tokio runtime: relay sockets register with
/// its reactor, and each allocation's peer → client task is spawned on it (and runs whenever the runtime does).
pub struct Core {
    server: Arc<Server>,
    listener: Arc<UdpSocket>,
}

impl Core {
    /// Binds `config.listen` as the UDP listener (the socket replies to UDP clients leave from) and nothing else:
    /// `tcp_listen` and `tls` are ignored, streams are handed in with [`Core::stream`].
    pub fn new(config: &TurnServerConfig) -> Result<Core, TurnError> {
        if config.secret.is_empty() {
            return Err(TurnError::EmptySecret);
        }
        let bind_err = |source| TurnError::Bind { addr: config.listen, source };
        let udp = sockets::udp(config.listen, sockets::LISTENER_BUFFER_BYTES)
            .and_then(UdpSocket::from_std)
            .map_err(bind_err)?;
        let local = udp.local_addr().map_err(bind_err)?;
        let listeners: Vec<SocketAddr> = std::iter::once(local).chain(config.own_listeners.iter().copied()).collect();
        Ok(Core { server: Arc::new(Server::new(config, &listeners)), listener: Arc::new(udp) })
    }

    /// The UDP listener's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound socket has an address")
    }

    /// One datagram `from` a UDP client, as the UDP listener handles it. Replies go to `from` from the listener.
    pub fn udp(&self, from: SocketAddr, datagram: &[u8]) {
        super::udp_datagram(&self.server, &self.listener, from, datagram);
    }

    /// A TCP (or decrypted TLS) connection from `addr` whose bytes `reader` delivers, as a listener serves it: the
    /// future reads and handles its messages until the reader ends, then frees the connection's allocation; the
    /// receiver gets each frame the server writes to the connection.
    pub fn stream<R: AsyncRead + Unpin>(
        &self,
        addr: SocketAddr,
        reader: R,
    ) -> (impl Future<Output = ()> + use<R>, mpsc::Receiver<Vec<u8>>) {
        super::stream::session(Arc::clone(&self.server), addr, reader)
    }

    /// One tick of the reaper: frees the allocations whose lifetime has run out on the clock.
    pub fn reap(&self) {
        super::reap(&self.server);
    }

    /// Allocations alive now.
    pub fn allocations(&self) -> usize {
        self.server.table.len()
    }

    pub fn counters(&self) -> TurnCounters {
        self.server.counters.clone()
    }
}

impl Drop for Core {
    /// Frees every allocation (stopping its task), as dropping an [`super::EmbeddedTurn`] does.
    fn drop(&mut self) {
        let freed = self.server.table.remove_where(|_| true);
        self.server.counters.get().freed(freed as u64);
    }
}
