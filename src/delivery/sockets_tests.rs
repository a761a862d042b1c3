//! The tests of `delivery::sockets`, in a file of their own so that the module reads alone.

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;

use super::*;

#[tokio::test]
async fn the_sockets_task_sees_a_close_decided_elsewhere_and_the_token_is_cancelled_with_it() {
    let closer = Arc::new(Closer::default());
    assert!(closer.ended().now_or_never().is_none(), "an open socket has not ended");
    let waiting = tokio::spawn({
        let closer = closer.clone();
        async move { closer.ended().await }
    });
    tokio::task::yield_now().await;
    assert!(!waiting.is_finished());
    closer.close(CloseCode::Banned);
    tokio::time::timeout(Duration::from_secs(10), waiting).await.expect("the close woke the socket's task").unwrap();
    assert!(closer.token.is_cancelled() && closer.has_ended());
    assert_eq!(closer.chosen(), Some(CloseCode::Banned));
    // The first code stays; ending again changes nothing.
    closer.close(CloseCode::GoingAway);
    closer.end();
    assert_eq!(closer.chosen(), Some(CloseCode::Banned));
    assert!(closer.ended().now_or_never().is_some());
}

/// Nothing of a match after its `match.ended`: a `typing` or an `rtc.*` the peer's node relayed before it heard
/// of the end (the end was told here first) is dropped; another match's frames still go (docs/protocol.md §5).
#[test]
fn a_frame_of_a_match_whose_end_was_told_is_dropped() {
    let sockets = Sockets::default();
    let user = UserId(1);
    let (_handle, mut frames, _) = sockets.register(user, None, 2, 16);
    let (ended, next) = (crate::domain::MatchId(5), crate::domain::MatchId(6));
    let end = encode(&ServerFrame::MatchEnded { id: None, match_id: ended, reason: tanis_proto::EndReason::PeerLeft });
    let told = Event::MatchEnded { user_id: user, match_id: ended, frame: end.clone(), last: None, kept: false };
    sockets.deliver(&told);
    sockets.deliver(&told);
    for match_id in [ended, next] {
        let typing = encode(&ServerFrame::Typing { match_id });
        let to = Recipient::User(user);
        sockets.deliver(&Event::Frame { to, frame: typing, v1: None, of_match: Some(match_id), seq: None });
    }
    assert_eq!(frames.try_recv(), Some(end), "the end, once");
    assert_eq!(frames.try_recv(), Some(encode(&ServerFrame::Typing { match_id: next })), "only the other match's");
    assert_eq!(frames.try_recv(), None);
}

fn opened(match_id: MatchId) -> ActiveMatch {
    let expires_at = chrono::DateTime::UNIX_EPOCH;
    let info = tanis_proto::MatchInfo {
        match_id,
        kind: tanis_proto::MatchKind::Text,
        peer: "yabanci#0001".into(),
        peer_public_key: String::new(),
        initiator: true,
        expires_at,
        shared_interests: Vec::new(),
        shared_languages: Vec::new(),
        video_safety: None,
    };
    let (peer_id, kind, opened_at) = (UserId(2), info.kind, expires_at);
    ActiveMatch { match_id, peer_id, kind, opened_at, expires_at, info }
}

fn message(match_id: MatchId, seq: i64) -> Event {
    let frame = ServerFrame::Msg {
        match_id,
        seq: Seq(seq),
        ciphertext: "c2lmcmU=".into(),
        nonce: "bm9uY2U=".into(),
        commitment: None,
        sent_at: chrono::DateTime::UNIX_EPOCH,
        mine: false,
        delivered: None,
    };
    Event::Frame {
        to: Recipient::User(UserId(1)),
        frame: encode(&frame),
        v1: None,
        of_match: Some(match_id),
        seq: Some(Seq(seq)),
    }
}

/// Between nodes a `match.ended` comes after every message stored before the end (docs/protocol.md §5): one its
/// node relays after the end reached this node goes first, and the end follows it; the same message read
/// from the store by the catch-up is not sent twice, and nothing of the match follows its end.
#[test]
fn an_end_waits_for_the_messages_stored_before_it_and_a_copy_goes_once() {
    let sockets = Sockets::default();
    let (user, match_id) = (UserId(1), MatchId(5));
    let (_handle, mut frames, _) = sockets.register(user, None, 2, 16);
    let balances = tanis_proto::Balances { daily_text: 1, daily_video: 1, bonus_text: 0, bonus_video: 0 };
    let found: Encoded = "found".into();
    let active = Box::new(opened(match_id));
    sockets.deliver(&Event::MatchOpened { user_id: user, active, balances, matches_opened: None, frame: found });
    sockets.deliver(&message(match_id, 1));
    let end = encode(&ServerFrame::MatchEnded { id: None, match_id, reason: tanis_proto::EndReason::PeerLeft });
    let ended = |last| Event::MatchEnded { user_id: user, match_id, frame: end.clone(), last, kept: false };
    // Stored 2 and 3 before the end; neither relayed here yet.
    sockets.deliver(&ended(Some(Seq(3))));
    assert_eq!(sockets.held_end(user), Some((match_id, Seq(1), Seq(3))), "held, to read after 1 up to 3");
    sockets.deliver(&ended(None));
    sockets.deliver(&message(match_id, 3));
    sockets.deliver(&message(match_id, 2));
    sockets.deliver(&message(match_id, 3));
    sockets.deliver(&message(match_id, 4));
    sockets.release_end(user, match_id);
    let seq_of = |f: &Encoded| serde_json::from_str::<serde_json::Value>(f).unwrap()["seq"].as_i64();
    let told: Vec<Encoded> = std::iter::from_fn(|| frames.try_recv()).collect();
    assert_eq!(told[0].as_ref(), "found");
    assert_eq!(told[1..4].iter().map(seq_of).collect::<Vec<_>>(), [Some(1), Some(3), Some(2)], "{told:?}");
    assert_eq!(told[4..], [end], "the end once, after them, and nothing after it");
    assert_eq!(sockets.held_end(user), None);
}

#[tokio::test]
async fn a_socket_ended_without_a_code_has_ended_and_chose_none() {
    let closer = Closer::default();
    closer.end();
    assert!(closer.ended().now_or_never().is_some() && closer.has_ended());
    assert!(closer.token.is_cancelled());
    assert_eq!(closer.chosen(), None);
}
