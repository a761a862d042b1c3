//! Moving datagrams: client → peer (ChannelData and Send indications from the client) and
//! peer → client (each allocation's relay socket, wrapped as ChannelData or a Data indication).
//!
//! This is why tanis no longer uses the `turn` crate's server: there, every datagram from a client
//! was copied twice, went through a tokio `Mutex` on the allocation map and an awaited send, one
//! at a time on one task, and the listener's kernel buffer overflowed under 50 video calls
//! (BENCHMARKS.md, "TURN relay"). Here each wake-up drains every datagram that is ready, and a
//! datagram is forwarded with one non-blocking send under two short uncontended locks.

use std::cell::RefCell;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;

use stun::message::{CLASS_INDICATION, METHOD_DATA, Message, MessageType, Setter};
use turn::proto::data::Data;
use turn::proto::peeraddr::PeerAddress;

use super::Server;
use super::allocation::{Allocation, ClientKey};

/// The largest UDP payload, plus a ChannelData header and padding in front and behind.
pub(super) const BUFFER_LEN: usize = 4 + 65_536 + 4;
/// Datagrams handled per wake-up before yielding to the runtime, so one busy socket cannot starve
/// the others sharing its worker thread.
pub(super) const BATCH: usize = 64;

/// Whether `frame` is a ChannelData message (first two bits 01, RFC 5766 §11.4).
pub(super) fn is_channel_data(frame: &[u8]) -> bool {
    frame.first().is_some_and(|b| b & 0xC0 == 0x40)
}

/// Relays a ChannelData message from a client to the peer bound to its channel. Dropped (and
/// counted) when malformed, unbound, unpermitted or forbidden by the peer policy (a channel to the server
/// itself is never bound: [`super::control`] answers 403).
pub(super) fn channel_data_from_client(server: &Server, key: &ClientKey, frame: &[u8]) {
    if frame.len() < 4 {
        return server.counters.get().dropped(1);
    }
    let number = u16::from_be_bytes([frame[0], frame[1]]);
    let len = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
    let Some(payload) = frame.get(4..4 + len) else {
        return server.counters.get().dropped(1);
    };
    let now = server.auth.now();
    let table = server.table.read();
    let Some(alloc) = table.get(key) else {
        return server.counters.get().dropped(1);
    };
    match alloc.channel_peer(number, now) {
        Some(peer) => send_to_peer(server, alloc, payload, peer),
        None => server.counters.get().dropped(1),
    }
}

/// Relays the DATA of a Send indication (already decoded) to `peer`, if the client may reach it.
pub(super) fn send_indication_from_client(server: &Server, key: &ClientKey, payload: &[u8], peer: SocketAddr) {
    let now = server.auth.now();
    let Some(alloc) = server.table.get(key) else {
        return server.counters.get().dropped(1);
    };
    if alloc.permits(peer.ip(), now) {
        send_to_peer(server, &alloc, payload, peer);
    } else {
        server.counters.get().dropped(1);
    }
}

fn send_to_peer(server: &Server, alloc: &Allocation, payload: &[u8], peer: SocketAddr) {
    if server.refuses(alloc, peer) {
        return;
    }
    // UDP: a full send buffer loses the datagram, as the network would; never wait for room.
    match alloc.relay.try_send_to(payload, peer) {
        Ok(_) => server.counters.get().relayed(1, payload.len() as u64),
        Err(_) => server.counters.get().dropped(1),
    }
}

thread_local! {
    /// The receive buffer of every allocation on this worker thread. A buffer per allocation would cost 64 KiB
    /// each (BUFFER_LEN) — 320 MiB at 5 000 allocations; a task only uses it between two awaits, so one per
    /// thread is enough.
    static PEER_BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0u8; BUFFER_LEN]);
}

/// The allocation's peer → client loop: runs until the allocation is removed (which aborts it).
pub(super) async fn peers_to_client(server: Arc<Server>, alloc: Arc<Allocation>) {
    loop {
        if alloc.relay.readable().await.is_err() {
            return;
        }
        PEER_BUFFER.with_borrow_mut(|buf| relay_ready_datagrams(&server, &alloc, buf));
    }
}

/// Relays what the allocation's relay socket holds now (up to [`BATCH`] datagrams), without waiting.
fn relay_ready_datagrams(server: &Server, alloc: &Allocation, buf: &mut [u8]) {
    let pad = alloc.client.pads_channel_data();
    let now = server.auth.now();
    let (mut packets, mut bytes, mut dropped) = (0u64, 0u64, 0u64);
    for _ in 0..BATCH {
        // Received behind room for the 4-byte ChannelData header, so wrapping copies nothing.
        let (n, peer) = match alloc.relay.try_recv_from(&mut buf[4..BUFFER_LEN - 4]) {
            Ok(got) => got,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            // ICMP errors of earlier sends (port unreachable) surface here: not this socket's end.
            Err(_) => continue,
        };
        if server.refuses(alloc, peer) {
            continue;
        }
        let sent = match alloc.inbound_route(peer, now) {
            None => false,
            Some(Some(channel)) => {
                buf[..2].copy_from_slice(&channel.to_be_bytes());
                buf[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                let mut end = 4 + n;
                if pad {
                    let padded = end.next_multiple_of(4);
                    buf[end..padded].fill(0);
                    end = padded;
                }
                alloc.client.send(&buf[..end])
            }
            Some(None) => data_indication(peer, &buf[4..4 + n]).is_some_and(|m| alloc.client.send(&m)),
        };
        if sent {
            packets += 1;
            bytes += n as u64;
        } else {
            dropped += 1;
        }
    }
    server.counters.get().relayed(packets, bytes);
    server.counters.get().dropped(dropped);
}

/// A Data indication carrying `payload` from `peer` (RFC 5766 §10.3), for a peer without a channel.
fn data_indication(peer: SocketAddr, payload: &[u8]) -> Option<Vec<u8>> {
    let mut msg = Message::new();
    let setters: [Box<dyn Setter>; 4] = [
        Box::new(stun::agent::TransactionId::new()),
        Box::new(MessageType::new(METHOD_DATA, CLASS_INDICATION)),
        Box::new(PeerAddress { ip: peer.ip(), port: peer.port() }),
        Box::new(Data(payload.to_vec())),
    ];
    msg.build(&setters).ok()?;
    Some(msg.raw)
}
