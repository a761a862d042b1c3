//! Allocations (RFC 5766 §5): a relay socket per client, the peers it may talk to, its channels.
//!
//! The table is read on every datagram from a client and written only by control requests, so it
//! is a `RwLock` around a map, and each allocation's mutable state has its own small `Mutex`.
//! Neither is ever held across an `.await`: the data path is synchronous between two waits for
//! readiness (see [`super::relay`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, RwLock};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// RFC 5766 §8 and §11: permissions last 5 minutes, channel bindings 10, unless refreshed.
pub(super) const PERMISSION_LIFETIME_SECS: i64 = 300;
pub(super) const CHANNEL_LIFETIME_SECS: i64 = 600;
/// Bounds on what one allocation may hold: a relay-only WebRTC call needs a handful of each.
pub(super) const MAX_PERMISSIONS: usize = 64;
pub(super) const MAX_CHANNELS: usize = 64;

/// The client side of an allocation's 5-tuple. Over UDP the client's address is the key; a TCP or
/// TLS connection is its own 5-tuple, named by a number for the connection's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum ClientKey {
    Udp(SocketAddr),
    Stream(u64),
}

/// How the relay reaches a client: a datagram from the listening UDP socket, or a frame queued
/// to a TCP/TLS connection's writer.
#[derive(Clone)]
pub(super) enum ClientLink {
    Udp { socket: Arc<UdpSocket>, addr: SocketAddr },
    Stream { id: u64, addr: SocketAddr, tx: mpsc::Sender<Vec<u8>> },
}

impl ClientLink {
    pub(super) fn key(&self) -> ClientKey {
        match self {
            ClientLink::Udp { addr, .. } => ClientKey::Udp(*addr),
            ClientLink::Stream { id, .. } => ClientKey::Stream(*id),
        }
    }

    /// The client's address as this server sees it (XOR-MAPPED-ADDRESS; never sent to a peer).
    pub(super) fn addr(&self) -> SocketAddr {
        match self {
            ClientLink::Udp { addr, .. } | ClientLink::Stream { addr, .. } => *addr,
        }
    }

    /// Stream transports carry ChannelData padded to a multiple of four bytes (RFC 5766 §11.5).
    pub(super) fn pads_channel_data(&self) -> bool {
        matches!(self, ClientLink::Stream { .. })
    }

    /// Sends one whole message without waiting. `false` means it was dropped: the UDP socket's
    /// send buffer is full or the connection's queue is (a slow TCP client loses datagrams, as it
    /// would over UDP, rather than holding up the relay), or the connection is gone.
    pub(super) fn send(&self, frame: &[u8]) -> bool {
        match self {
            ClientLink::Udp { socket, addr } => socket.try_send_to(frame, *addr).is_ok(),
            ClientLink::Stream { tx, .. } => tx.try_send(frame.to_vec()).is_ok(),
        }
    }
}

/// One allocation. Its relay socket is read by its own task (peer → client); the listener that
/// received a client's datagram writes to it directly (client → peer).
pub(super) struct Allocation {
    pub(super) client: ClientLink,
    pub(super) relay: Arc<UdpSocket>,
    /// The address peers see: the configured public IP and the relay socket's port.
    pub(super) relay_addr: SocketAddr,
    /// Later requests on this allocation must carry the same username (RFC 5766 §4, 441).
    pub(super) username: String,
    state: Mutex<Grants>,
    reader: Mutex<Option<JoinHandle<()>>>,
    /// The Allocate that created it (transaction id) and the response sent, for retransmissions.
    created_by: Mutex<Option<([u8; 12], Vec<u8>)>>,
}

/// What the client has been granted, each with its expiry (Unix seconds on the injected clock).
#[derive(Default)]
struct Grants {
    expires_at: i64,
    permissions: HashMap<IpAddr, i64>,
    channels: HashMap<u16, (SocketAddr, i64)>,
    channel_of_peer: HashMap<SocketAddr, u16>,
}

/// Why a ChannelBind was refused (both are 400 Bad Request on the wire).
pub(super) enum BindRefusal {
    /// The number is bound to another peer, or the peer to another number.
    Conflict,
    /// [`MAX_CHANNELS`] or [`MAX_PERMISSIONS`] reached.
    Full,
}

impl Allocation {
    pub(super) fn new(
        client: ClientLink,
        relay: Arc<UdpSocket>,
        relay_addr: SocketAddr,
        username: String,
        expires_at: i64,
    ) -> Self {
        let state = Mutex::new(Grants { expires_at, ..Grants::default() });
        Allocation {
            client,
            relay,
            relay_addr,
            username,
            state,
            reader: Mutex::new(None),
            created_by: Mutex::new(None),
        }
    }

    fn grants(&self) -> std::sync::MutexGuard<'_, Grants> {
        // A panic while holding this lock leaves plain maps behind, still consistent enough to use.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn set_reader(&self, task: JoinHandle<()>) {
        *self.reader.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Stops the peer → client task, which drops the last handle on the relay socket.
    pub(super) fn stop(&self) {
        if let Some(task) = self.reader.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }

    pub(super) fn remember_response(&self, transaction: [u8; 12], response: Vec<u8>) {
        *self.created_by.lock().unwrap_or_else(|e| e.into_inner()) = Some((transaction, response));
    }

    /// The response to the Allocate with this transaction id, if it is the one that created this allocation.
    pub(super) fn response_to(&self, transaction: &[u8; 12]) -> Option<Vec<u8>> {
        let created = self.created_by.lock().unwrap_or_else(|e| e.into_inner());
        created.as_ref().filter(|(t, _)| t == transaction).map(|(_, r)| r.clone())
    }

    pub(super) fn refresh(&self, expires_at: i64) {
        self.grants().expires_at = expires_at;
    }

    pub(super) fn expired(&self, now: i64) -> bool {
        self.grants().expires_at <= now
    }

    /// Installs or refreshes permissions for `peers` (all or none). `false`: over [`MAX_PERMISSIONS`].
    pub(super) fn permit(&self, peers: &[IpAddr], now: i64) -> bool {
        let mut g = self.grants();
        g.permissions.retain(|_, exp| *exp > now);
        let new = peers.iter().filter(|ip| !g.permissions.contains_key(ip)).count();
        if g.permissions.len() + new > MAX_PERMISSIONS {
            return false;
        }
        for ip in peers {
            g.permissions.insert(*ip, now + PERMISSION_LIFETIME_SECS);
        }
        true
    }

    /// Binds (or refreshes) `number` to `peer`, which also installs or refreshes its permission.
    pub(super) fn bind_channel(&self, number: u16, peer: SocketAddr, now: i64) -> Result<(), BindRefusal> {
        let mut g = self.grants();
        g.channels.retain(|_, (_, exp)| *exp > now);
        let live: HashMap<SocketAddr, u16> = g.channels.iter().map(|(n, (p, _))| (*p, *n)).collect();
        g.channel_of_peer = live;
        match (g.channels.get(&number), g.channel_of_peer.get(&peer)) {
            (Some((bound, _)), _) if *bound != peer => return Err(BindRefusal::Conflict),
            (_, Some(n)) if *n != number => return Err(BindRefusal::Conflict),
            (None, _) if g.channels.len() >= MAX_CHANNELS => return Err(BindRefusal::Full),
            _ => {}
        }
        g.permissions.retain(|_, exp| *exp > now);
        if !g.permissions.contains_key(&peer.ip()) && g.permissions.len() >= MAX_PERMISSIONS {
            return Err(BindRefusal::Full);
        }
        g.channels.insert(number, (peer, now + CHANNEL_LIFETIME_SECS));
        g.channel_of_peer.insert(peer, number);
        g.permissions.insert(peer.ip(), now + PERMISSION_LIFETIME_SECS);
        Ok(())
    }

    /// The peer bound to `number`, if the binding and the peer's permission are both alive.
    pub(super) fn channel_peer(&self, number: u16, now: i64) -> Option<SocketAddr> {
        let g = self.grants();
        let (peer, exp) = *g.channels.get(&number)?;
        (exp > now && g.permissions.get(&peer.ip()).is_some_and(|p| *p > now)).then_some(peer)
    }

    pub(super) fn permits(&self, peer: IpAddr, now: i64) -> bool {
        self.grants().permissions.get(&peer).is_some_and(|exp| *exp > now)
    }

    /// For a datagram from `peer`: `None` when it has no live permission (dropped), else the
    /// channel to wrap it in, if one is bound (otherwise it goes as a Data indication).
    pub(super) fn inbound_route(&self, peer: SocketAddr, now: i64) -> Option<Option<u16>> {
        let g = self.grants();
        if g.permissions.get(&peer.ip()).is_none_or(|exp| *exp <= now) {
            return None;
        }
        let channel = g.channel_of_peer.get(&peer).filter(|n| g.channels.get(n).is_some_and(|(_, exp)| *exp > now));
        Some(channel.copied())
    }
}

/// Every allocation of the server, by the client's 5-tuple.
#[derive(Default)]
pub(super) struct Table(RwLock<HashMap<ClientKey, Arc<Allocation>>>);

impl Table {
    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<ClientKey, Arc<Allocation>>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<ClientKey, Arc<Allocation>>> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn get(&self, key: &ClientKey) -> Option<Arc<Allocation>> {
        self.read().get(key).cloned()
    }

    pub(super) fn len(&self) -> usize {
        self.read().len()
    }

    /// Adds `alloc` unless its 5-tuple already has one (then `false`, and nothing changes).
    pub(super) fn insert(&self, alloc: Arc<Allocation>) -> bool {
        let mut t = self.write();
        let key = alloc.client.key();
        if t.contains_key(&key) {
            return false;
        }
        t.insert(key, alloc);
        true
    }

    pub(super) fn remove(&self, key: &ClientKey) -> Option<Arc<Allocation>> {
        let alloc = self.write().remove(key)?;
        alloc.stop();
        Some(alloc)
    }

    /// Removes and stops every allocation that `expired` selects; returns how many.
    pub(super) fn remove_where(&self, expired: impl Fn(&Allocation) -> bool) -> usize {
        let gone: Vec<Arc<Allocation>> = {
            let mut t = self.write();
            let keys: Vec<ClientKey> = t.iter().filter(|(_, a)| expired(a)).map(|(k, _)| *k).collect();
            keys.iter().filter_map(|k| t.remove(k)).collect()
        };
        gone.iter().for_each(|a| a.stop());
        gone.len()
    }
}
