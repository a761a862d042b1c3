//! A video call between two webrtc-rs peers, signalled through the hub and configured only with the ICE servers
//! tanis hands out: shared by the tests that prove which relay carries it (video.rs: the embedded TURN server;
//! coturn.rs: an external coturn).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tanis::domain::MatchId;
use tanis_client::{CallReporter, Connection, Identity, Measured};
use tanis_proto::{CallOutcome, ClientFrame, MatchInfo, MatchKind, RtcConfig, ServerFrame};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use webrtc::api::APIBuilder;
use webrtc::api::media_engine::MediaEngine;
use webrtc::data_channel::RTCDataChannel;
use webrtc::data_channel::data_channel_message::DataChannelMessage;
use webrtc::ice_transport::ice_candidate::RTCIceCandidateInit;
use webrtc::ice_transport::ice_candidate_pair::RTCIceCandidatePair;
use webrtc::ice_transport::ice_server::RTCIceServer;
use webrtc::peer_connection::RTCPeerConnection;
use webrtc::peer_connection::configuration::RTCConfiguration;
use webrtc::peer_connection::peer_connection_state::RTCPeerConnectionState;
use webrtc::peer_connection::policy::ice_transport_policy::RTCIceTransportPolicy;
use webrtc::peer_connection::sdp::session_description::RTCSessionDescription;
use webrtc::stats::StatsReportType;

use crate::helpers::{TestApp, TestUser};

/// Both sides of a call: matched, peer connections wired to their sockets, a data channel that greets on open.
/// Nothing is offered until [`Call::offer`], so a test can slip its own frames in first.
pub struct Call {
    pub match_id: MatchId,
    /// The RTC configuration each side was handed with its match (initiator, responder).
    pub rtc: [RtcConfig; 2],
    pub initiator: Arc<RTCPeerConnection>,
    pub responder: Arc<RTCPeerConnection>,
    /// What the initiator's socket sends; a test may add frames of its own.
    pub initiator_out: mpsc::UnboundedSender<ClientFrame>,
    responder_out: mpsc::UnboundedSender<ClientFrame>,
    /// Every frame each socket received (initiator, responder), to check what the peers learnt.
    received: [Arc<Mutex<Vec<ServerFrame>>>; 2],
    heard: [mpsc::UnboundedReceiver<String>; 2],
    tasks: [JoinHandle<()>; 2],
}

impl Call {
    pub async fn set_up(app: &TestApp, a: &TestUser, b: &TestUser) -> Call {
        let [(sa, info_a, rtc_a), (sb, info_b, rtc_b)] = video_pair(app, a, b).await;
        let match_id = info_a.match_id;
        let ((initiator_socket, initiator_rtc), (responder_socket, responder_rtc)) =
            if info_a.initiator { ((sa, rtc_a), (sb, rtc_b)) } else { ((sb, rtc_b), (sa, rtc_a)) };
        assert!(info_a.initiator != info_b.initiator);

        let (pc_i, pc_r) = (peer(&initiator_rtc).await, peer(&responder_rtc).await);
        let (out_i, out_i_rx) = mpsc::unbounded_channel();
        let (out_r, out_r_rx) = mpsc::unbounded_channel();
        observe(&pc_i, match_id, out_i.clone());
        observe(&pc_r, match_id, out_r.clone());
        let (heard_i_tx, heard_i) = mpsc::unbounded_channel();
        let (heard_r_tx, heard_r) = mpsc::unbounded_channel();
        pc_r.on_data_channel(Box::new(move |dc| {
            let heard = heard_r_tx.clone();
            Box::pin(async move { talk(&dc, "merhaba from the responder", heard) })
        }));
        let dc = pc_i.create_data_channel("chat", None).await.unwrap();
        talk(&dc, "merhaba from the initiator", heard_i_tx);

        let received = [Arc::new(Mutex::new(Vec::new())), Arc::new(Mutex::new(Vec::new()))];
        let tasks = [
            tokio::spawn(signalling(initiator_socket, pc_i.clone(), match_id, out_i_rx, received[0].clone())),
            tokio::spawn(signalling(responder_socket, pc_r.clone(), match_id, out_r_rx, received[1].clone())),
        ];
        Call {
            match_id,
            rtc: [initiator_rtc, responder_rtc],
            initiator: pc_i,
            responder: pc_r,
            initiator_out: out_i,
            responder_out: out_r,
            received,
            heard: [heard_i, heard_r],
            tasks,
        }
    }

    /// The initiator offers; ICE, DTLS and SCTP follow through the signalling tasks.
    pub async fn offer(&self) {
        let offer = self.initiator.create_offer(None).await.unwrap();
        self.initiator.set_local_description(offer.clone()).await.unwrap();
        self.initiator_out.send(ClientFrame::RtcOffer { id: None, match_id: self.match_id, sdp: offer.sdp }).unwrap();
    }

    /// The first data-channel message each side heard (initiator, responder), waiting at most a minute; past it,
    /// the panic says where each side's connection stood and what its socket received.
    pub async fn greetings(&mut self) -> (String, String) {
        let [heard_i, heard_r] = &mut self.heard;
        let both_heard = async { (heard_i.recv().await.unwrap(), heard_r.recv().await.unwrap()) };
        match tokio::time::timeout(Duration::from_secs(60), both_heard).await {
            Ok(greetings) => greetings,
            Err(_) => {
                panic!("the data channel carried no greeting both ways within a minute: {}", self.where_it_stood())
            }
        }
    }

    /// Each side's peer connection, ICE and gathering states, and the kinds of frame its socket received.
    fn where_it_stood(&self) -> String {
        let mut out = Vec::new();
        for ((side, frames), pc) in self.received().into_iter().zip([&self.initiator, &self.responder]) {
            let kinds: Vec<String> = frames
                .iter()
                .map(|f| serde_json::to_value(f).ok().and_then(|v| v["type"].as_str().map(str::to_owned)))
                .map(|kind| kind.unwrap_or_else(|| "?".into()))
                .collect();
            out.push(format!(
                "{side}: connection {}, ICE {}, gathering {}, received {kinds:?}",
                pc.connection_state(),
                pc.ice_connection_state(),
                pc.ice_gathering_state()
            ));
        }
        out.join("; ")
    }

    /// The frames each side's socket received so far, named by side.
    pub fn received(&self) -> [(&'static str, Vec<ServerFrame>); 2] {
        let [i, r] = &self.received;
        [("initiator", i.lock().unwrap().clone()), ("responder", r.lock().unwrap().clone())]
    }

    /// The candidate pair ICE selected on each side (initiator, responder).
    pub async fn selected_pairs(&self) -> [RTCIceCandidatePair; 2] {
        let mut pairs = Vec::new();
        for pc in [&self.initiator, &self.responder] {
            let ice = pc.sctp().transport().ice_transport().get_selected_candidate_pair().await;
            pairs.push(ice.expect("a connected peer has a selected candidate pair"));
        }
        pairs.try_into().ok().unwrap()
    }

    pub async fn hang_up(self) {
        // Cleanup only: closing may report the association already torn down (by a ban, say).
        let _ = self.initiator.close().await;
        let _ = self.responder.close().await;
        drop((self.initiator_out, self.responder_out));
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Queues both users for video and returns each side's socket, match info and RTC configuration.
pub async fn video_pair(app: &TestApp, a: &TestUser, b: &TestUser) -> [(Connection, MatchInfo, RtcConfig); 2] {
    let find = || ClientFrame::MatchFind {
        id: None,
        kind: MatchKind::Video,
        public_key: Identity::generate().public_key_b64(),
        nearby: false,
        interests: Default::default(),
        region: Default::default(),
        seeking: None,
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

/// A peer connection that knows only the ICE servers in `rtc`, and uses relay candidates only.
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
    match_id: MatchId,
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

/// Wires a peer connection's events to the signalling channel and the test's observations.
fn observe(pc: &Arc<RTCPeerConnection>, match_id: MatchId, out: mpsc::UnboundedSender<ClientFrame>) {
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
    // The call's one `rtc.stats`, when it connects or fails, as a client sends it (its clock starts here, just
    // before the offer).
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
