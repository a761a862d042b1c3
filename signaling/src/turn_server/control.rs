//! STUN/TURN requests from a client (RFC 5766 §6–§11): Binding, Allocate, Refresh,
//! CreatePermission, ChannelBind, and the Send indication. Synchronous: an Allocate binds its
//! relay socket with a non-blocking bind, so the listener never awaits inside a request.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use stun::attributes::{ATTR_DONT_FRAGMENT, ATTR_EVEN_PORT, ATTR_MESSAGE_INTEGRITY, ATTR_XOR_PEER_ADDRESS};
use stun::error_code::*;
use stun::fingerprint::FINGERPRINT;
use stun::message::*;
use stun::textattrs::{Nonce, Realm, TextAttribute, Username};
use stun::uattrs::UnknownAttributes;
use stun::xoraddr::XorMappedAddress;
use turn::proto::PROTO_UDP;
use turn::proto::channum::{ChannelNumber, MAX_CHANNEL_NUMBER, MIN_CHANNEL_NUMBER};
use turn::proto::data::Data;
use turn::proto::lifetime::Lifetime;
use turn::proto::peeraddr::PeerAddress;
use turn::proto::relayaddr::RelayedAddress;
use turn::proto::reqfamily::{REQUESTED_FAMILY_IPV6, RequestedAddressFamily};
use turn::proto::reqtrans::RequestedTransport;
use turn::proto::rsrvtoken::ReservationToken;

use super::allocation::{Allocation, BindRefusal, ClientLink};
use super::auth::Refusal;
use super::{Server, data_path};

/// RFC 5766 §6.2: the default allocation lifetime, and the most a client may ask for.
const DEFAULT_LIFETIME_SECS: u64 = 600;
const MAX_LIFETIME_SECS: u64 = 3600;

type Attrs = Vec<Box<dyn Setter>>;

/// Handles one STUN message from `client`. Malformed input is answered when it is a request we
/// can still read the transaction of, and otherwise dropped: never an error out of the listener.
pub(super) fn handle(server: &Arc<Server>, client: &ClientLink, frame: &[u8]) {
    let mut m = Message { raw: frame.to_vec(), ..Message::default() };
    if m.decode().is_err() {
        return server.counters.get().dropped(1);
    }
    if m.typ.class == CLASS_INDICATION {
        if m.typ.method == METHOD_SEND {
            send_indication(server, client, &m);
        }
        return;
    }
    if m.typ.class != CLASS_REQUEST {
        return;
    }
    // A retransmitted Allocate (its success response was lost on the way) gets that same response again,
    // instead of 437 for an allocation the client does not know it has (RFC 5766 §6.2).
    if m.typ.method == METHOD_ALLOCATE
        && let Some(response) = server.table.get(&client.key()).and_then(|a| a.response_to(&m.transaction_id.0))
    {
        client.send(&response);
        return;
    }
    let reply = match m.typ.method {
        METHOD_BINDING => Some(binding(client)),
        METHOD_ALLOCATE | METHOD_REFRESH | METHOD_CREATE_PERMISSION | METHOD_CHANNEL_BIND => {
            authenticated(server, client, &mut m)
        }
        _ => Some(error(CODE_BAD_REQUEST, Vec::new())),
    };
    let Some((class, attrs)) = reply else { return };
    let Some(reply) = build(&m, class, attrs) else { return };
    if m.typ.method == METHOD_ALLOCATE
        && class == CLASS_SUCCESS_RESPONSE
        && let Some(alloc) = server.table.get(&client.key())
    {
        alloc.remember_response(m.transaction_id.0, reply.clone());
    }
    client.send(&reply);
}

/// A reply: its class, and its attributes after the transaction id and type.
type Reply = (MessageClass, Attrs);

fn binding(client: &ClientLink) -> Reply {
    let a = client.addr();
    (CLASS_SUCCESS_RESPONSE, vec![Box::new(XorMappedAddress { ip: a.ip(), port: a.port() }), Box::new(FINGERPRINT)])
}

fn error(code: ErrorCode, mut extra: Attrs) -> Reply {
    let mut attrs: Attrs = vec![Box::new(ErrorCodeAttribute { code, reason: Vec::new() })];
    attrs.append(&mut extra);
    (CLASS_ERROR_RESPONSE, attrs)
}

fn build(m: &Message, class: MessageClass, mut attrs: Attrs) -> Option<Vec<u8>> {
    let mut setters: Attrs = vec![
        Box::new(Message { transaction_id: m.transaction_id, ..Message::default() }),
        Box::new(MessageType::new(m.typ.method, class)),
    ];
    setters.append(&mut attrs);
    let mut out = Message::new();
    out.build(&setters).ok()?;
    Some(out.raw)
}

/// Checks the long-term credentials (with a 401/438 challenge when needed), then runs the request.
fn authenticated(server: &Arc<Server>, client: &ClientLink, m: &mut Message) -> Option<Reply> {
    let challenge = |stale: bool| {
        let code = if stale { CODE_STALE_NONCE } else { CODE_UNAUTHORIZED };
        let attrs: Attrs = vec![
            Box::new(Nonce::new(stun::attributes::ATTR_NONCE, server.auth.nonce())),
            Box::new(Realm::new(stun::attributes::ATTR_REALM, server.auth.realm.clone())),
        ];
        error(code, attrs)
    };
    if !m.contains(ATTR_MESSAGE_INTEGRITY) {
        return Some(challenge(false));
    }
    let (Ok(username), Ok(nonce)) = (Username::get_from_as(m, stun::attributes::ATTR_USERNAME), text(m)) else {
        return Some(error(CODE_BAD_REQUEST, Vec::new()));
    };
    let integrity = match server.auth.key(&username.text, &nonce) {
        Ok(key) => key,
        Err(Refusal::NeedNonce { stale }) => return Some(challenge(stale)),
        Err(Refusal::Unauthorized) => return Some(challenge(false)),
    };
    if integrity.check(m).is_err() {
        return Some(challenge(false));
    }
    let existing = server.table.get(&client.key());
    if let Some(a) = &existing
        && m.typ.method != METHOD_ALLOCATE
        && a.username != username.text
    {
        return Some(error(CODE_WRONG_CREDENTIALS, Vec::new()));
    }
    let (class, mut attrs) = match m.typ.method {
        METHOD_ALLOCATE => allocate(server, client, m, username.text, existing.is_some()),
        _ => {
            let Some(alloc) = existing else { return Some(error(CODE_ALLOC_MISMATCH, Vec::new())) };
            match m.typ.method {
                METHOD_REFRESH => refresh(server, client, &alloc, m),
                METHOD_CREATE_PERMISSION => create_permission(server, &alloc, m),
                _ => channel_bind(server, &alloc, m),
            }
        }
    };
    // Every answer to an authenticated request is signed, errors included (RFC 5766 §4).
    attrs.push(Box::new(integrity));
    Some((class, attrs))
}

fn text(m: &Message) -> Result<String, stun::Error> {
    TextAttribute::get_from_as(m, stun::attributes::ATTR_NONCE).map(|n| n.text)
}

fn requested_lifetime(m: &Message) -> u64 {
    let mut lifetime = Lifetime::default();
    match lifetime.get_from(m) {
        // RFC 5766 §6.2: never shorter than the default, never longer than the maximum.
        Ok(()) => lifetime.0.as_secs().clamp(DEFAULT_LIFETIME_SECS, MAX_LIFETIME_SECS),
        Err(_) => DEFAULT_LIFETIME_SECS,
    }
}

fn allocate(server: &Arc<Server>, client: &ClientLink, m: &Message, username: String, exists: bool) -> Reply {
    if exists {
        return error(CODE_ALLOC_MISMATCH, Vec::new());
    }
    let mut transport = RequestedTransport::default();
    if transport.get_from(m).is_err() {
        return error(CODE_BAD_REQUEST, Vec::new());
    }
    if transport.protocol != PROTO_UDP {
        return error(CODE_UNSUPPORTED_TRANS_PROTO, Vec::new());
    }
    if m.contains(ATTR_DONT_FRAGMENT) {
        return error(CODE_UNKNOWN_ATTRIBUTE, vec![Box::new(UnknownAttributes(vec![ATTR_DONT_FRAGMENT]))]);
    }
    let mut family = RequestedAddressFamily::default();
    if family.get_from(m).is_ok() && (family == REQUESTED_FAMILY_IPV6) != server.relay_ip.is_ipv6() {
        return error(CODE_ADDR_FAMILY_NOT_SUPPORTED, Vec::new());
    }
    if server.table.len() >= server.max_allocations {
        server.counters.get().allocation_failed();
        return error(CODE_ALLOC_QUOTA_REACHED, Vec::new());
    }
    let mut token = ReservationToken::default();
    let has_token = token.get_from(m).is_ok();
    // EVEN-PORT's first bit asks to reserve the next port too (`turn`'s EvenPort keeps it private).
    let even = m.get(ATTR_EVEN_PORT).ok();
    let wants_even = even.is_some();
    if has_token && wants_even {
        return error(CODE_BAD_REQUEST, Vec::new());
    }
    let bound = if has_token {
        server.sockets.take_reserved(&token.0)
    } else if wants_even {
        server.sockets.bind_even(even.as_ref().and_then(|v| v.first()).is_some_and(|b| b & 0x80 != 0))
    } else {
        server.sockets.bind_any().map(|s| (s, None))
    };
    let (socket, reservation) = match bound {
        Ok(got) => got,
        Err(e) => {
            tracing::warn!(error = %e, "TURN allocation failed: no relay socket");
            server.counters.get().allocation_failed();
            return error(CODE_INSUFFICIENT_CAPACITY, Vec::new());
        }
    };
    let port = match socket.local_addr() {
        Ok(a) => a.port(),
        Err(_) => return error(CODE_INSUFFICIENT_CAPACITY, Vec::new()),
    };
    let lifetime = requested_lifetime(m);
    let relay_addr = SocketAddr::new(server.relay_ip, port);
    let expires_at = server.auth.now() + lifetime as i64;
    let alloc = Arc::new(Allocation::new(client.clone(), Arc::new(socket), relay_addr, username, expires_at));
    if !server.table.insert(Arc::clone(&alloc)) {
        return error(CODE_ALLOC_MISMATCH, Vec::new());
    }
    alloc.set_reader(tokio::spawn(data_path::peers_to_client(Arc::clone(server), Arc::clone(&alloc))));
    server.counters.get().allocated();
    let mapped = client.addr();
    let mut attrs: Attrs = vec![
        Box::new(RelayedAddress { ip: relay_addr.ip(), port }),
        Box::new(Lifetime(Duration::from_secs(lifetime))),
        Box::new(XorMappedAddress { ip: mapped.ip(), port: mapped.port() }),
    ];
    if let Some(token) = reservation {
        attrs.push(Box::new(ReservationToken(token.to_vec())));
    }
    (CLASS_SUCCESS_RESPONSE, attrs)
}

fn refresh(server: &Server, client: &ClientLink, alloc: &Allocation, m: &Message) -> Reply {
    let mut family = RequestedAddressFamily::default();
    if family.get_from(m).is_ok() && (family == REQUESTED_FAMILY_IPV6) != alloc.relay_addr.is_ipv6() {
        return error(CODE_PEER_ADDR_FAMILY_MISMATCH, Vec::new());
    }
    let mut asked = Lifetime::default();
    let lifetime = if asked.get_from(m).is_ok() && asked.0.is_zero() { 0 } else { requested_lifetime(m) };
    if lifetime == 0 {
        server.remove(&client.key());
    } else {
        alloc.refresh(server.auth.now() + lifetime as i64);
    }
    (CLASS_SUCCESS_RESPONSE, vec![Box::new(Lifetime(Duration::from_secs(lifetime)))])
}

/// Every XOR-PEER-ADDRESS of `m`, in order (a CreatePermission may carry several; the `stun`
/// getters only ever return the first). `None` when one is malformed.
fn peer_addresses(m: &Message) -> Option<Vec<SocketAddr>> {
    let mut out = Vec::new();
    for attr in m.attributes.0.iter().filter(|a| a.typ == ATTR_XOR_PEER_ADDRESS) {
        out.push(xor_address(&attr.value, &m.transaction_id.0)?);
    }
    Some(out)
}

/// Decodes an XOR-…-ADDRESS value (RFC 5389 §15.2).
fn xor_address(v: &[u8], transaction_id: &[u8; 12]) -> Option<SocketAddr> {
    let cookie = MAGIC_COOKIE.to_be_bytes();
    let port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]) ^ (MAGIC_COOKIE >> 16) as u16;
    let ip = match v.get(1)? {
        1 => {
            let b: [u8; 4] = v.get(4..8)?.try_into().ok()?;
            IpAddr::from(std::array::from_fn::<u8, 4, _>(|i| b[i] ^ cookie[i]))
        }
        2 => {
            let b: [u8; 16] = v.get(4..20)?.try_into().ok()?;
            let key: Vec<u8> = cookie.iter().chain(transaction_id).copied().collect();
            IpAddr::from(std::array::from_fn::<u8, 16, _>(|i| b[i] ^ key[i]))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn create_permission(server: &Server, alloc: &Allocation, m: &Message) -> Reply {
    let Some(peers) = peer_addresses(m).filter(|p| !p.is_empty()) else {
        return error(CODE_BAD_REQUEST, Vec::new());
    };
    if peers.iter().any(|p| p.is_ipv6() != alloc.relay_addr.is_ipv6()) {
        return error(CODE_PEER_ADDR_FAMILY_MISMATCH, Vec::new());
    }
    // The server itself is no peer (peer_filter.rs): the whole request is refused, no permission installed.
    if peers.iter().any(|&p| server.is_itself(alloc, p)) {
        return error(CODE_FORBIDDEN, Vec::new());
    }
    let ips: Vec<IpAddr> = peers.iter().map(|p| p.ip()).collect();
    if !alloc.permit(&ips, server.auth.now()) {
        return error(CODE_INSUFFICIENT_CAPACITY, Vec::new());
    }
    server.counters.get().permitted(ips.len() as u64);
    (CLASS_SUCCESS_RESPONSE, Vec::new())
}

fn channel_bind(server: &Server, alloc: &Allocation, m: &Message) -> Reply {
    let mut number = ChannelNumber::default();
    let peer = peer_addresses(m).and_then(|p| p.first().copied());
    let (Ok(()), Some(peer)) = (number.get_from(m), peer) else {
        return error(CODE_BAD_REQUEST, Vec::new());
    };
    if !(MIN_CHANNEL_NUMBER..=MAX_CHANNEL_NUMBER).contains(&number.0) {
        return error(CODE_BAD_REQUEST, Vec::new());
    }
    if peer.is_ipv6() != alloc.relay_addr.is_ipv6() {
        return error(CODE_PEER_ADDR_FAMILY_MISMATCH, Vec::new());
    }
    if server.is_itself(alloc, peer) {
        return error(CODE_FORBIDDEN, Vec::new());
    }
    match alloc.bind_channel(number.0, peer, server.auth.now()) {
        Ok(()) => {
            server.counters.get().channel_bound();
            (CLASS_SUCCESS_RESPONSE, Vec::new())
        }
        Err(BindRefusal::Conflict) => error(CODE_BAD_REQUEST, Vec::new()),
        Err(BindRefusal::Full) => error(CODE_INSUFFICIENT_CAPACITY, Vec::new()),
    }
}

fn send_indication(server: &Server, client: &ClientLink, m: &Message) {
    let mut data = Data::default();
    let mut peer = PeerAddress::default();
    if data.get_from(m).is_err() || peer.get_from(m).is_err() {
        return server.counters.get().dropped(1);
    }
    data_path::send_indication_from_client(server, &client.key(), &data.0, SocketAddr::new(peer.ip, peer.port));
}
