//! Allocations come and go: lifetimes on the injected clock, a storm of short calls with nothing
//! left behind (allocations, sockets), the capacity limit, and the counters operators read.

mod common;

use common::*;
use tokio::time::timeout;
use webrtc_util::Conn;

#[tokio::test]
async fn an_allocation_nobody_refreshes_expires_on_the_clock_and_frees_its_socket() {
    let h = start(LOOPBACK, false).await;
    let fds_before = open_fds();
    let c = creds("expiring");
    let client = client(&h.turn, &c.username, &c.password).await;
    let relay = allocate(&client).await.unwrap();
    h.wait_for_allocations(1).await;
    // The client's own refresh timer runs on real time, minutes away; the server's clock moves now.
    h.advance(601);
    h.wait_for_allocations(0).await;
    drop(relay);
    client.close().await.unwrap();
    drop(client);
    assert!(open_fds() <= fds_before + 1, "the relay socket is closed: {} fds, {fds_before} before", open_fds());
}

#[tokio::test]
async fn a_storm_of_short_calls_leaves_no_allocation_or_socket_behind() {
    let h = start(LOOPBACK, false).await;
    let fds_before = open_fds();
    // 100 calls of two allocations each, 20 at a time: allocate, exchange a datagram, hang up.
    for wave in 0..5 {
        let mut calls = tokio::task::JoinSet::new();
        for call in 0..20 {
            let (ca, cb) = (creds(&format!("a{wave}-{call}")), creds(&format!("b{wave}-{call}")));
            let (ta, tb) =
                (client(&h.turn, &ca.username, &ca.password).await, client(&h.turn, &cb.username, &cb.password).await);
            calls.spawn(async move {
                let (ra, rb) = (allocate(&ta).await.unwrap(), allocate(&tb).await.unwrap());
                assert_eq!(exchange(&ra, &rb, b"frame").await, b"frame");
                // Hang up: a Refresh with lifetime 0 frees each allocation at once.
                ra.close().await.unwrap();
                rb.close().await.unwrap();
                ta.close().await.unwrap();
                tb.close().await.unwrap();
            });
        }
        while let Some(done) = timeout(STEP * 4, calls.join_next()).await.expect("calls finish") {
            done.unwrap();
        }
    }
    h.wait_for_allocations(0).await;
    let stats = h.turn.counters().snapshot();
    assert_eq!(stats.allocations_total, 200);
    assert!(stats.packets_relayed >= 100, "{stats:?}");
    assert!(stats.permissions_total + stats.channel_binds_total >= 200, "{stats:?}");
    // Every client socket above was dropped too; a handful of runtime descriptors may come and go.
    assert!(open_fds() <= fds_before + 4, "{} fds after the storm, {fds_before} before", open_fds());
}

#[tokio::test]
async fn allocations_past_the_limit_are_refused_and_counted() {
    let h = start_with(Options { max_allocations: 2, ..Options::default() }).await;
    let mut held = Vec::new();
    for name in ["one", "two"] {
        let c = creds(name);
        let client = client(&h.turn, &c.username, &c.password).await;
        held.push((allocate(&client).await.expect("under the limit"), client));
    }
    let c = creds("three");
    let third = client(&h.turn, &c.username, &c.password).await;
    assert_eq!(allocation_refusal(&third).await, Some(486), "the third allocation is over the limit (Quota Reached)");
    let stats = h.turn.counters().snapshot();
    assert_eq!((stats.allocations_active, stats.allocations_failed), (2, 1));
}

#[tokio::test]
async fn the_counters_see_every_relayed_datagram_and_its_bytes() {
    let h = start(LOOPBACK, false).await;
    let (ca, cb) = (creds("count-a"), creds("count-b"));
    let (ta, tb) =
        (client(&h.turn, &ca.username, &ca.password).await, client(&h.turn, &cb.username, &cb.password).await);
    let (ra, rb) = (allocate(&ta).await.unwrap(), allocate(&tb).await.unwrap());
    assert_eq!(exchange(&ra, &rb, &[7u8; 1000]).await, vec![7u8; 1000]);
    // "open" (4 bytes) went b → a's relay, the payload a → b: each is counted once out of the
    // client's allocation and once into the peer's client, whichever order they arrived in.
    let s = h.turn.counters().snapshot();
    assert!(s.packets_relayed >= 3 && s.bytes_relayed >= 2000, "{s:?}");
    assert_eq!(s.allocations_active, 2);
    drop((ra, rb));
}

/// An Allocate whose success response was lost is sent again with the same transaction id: the client must get
/// the same allocation back, not 437 for one it does not know it has. A new Allocate from the same 5-tuple is 437.
#[tokio::test]
async fn a_retransmitted_allocate_gets_the_same_answer_and_a_new_one_is_a_mismatch() {
    use stun::attributes::{ATTR_NONCE, ATTR_REALM, ATTR_USERNAME};
    use stun::error_code::ErrorCodeAttribute;
    use stun::integrity::MessageIntegrity;
    use stun::message::Getter;
    use stun::message::{CLASS_REQUEST, METHOD_ALLOCATE, Message, MessageType, Setter};
    use stun::textattrs::TextAttribute;
    use turn::proto::reqtrans::RequestedTransport;

    let h = start(LOOPBACK, false).await;
    let socket = tokio::net::UdpSocket::bind((LOOPBACK, 0)).await.unwrap();
    socket.connect(h.turn.local_addr()).await.unwrap();
    let ask = |extra: Vec<Box<dyn Setter>>| {
        let mut setters: Vec<Box<dyn Setter>> = vec![
            Box::new(stun::agent::TransactionId::new()),
            Box::new(MessageType::new(METHOD_ALLOCATE, CLASS_REQUEST)),
            Box::new(RequestedTransport { protocol: turn::proto::PROTO_UDP }),
        ];
        setters.extend(extra);
        let mut m = Message::new();
        m.build(&setters).unwrap();
        m
    };
    let answer = async |bytes: &[u8]| {
        socket.send(bytes).await.unwrap();
        let mut buf = [0u8; 1500];
        let n = timeout(STEP, socket.recv(&mut buf)).await.expect("answered").unwrap();
        let mut m = Message { raw: buf[..n].to_vec(), ..Message::default() };
        m.decode().unwrap();
        m
    };
    let code = |m: &Message| {
        let mut e = ErrorCodeAttribute::default();
        e.get_from(m).ok().map(|()| e.code.0)
    };
    // The challenge carries the nonce and realm.
    let challenge = answer(&ask(Vec::new()).raw).await;
    assert_eq!(code(&challenge), Some(401));
    let nonce = TextAttribute::get_from_as(&challenge, ATTR_NONCE).unwrap().text;
    let c = creds("retransmit");
    let signed = |nonce: &str| -> Vec<Box<dyn Setter>> {
        vec![
            Box::new(TextAttribute::new(ATTR_USERNAME, c.username.clone())),
            Box::new(TextAttribute::new(ATTR_REALM, REALM.to_owned())),
            Box::new(TextAttribute::new(ATTR_NONCE, nonce.to_owned())),
            Box::new(MessageIntegrity::new_long_term_integrity(
                c.username.clone(),
                REALM.to_owned(),
                c.password.clone(),
            )),
        ]
    };
    let request = ask(signed(&nonce));
    let first = answer(&request.raw).await;
    assert_eq!(code(&first), None, "allocated");
    let again = answer(&request.raw).await;
    assert_eq!(again.raw, first.raw, "the retransmission gets the very same response");
    h.wait_for_allocations(1).await;

    let another = answer(&ask(signed(&nonce)).raw).await;
    assert_eq!(code(&another), Some(437), "a new Allocate on a 5-tuple that has one");
    assert_eq!(h.turn.counters().snapshot().allocations_total, 1);
}

/// With a relay port range (coturn's min-port/max-port, what a firewall opens), every relay socket takes a port in
/// it, and an Allocate once the range is full is refused (508) and counted, not given a port outside it.
#[tokio::test]
async fn relay_sockets_stay_in_the_configured_port_range_and_a_full_range_refuses() {
    // Four ports the kernel is unlikely to hand anyone else during the test: its ephemeral range starts higher.
    let base = 10_000 + (std::process::id() % 5_000) as u16 * 4;
    let h = start_with(Options { relay_ports: Some(base..=base + 3), ..Options::default() }).await;
    let mut held = Vec::new();
    for name in ["p1", "p2", "p3", "p4"] {
        let c = creds(name);
        let client = client(&h.turn, &c.username, &c.password).await;
        let relay = allocate(&client).await.expect("a port is free in the range");
        let port = relay.local_addr().unwrap().port();
        assert!((base..=base + 3).contains(&port), "relay port {port} outside {base}..={}", base + 3);
        held.push((relay, client));
    }
    let c = creds("p5");
    let fifth = client(&h.turn, &c.username, &c.password).await;
    assert_eq!(allocation_refusal(&fifth).await, Some(508), "the range is full (Insufficient Capacity)");
    assert_eq!(h.turn.counters().snapshot().allocations_failed, 1);
}
