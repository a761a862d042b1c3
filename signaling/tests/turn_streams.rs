//! TURN over TCP and TLS: webrtc-rs's TURN client framed over a stream ([`common::StreamConn`])
//! allocates a UDP relay and exchanges datagrams with a client on UDP; closing the connection frees
//! the allocation. Every await on the network is bounded.

mod common;

use common::*;
use tokio::time::timeout;
use webrtc_util::Conn;

#[tokio::test]
async fn a_tcp_client_relays_to_a_udp_client_and_back() {
    let h = start_with(Options { tcp: true, ..Options::default() }).await;
    let tcp_addr = h.turn.tcp_addr().expect("TCP listener");
    let (ca, cb) = (creds("tcp-a"), creds("udp-b"));
    let over_tcp = client_over(tcp_addr, StreamConn::tcp(tcp_addr).await, &ca.username, &ca.password).await;
    let over_udp = client(&h.turn, &cb.username, &cb.password).await;
    let relay_tcp = allocate(&over_tcp).await.expect("allocation over TCP");
    let relay_udp = allocate(&over_udp).await.expect("allocation over UDP");
    // The relay leg is UDP whatever the client's transport: both relays are on the relay IP.
    assert_eq!(relay_tcp.local_addr().unwrap().ip(), LOOPBACK);

    assert_eq!(exchange(&relay_udp, &relay_tcp, b"udp to tcp").await, b"udp to tcp");
    assert_eq!(exchange(&relay_tcp, &relay_udp, b"tcp to udp").await, b"tcp to udp");
    // Odd lengths exercise the four-byte padding of ChannelData on the stream.
    assert_eq!(exchange(&relay_udp, &relay_tcp, b"odd").await, b"odd");
    h.wait_for_allocations(2).await;

    // Closing the TCP connection frees its allocation, with no Refresh.
    over_tcp.close().await.unwrap();
    drop(relay_tcp);
    drop(over_tcp);
    h.wait_for_allocations(1).await;
    relay_udp.close().await.unwrap();
    over_udp.close().await.unwrap();
}

#[tokio::test]
async fn a_tls_client_relays_through_a_certificate_it_trusts() {
    let h = start_with(Options { tls: true, ..Options::default() }).await;
    let tls_addr = h.turn.tls_addr().expect("TLS listener");
    assert!(h.turn.tcp_addr().is_none(), "TLS alone asked for, no plain TCP");
    let cert = h.certificate.as_ref().unwrap();
    let (ca, cb) = (creds("tls-a"), creds("udp-b"));
    let over_tls = client_over(tls_addr, StreamConn::tls(tls_addr, cert).await, &ca.username, &ca.password).await;
    let over_udp = client(&h.turn, &cb.username, &cb.password).await;
    let relay_tls = allocate(&over_tls).await.expect("allocation over TLS");
    let relay_udp = allocate(&over_udp).await.expect("allocation over UDP");

    assert_eq!(exchange(&relay_udp, &relay_tls, b"udp to tls").await, b"udp to tls");
    assert_eq!(exchange(&relay_tls, &relay_udp, b"tls to udp!").await, b"tls to udp!");
    relay_tls.close().await.unwrap();
    relay_udp.close().await.unwrap();
    over_tls.close().await.unwrap();
    over_udp.close().await.unwrap();
}

#[tokio::test]
async fn wrong_credentials_are_refused_over_tcp_too() {
    let h = start_with(Options { tcp: true, ..Options::default() }).await;
    let tcp_addr = h.turn.tcp_addr().unwrap();
    let c = creds("tcp-c");
    let forged = tanis_signaling::credentials::issue(b"not-the-secret", "tcp-c", T0, 600);
    let over_tcp = client_over(tcp_addr, StreamConn::tcp(tcp_addr).await, &c.username, &forged.password).await;
    assert_eq!(allocation_refusal(&over_tcp).await, Some(401), "wrong password must be refused (Unauthorized)");
    assert_eq!(h.turn.counters().snapshot().allocations_total, 0);
}

#[tokio::test]
async fn a_connection_speaking_no_turn_is_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = start_with(Options { tcp: true, ..Options::default() }).await;
    let mut tcp = tokio::net::TcpStream::connect(h.turn.tcp_addr().unwrap()).await.unwrap();
    // An HTTP request starts with bits 01 or 10 in its first byte ('G' = 0x47 would be ChannelData
    // 0x47..; "\x80" is neither STUN nor ChannelData).
    tcp.write_all(b"\x80\x00\x00\x00garbage").await.unwrap();
    let mut buf = [0u8; 16];
    let n = timeout(STEP, tcp.read(&mut buf)).await.expect("closed in time").unwrap_or(0);
    assert_eq!(n, 0, "the server closes the connection without answering");
}

/// A connection that never allocates is closed after the idle limit (10 s on the runtime's clock, paused here),
/// so idle connections cannot hold the connection cap.
#[tokio::test(start_paused = true)]
async fn a_connection_that_never_allocates_is_closed_when_idle() {
    use tokio::io::AsyncReadExt;
    let h = start_with(Options { tcp: true, ..Options::default() }).await;
    let mut tcp = tokio::net::TcpStream::connect(h.turn.tcp_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 16];
    // Paused time jumps ahead while every task waits, so the server's idle timer fires without a real wait;
    // the 60 s bound is on the same clock.
    let n = timeout(std::time::Duration::from_secs(60), tcp.read(&mut buf)).await.expect("closed").unwrap_or(0);
    assert_eq!(n, 0, "closed without a word");
}
