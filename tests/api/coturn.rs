//! The external-TURN deployment (docker-compose.yml's `turn` profile): the embedded relay off, a real coturn with
//! `use-auth-secret` on the secret tanis signs credentials with, and a call carried relay to relay through it.
//! scripts/test starts that coturn (Debian's package) and names it in TANIS_TEST_COTURN_*.

use chrono::Utc;
use tanis_proto::ServerFrame;
use webrtc::ice_transport::ice_candidate_type::RTCIceCandidateType;

use crate::helpers::{Backend, spawn_app_with, test_coturn};
use crate::on_both_stores;
use crate::webrtc_call::Call;

on_both_stores!(a_call_connects_relay_to_relay_through_an_external_coturn_when_the_embedded_relay_is_off);

async fn a_call_connects_relay_to_relay_through_an_external_coturn_when_the_embedded_relay_is_off(backend: Backend) {
    let coturn = test_coturn();
    let app = spawn_app_with(backend, |c| {
        c.video.turn_enabled = false;
        c.video.turn_urls = vec![coturn.url.clone()];
        c.video.turn_secret = Some(coturn.secret.clone());
    })
    .await;
    // coturn checks the expiry in the credentials' username against the real time, not the test's clock.
    app.clock.set(Utc::now());
    let (a, b) = (app.user("kamera_a").await, app.user("kamera_b").await);

    let mut call = Call::set_up(&app, &a, &b).await;
    for rtc in &call.rtc {
        assert_eq!(rtc.ice_servers.len(), 1, "{:?}", rtc.ice_servers);
        assert_eq!(rtc.ice_servers[0].urls, vec![coturn.url.clone()], "coturn only, no embedded server");
    }
    call.offer().await;
    let (at_initiator, at_responder) = call.greetings().await;
    assert_eq!(at_initiator, "merhaba from the responder");
    assert_eq!(at_responder, "merhaba from the initiator");

    // Both ends of the pair ICE chose, on both sides, are coturn relay addresses.
    for pair in call.selected_pairs().await {
        for candidate in [&pair.local, &pair.remote] {
            assert_eq!(candidate.typ, RTCIceCandidateType::Relay, "{candidate:?}");
            assert_eq!(candidate.address, "127.0.0.1");
            assert!(coturn.relay_ports.contains(&candidate.port), "not a coturn relay port: {candidate:?}");
        }
    }
    // And so is every candidate either side was sent.
    for (side, frames) in call.received() {
        let candidates: Vec<_> = frames
            .iter()
            .filter_map(|f| match f {
                ServerFrame::RtcIce { candidate, .. } if !candidate.is_empty() => Some(candidate.clone()),
                _ => None,
            })
            .collect();
        assert!(!candidates.is_empty(), "{side} received candidates");
        for candidate in candidates {
            // candidate:<foundation> <component> <protocol> <priority> <address> <port> typ <type> …
            let fields: Vec<&str> = candidate.split_whitespace().collect();
            let port: u16 = fields[5].parse().unwrap();
            assert_eq!(fields[7], "relay", "{side} got a non-relay candidate: {candidate}");
            assert!(coturn.relay_ports.contains(&port), "{side} got a candidate off coturn: {candidate}");
        }
    }
    call.hang_up().await;
}
