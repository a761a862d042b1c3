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
    assert!(allocate(&third).await.is_err(), "the third allocation is over the limit");
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
