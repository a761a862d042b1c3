//! Video signalling limits of docs/protocol.md §11: the SDP and candidate sizes (at the limit relayed, one
//! byte over refused) and the per-user signalling rate.

use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ServerFrame};

use crate::helpers::{Backend, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    sdp_and_candidates_are_relayed_at_their_size_limit_and_refused_one_byte_over,
    signalling_over_the_per_user_rate_is_refused,
);

async fn sdp_and_candidates_are_relayed_at_their_size_limit_and_refused_one_byte_over(backend: Backend) {
    let app = spawn_app(backend).await;
    let (max_sdp, max_candidate) = (app.config.video.max_sdp_bytes, app.config.video.max_candidate_bytes);
    let (a, b) = (app.user("boy_a").await, app.user("boy_b").await);
    let (mut sa, chat, mut sb, _) = app.pair(&a, &b, MatchKind::Video).await;
    let match_id = chat.info.match_id;
    // An SDP of exactly `size` bytes without addresses, so the filter leaves it as it is.
    let sdp = |size: usize| {
        let head = "v=0\r\ns=-\r\na=x:";
        format!("{head}{}\r\n", "y".repeat(size - head.len() - 2))
    };
    // A relay candidate padded to `size` bytes (a trailing extension attribute).
    let candidate = |size: usize| {
        let head = "candidate:3 1 udp 16777215 198.51.100.20 61000 typ relay raddr 0.0.0.0 rport 0 ufrag ";
        format!("{head}{}", "u".repeat(size - head.len()))
    };

    sa.send(&ClientFrame::RtcOffer { id: Some("max".into()), match_id, sdp: sdp(max_sdp) }).await.unwrap();
    let ServerFrame::RtcOffer { sdp: relayed, .. } = sb.next().await.unwrap() else { panic!("rtc.offer") };
    assert_eq!(relayed.len(), max_sdp);
    sa.send(&ClientFrame::RtcOffer { id: Some("over".into()), match_id, sdp: sdp(max_sdp + 1) }).await.unwrap();
    let ServerFrame::Error { id, code, .. } = sa.next().await.unwrap() else { panic!("an error") };
    assert_eq!((id.as_deref(), code), (Some("over"), ErrorCode::MessageTooLarge));

    let ice = |id: &str, candidate: String| ClientFrame::RtcIce {
        id: Some(id.into()),
        match_id,
        candidate,
        sdp_mid: None,
        sdp_mline_index: None,
    };
    sa.send(&ice("cmax", candidate(max_candidate))).await.unwrap();
    let ServerFrame::RtcIce { candidate: relayed, .. } = sb.next().await.unwrap() else { panic!("rtc.ice") };
    assert_eq!(relayed.len(), max_candidate);
    sa.send(&ice("cover", candidate(max_candidate + 1))).await.unwrap();
    let ServerFrame::Error { id, code, .. } = sa.next().await.unwrap() else { panic!("an error") };
    assert_eq!((id.as_deref(), code), (Some("cover"), ErrorCode::MessageTooLarge));

    // Nothing refused reached the peer: the next thing it gets is this hangup.
    sa.send(&ClientFrame::RtcHangup { id: None, match_id }).await.unwrap();
    assert_eq!(sb.next().await.unwrap(), ServerFrame::RtcHangup { match_id });
}

async fn signalling_over_the_per_user_rate_is_refused(backend: Backend) {
    // A burst of 3, refilled at one a second of the server's clock, which stands still until the test moves it.
    let app = spawn_app_with(backend, |c| (c.video.signals_per_second, c.video.signal_burst) = (1, 3)).await;
    let (a, b) = (app.user("hiz_a").await, app.user("hiz_b").await);
    let (mut sa, chat, mut sb, _) = app.pair(&a, &b, MatchKind::Video).await;
    let match_id = chat.info.match_id;
    for _ in 0..3 {
        sa.send(&ClientFrame::RtcHangup { id: None, match_id }).await.unwrap();
        assert_eq!(sb.next().await.unwrap(), ServerFrame::RtcHangup { match_id });
    }
    sa.send(&ClientFrame::RtcHangup { id: Some("4th".into()), match_id }).await.unwrap();
    let ServerFrame::Error { id, code, .. } = sa.next().await.unwrap() else { panic!("an error") };
    assert_eq!((id.as_deref(), code), (Some("4th"), ErrorCode::RateLimited));
    // The other side has its own bucket.
    sb.send(&ClientFrame::RtcHangup { id: None, match_id }).await.unwrap();
    assert_eq!(sa.next().await.unwrap(), ServerFrame::RtcHangup { match_id });
    // A second later one more frame of a's goes through, and only one.
    app.clock.advance(chrono::TimeDelta::seconds(1));
    sa.send(&ClientFrame::RtcHangup { id: None, match_id }).await.unwrap();
    assert_eq!(sb.next().await.unwrap(), ServerFrame::RtcHangup { match_id });
    sa.send(&ClientFrame::RtcHangup { id: Some("6th".into()), match_id }).await.unwrap();
    let ServerFrame::Error { id, code, .. } = sa.next().await.unwrap() else { panic!("an error") };
    assert_eq!((id.as_deref(), code), (Some("6th"), ErrorCode::RateLimited));
}
