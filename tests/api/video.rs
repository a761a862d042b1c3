//! Video: signalling through the hub, TURN credentials, and the proof with a real WebRTC stack (webrtc-rs)
//! that two strangers connect through the embedded TURN relay without either learning the other's address.

use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, RtcConfig, ServerFrame};
use tanis_signaling::privacy::relay_only_violations;
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, assert_error, eventually, spawn_app};
use crate::on_both_stores;
use crate::webrtc_call::{Call, video_pair};

on_both_stores!(
    two_webrtc_peers_connect_through_the_embedded_turn_relay_and_never_see_a_non_relay_address,
    signalling_is_stripped_of_addresses_limited_and_only_between_video_partners,
    ice_servers_carry_ephemeral_turn_credentials_without_the_account,
);

/// A host candidate with a private address, as a careless or malicious client might trickle it.
const HOST_CANDIDATE: &str = "candidate:1 1 udp 2130706431 192.168.77.5 50000 typ host generation 0";

async fn two_webrtc_peers_connect_through_the_embedded_turn_relay_and_never_see_a_non_relay_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kamera_a").await, app.user("kamera_b").await);
    let before = app.scrape().await;
    let mut call = Call::set_up(&app, &a, &b).await;
    let match_id = call.match_id;
    // A host candidate sent on purpose must never reach the responder.
    call.initiator_out
        .send(ClientFrame::RtcIce {
            id: None,
            match_id,
            candidate: HOST_CANDIDATE.into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        })
        .unwrap();
    call.offer().await;

    let (at_initiator, at_responder) = call.greetings().await;
    assert_eq!(at_initiator, "merhaba from the responder");
    assert_eq!(at_responder, "merhaba from the initiator");

    // Neither side ever received an address other than the relay's.
    for (side, frames) in call.received() {
        let mut candidates = 0;
        for frame in &frames {
            match frame {
                ServerFrame::RtcOffer { sdp, .. } | ServerFrame::RtcAnswer { sdp, .. } => {
                    assert_eq!(relay_only_violations(sdp), Vec::<String>::new(), "{side} got a leaking SDP");
                }
                ServerFrame::RtcIce { candidate, .. } if !candidate.is_empty() => {
                    candidates += 1;
                    assert!(candidate.contains("typ relay"), "{side} got a non-relay candidate: {candidate}");
                    assert!(!candidate.contains("192.168.77.5"));
                }
                _ => {}
            }
        }
        assert!(candidates > 0, "{side} received relay candidates");
    }

    // The call is recorded as connected, so a video claim on it is rejected.
    let connected = async {
        while app.store.call_connected_at(match_id).await.unwrap().is_none() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), connected).await.expect("rtc.connected was recorded");
    // Both sides reported the call as connected, with the relay's round trip when webrtc-rs had measured one.
    let series = "tanis_rtc_call_setups_total{outcome=\"connected\"}";
    eventually(Duration::from_secs(20), "both sides report the call", || async {
        app.scrape().await.value(series) - before.value(series) == 2.0
    })
    .await;
    let timed = "tanis_rtc_time_to_connect_seconds_count";
    assert_eq!(app.scrape().await.value(timed) - before.value(timed), 2.0);
    // The embedded relay carried the call: its allocations, permissions and datagrams are on /metrics.
    let relay = app.scrape().await;
    for series in ["tanis_turn_allocations_total", "tanis_turn_permissions_total", "tanis_turn_packets_relayed_total"] {
        assert!(relay.value(series) > before.value(series), "{series} did not move");
    }
    assert!(relay.value("tanis_turn_bytes_relayed_total") >= 2.0 * 26.0, "both greetings crossed the relay");
    let token = app.access_token(&a).await;
    let claim =
        app.client.post(app.url("/v1/claims")).bearer_auth(token).json(&serde_json::json!({ "match_id": match_id }));
    assert_eq!(claim.send().await.unwrap().status(), StatusCode::CREATED);
    let by = serde_json::json!({ "test": true });
    let ban = tanis::store::NewBan::permanent(b.id, tanis::domain::BanReason::Other, &by, app.now());
    tanis::moderation::ban(app.hub.site(), &ban).await.unwrap();
    app.run_job(Job::Claims).await.unwrap();
    let reason =
        app.count(format!("SELECT COUNT(*) FROM claims WHERE match_id = {match_id} AND status = 'rejected'")).await;
    assert_eq!(reason, 1, "the call connected: no refund");

    call.hang_up().await;
}

async fn signalling_is_stripped_of_addresses_limited_and_only_between_video_partners(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kamera_a").await, app.user("kamera_b").await);
    let [(mut sa, info, _), (mut sb, _, _)] = video_pair(&app, &a, &b).await;
    let match_id = info.match_id;
    let sdp = "v=0\r\no=- 4611731400430051336 2 IN IP4 192.168.77.5\r\ns=-\r\nt=0 0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
               c=IN IP4 203.0.113.9\r\na=candidate:1 1 udp 2130706431 192.168.77.5 50000 typ host\r\n\
               a=candidate:2 1 udp 1694498815 203.0.113.9 50000 typ srflx raddr 192.168.77.5 rport 50000\r\n\
               a=candidate:3 1 udp 16777215 198.51.100.20 61000 typ relay raddr 203.0.113.9 rport 50000\r\n";
    sa.send(&ClientFrame::RtcOffer { id: None, match_id, sdp: sdp.into() }).await.unwrap();
    let ServerFrame::RtcOffer { sdp: relayed, .. } = sb.next().await.unwrap() else { panic!("rtc.offer") };
    assert_eq!(relay_only_violations(&relayed), Vec::<String>::new());
    for leaked in ["192.168.77.5", "203.0.113.9"] {
        assert!(!relayed.contains(leaked), "{leaked} reached the peer:\n{relayed}");
    }
    assert!(relayed.contains("198.51.100.20 61000 typ relay"), "the relay candidate is kept");

    // A host candidate is dropped; the relay candidate after it arrives first.
    sa.send(&ClientFrame::RtcIce {
        id: None,
        match_id,
        candidate: HOST_CANDIDATE.into(),
        sdp_mid: None,
        sdp_mline_index: None,
    })
    .await
    .unwrap();
    let relay = "candidate:3 1 udp 16777215 198.51.100.20 61000 typ relay raddr 203.0.113.9 rport 50000";
    sa.send(&ClientFrame::RtcIce { id: None, match_id, candidate: relay.into(), sdp_mid: None, sdp_mline_index: None })
        .await
        .unwrap();
    let ServerFrame::RtcIce { candidate, .. } = sb.next().await.unwrap() else { panic!("rtc.ice") };
    assert!(candidate.contains("typ relay") && !candidate.contains("203.0.113.9"), "{candidate}");
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("tanis_rtc_candidates_removed_total"), "removals are counted");

    let huge = ClientFrame::RtcOffer { id: Some("big".into()), match_id, sdp: "a".repeat(17 * 1024) };
    sa.send(&huge).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::MessageTooLarge, .. }));

    sb.send(&ClientFrame::RtcHangup { id: None, match_id }).await.unwrap();
    assert_eq!(sa.next().await.unwrap(), ServerFrame::RtcHangup { match_id });
    let ended =
        app.count(format!("SELECT COUNT(*) FROM matches WHERE id = {match_id} AND call_ended_at IS NOT NULL")).await;
    assert_eq!(ended, 1);

    // A text match cannot carry signalling, and neither can a stranger.
    let (c, d) = (app.user("yazi_c").await, app.user("yazi_d").await);
    let (mut sc, chat, _sd, _) = app.pair(&c, &d, MatchKind::Text).await;
    sc.send(&ClientFrame::RtcOffer { id: Some("x".into()), match_id: chat.info.match_id, sdp: "v=0".into() })
        .await
        .unwrap();
    assert!(matches!(sc.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::NotInMatch, .. }));
    sc.send(&ClientFrame::RtcOffer { id: Some("y".into()), match_id, sdp: "v=0".into() }).await.unwrap();
    assert!(matches!(sc.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::NotInMatch, .. }));
}

async fn ice_servers_carry_ephemeral_turn_credentials_without_the_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("kamera").await;
    let (status, answer) = app.get_json("/v1/rtc/ice-servers", &app.access_token(&user).await).await;
    assert_eq!(status, StatusCode::OK);
    let rtc: RtcConfig = serde_json::from_value(answer).unwrap();
    assert_eq!((rtc.ice_transport_policy.as_str(), rtc.ttl_secs), ("relay", 600));
    let server = &rtc.ice_servers[0];
    assert!(server.urls[0].starts_with("turn:127.0.0.1:"), "{:?}", server.urls);
    let username = server.username.clone().unwrap();
    let (expiry, reference) = username.split_once(':').unwrap();
    assert_eq!(expiry.parse::<i64>().unwrap(), app.now().timestamp() + 600);
    assert!(
        reference.len() == 16 && reference.chars().all(|c| c.is_ascii_hexdigit()),
        "an opaque reference: {reference}"
    );
    let (_, again) = app.get_json("/v1/rtc/ice-servers", &app.access_token(&user).await).await;
    let again: RtcConfig = serde_json::from_value(again).unwrap();
    let other = again.ice_servers[0].username.clone().unwrap();
    assert_ne!(
        other.split_once(':').unwrap().1,
        reference,
        "a fresh reference per issuance, not derived from the account"
    );
    // Configured on PostgreSQL (a node that may be shared refuses generated secrets), generated on SQLite.
    let secret = match &app.config.video.turn_secret {
        Some(configured) => configured.as_bytes().to_vec(),
        None => {
            let encoded = std::fs::read_to_string(app.config.data_dir.join("turn_secret")).unwrap();
            base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap()
        }
    };
    let expected = tanis_signaling::credentials::password_for(&secret, &username, app.now().timestamp());
    assert_eq!(expected, server.credential.clone(), "TURN REST: base64(HMAC-SHA1(secret, username))");

    let anonymous = app.client.get(app.url("/v1/rtc/ice-servers")).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
}
