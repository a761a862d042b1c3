//! Video: signalling through the hub, TURN credentials, and the proof with a real WebRTC stack (webrtc-rs)
//! that two strangers connect through the embedded TURN relay without either learning the other's address.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use reqwest::StatusCode;
use tanis_client::{CallReporter, Connection, Identity, Measured};
use tanis_proto::{CallOutcome, ClientFrame, ErrorCode, MatchInfo, MatchKind, RtcConfig, ServerFrame};
use tanis_signaling::privacy::relay_only_violations;
use tanis_workers::schedule::Job;
use tokio::sync::mpsc;
use webrtc::api::APIBuilder;
use webrtc::api::media_engine::MediaEngine;
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_message::DataChannelMessage;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::policy::ice_transport_policy::RTCIceTransportPolicy;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::stats::StatsReportType;

use crate::helpers::{Backend, TestApp, TestUser, assert_error, eventually, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    two_webrtc_peers_connect_through_the_embedded_turn_relay_and_never_see_a_non_relay_address,
    signalling_is_stripped_of_addresses_limited_and_only_between_video_partners,
    ice_servers_carry_ephemeral_turn_credentials_without_the_account,
);

/// A host candidate with a private address, as a careless or malicious client might trickle it.
const HOST_CANDIDATE: &str = "candidate:1 1 udp 2130706431 192.168.77.5 50000 typ host generation 0";

/// Queues both users for video and returns each side's socket, match info and RTC configuration.
async fn video_pair(app: &TestApp, a: &TestUser, b: &TestUser) -> [(Connection, MatchInfo, RtcConfig); 2] {
    let find = || ClientFrame::MatchFind {
        id: None,
        kind: MatchKind::Video,
        public_key: Identity::generate().public_key_b64(),
        nearby: false,
    };
    let mut sockets = [app.socket(a).await, app.socket(b).await];
    for socket in &mut sockets {
        socket.send(&find()).await.unwrap();
    }
    let mut out = Vec::new();
    for mut socket in sockets {
        match socket.next_where(|f| matches!(f, ServerFrame::MatchFound { .. })).await.unwrap() {
            ServerFrame::MatchFound { info, rtc: Some(rtc), .. } => out.push((socket, info, rtc)),
            other => panic!("video match.found carries rtc: {other:?}"),
        }
    }
    out.try_into().ok().unwrap()
}

async fn peer(rtc: &RtcConfig) -> Arc<RTCPeerConnection> {
    let mut media = MediaEngine::default();
    media.register_default_codecs().unwrap();
    let api = APIBuilder::new().with_media_engine(media).build();
    let ice_servers = rtc
        .ice_servers
        .iter()
        .map(|s| RTCIceServer {
            urls: s.urls.clone(),
            username: s.username.clone().unwrap_or_default(),
            credential: s.credential.clone().unwrap_or_default(),
        })
        .collect();
    assert_eq!(rtc.ice_transport_policy, "relay");
    let config =
        RTCConfiguration { ice_servers, ice_transport_policy: RTCIceTransportPolicy::Relay, ..Default::default() };
    Arc::new(api.new_peer_connection(config).await.unwrap())
}

/// One side of the call: owns the socket, applies the peer's signalling, sends its own, records what it got.
async fn signalling(
    mut socket: Connection,
    pc: Arc<RTCPeerConnection>,
    match_id: i64,
    mut outgoing: mpsc::UnboundedReceiver<ClientFrame>,
    received: Arc<Mutex<Vec<ServerFrame>>>,
) {
    socket.wait = Duration::from_secs(60);
    let mut early_candidates = Vec::new();
    loop {
        tokio::select! {
            out = outgoing.recv() => match out {
                Some(frame) => socket.send(&frame).await.unwrap(),
                None => return,
            },
            frame = socket.next() => {
                let Ok(frame) = frame else { return };
                received.lock().unwrap().push(frame.clone());
                match frame {
                    ServerFrame::RtcOffer { sdp, .. } => {
                        pc.set_remote_description(RTCSessionDescription::offer(sdp).unwrap()).await.unwrap();
                        for c in early_candidates.drain(..) {
                            pc.add_ice_candidate(c).await.unwrap();
                        }
                        let answer = pc.create_answer(None).await.unwrap();
                        pc.set_local_description(answer.clone()).await.unwrap();
                        socket.send(&ClientFrame::RtcAnswer { id: None, match_id, sdp: answer.sdp }).await.unwrap();
                    }
                    ServerFrame::RtcAnswer { sdp, .. } => {
                        pc.set_remote_description(RTCSessionDescription::answer(sdp).unwrap()).await.unwrap();
                        for c in early_candidates.drain(..) {
                            pc.add_ice_candidate(c).await.unwrap();
                        }
                    }
                    ServerFrame::RtcIce { candidate, sdp_mid, sdp_mline_index, .. } => {
                        let init = RTCIceCandidateInit { candidate, sdp_mid, sdp_mline_index, username_fragment: None };
                        // Trickled candidates can arrive before the description they belong to.
                        if pc.remote_description().await.is_some() {
                            pc.add_ice_candidate(init).await.unwrap();
                        } else {
                            early_candidates.push(init);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
}

/// What webrtc-rs measured of the call: the nominated pair's round trip (through the relay). A data channel
/// sends no RTP, so there are no packet figures.
async fn measured(pc: &RTCPeerConnection) -> Measured {
    let rtt = pc.get_stats().await.reports.into_values().find_map(|report| match report {
        StatsReportType::CandidatePair(pair) if pair.nominated && pair.current_round_trip_time > 0.0 => {
            Some(Duration::from_secs_f64(pair.current_round_trip_time))
        }
        _ => None,
    });
    Measured { rtt, packets: None }
}

/// Wires a peer connection's events to the signalling channel and the test's observations, as a client does:
/// `rtc.connected`, and the call's one `rtc.stats` when it connects or fails (its clock started here, just
/// before the offer).
fn observe(pc: &Arc<RTCPeerConnection>, match_id: i64, out: mpsc::UnboundedSender<ClientFrame>) {
    let tx = out.clone();
    pc.on_ice_candidate(Box::new(move |candidate| {
        let tx = tx.clone();
        Box::pin(async move {
            if let Some(candidate) = candidate {
                let init = candidate.to_json().unwrap();
                let _ = tx.send(ClientFrame::RtcIce {
                    id: None,
                    match_id,
                    candidate: init.candidate,
                    sdp_mid: init.sdp_mid,
                    sdp_mline_index: init.sdp_mline_index,
                });
            }
        })
    }));
    let reporter = Arc::new(Mutex::new(CallReporter::start(match_id)));
    // Weak: the handler is kept by the connection itself.
    let weak = Arc::downgrade(pc);
    pc.on_peer_connection_state_change(Box::new(move |state| {
        let (out, reporter, weak) = (out.clone(), reporter.clone(), weak.clone());
        Box::pin(async move {
            let outcome = match state {
                RTCPeerConnectionState::Connected => {
                    let _ = out.send(ClientFrame::RtcConnected { id: None, match_id });
                    CallOutcome::Connected
                }
                RTCPeerConnectionState::Failed => CallOutcome::Failed,
                _ => return,
            };
            // Stats are read in a task of their own, not inside the connection's state-change callback.
            tokio::spawn(async move {
                let measured = match weak.upgrade() {
                    Some(pc) => measured(&pc).await,
                    None => Measured::default(),
                };
                if let Some(frame) = reporter.lock().unwrap().report(outcome, measured) {
                    let _ = out.send(frame);
                }
            });
        })
    }));
}

/// Sends `greeting` when the channel opens and forwards whatever arrives on it.
fn talk(dc: &Arc<RTCDataChannel>, greeting: &'static str, heard: mpsc::UnboundedSender<String>) {
    let sender = dc.clone();
    dc.on_open(Box::new(move || {
        Box::pin(async move {
            sender.send_text(greeting.to_owned()).await.unwrap();
        })
    }));
    dc.on_message(Box::new(move |msg: DataChannelMessage| {
        let heard = heard.clone();
        Box::pin(async move {
            let _ = heard.send(String::from_utf8(msg.data.to_vec()).unwrap());
        })
    }));
}

async fn two_webrtc_peers_connect_through_the_embedded_turn_relay_and_never_see_a_non_relay_address(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("kamera_a").await, app.user("kamera_b").await);
    let before = app.scrape().await;
    let [(sa, info_a, rtc_a), (sb, info_b, rtc_b)] = video_pair(&app, &a, &b).await;
    let match_id = info_a.match_id;
    let ((initiator_socket, initiator_rtc), (responder_socket, responder_rtc)) =
        if info_a.initiator { ((sa, rtc_a), (sb, rtc_b)) } else { ((sb, rtc_b), (sa, rtc_a)) };
    assert!(info_a.initiator != info_b.initiator);

    let (pc_i, pc_r) = (peer(&initiator_rtc).await, peer(&responder_rtc).await);
    let (out_i, out_i_rx) = mpsc::unbounded_channel();
    let (out_r, out_r_rx) = mpsc::unbounded_channel();
    observe(&pc_i, match_id, out_i.clone());
    observe(&pc_r, match_id, out_r.clone());
    let (heard_i_tx, mut heard_i) = mpsc::unbounded_channel();
    let (heard_r_tx, mut heard_r) = mpsc::unbounded_channel();
    pc_r.on_data_channel(Box::new(move |dc| {
        let heard = heard_r_tx.clone();
        Box::pin(async move { talk(&dc, "merhaba from the responder", heard) })
    }));
    let dc = pc_i.create_data_channel("chat", None).await.unwrap();
    talk(&dc, "merhaba from the initiator", heard_i_tx);

    let (got_i, got_r) = (Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new())));
    let tasks = [
        tokio::spawn(signalling(initiator_socket, pc_i.clone(), match_id, out_i_rx, got_i.clone())),
        tokio::spawn(signalling(responder_socket, pc_r.clone(), match_id, out_r_rx, got_r.clone())),
    ];
    // A host candidate sent on purpose must never reach the responder.
    out_i
        .send(ClientFrame::RtcIce {
            id: None,
            match_id,
            candidate: HOST_CANDIDATE.into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        })
        .unwrap();
    let offer = pc_i.create_offer(None).await.unwrap();
    pc_i.set_local_description(offer.clone()).await.unwrap();
    out_i.send(ClientFrame::RtcOffer { id: None, match_id, sdp: offer.sdp }).unwrap();

    let both_heard = async { (heard_i.recv().await.unwrap(), heard_r.recv().await.unwrap()) };
    let (at_initiator, at_responder) = tokio::time::timeout(Duration::from_secs(60), both_heard)
        .await
        .expect("the data channel carries bytes both ways");
    assert_eq!(at_initiator, "merhaba from the responder");
    assert_eq!(at_responder, "merhaba from the initiator");

    // Neither side ever received an address other than the relay's.
    for (side, frames) in [("initiator", &got_i), ("responder", &got_r)] {
        let frames = frames.lock().unwrap().clone();
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
    // TODO(issue 26, TURN rewrite): once the relay's data path fills TurnCounters, assert here that
    // `tanis_turn_allocations_total` is above 0 after this call: today the counters are exported but read 0.
    let token = app.access_token(&a);
    let claim =
        app.client.post(app.url("/v1/claims")).bearer_auth(token).json(&serde_json::json!({ "match_id": match_id }));
    assert_eq!(claim.send().await.unwrap().status(), StatusCode::CREATED);
    app.hub
        .ban(&tanis::store::NewBan::permanent(b.id, "other", &serde_json::json!({ "test": true }), app.now()))
        .await
        .unwrap();
    app.run_job(Job::Claims).await.unwrap();
    let reason =
        app.count(format!("SELECT COUNT(*) FROM claims WHERE match_id = {match_id} AND status = 'rejected'")).await;
    assert_eq!(reason, 1, "the call connected: no refund");

    // Cleanup only: closing may report the association already torn down by the ban.
    let _ = pc_i.close().await;
    let _ = pc_r.close().await;
    drop((out_i, out_r));
    for task in tasks {
        task.abort();
    }
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
    let response =
        app.client.get(app.url("/v1/rtc/ice-servers")).bearer_auth(app.access_token(&user)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let rtc: RtcConfig = response.json().await.unwrap();
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
    let again: RtcConfig = app
        .client
        .get(app.url("/v1/rtc/ice-servers"))
        .bearer_auth(app.access_token(&user))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let other = again.ice_servers[0].username.clone().unwrap();
    assert_ne!(
        other.split_once(':').unwrap().1,
        reference,
        "a fresh reference per issuance, not derived from the account"
    );
    let encoded = std::fs::read_to_string(app.config.data_dir.join("turn_secret")).unwrap();
    let secret = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).unwrap();
    let expected = tanis_signaling::credentials::password_for(&secret, &username, app.now().timestamp());
    assert_eq!(expected, server.credential.clone(), "TURN REST: base64(HMAC-SHA1(secret, username))");

    let anonymous = app.client.get(app.url("/v1/rtc/ice-servers")).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
}
