//! What must hold for any sequence of datagrams, stream chunks and peer datagrams the embedded TURN server gets:
//! its real handling code (`tanis_signaling::turn_server::fuzzing::Core`: the functions its UDP listener, its
//! TCP/TLS connections and its reaper call), with its state carried from one event to the next.
//!
//! The input is a configuration byte, then events, each an opcode byte and its operands:
//!
//! | op & 7 | event |
//! |---|---|
//! | 0, 5, 6, 7 | raw bytes (`u16` LE length, then the bytes) from client `op >> 3 & 7`: clients 0–3 are UDP (one datagram), 4–7 TCP connections (one chunk of the stream, reassembled by the server's own framing) |
//! | 1 | TCP connection `op >> 3 & 3` closes (the next chunk opens a new one) |
//! | 2 | an authenticated request from client `op >> 3 & 7`, built and signed here (below), so coverage gets past MESSAGE-INTEGRITY |
//! | 3 | peer `op >> 3 & 1` sends a datagram (`u16` LE length, bytes) to the relay address of the `op >> 4 & 3`-th allocation seen |
//! | 4 | the clock moves by the next byte × 10 s, and the reaper runs |
//!
//! A signed request is `method`, `flags`, `param`, then `n` and `n` bytes of raw attributes (each a `u16` type,
//! a `u8` length, the value), added before the ones `flags` asks for: bit 0 REQUESTED-TRANSPORT (UDP), bit 1
//! XOR-PEER-ADDRESS of peer `flags >> 2 & 1`, bit 3 CHANNEL-NUMBER `0x4000 + param`, bit 4 LIFETIME `param × 30`,
//! bit 5 DATA, bit 6 FINGERPRINT, bit 7 XOR-PEER-ADDRESS of the first relay address seen (relay to relay).
//! `method % 6`: Allocate, Refresh, CreatePermission, ChannelBind, a Send indication (unsigned, as clients send
//! it), Binding; `method >> 3` 30 signs with an expired username, 31 with a wrong password. The nonce is the one
//! the server last gave (a bare Allocate fetches one first).
//!
//! The configuration byte: bit 0 `refuse_private_peers` (production's setting; every peer here is on loopback,
//! so nothing may then be relayed at all), bits 1–2 `max_allocations` − 1.
//!
//! Every socket is bound on 127.0.0.1: Linux refuses to send from there to any address off the host (EINVAL), so
//! whatever peer address an input names, no datagram leaves the machine.
//!
//! What must hold, after every event:
//!
//! - no panic;
//! - the allocations alive never exceed `max_allocations`, and the counters agree with the table;
//! - everything the server sends a client is a STUN message or a ChannelData message (padded to four bytes on a
//!   stream); a response answers a transaction the client sent; a success to Allocate, Refresh, CreatePermission
//!   or ChannelBind carries a MESSAGE-INTEGRITY that checks under the client's own long-term key (nothing is
//!   granted without credentials);
//! - data goes only where it was permitted: a peer receives a datagram only from a relay address whose allocation
//!   was granted a permission for the peer's address that has not expired; a client gets a Data indication only
//!   from a permitted peer and ChannelData only on a channel it bound; with `refuse_private_peers` nothing is
//!   relayed either way.
//!
//! Shared by the fuzz target (`fuzz_targets/turn_server.rs`) and the replay of the committed corpus in the test
//! command (`signaling/tests/fuzz_corpus.rs`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use stun::agent::TransactionId;
use stun::attributes::*;
use stun::integrity::MessageIntegrity;
use stun::message::*;
use tanis_signaling::credentials::issue;
use tanis_signaling::turn_server::TurnServerConfig;
use tanis_signaling::turn_server::fuzzing::Core;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

const SECRET: &[u8] = b"fuzz-secret";
const REALM: &str = "tanis.fuzz";
const T0: i64 = 1_700_000_000;
const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const UDP_CLIENTS: usize = 4;
const STREAMS: usize = 4;
const CLIENTS: usize = UDP_CLIENTS + STREAMS;
const PEERS: usize = 2;
/// The server's permission and channel lifetimes (RFC 5766 §8, §11), as the model grants them.
const PERMISSION_SECS: i64 = 300;
const CHANNEL_SECS: i64 = 600;

/// The sockets and the runtime every input reuses: binding fresh ones per input would be slower, and their
/// addresses do not matter (every input gets a new server).
struct Env {
    rt: tokio::runtime::Runtime,
    clients: Vec<UdpSocket>,
    peers: Vec<UdpSocket>,
    /// Their addresses (asking the kernel every time was a tenth of an execution).
    client_addrs: Vec<SocketAddr>,
    peer_addrs: Vec<SocketAddr>,
}

impl Env {
    fn new() -> Env {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let bind = || {
            let s = UdpSocket::bind((LOOPBACK, 0)).expect("a loopback socket");
            s.set_nonblocking(true).unwrap();
            s
        };
        let clients: Vec<UdpSocket> = (0..UDP_CLIENTS).map(|_| bind()).collect();
        let peers: Vec<UdpSocket> = (0..PEERS).map(|_| bind()).collect();
        let addr = |s: &UdpSocket| s.local_addr().unwrap();
        Env {
            rt,
            client_addrs: clients.iter().map(addr).collect(),
            peer_addrs: peers.iter().map(addr).collect(),
            clients,
            peers,
        }
    }
}

thread_local! {
    static ENV: Env = Env::new();
}

thread_local! {
    /// The receive buffer of [`drain`] (a fresh 64 KiB per call was most of an execution's time).
    static BUFFER: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0u8; 70_000]);
}

/// Every datagram waiting on `socket`, with its source.
fn drain(socket: &UdpSocket) -> Vec<(Vec<u8>, SocketAddr)> {
    BUFFER.with_borrow_mut(|buf| {
        let mut out = Vec::new();
        for _ in 0..10_000 {
            match socket.recv_from(buf) {
                Ok((n, from)) => out.push((buf[..n].to_vec(), from)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // An ICMP error of an earlier send (a peer sending to a closed relay port).
                Err(_) => continue,
            }
        }
        out
    })
}

/// The bytes of one TCP connection, handed to the server's reader as they arrive.
#[derive(Default)]
struct Pipe {
    bytes: Vec<u8>,
    closed: bool,
}

struct PipeReader(Arc<Mutex<Pipe>>);

impl AsyncRead for PipeReader {
    fn poll_read(self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let mut pipe = self.0.lock().unwrap();
        if pipe.bytes.is_empty() {
            // Nothing yet: the connection waits (it is polled again after the next chunk). Closed: end of stream.
            return if pipe.closed { Poll::Ready(Ok(())) } else { Poll::Pending };
        }
        let n = buf.remaining().min(pipe.bytes.len());
        buf.put_slice(&pipe.bytes[..n]);
        pipe.bytes.drain(..n);
        Poll::Ready(Ok(()))
    }
}

struct Stream {
    pipe: Arc<Mutex<Pipe>>,
    reading: Option<Pin<Box<dyn Future<Output = ()>>>>,
    frames: mpsc::Receiver<Vec<u8>>,
}

/// What a client has been granted, as far as the server's answers tell: a superset of what the server holds
/// (expiries are not reaped here, they are compared with the clock).
#[derive(Default)]
struct Granted {
    relay: Option<SocketAddr>,
    permissions: HashMap<IpAddr, i64>,
    channels: HashMap<u16, i64>,
}

/// A request this harness signed, to read its answer.
struct Signed {
    client: usize,
    method: Method,
    peers: Vec<SocketAddr>,
    channels: Vec<u16>,
}

struct Run<'a> {
    env: &'a Env,
    core: Core,
    now: Arc<AtomicI64>,
    refuse_private: bool,
    max_allocations: usize,
    streams: Vec<Option<Stream>>,
    granted: Vec<Granted>,
    /// Transactions each client sent: a response must answer one of them. On a stream, every 12 bytes in a row
    /// of what it sent, wherever the server's framing put a message's start.
    sent: Vec<HashSet<[u8; 12]>>,
    streamed: Vec<Vec<u8>>,
    /// Clients that sent something: only they can have been answered.
    active: [bool; CLIENTS],
    signed: HashMap<[u8; 12], Signed>,
    nonce: Option<String>,
    /// Relay addresses of successful Allocates, in order (the targets of peer datagrams).
    relays: Vec<SocketAddr>,
    next_transaction: u64,
    username: String,
    password: String,
}

/// Takes `n` bytes (fewer at the end of the input).
fn take<'d>(data: &mut &'d [u8], n: usize) -> &'d [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

fn byte(data: &mut &[u8]) -> u8 {
    take(data, 1).first().copied().unwrap_or(0)
}

fn sized<'d>(data: &mut &'d [u8]) -> &'d [u8] {
    let len = u16::from_le_bytes([byte(data), byte(data)]);
    take(data, usize::from(len))
}

pub fn check(data: &[u8]) {
    ENV.with(|env| {
        for s in env.clients.iter().chain(&env.peers) {
            drain(s);
        }
        env.rt.block_on(run(env, data));
        // Let the tasks of the allocations freed by dropping the server end, closing their sockets.
        env.rt.block_on(settle());
    });
}

async fn settle() {
    for _ in 0..4 {
        tokio::task::yield_now().await;
    }
}

async fn run(env: &Env, mut data: &[u8]) {
    let config_byte = byte(&mut data);
    let now = Arc::new(AtomicI64::new(T0));
    let clock = Arc::clone(&now);
    let max_allocations = usize::from(config_byte >> 1 & 3) + 1;
    let config = TurnServerConfig {
        listen: SocketAddr::new(LOOPBACK, 0),
        tcp_listen: None,
        tls: None,
        relay_ip: LOOPBACK,
        relay_ports: None,
        realm: REALM.to_owned(),
        secret: SECRET.to_vec(),
        refuse_private_peers: config_byte & 1 != 0,
        own_listeners: Vec::new(),
        max_allocations,
        clock: Arc::new(move || clock.load(Ordering::SeqCst)),
    };
    let core = Core::new(&config).expect("the server starts");
    // As the listener's first wait for a datagram does: the reactor learns that the new socket is writable (until
    // then tokio's `try_send_to` answers WouldBlock without trying).
    settle().await;
    let credentials = issue(SECRET, "fuzz", T0, 3600);
    let mut run = Run {
        env,
        core,
        now,
        refuse_private: config.refuse_private_peers,
        max_allocations,
        streams: (0..STREAMS).map(|_| None).collect(),
        granted: (0..CLIENTS).map(|_| Granted::default()).collect(),
        sent: vec![HashSet::new(); CLIENTS],
        streamed: vec![Vec::new(); CLIENTS],
        active: [false; CLIENTS],
        signed: HashMap::new(),
        nonce: None,
        relays: Vec::new(),
        next_transaction: 0,
        username: credentials.username,
        password: credentials.password,
    };
    while !data.is_empty() {
        let op = byte(&mut data);
        match op & 7 {
            1 => run.close(usize::from(op >> 3 & 3)).await,
            2 => {
                let (method, flags, param) = (byte(&mut data), byte(&mut data), byte(&mut data));
                let n = byte(&mut data);
                let raw = take(&mut data, usize::from(n));
                run.signed_request(usize::from(op >> 3 & 7), method, flags, param, raw).await;
            }
            3 => {
                let payload = sized(&mut data);
                if let Some(&relay) = run.relays.get(usize::from(op >> 4 & 3)) {
                    // An error (a relay port already closed) is what a peer on the internet would get too.
                    let _ = env.peers[usize::from(op >> 3 & 1)].send_to(payload, relay);
                }
            }
            4 => {
                run.now.fetch_add(i64::from(byte(&mut data)) * 10, Ordering::SeqCst);
                run.core.reap();
            }
            _ => {
                let bytes = sized(&mut data);
                run.send(usize::from(op >> 3 & 7), bytes).await;
            }
        }
        run.settle_and_collect().await;
        run.check_state();
    }
}

impl Run<'_> {
    fn client_addr(&self, client: usize) -> SocketAddr {
        match client {
            c if c < UDP_CLIENTS => self.env.client_addrs[c],
            c => SocketAddr::new(LOOPBACK, 40_000 + c as u16),
        }
    }

    /// Bytes from `client`: one datagram, or one chunk of its connection.
    async fn send(&mut self, client: usize, bytes: &[u8]) {
        self.active[client] = true;
        if client < UDP_CLIENTS {
            if bytes.len() >= 20 {
                self.sent[client].insert(bytes[8..20].try_into().unwrap());
            }
            return self.core.udp(self.client_addr(client), bytes);
        }
        let streamed = &mut self.streamed[client];
        let from = streamed.len().saturating_sub(11);
        streamed.extend_from_slice(bytes);
        for window in streamed[from..].windows(12) {
            self.sent[client].insert(window.try_into().unwrap());
        }
        let i = client - UDP_CLIENTS;
        if self.streams[i].as_ref().is_none_or(|s| s.reading.is_none()) {
            // A new connection: nothing granted on it yet.
            let pipe = Arc::new(Mutex::new(Pipe::default()));
            let (reading, frames) = self.core.stream(self.client_addr(client), PipeReader(Arc::clone(&pipe)));
            self.streams[i] = Some(Stream { pipe, reading: Some(Box::pin(reading)), frames });
            self.granted[client] = Granted::default();
        }
        let stream = self.streams[i].as_mut().unwrap();
        stream.pipe.lock().unwrap().bytes.extend_from_slice(bytes);
        poll_once(stream).await;
    }

    async fn close(&mut self, i: usize) {
        if let Some(stream) = self.streams[i].as_mut() {
            stream.pipe.lock().unwrap().closed = true;
            poll_once(stream).await;
        }
    }

    fn transaction(&mut self) -> [u8; 12] {
        self.next_transaction += 1;
        let mut t = [0x7a; 12];
        t[4..].copy_from_slice(&self.next_transaction.to_be_bytes());
        t
    }

    async fn signed_request(&mut self, client: usize, method: u8, flags: u8, param: u8, raw: &[u8]) {
        let (typ, signs) = match method % 6 {
            0 => (MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST), true),
            1 => (MessageType::new(METHOD_REFRESH, CLASS_REQUEST), true),
            2 => (MessageType::new(METHOD_CREATE_PERMISSION, CLASS_REQUEST), true),
            3 => (MessageType::new(METHOD_CHANNEL_BIND, CLASS_REQUEST), true),
            4 => (MessageType::new(METHOD_SEND, CLASS_INDICATION), false),
            _ => (MessageType::new(METHOD_BINDING, CLASS_REQUEST), false),
        };
        if signs && self.nonce.is_none() {
            // As a client starts: a bare Allocate, answered 401 with a nonce.
            let mut bare = Message::new();
            bare.typ = MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST);
            bare.transaction_id = TransactionId(self.transaction());
            bare.write_header();
            self.send(client, &bare.raw).await;
            self.settle_and_collect().await;
        }
        let mut m = Message::new();
        m.typ = typ;
        m.transaction_id = TransactionId(self.transaction());
        m.write_header();
        let mut rest = raw;
        while rest.len() >= 3 {
            let typ = AttrType(u16::from_be_bytes([rest[0], rest[1]]));
            let len = usize::from(rest[2]);
            rest = &rest[3..];
            m.add(typ, take(&mut rest, len));
        }
        if flags & 1 != 0 {
            m.add(ATTR_REQUESTED_TRANSPORT, &[17, 0, 0, 0]);
        }
        let mut peers = Vec::new();
        if flags & 2 != 0 {
            peers.push(self.env.peer_addrs[usize::from(flags >> 2 & 1)]);
        }
        if flags & 0x80 != 0
            && let Some(&relay) = self.relays.first()
        {
            peers.push(relay);
        }
        for peer in &peers {
            m.add(ATTR_XOR_PEER_ADDRESS, &xor_value(*peer, &m.transaction_id.0));
        }
        let channel = (flags & 8 != 0).then(|| 0x4000 + u16::from(param));
        if let Some(n) = channel {
            let [hi, lo] = n.to_be_bytes();
            m.add(ATTR_CHANNEL_NUMBER, &[hi, lo, 0, 0]);
        }
        if flags & 0x10 != 0 {
            m.add(ATTR_LIFETIME, &(u32::from(param) * 30).to_be_bytes());
        }
        if flags & 0x20 != 0 {
            m.add(ATTR_DATA, &vec![param; 1 + usize::from(param & 31)]);
        }
        if signs {
            let (username, password) = match method >> 3 {
                30 => (issue(SECRET, "fuzz", T0 - 7200, 3600).username, self.password.clone()),
                31 => (self.username.clone(), "wrong".to_owned()),
                _ => (self.username.clone(), self.password.clone()),
            };
            let nonce = self.nonce.clone().unwrap_or_default();
            m.add(ATTR_USERNAME, username.as_bytes());
            m.add(ATTR_REALM, REALM.as_bytes());
            m.add(ATTR_NONCE, nonce.as_bytes());
            let integrity = MessageIntegrity::new_long_term_integrity(username, REALM.to_owned(), password);
            // Refused after a raw FINGERPRINT: the request goes unsigned (and is answered 401).
            let _ = integrity.add_to(&mut m);
            // Every XOR-PEER-ADDRESS and CHANNEL-NUMBER the request carries, the raw ones too: the most it can be
            // granted.
            let attrs = m.attributes.0.iter().filter(|a| a.typ == ATTR_CHANNEL_NUMBER && a.value.len() >= 2);
            let channels = attrs.map(|a| u16::from_be_bytes([a.value[0], a.value[1]])).collect();
            let signed = Signed { client, method: typ.method, peers: peer_addresses(&m), channels };
            self.signed.insert(m.transaction_id.0, signed);
        }
        if flags & 0x40 != 0 {
            let _ = stun::fingerprint::FINGERPRINT.add_to(&mut m);
        }
        self.send(client, &m.raw.clone()).await;
    }

    /// Lets the allocations' tasks run, then reads what the server sent to every peer and client during the last
    /// event, and checks it. Peers first, against what was granted before the event: one event never both grants
    /// and relays, but it may relay and then end the allocation (a chunk with ChannelData, then bytes that close the
    /// connection). Before any allocation there are no tasks, and nothing a peer could get (the syscalls saved
    /// are most of an execution's time).
    async fn settle_and_collect(&mut self) {
        let relaying = self.core.allocations() > 0 || !self.relays.is_empty();
        if relaying {
            settle().await;
        }
        let now = self.now.load(Ordering::SeqCst);
        for p in (0..PEERS).filter(|_| relaying) {
            let peer = self.env.peer_addrs[p];
            for (payload, relay) in drain(&self.env.peers[p]) {
                assert!(!self.refuse_private, "relayed to the loopback peer {peer} from {relay}: {payload:?}");
                let permitted = self
                    .granted
                    .iter()
                    .any(|g| g.relay == Some(relay) && g.permissions.get(&peer.ip()).is_some_and(|exp| *exp > now));
                assert!(permitted, "peer {peer} got a datagram from {relay} without a permission");
            }
        }
        for c in (0..UDP_CLIENTS).filter(|&c| self.active[c]).collect::<Vec<_>>() {
            for (frame, _) in drain(&self.env.clients[c]) {
                self.delivered(c, &frame, false);
            }
        }
        for i in 0..STREAMS {
            let Some(stream) = self.streams[i].as_mut() else { continue };
            let mut frames = Vec::new();
            while let Ok(frame) = stream.frames.try_recv() {
                frames.push(frame);
            }
            let over = stream.reading.is_none();
            for frame in frames {
                self.delivered(UDP_CLIENTS + i, &frame, true);
            }
            if over {
                // The connection is over and its allocation freed.
                self.granted[UDP_CLIENTS + i] = Granted::default();
            }
        }
    }

    fn delivered(&mut self, client: usize, frame: &[u8], stream: bool) {
        let now = self.now.load(Ordering::SeqCst);
        if frame.first().is_some_and(|b| b & 0xC0 == 0x40) {
            assert!(frame.len() >= 4, "a short ChannelData to client {client}: {frame:?}");
            let number = u16::from_be_bytes([frame[0], frame[1]]);
            let len = usize::from(u16::from_be_bytes([frame[2], frame[3]]));
            let expected = if stream { (4 + len).next_multiple_of(4) } else { 4 + len };
            assert_eq!(frame.len(), expected, "ChannelData of the wrong length to client {client}");
            assert!(!self.refuse_private, "relayed from a loopback peer to client {client}");
            let g = &self.granted[client];
            assert!(g.relay.is_some(), "ChannelData to client {client}, which has no allocation");
            assert!(
                g.channels.get(&number).is_some_and(|exp| *exp > now),
                "ChannelData on channel {number:#x}, which client {client} did not bind"
            );
            return;
        }
        let mut m = Message { raw: frame.to_vec(), ..Message::default() };
        if let Err(e) = m.decode() {
            panic!("client {client} got neither STUN nor ChannelData ({e}): {frame:?}");
        }
        if stream {
            assert_eq!(frame.len(), 20 + m.length as usize, "one whole STUN message per frame");
        }
        if m.typ.class == CLASS_INDICATION {
            assert_eq!(m.typ.method, METHOD_DATA, "the server sends no other indication");
            assert!(!self.refuse_private, "relayed from a loopback peer to client {client}");
            let peer = peer_addresses(&m);
            let [peer] = peer.as_slice() else { panic!("a Data indication names one peer: {peer:?}") };
            assert!(self.granted[client].relay.is_some(), "a Data indication to client {client} without allocation");
            assert!(
                self.granted[client].permissions.get(&peer.ip()).is_some_and(|exp| *exp > now),
                "a Data indication to client {client} from {peer}, which it did not permit"
            );
            return;
        }
        assert!(m.typ.class != CLASS_REQUEST, "the server sends no request: {:?}", m.typ);
        let sent = self.sent[client].contains(&m.transaction_id.0);
        assert!(sent, "client {client} got an answer to a transaction it never sent");
        if m.typ.class == CLASS_ERROR_RESPONSE {
            if let Ok(nonce) = stun::textattrs::TextAttribute::get_from_as(&m, ATTR_NONCE) {
                self.nonce = Some(nonce.text);
            }
            return;
        }
        let granting = [METHOD_ALLOCATE, METHOD_REFRESH, METHOD_CREATE_PERMISSION, METHOD_CHANNEL_BIND];
        if !granting.contains(&m.typ.method) {
            return;
        }
        let integrity =
            MessageIntegrity::new_long_term_integrity(self.username.clone(), REALM.to_owned(), self.password.clone());
        assert!(integrity.check(&mut m).is_ok(), "a success to {:?} without this client's credentials", m.typ);
        let Some(signed) = self.signed.get(&m.transaction_id.0) else {
            panic!("a success to {:?} for a request nobody signed", m.typ)
        };
        assert_eq!((signed.client, signed.method), (client, m.typ.method), "a success to another request");
        let g = &mut self.granted[client];
        match m.typ.method {
            METHOD_ALLOCATE => {
                let relay = m.get(ATTR_XOR_RELAYED_ADDRESS).ok().and_then(|v| xor_address(&v, &m.transaction_id.0));
                let relay = relay.expect("an Allocate success names its relay address");
                // The same answer again (a retransmission) changes nothing; a new allocation starts empty.
                if g.relay != Some(relay) {
                    *g = Granted { relay: Some(relay), ..Granted::default() };
                }
                if !self.relays.contains(&relay) {
                    self.relays.push(relay);
                }
            }
            METHOD_REFRESH => {
                let lifetime = m.get(ATTR_LIFETIME).ok().and_then(|v| v.try_into().ok()).map(u32::from_be_bytes);
                if lifetime == Some(0) {
                    *g = Granted::default();
                }
            }
            METHOD_CREATE_PERMISSION => {
                for peer in &signed.peers {
                    g.permissions.insert(peer.ip(), now + PERMISSION_SECS);
                }
            }
            _ => {
                assert!(!signed.channels.is_empty(), "a ChannelBind without CHANNEL-NUMBER succeeded");
                for number in &signed.channels {
                    g.channels.insert(*number, now + CHANNEL_SECS);
                }
                for peer in &signed.peers {
                    g.permissions.insert(peer.ip(), now + PERMISSION_SECS);
                }
            }
        }
    }

    fn check_state(&self) {
        let alive = self.core.allocations();
        assert!(alive <= self.max_allocations, "{alive} allocations over a quota of {}", self.max_allocations);
        let active = self.core.counters().snapshot().allocations_active;
        assert_eq!(active, alive as u64, "the counters disagree with the allocation table");
    }
}

/// Lets a connection's reader handle whatever its pipe holds now; notes when the server closed it.
async fn poll_once(stream: &mut Stream) {
    let Some(reading) = stream.reading.as_mut() else { return };
    let done = std::future::poll_fn(|cx| Poll::Ready(reading.as_mut().poll(cx).is_ready())).await;
    if done {
        stream.reading = None;
    }
}

fn xor_value(addr: SocketAddr, transaction: &[u8; 12]) -> Vec<u8> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = addr.port() ^ (MAGIC_COOKIE >> 16) as u16;
    let mut v = vec![0, 0];
    v.extend_from_slice(&port.to_be_bytes());
    match addr.ip() {
        IpAddr::V4(ip) => {
            v[1] = 1;
            v.extend(ip.octets().iter().zip(cookie).map(|(b, k)| b ^ k));
        }
        IpAddr::V6(ip) => {
            v[1] = 2;
            let key = cookie.iter().chain(transaction);
            v.extend(ip.octets().iter().zip(key).map(|(b, k)| b ^ k));
        }
    }
    v
}

fn xor_address(v: &[u8], transaction: &[u8; 12]) -> Option<SocketAddr> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match v.get(1)? {
        1 => {
            let b: [u8; 4] = v.get(4..8)?.try_into().ok()?;
            IpAddr::from(std::array::from_fn::<u8, 4, _>(|i| b[i] ^ cookie[i]))
        }
        2 => {
            let b: [u8; 16] = v.get(4..20)?.try_into().ok()?;
            let key: Vec<u8> = cookie.iter().chain(transaction).copied().collect();
            IpAddr::from(std::array::from_fn::<u8, 16, _>(|i| b[i] ^ key[i]))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Every well-formed XOR-PEER-ADDRESS of `m`.
fn peer_addresses(m: &Message) -> Vec<SocketAddr> {
    let attrs = m.attributes.0.iter().filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS);
    attrs.filter_map(|a| xor_address(&a.value, &m.transaction_id.0)).collect()
}
