//! End-to-end tests of the embedded TURN server with webrtc-rs's TURN client over real UDP on
//! loopback. Every await on the network is bounded by a timeout so a regression fails instead of
//! hanging; only the explicitly commented negative checks wait out a timeout on purpose.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use tanis_signaling::credentials::issue;
use tanis_signaling::turn_server::{EmbeddedTurn, TurnError, TurnServerConfig};
use tokio::net::UdpSocket;
use tokio::time::timeout;
use webrtc_util::Conn;

#[tokio::test]
async fn issued_credentials_allocate_a_relay_on_relay_ip() {
    // A relay_ip distinct from the bind address proves the advertised address is the configured
    // one (in production: the public IP in front of a private bind address).
    let relay_ip: IpAddr = "203.0.113.1".parse().unwrap();
    let h = start(relay_ip, true).await;
    let c = creds("ref-a");
    let client = client(&h.turn, &c.username, &c.password).await;
    let relay = allocate(&client).await.expect("valid credentials allocate");
    let relay_addr = relay.local_addr().unwrap();
    assert_eq!(relay_addr.ip(), relay_ip);
    assert_ne!(relay_addr.port(), 0);
    relay.close().await.unwrap();
    client.close().await.unwrap();
    h.turn.close().await;
}

#[tokio::test]
async fn wrong_password_is_refused() {
    let h = start(LOOPBACK, true).await;
    let c = creds("ref-b");
    let forged = issue(b"not-the-secret", "ref-b", T0, 600);
    assert_eq!(forged.username, c.username);
    let client = client(&h.turn, &c.username, &forged.password).await;
    assert_eq!(allocation_refusal(&client).await, Some(401), "wrong password must be refused (Unauthorized)");
    client.close().await.unwrap();
    h.turn.close().await;
}

#[tokio::test]
async fn expired_credentials_are_refused() {
    let h = start(LOOPBACK, true).await;
    let c = creds("ref-c");
    // Still valid one second before expiry...
    h.now.store(c.expires_at_unix - 1, Ordering::SeqCst);
    let early = client(&h.turn, &c.username, &c.password).await;
    assert!(allocate(&early).await.is_ok());
    early.close().await.unwrap();
    // ...refused from the expiry second on.
    h.now.store(c.expires_at_unix, Ordering::SeqCst);
    let late = client(&h.turn, &c.username, &c.password).await;
    assert_eq!(allocation_refusal(&late).await, Some(401), "expired credentials must be refused (Unauthorized)");
    late.close().await.unwrap();
    h.turn.close().await;
}

#[tokio::test]
async fn unknown_username_format_is_refused() {
    let h = start(LOOPBACK, true).await;
    let client = client(&h.turn, "alice", "password").await;
    assert_eq!(allocation_refusal(&client).await, Some(401), "not a TURN REST username: Unauthorized");
    client.close().await.unwrap();
    h.turn.close().await;
}

#[tokio::test]
async fn two_clients_exchange_a_datagram_through_their_relays() {
    // Loopback peers are only reachable with the private-peer policy off (tests only).
    let h = start(LOOPBACK, false).await;
    let (ca, cb) = (creds("ref-a"), creds("ref-b"));
    let (client_a, client_b) =
        (client(&h.turn, &ca.username, &ca.password).await, client(&h.turn, &cb.username, &cb.password).await);
    let relay_a = allocate(&client_a).await.unwrap();
    let relay_b = allocate(&client_b).await.unwrap();
    let (addr_a, addr_b) = (relay_a.local_addr().unwrap(), relay_b.local_addr().unwrap());

    // TURN only delivers from peers the receiver has a permission for; B's send installs B's
    // permission for A (send_to returns after the CreatePermission transaction succeeded).
    timeout(STEP, relay_b.send_to(b"open", addr_a)).await.unwrap().unwrap();
    timeout(STEP, relay_a.send_to(b"hello through TURN", addr_b)).await.unwrap().unwrap();

    let mut buf = [0u8; 1500];
    let (n, from) = timeout(STEP, relay_b.recv_from(&mut buf)).await.expect("datagram relayed").unwrap();
    assert_eq!(&buf[..n], b"hello through TURN");
    assert_eq!(from, addr_a);
    assert_eq!(h.turn.refused_peer_datagrams(), 0);

    relay_a.close().await.unwrap();
    relay_b.close().await.unwrap();
    client_a.close().await.unwrap();
    client_b.close().await.unwrap();
    h.turn.close().await;
}

#[tokio::test]
async fn private_peers_are_never_relayed_to_or_from() {
    let h = start(LOOPBACK, true).await;
    let mut refused = h.turn.watch_refused_peer_datagrams();
    let c = creds("ref-e");
    let client = client(&h.turn, &c.username, &c.password).await;
    let relay = allocate(&client).await.unwrap();
    let relay_addr = relay.local_addr().unwrap();
    let internal = UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
    let internal_addr = internal.local_addr().unwrap();

    // Outbound to loopback: the send is accepted (the client cannot tell), then the server's
    // relay socket drops it and counts the refusal.
    timeout(STEP, relay.send_to(b"probe", internal_addr)).await.unwrap().unwrap();
    timeout(STEP, refused.wait_for(|n| *n >= 1)).await.expect("loopback peer refused").unwrap();
    let mut buf = [0u8; 1500];
    assert!(internal.try_recv_from(&mut buf).is_err(), "nothing may reach the internal socket");
    // Deliberate bounded negative wait: absence of a datagram can only be shown by waiting.
    // The refusal was already observed above, so this is belt and braces.
    assert!(timeout(Duration::from_millis(500), internal.recv_from(&mut buf)).await.is_err());

    // Outbound to RFC 1918: refused the same way (nothing listens there; the counter proves it).
    let before = *refused.borrow();
    timeout(STEP, relay.send_to(b"probe", "10.1.2.3:53".parse().unwrap())).await.unwrap().unwrap();
    timeout(STEP, refused.wait_for(|n| *n > before)).await.expect("RFC 1918 peer refused").unwrap();

    // Inbound from loopback, although the client holds a permission for 127.0.0.1 (installed by
    // the first send): dropped at the relay socket rather than forwarded to the client.
    let before = *refused.borrow();
    internal.send_to(b"reply", relay_addr).await.unwrap();
    timeout(STEP, refused.wait_for(|n| *n > before)).await.expect("inbound loopback refused").unwrap();

    relay.close().await.unwrap();
    client.close().await.unwrap();
    h.turn.close().await;
}

#[tokio::test]
async fn empty_secret_is_rejected() {
    let err = EmbeddedTurn::start(TurnServerConfig {
        listen: SocketAddr::new(LOOPBACK, 0),
        tcp_listen: None,
        tls: None,
        relay_ip: LOOPBACK,
        relay_ports: None,
        realm: REALM.to_owned(),
        secret: Vec::new(),
        refuse_private_peers: true,
        own_listeners: Vec::new(),
        max_allocations: 10,
        clock: tanis_signaling::system_clock(),
    })
    .await
    .err()
    .expect("empty secret refused");
    assert!(matches!(err, TurnError::EmptySecret));
}

/// The relay never leads back into the server (coturn's `denied-peer-ip` for itself): a permission or a channel
/// for one of its own listening sockets — the HTTP listener it is told of, its own TURN listener — or for the
/// allocation's own relay address is refused with 403 Forbidden, and a Send to one under a permission held for
/// the same IP (every loopback peer here shares it) is dropped and counted. In every mode: the private-peer policy
/// is off here, as outside production.
#[tokio::test]
async fn the_server_itself_is_refused_as_a_peer_with_403() {
    // A socket standing in for the HTTP listener: nothing may reach it through the relay.
    let http = UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
    let http_addr = http.local_addr().unwrap();
    let h = start_with(Options { own_listeners: vec![http_addr], ..Options::default() }).await;
    let mut refused = h.turn.watch_refused_peer_datagrams();
    let (ca, cb) = (creds("self-a"), creds("self-b"));
    let (client_a, client_b) =
        (client(&h.turn, &ca.username, &ca.password).await, client(&h.turn, &cb.username, &cb.password).await);
    let (relay_a, relay_b) = (allocate(&client_a).await.unwrap(), allocate(&client_b).await.unwrap());
    let own_relay = relay_a.local_addr().unwrap();

    // CreatePermission first (webrtc-rs asks for one before its first send to an IP): 403 for each.
    let turn_listener = h.turn.local_addr();
    for (what, peer) in [("the HTTP listener", http_addr), ("the TURN listener", turn_listener), ("itself", own_relay)]
    {
        let err = timeout(STEP, relay_a.send_to(b"probe", peer)).await.unwrap().expect_err(what);
        assert_eq!(stun_code(&err), Some(403), "{what} ({peer}) is refused as Forbidden: {err}");
    }
    assert_eq!(h.turn.counters().snapshot().permissions_total, 0, "no permission was installed");

    // Another allocation's relay address is a peer like any other: relay to relay, as two clients of one server.
    assert_eq!(exchange(&relay_b, &relay_a, b"relay to relay").await, b"relay to relay");
    // a now holds a permission for 127.0.0.1, the HTTP listener's IP too: a Send to its port is still dropped.
    let before = *refused.borrow();
    timeout(STEP, relay_a.send_to(b"probe", http_addr)).await.unwrap().unwrap();
    timeout(STEP, refused.wait_for(|n| *n > before)).await.expect("the send to the listener is refused").unwrap();
    let mut buf = [0u8; 64];
    assert!(http.try_recv_from(&mut buf).is_err(), "nothing reached the listener");

    relay_a.close().await.unwrap();
    relay_b.close().await.unwrap();
    client_a.close().await.unwrap();
    client_b.close().await.unwrap();
    h.turn.close().await;
}
