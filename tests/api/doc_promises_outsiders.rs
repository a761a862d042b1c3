//! docs/protocol.md promises that a user can act only on their own matches: every frame that names a match
//! (`match.leave`, `msg.send`, `msg.ack`, `resume`, `typing`, `block`, `report`, `claim`, `rtc.*`, `contact.*`) sent by
//! someone outside it gets its documented refusal, changes nothing, and reaches neither member. The sweep is
//! derived from `tanis_proto::ClientFrame` itself, so a frame added to the protocol cannot be left out.

use std::collections::BTreeSet;

use tanis::domain::{MatchId, Seq};
use tanis_client::{Chat, Connection};
use tanis_proto::{CallOutcome, ClientFrame, ErrorCode, MatchKind, ReportReason, ServerFrame};

use crate::helpers::{Backend, STANDARD_COMMITMENT, TestApp, spawn_app};
use crate::on_both_stores;

on_both_stores!(every_match_scoped_frame_from_outside_the_match_is_refused_and_reaches_neither_member);

/// What docs/protocol.md says a user outside the match gets back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Refusal {
    /// An `error` frame with this code, echoing the request id.
    Error(ErrorCode),
    /// Nothing at all (`msg.ack`: "a message not addressed to you is silently ignored").
    Silence,
}

/// The documented answer to an outsider, or `None` for a frame that names no match. No wildcard arm: a new
/// `ClientFrame` variant does not compile until someone decides here whether it is match-scoped.
fn outsiders_answer(frame: &ClientFrame) -> Option<Refusal> {
    use ErrorCode::{NotInMatch, NotMatched};
    match frame {
        ClientFrame::MatchFind { .. } | ClientFrame::MatchCancel { .. } | ClientFrame::Ping { .. } => None,
        ClientFrame::MatchLeave { .. }
        | ClientFrame::MsgSend { .. }
        | ClientFrame::Resume { .. }
        | ClientFrame::Typing { .. }
        | ClientFrame::Block { .. }
        | ClientFrame::RtcOffer { .. }
        | ClientFrame::RtcAnswer { .. }
        | ClientFrame::RtcIce { .. }
        | ClientFrame::RtcConnected { .. }
        | ClientFrame::RtcStats { .. }
        | ClientFrame::RtcHangup { .. }
        | ClientFrame::ContactPropose { .. }
        | ClientFrame::ContactKey { .. } => Some(Refusal::Error(NotInMatch)),
        ClientFrame::Report { .. } | ClientFrame::Claim { .. } => Some(Refusal::Error(NotMatched)),
        ClientFrame::MsgAck { .. } => Some(Refusal::Silence),
    }
}

/// One valid frame of every type, aimed at `match_id` (and its message `seq`) where the frame names a match.
fn one_of_each(match_id: MatchId, seq: Seq) -> Vec<ClientFrame> {
    let id = |name: &str| Some(format!("x-{name}"));
    vec![
        ClientFrame::MatchFind {
            id: id("find"),
            kind: MatchKind::Text,
            public_key: tanis_client::Identity::generate().public_key_b64(),
            nearby: false,
            interests: Default::default(),
            region: Default::default(),
            seeking: None,
        },
        ClientFrame::MatchCancel { id: id("cancel") },
        ClientFrame::Ping { id: id("ping") },
        ClientFrame::MatchLeave { id: id("leave"), match_id },
        ClientFrame::MsgSend {
            id: id("send"),
            match_id,
            client_msg_id: "intruder-1".into(),
            ciphertext: "aW50cnVkZXI=".into(),
            nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            commitment: STANDARD_COMMITMENT.into(),
            ack: None,
        },
        ClientFrame::MsgAck { id: id("ack"), match_id, seq },
        ClientFrame::Resume { id: id("resume"), match_id, after_seq: Seq(0) },
        ClientFrame::Typing { id: id("typing"), match_id },
        ClientFrame::Block { id: id("block"), match_id },
        ClientFrame::Report {
            id: id("report"),
            match_id,
            reason_code: ReportReason::Harassment,
            details: Some("not even there".into()),
            evidence: Vec::new(),
        },
        ClientFrame::Claim { id: id("claim"), match_id },
        ClientFrame::RtcOffer { id: id("offer"), match_id, sdp: "v=0\r\n".into() },
        ClientFrame::RtcAnswer { id: id("answer"), match_id, sdp: "v=0\r\n".into() },
        ClientFrame::RtcIce {
            id: id("ice"),
            match_id,
            candidate: "candidate:1 1 udp 2 127.0.0.1 50000 typ relay raddr 0.0.0.0 rport 0".into(),
            sdp_mid: Some("0".into()),
            sdp_mline_index: Some(0),
        },
        ClientFrame::RtcConnected { id: id("connected"), match_id },
        ClientFrame::RtcStats {
            id: id("stats"),
            match_id,
            outcome: CallOutcome::Connected,
            setup_ms: 900,
            rtt_ms: Some(40),
            packets_sent: Some(100),
            packets_lost: Some(1),
        },
        ClientFrame::RtcHangup { id: id("hangup"), match_id },
        ClientFrame::ContactPropose { id: id("keep"), match_id },
        ClientFrame::ContactKey {
            id: id("key"),
            match_id,
            public_key: tanis_client::Identity::generate().public_key_b64(),
        },
    ]
}

/// Every client frame type the protocol knows, read from the type itself: serde lists them all when refusing an
/// unknown one. [`one_of_each`] must cover this list, so a new type fails the test until it is swept.
fn every_client_frame_type() -> BTreeSet<String> {
    let refusal = serde_json::from_str::<ClientFrame>(r#"{"type":"no.such.frame"}"#).unwrap_err().to_string();
    let (_, listed) = refusal.split_once("expected one of ").expect("serde names the variants it expects");
    // "`match.find`, `match.cancel`, … at line 1 column 23": the names are the back-quoted parts.
    listed.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

fn type_of(frame: &ClientFrame) -> String {
    serde_json::to_value(frame).unwrap()["type"].as_str().unwrap().to_owned()
}

/// Sends every match-scoped frame aimed at `match_id` from `outsider`, each followed by a ping: the frame's
/// documented answer (or none), then the pong, is all the outsider may receive.
async fn sweep(outsider: &mut Connection, match_id: MatchId, seq: Seq) {
    for frame in one_of_each(match_id, seq) {
        let Some(expected) = outsiders_answer(&frame) else { continue };
        let name = type_of(&frame);
        outsider.send(&frame).await.unwrap();
        outsider.send(&ClientFrame::Ping { id: Some(format!("after-{name}")) }).await.unwrap();
        if let Refusal::Error(code) = expected {
            match outsider.next().await.unwrap() {
                ServerFrame::Error { id, code: got, .. } => {
                    assert_eq!((id.as_deref(), got), (frame.id(), code), "{name} from outside the match")
                }
                other => panic!("{name} from outside the match: expected {code:?}, got {other:?}"),
            }
        }
        let pong = outsider.next().await.unwrap();
        assert_eq!(pong, ServerFrame::Pong { id: Some(format!("after-{name}")) }, "{name}: nothing else answered");
    }
}

/// `from` sends a message in the match and `to` must see it as its very next frame; then `to` answers and its
/// very next frame must be the acceptance. Whatever the sweep had wrongly sent either of them (a relayed frame,
/// a `match.ended`, a `msg.delivered` from the relay's batches) would be queued ahead and fail the check.
async fn next_frames_are_the_markers(from: (&mut Connection, &mut Chat), to: (&mut Connection, &mut Chat)) {
    let ((sa, chat_a), (sb, chat_b)) = (from, to);
    sa.send(&chat_a.message("işaret")).await.unwrap();
    let ServerFrame::MsgAccepted { seq, .. } = sa.next().await.unwrap() else { panic!("a's marker accepted") };
    let marker = sb.next().await.unwrap();
    assert!(matches!(&marker, ServerFrame::Msg { seq: s, mine: false, .. } if *s == seq), "b: {marker:?}");
    assert_eq!(chat_b.read(&marker).unwrap(), "işaret");
    sb.send(&chat_b.message("cevap")).await.unwrap();
    let accepted = sb.next().await.unwrap();
    assert!(matches!(accepted, ServerFrame::MsgAccepted { .. }), "b's next frame is its answer's acceptance");
    let answer = sa.next().await.unwrap();
    assert_eq!(chat_a.read(&answer).unwrap(), "cevap", "a's next frame is b's answer");
}

async fn every_match_scoped_frame_from_outside_the_match_is_refused_and_reaches_neither_member(backend: Backend) {
    let swept: BTreeSet<String> = one_of_each(MatchId(0), Seq(0)).iter().map(type_of).collect();
    assert_eq!(swept, every_client_frame_type(), "one_of_each holds one frame of every type");

    let app = spawn_app(backend).await;
    let names = ["uye_a", "uye_b", "yabanci", "yabancinin_esi", "yalniz"];
    let users = futures_util::future::join_all(names.iter().map(|n| app.user(n))).await;
    let [a, b, outsider, outsiders_peer, loner] = <[_; 5]>::try_from(users).unwrap();
    // The target is a video match, so that the rtc.* frames meet a match they could act on; one outsider is in
    // a match of their own (an active match, just not this one), the other in none.
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&a, &b, MatchKind::Video).await;
    let (mut so, _, _so_peer, _) = app.pair(&outsider, &outsiders_peer, MatchKind::Text).await;
    let mut sl = app.socket(&loner).await;
    let match_id = chat_a.info.match_id;
    sa.send(&chat_a.message("ilk")).await.unwrap();
    let ServerFrame::MsgAccepted { seq, .. } = sa.next().await.unwrap() else { panic!("accepted") };
    sb.next_where(|f| matches!(f, ServerFrame::Msg { .. })).await.unwrap();

    for outsider in [&mut so, &mut sl] {
        sweep(outsider, match_id, seq).await;
    }

    next_frames_are_the_markers((&mut sa, &mut chat_a), (&mut sb, &mut chat_b)).await;
    assert_unchanged(&app, match_id, seq).await;
}

/// Nothing the sweep asked for was stored: the match is active, nobody is blocked, reported or claiming, the
/// message is not delivered, the call is not marked connected or reported, and no stranger's message is stored.
async fn assert_unchanged(app: &TestApp, match_id: MatchId, seq: Seq) {
    let active = app.count(format!("SELECT COUNT(*) FROM matches WHERE id = {match_id} AND status = 'active'")).await;
    assert_eq!(active, 1, "the match is still active");
    let kept = app
        .count(format!(
            "SELECT COUNT(*) FROM matches WHERE id = {match_id} AND (user1_keep_at IS NOT NULL OR user2_keep_at IS NOT NULL)"
        ))
        .await;
    assert_eq!(kept, 0, "no proposal to keep in touch was recorded");
    for table in ["blocks", "reports", "claims"] {
        assert_eq!(app.count(format!("SELECT COUNT(*) FROM {table}")).await, 0, "{table}");
    }
    let delivered = app
        .count(format!(
            "SELECT COUNT(*) FROM message_logs WHERE match_id = {match_id} AND seq = {seq} AND delivered = TRUE"
        ))
        .await;
    assert_eq!(delivered, 0, "an outsider's ack marks nothing delivered");
    let stored = app.count(format!("SELECT COUNT(*) FROM messages WHERE match_id = {match_id}")).await;
    assert_eq!(stored, 3, "the first message and the two markers, nothing of the outsiders'");
    let call = app
        .count(format!(
            "SELECT COUNT(*) FROM matches WHERE id = {match_id} AND (call_connected_at IS NOT NULL OR user1_call_report_at IS NOT NULL \
             OR user2_call_report_at IS NOT NULL)"
        ))
        .await;
    assert_eq!(call, 0, "rtc.connected and rtc.stats from outside record nothing");
}
