//! The relay's UDP sockets: kernel buffers sized for bursts, relay ports, EVEN-PORT reservations.
//!
//! Linux gives a UDP socket about 208 KiB of receive buffer by default: ~100 datagrams of a video
//! call. 50 calls sending every millisecond fill that within a scheduling hiccup of two
//! milliseconds, and the kernel drops the rest (`RcvbufErrors` in /proc/net/snmp). coturn raises
//! its buffers; so do we. The kernel caps what a process may ask for at `net.core.rmem_max` /
//! `wmem_max` (docs/operations.md says how to raise them).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// Buffers asked for on the listening socket, which every client's datagrams share.
pub(super) const LISTENER_BUFFER_BYTES: usize = 8 << 20;
/// Buffers asked for on each relay socket (one call's peer). The kernel charges only what is
/// queued, so a large cap costs nothing while the relay keeps up.
pub(super) const RELAY_BUFFER_BYTES: usize = 1 << 20;
/// How long the odd port of an EVEN-PORT allocation with R=1 stays reserved (RFC 5766 §14.9 says
/// "about 30 seconds").
const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);

/// Binds a non-blocking UDP socket with the given buffer sizes (what the kernel grants, at most).
pub(super) fn udp(addr: SocketAddr, buffer_bytes: usize) -> io::Result<std::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer than asked still works, it only drops sooner under bursts.
    let _ = socket.set_recv_buffer_size(buffer_bytes);
    let _ = socket.set_send_buffer_size(buffer_bytes);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}

/// Creates relay sockets on the relay's bind address, and holds reserved odd ports.
pub(super) struct RelaySockets {
    bind_ip: IpAddr,
    /// The ports relay sockets may take (a firewall opens just these), or `None` for the kernel's ephemeral ones.
    ports: Option<RangeInclusive<u16>>,
    reserved: Mutex<HashMap<[u8; 8], (std::net::UdpSocket, Instant)>>,
}

/// Random ports tried in the configured range before an allocation is refused as over capacity.
const PORT_TRIES: usize = 64;

impl RelaySockets {
    pub(super) fn new(bind_ip: IpAddr, ports: Option<RangeInclusive<u16>>) -> Self {
        RelaySockets { bind_ip, ports, reserved: Mutex::new(HashMap::new()) }
    }

    fn bind_std(&self, port: u16) -> io::Result<std::net::UdpSocket> {
        udp(SocketAddr::new(self.bind_ip, port), RELAY_BUFFER_BYTES)
    }

    /// Binds a free port: the kernel's pick, or random tries in the configured range (even ones only when asked).
    fn bind_free(&self, even: bool) -> io::Result<std::net::UdpSocket> {
        let Some(range) = &self.ports else { return self.bind_std(0) };
        let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free relay port in video.turn_relay_ports");
        for _ in 0..PORT_TRIES {
            let port = rand::random_range(range.clone());
            if even && (port % 2 != 0 || port == *range.end()) {
                continue;
            }
            match self.bind_std(port) {
                Ok(socket) => return Ok(socket),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// A relay socket on any free port. Needs a tokio runtime (it registers with the reactor).
    pub(super) fn bind_any(&self) -> io::Result<UdpSocket> {
        UdpSocket::from_std(self.bind_free(false)?)
    }

    /// A relay socket on an even port; with `reserve_next`, the next (odd) port is bound too and
    /// kept under the returned token for a later Allocate with RESERVATION-TOKEN.
    pub(super) fn bind_even(&self, reserve_next: bool) -> io::Result<(UdpSocket, Option<[u8; 8]>)> {
        // The kernel picks ports at random: about half the tries land on an even port.
        for _ in 0..32 {
            let socket = self.bind_free(true)?;
            let port = socket.local_addr()?.port();
            if port % 2 != 0 || port == u16::MAX {
                continue;
            }
            if !reserve_next {
                return Ok((UdpSocket::from_std(socket)?, None));
            }
            let Ok(next) = self.bind_std(port + 1) else { continue };
            let token: [u8; 8] = rand::random();
            let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
            reserved.retain(|_, (_, at)| at.elapsed() < RESERVATION_LIFETIME);
            reserved.insert(token, (next, Instant::now()));
            return Ok((UdpSocket::from_std(socket)?, Some(token)));
        }
        Err(io::Error::new(io::ErrorKind::AddrNotAvailable, "no even relay port found"))
    }

    /// The socket reserved under `token` (RFC 5766 §6.2); an unknown or expired token is refused.
    pub(super) fn take_reserved(&self, token: &[u8]) -> io::Result<(UdpSocket, Option<[u8; 8]>)> {
        let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        reserved.retain(|_, (_, at)| at.elapsed() < RESERVATION_LIFETIME);
        let key: [u8; 8] = token.try_into().map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let (socket, _) = reserved.remove(&key).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        Ok((UdpSocket::from_std(socket)?, None))
    }
}
