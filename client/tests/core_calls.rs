//! The client core's call signalling (client/src/core/call.rs), which the conformance corpus cannot pin (the
//! TypeScript SDK's call needs a WebRTC stack to take an offer): each signal carried both ways for the video match
//! only, the setup timed on the host's clock from the first offer, reported once.

use std::sync::Arc;

use serde_json::{Value, json};
use tanis_client::Identity;
use tanis_client::core::call::{Measured, Signal};
use tanis_client::core::testkit::{self, tokens};
use tanis_client::core::{Core, CoreError, Event, MemoryStorage, Millis, Output};
use tanis_proto::MatchKind;

/// A core signed in, greeted, and in match 7 of `kind`; and the frames it has sent so far taken.
fn matched(kind: MatchKind) -> Core {
    let secrets = Arc::new(MemoryStorage::default());
    testkit::store_session(&*secrets, &tokens::pair(1).to_string());
    let mut core = Core::new(Box::new(MemoryStorage::default()), Box::new(secrets));
    core.start(Millis(0));
    core.opened(Millis(0));
    let hello = json!({"type": "hello", "protocol": 2, "handle": "me#0001",
        "balances": {"daily_text": 10, "daily_video": 3, "bonus_text": 0, "bonus_video": 0}, "premium": false,
        "limits": {"max_message_bytes": 16384, "messages_per_second": 10, "max_frame_bytes": 32768, "report_window_days": 30},
        "server_time": "1970-01-01T00:00:00Z", "active_match": null});
    core.received(&hello.to_string(), Millis(0));
    core.find(kind, Millis(0)).unwrap();
    let peer = Identity::generate().public_key_b64();
    let found = json!({"type": "match.found", "match_id": 7, "kind": kind, "peer": "peer#0001", "peer_public_key": peer,
        "initiator": true, "expires_at": "1970-01-02T00:00:00Z",
        "balances": {"daily_text": 10, "daily_video": 2, "bonus_text": 0, "bonus_video": 0}});
    let out = core.received(&found.to_string(), Millis(0));
    assert!(out.iter().any(|o| matches!(o, Output::Event(Event::Matched { match_id: 7, .. }))), "{out:?}");
    core
}

fn frames(out: &[Output]) -> Vec<Value> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(frame) => Some(serde_json::from_str(frame).unwrap()),
            _ => None,
        })
        .collect()
}

#[test]
fn signals_go_both_ways_and_the_setup_is_reported_once_from_the_first_offer() {
    let mut core = matched(MatchKind::Video);
    let out = core.signal(Signal::Offer { sdp: "v=0 offer".into() }, Millis(1_000)).unwrap();
    let sent = frames(&out);
    assert_eq!((sent[0]["type"].as_str(), sent[0]["match_id"].as_i64()), (Some("rtc.offer"), Some(7)));
    assert_eq!(sent[0]["sdp"], "v=0 offer");

    let answer = json!({"type": "rtc.answer", "match_id": 7, "sdp": "v=0 answer"}).to_string();
    let out = core.received(&answer, Millis(1_200));
    assert_eq!(
        out,
        vec![Output::Event(Event::CallSignal { match_id: 7, signal: Signal::Answer { sdp: "v=0 answer".into() } })]
    );
    let ice = json!({"type": "rtc.ice", "match_id": 7, "candidate": "candidate:1 1 udp 1 203.0.113.10 3478 typ relay",
        "sdp_mid": "0", "sdp_mline_index": 0});
    let out = core.received(&ice.to_string(), Millis(1_300));
    assert!(matches!(
        &out[..],
        [Output::Event(Event::CallSignal { signal: Signal::Ice { sdp_mline_index: Some(0), .. }, .. })]
    ));
    let ice = Signal::Ice { candidate: "candidate:2".into(), sdp_mid: Some("0".into()), sdp_mline_index: Some(0) };
    assert_eq!(frames(&core.signal(ice, Millis(1_400)).unwrap())[0]["type"], "rtc.ice");

    let measured = Measured { rtt_ms: Some(42), packets_sent: Some(100), packets_lost: Some(150) };
    let sent = frames(&core.call_connected(measured, Millis(3_500)).unwrap());
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0]["type"], "rtc.connected");
    assert_eq!(sent[1]["type"], "rtc.stats");
    assert_eq!(sent[1]["outcome"], "connected");
    assert_eq!(sent[1]["setup_ms"], 2_500, "from the first offer, on the host's clock");
    assert_eq!((sent[1]["rtt_ms"].as_i64(), sent[1]["packets_sent"].as_i64()), (Some(42), Some(100)));
    assert_eq!(sent[1]["packets_lost"], 100, "never more lost than sent: the server refuses that");
    assert!(frames(&core.call_failed(Millis(4_000)).unwrap()).is_empty(), "one report a call");
}

#[test]
fn an_offer_received_starts_the_clock_and_a_call_that_never_began_reports_nothing() {
    let mut core = matched(MatchKind::Video);
    assert!(frames(&core.call_failed(Millis(500)).unwrap()).is_empty(), "no offer, no setup to time");
    let offer = json!({"type": "rtc.offer", "match_id": 7, "sdp": "v=0 theirs"}).to_string();
    let out = core.received(&offer, Millis(1_000));
    assert!(matches!(&out[..], [Output::Event(Event::CallSignal { signal: Signal::Offer { .. }, .. })]));
    let sent = frames(&core.call_failed(Millis(16_000)).unwrap());
    assert_eq!((sent[0]["outcome"].as_str(), sent[0]["setup_ms"].as_i64()), (Some("failed"), Some(15_000)));
}

#[test]
fn a_text_match_has_no_call_and_another_matchs_signals_are_not_this_ones() {
    let mut core = matched(MatchKind::Text);
    assert_eq!(core.signal(Signal::Offer { sdp: "v=0".into() }, Millis(0)).unwrap_err(), CoreError::NotInMatch);
    assert_eq!(core.hang_up(Millis(0)).unwrap_err(), CoreError::NotInMatch);
    let offer = json!({"type": "rtc.offer", "match_id": 7, "sdp": "v=0"}).to_string();
    assert!(core.received(&offer, Millis(0)).is_empty(), "a text match takes no offer");

    let mut core = matched(MatchKind::Video);
    let offer = json!({"type": "rtc.offer", "match_id": 8, "sdp": "v=0"}).to_string();
    assert!(core.received(&offer, Millis(0)).is_empty(), "not this device's match");
}
