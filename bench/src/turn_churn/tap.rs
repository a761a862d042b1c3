//! A UDP socket that reads the header of every datagram the `turn` client sends and receives. The client hides
//! what the scenario must time: it runs CreatePermission inside the first `send_to` to a peer, binds a channel in
//! a task of its own, and sends the Refresh that frees the allocation without waiting for the answer. Watching the
//! wire gives each round trip, whether the allocation was really freed, and how the data travelled (Send and Data
//! indications before a channel is bound, ChannelData after).
//!
//! What it owns: parsing a STUN header (RFC 8489 §5) and the ERROR-CODE attribute, nothing more. It must not
//! change, delay or drop a datagram: the client above it sees the plain socket.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use webrtc_util::Conn;

use crate::{histogram, record_us};

const MAGIC_COOKIE: u32 = 0x2112_A442;
const ATTR_ERROR_CODE: u16 = 0x0009;

/// The TURN methods the scenario times (RFC 8656 §18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Method {
    Allocate,
    Refresh,
    Send,
    Data,
    CreatePermission,
    ChannelBind,
    Other(u16),
}

impl Method {
    fn from_bits(method: u16) -> Self {
        match method {
            0x003 => Self::Allocate,
            0x004 => Self::Refresh,
            0x006 => Self::Send,
            0x007 => Self::Data,
            0x008 => Self::CreatePermission,
            0x009 => Self::ChannelBind,
            other => Self::Other(other),
        }
    }

    /// The transactions whose round trips are recorded, in [`Ledger`]'s array order.
    const TIMED: [Method; 4] = [Method::Allocate, Method::Refresh, Method::CreatePermission, Method::ChannelBind];

    fn timed_index(self) -> Option<usize> {
        Self::TIMED.iter().position(|m| *m == self)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Request,
    Indication,
    Success,
    Error,
}

/// What one datagram on the client's socket is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram {
    Stun {
        method: Method,
        class: Class,
        transaction: [u8; 12],
        error_code: Option<u16>,
    },
    /// Relayed data on a bound channel (RFC 8656 §12.4): the first two bits are 01.
    ChannelData,
    Unknown,
}

/// Reads a datagram's header. Pure, so the wire format is unit-tested without sockets.
pub fn classify(datagram: &[u8]) -> Datagram {
    if datagram.len() >= 4 && datagram[0] & 0xC0 == 0x40 {
        // Channel number 0x4000–0x7FFF, then the length of the data that follows.
        let len = usize::from(u16::from_be_bytes([datagram[2], datagram[3]]));
        return if len <= datagram.len() - 4 { Datagram::ChannelData } else { Datagram::Unknown };
    }
    if datagram.len() < 20 || datagram[0] & 0xC0 != 0 {
        return Datagram::Unknown;
    }
    let cookie = u32::from_be_bytes([datagram[4], datagram[5], datagram[6], datagram[7]]);
    if cookie != MAGIC_COOKIE {
        return Datagram::Unknown;
    }
    let kind = u16::from_be_bytes([datagram[0], datagram[1]]);
    // The class bits C1 (bit 8) and C0 (bit 4) are interleaved with the 12 method bits.
    let method = (kind & 0x000F) | ((kind & 0x00E0) >> 1) | ((kind & 0x3E00) >> 2);
    let class = match ((kind & 0x0100) >> 7) | ((kind & 0x0010) >> 4) {
        0 => Class::Request,
        1 => Class::Indication,
        2 => Class::Success,
        _ => Class::Error,
    };
    let mut transaction = [0u8; 12];
    transaction.copy_from_slice(&datagram[8..20]);
    let error_code = if class == Class::Error { error_code(&datagram[20..]) } else { None };
    Datagram::Stun { method: Method::from_bits(method), class, transaction, error_code }
}

/// The number of the ERROR-CODE attribute (class × 100 + number), if there is one.
fn error_code(mut attributes: &[u8]) -> Option<u16> {
    while attributes.len() >= 4 {
        let kind = u16::from_be_bytes([attributes[0], attributes[1]]);
        let len = u16::from_be_bytes([attributes[2], attributes[3]]) as usize;
        let value = attributes.get(4..4 + len)?;
        if kind == ATTR_ERROR_CODE && len >= 4 {
            return Some(u16::from(value[2] & 0x07) * 100 + u16::from(value[3]));
        }
        // Values are padded to a multiple of four bytes.
        attributes = attributes.get(4 + len.div_ceil(4) * 4..)?;
    }
    None
}

/// What every client of a run saw, summed: round trips of answered transactions, answers per second, error codes.
pub struct Ledger {
    started: Instant,
    /// Request sent (first copy) → success response, per [`Method::TIMED`].
    round_trips: [Histogram<u64>; 4],
    /// Success responses per second since `started`, per [`Method::TIMED`].
    per_second: [Vec<u64>; 4],
    /// The last success response, per [`Method::TIMED`]: the end of the window their rate is taken over.
    last_success: [Option<Instant>; 4],
    /// `"Allocate 401"` → count. Each allocation starts with one 401 (the client asks without credentials first
    /// to learn the realm and nonce), so those are expected; anything else is a refusal.
    errors: BTreeMap<String, u64>,
    /// Requests the client sent again because no answer came within its retransmission timeout.
    retransmissions: u64,
}

impl Ledger {
    pub fn new(started: Instant) -> Self {
        Self {
            started,
            round_trips: std::array::from_fn(|_| histogram()),
            per_second: Default::default(),
            last_success: [None; 4],
            errors: BTreeMap::new(),
            retransmissions: 0,
        }
    }

    pub fn round_trips(&self, method: Method) -> &Histogram<u64> {
        &self.round_trips[method.timed_index().expect("a timed method")]
    }

    pub fn successes(&self, method: Method) -> u64 {
        self.round_trips(method).len()
    }

    /// Successes per second from the start of the run to the last success: the rate the server kept up while
    /// it was asked, not diluted by the calls' hold time after the last request.
    pub fn rate(&self, method: Method) -> f64 {
        match self.last_success[method.timed_index().expect("a timed method")] {
            Some(last) => crate::rate(self.successes(method), last.duration_since(self.started)),
            None => 0.0,
        }
    }

    /// The busiest second's successes.
    pub fn peak_per_second(&self, method: Method) -> u64 {
        self.per_second[method.timed_index().expect("a timed method")].iter().copied().max().unwrap_or(0)
    }

    pub fn errors(&self) -> &BTreeMap<String, u64> {
        &self.errors
    }

    pub fn retransmissions(&self) -> u64 {
        self.retransmissions
    }

    fn answered(&mut self, method: Method, sent: Instant, now: Instant) {
        let Some(i) = method.timed_index() else { return };
        record_us(&mut self.round_trips[i], now.duration_since(sent).as_micros() as u64);
        let second = now.duration_since(self.started).as_secs() as usize;
        let buckets = &mut self.per_second[i];
        if buckets.len() <= second {
            buckets.resize(second + 1, 0);
        }
        buckets[second] += 1;
        self.last_success[i] = Some(now);
    }
}

/// Data-plane counters, kept apart from the ledger's lock: every relayed packet touches them.
#[derive(Debug, Default)]
pub struct DataCounts {
    pub send_indications_out: AtomicU64,
    pub channel_data_out: AtomicU64,
    pub data_indications_in: AtomicU64,
    pub channel_data_in: AtomicU64,
}

/// One client's view: its outstanding requests, and whether its closing Refresh was answered.
pub struct Tap {
    ledger: Arc<Mutex<Ledger>>,
    data: Arc<DataCounts>,
    /// Requests awaiting an answer: transaction id, method, first send. A client has a handful at most.
    pending: Mutex<Vec<([u8; 12], Method, Instant)>>,
    refresh_answered: watch::Sender<bool>,
}

impl Tap {
    pub fn new(ledger: Arc<Mutex<Ledger>>, data: Arc<DataCounts>) -> Arc<Self> {
        Arc::new(Self { ledger, data, pending: Mutex::new(Vec::new()), refresh_answered: watch::Sender::new(false) })
    }

    /// Waits until a Refresh of this client was answered (with success: the server freed the allocation, since
    /// the only Refresh a short call sends is the closing one with lifetime 0); `false` after `limit`.
    pub async fn refresh_answered_within(&self, limit: Duration) -> bool {
        let mut answered = self.refresh_answered.subscribe();
        tokio::time::timeout(limit, answered.wait_for(|a| *a)).await.is_ok_and(|r| r.is_ok())
    }

    fn sent(&self, datagram: &[u8]) {
        match classify(datagram) {
            Datagram::Stun { method, class: Class::Request, transaction, .. } => {
                let mut pending = self.pending.lock().expect("tap lock");
                if pending.iter().any(|(t, _, _)| *t == transaction) {
                    drop(pending);
                    self.ledger.lock().expect("ledger lock").retransmissions += 1;
                } else {
                    pending.push((transaction, method, Instant::now()));
                }
            }
            Datagram::Stun { method: Method::Send, .. } => {
                self.data.send_indications_out.fetch_add(1, Ordering::Relaxed);
            }
            Datagram::ChannelData => {
                self.data.channel_data_out.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }

    fn received(&self, datagram: &[u8]) {
        let now = Instant::now();
        match classify(datagram) {
            Datagram::Stun { method, class: class @ (Class::Success | Class::Error), transaction, error_code } => {
                let sent = {
                    let mut pending = self.pending.lock().expect("tap lock");
                    let Some(i) = pending.iter().position(|(t, _, _)| *t == transaction) else { return };
                    pending.swap_remove(i).2
                };
                let mut ledger = self.ledger.lock().expect("ledger lock");
                if class == Class::Success {
                    ledger.answered(method, sent, now);
                } else {
                    let code = error_code.map_or("?".to_string(), |c| c.to_string());
                    *ledger.errors.entry(format!("{method:?} {code}")).or_default() += 1;
                }
                drop(ledger);
                if method == Method::Refresh && class == Class::Success {
                    self.refresh_answered.send_replace(true);
                }
            }
            Datagram::Stun { method: Method::Data, class: Class::Indication, .. } => {
                self.data.data_indications_in.fetch_add(1, Ordering::Relaxed);
            }
            Datagram::ChannelData => {
                self.data.channel_data_in.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
    }
}

/// The client's own UDP socket, with a [`Tap`] on both directions.
pub struct TappedSocket {
    socket: UdpSocket,
    tap: Arc<Tap>,
}

impl TappedSocket {
    pub fn new(socket: UdpSocket, tap: Arc<Tap>) -> Self {
        Self { socket, tap }
    }
}

#[async_trait::async_trait]
impl Conn for TappedSocket {
    async fn connect(&self, addr: SocketAddr) -> webrtc_util::Result<()> {
        Ok(self.socket.connect(addr).await?)
    }

    async fn recv(&self, buf: &mut [u8]) -> webrtc_util::Result<usize> {
        let n = self.socket.recv(buf).await?;
        self.tap.received(&buf[..n]);
        Ok(n)
    }

    async fn recv_from(&self, buf: &mut [u8]) -> webrtc_util::Result<(usize, SocketAddr)> {
        let (n, from) = self.socket.recv_from(buf).await?;
        self.tap.received(&buf[..n]);
        Ok((n, from))
    }

    async fn send(&self, buf: &[u8]) -> webrtc_util::Result<usize> {
        self.tap.sent(buf);
        Ok(self.socket.send(buf).await?)
    }

    async fn send_to(&self, buf: &[u8], target: SocketAddr) -> webrtc_util::Result<usize> {
        self.tap.sent(buf);
        Ok(self.socket.send_to(buf, target).await?)
    }

    fn local_addr(&self) -> webrtc_util::Result<SocketAddr> {
        Ok(self.socket.local_addr()?)
    }

    fn remote_addr(&self) -> Option<SocketAddr> {
        self.socket.peer_addr().ok()
    }

    async fn close(&self) -> webrtc_util::Result<()> {
        // The socket closes when the client's last reference to it goes.
        Ok(())
    }

    fn as_any(&self) -> &(dyn std::any::Any + Send + Sync) {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A STUN header: type, length, cookie, transaction id 1..=12, then `attributes`.
    fn stun(kind: u16, attributes: &[u8]) -> Vec<u8> {
        let mut m = kind.to_be_bytes().to_vec();
        m.extend((attributes.len() as u16).to_be_bytes());
        m.extend(MAGIC_COOKIE.to_be_bytes());
        m.extend(1..=12u8);
        m.extend(attributes);
        m
    }

    #[test]
    fn requests_and_answers_of_each_timed_method_are_told_apart() {
        // RFC 8656 §18 / RFC 8489 §5: Allocate request 0x0003, CreatePermission success 0x0108, ChannelBind
        // request 0x0009, Refresh success 0x0104, Send indication 0x0016, Data indication 0x0017.
        let cases = [
            (0x0003, Method::Allocate, Class::Request),
            (0x0108, Method::CreatePermission, Class::Success),
            (0x0009, Method::ChannelBind, Class::Request),
            (0x0104, Method::Refresh, Class::Success),
            (0x0016, Method::Send, Class::Indication),
            (0x0017, Method::Data, Class::Indication),
        ];
        for (kind, method, class) in cases {
            match classify(&stun(kind, &[])) {
                Datagram::Stun { method: m, class: c, transaction, .. } => {
                    assert_eq!((m, c), (method, class), "type {kind:#06x}");
                    assert_eq!(transaction[0], 1);
                }
                other => panic!("type {kind:#06x}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_error_answer_carries_its_code() {
        // Allocate error 0x0113 with ERROR-CODE 401 ("Unauthorized", 12 bytes: padded to 16 with the header).
        let mut attribute = vec![0x00, 0x09, 0x00, 0x10, 0, 0, 4, 1];
        attribute.extend(b"Unauthorized");
        let mut realm = vec![0x00, 0x14, 0x00, 0x05];
        realm.extend(b"tanis\0\0\0");
        // ERROR-CODE after another attribute, to exercise the padding.
        let message = stun(0x0113, &[realm, attribute].concat());
        assert!(matches!(
            classify(&message),
            Datagram::Stun { method: Method::Allocate, class: Class::Error, error_code: Some(401), .. }
        ));
    }

    #[test]
    fn channel_data_and_garbage_are_not_stun() {
        assert_eq!(classify(&[0x40, 0x00, 0x00, 0x04, 1, 2, 3, 4]), Datagram::ChannelData);
        // Text whose first byte looks like a channel number, but whose "length" runs past the end.
        assert_eq!(classify(b"hello, this is no STUN at all"), Datagram::Unknown);
        // An RTP header (version 2): neither STUN nor ChannelData.
        assert_eq!(classify(&[0x80, 0x60, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 1]), Datagram::Unknown);
        let mut wrong_cookie = stun(0x0003, &[]);
        wrong_cookie[4] = 0;
        assert_eq!(classify(&wrong_cookie), Datagram::Unknown);
    }
}
