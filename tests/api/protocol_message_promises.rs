//! Promises of docs/protocol.md about messages that no other test covered: the length limits of `msg.send`,
//! `expires_at`, `msg.ack` after the end and twice, `resume` of an ended match over several pages, and what
//! a user's sockets share (the queue entry and the message rate bucket).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use tanis::domain::{MatchId, Seq};
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ServerFrame};

use crate::helpers::{Backend, STANDARD_COMMITMENT, eventually, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    client_msg_id_nonce_and_ciphertext_are_accepted_at_their_limit_and_refused_just_over,
    msg_send_is_refused_from_the_matchs_expires_at,
    msg_ack_after_the_match_ended_is_stored_and_told_to_no_socket_told_the_end,
    resume_replays_an_ended_match_across_pages_in_seq_order,
    match_cancel_from_another_socket_of_the_user_removes_the_queue_entry,
    a_find_sent_again_from_a_new_socket_keeps_the_place_when_the_old_socket_closes,
    the_message_rate_bucket_is_shared_by_a_users_sockets,
);

fn send(match_id: MatchId, id: &str, client_msg_id: &str, ciphertext: &str, nonce: &str) -> ClientFrame {
    ClientFrame::MsgSend {
        id: Some(id.into()),
        match_id,
        client_msg_id: client_msg_id.into(),
        ciphertext: ciphertext.into(),
        nonce: nonce.into(),
        commitment: STANDARD_COMMITMENT.into(),
        ack: None,
    }
}

async fn client_msg_id_nonce_and_ciphertext_are_accepted_at_their_limit_and_refused_just_over(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("sinir_a").await, app.user("sinir_b").await);
    let (mut sa, chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat.info.match_id;
    let max = app.config.hub.max_message_bytes;
    let (body, nonce) = (STANDARD.encode([7u8; 40]), STANDARD.encode([1u8; 24]));
    // 48 bytes encode to exactly 64 base64 characters, 51 bytes to 68.
    let (nonce_64, nonce_68) = (STANDARD.encode([2u8; 48]), STANDARD.encode([2u8; 51]));
    let (ct_max, ct_over) = (STANDARD.encode(vec![3u8; max]), STANDARD.encode(vec![3u8; max + 1]));
    let cases = [
        (send(match_id, "id64", &"i".repeat(64), &body, &nonce), None),
        (send(match_id, "id65", &"j".repeat(65), &body, &nonce), Some(ErrorCode::InvalidField)),
        (send(match_id, "n64", "n64", &body, &nonce_64), None),
        (send(match_id, "n68", "n68", &body, &nonce_68), Some(ErrorCode::InvalidBase64)),
        (send(match_id, "ctmax", "ctmax", &ct_max, &nonce), None),
        (send(match_id, "ctover", "ctover", &ct_over, &nonce), Some(ErrorCode::MessageTooLarge)),
    ];
    for (frame, refusal) in cases {
        let request = frame.id().unwrap().to_owned();
        sa.send(&frame).await.unwrap();
        match (sa.next().await.unwrap(), refusal) {
            (ServerFrame::MsgAccepted { id, .. }, None) => assert_eq!(id.as_deref(), Some(request.as_str())),
            (ServerFrame::Error { id, code, .. }, Some(expected)) => {
                assert_eq!((id.as_deref(), code), (Some(request.as_str()), expected));
            }
            (other, _) => panic!("{request}: expected {refusal:?}, got {other:?}"),
        }
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 3, "nothing refused was stored");
}

async fn msg_send_is_refused_from_the_matchs_expires_at(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("sure_a").await, app.user("sure_b").await);
    let (mut sa, mut chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let until_expiry = chat.info.expires_at - app.now();
    assert_eq!(until_expiry, TimeDelta::hours(app.config.matching.match_ttl_hours.into()));

    app.clock.advance(until_expiry - TimeDelta::seconds(1));
    sa.send(&chat.message("son saniye")).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { .. }), "a second before: accepted");

    app.clock.advance(TimeDelta::seconds(1));
    sa.send(&chat.message("geç kaldım")).await.unwrap();
    let ServerFrame::Error { code, .. } = sa.next().await.unwrap() else { panic!("an error frame") };
    assert_eq!(code, ErrorCode::NotInMatch, "at expires_at the match takes no more messages");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 1);
}

/// docs/protocol.md §5, `msg.ack` and `match.ended`: an ack after the end is stored (once, a second one ignored),
/// but the sender's socket, told the end, gets no `msg.delivered`: nothing of a match follows its `match.ended`.
async fn msg_ack_after_the_match_ended_is_stored_and_told_to_no_socket_told_the_end(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("ack_a").await, app.user("ack_b").await);
    let (mut sa, mut chat, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat.info.match_id;
    sa.send(&chat.message("okudun mu")).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { seq: Seq(1), .. }));
    sb.next_where(|f| matches!(f, ServerFrame::Msg { seq: Seq(1), .. })).await.unwrap();
    sa.send(&ClientFrame::MatchLeave { id: Some("bye".into()), match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();
    sb.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();

    for id in [None, Some("again".into())] {
        sb.send(&ClientFrame::MsgAck { id, match_id, seq: Seq(1) }).await.unwrap();
    }
    sb.send(&ClientFrame::Ping { id: Some("b".into()) }).await.unwrap();
    assert_eq!(sb.next().await.unwrap(), ServerFrame::Pong { id: Some("b".into()) }, "no error to b");
    let delivered = format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {match_id} AND delivered = TRUE");
    eventually(std::time::Duration::from_secs(10), "the ack is stored", || async { app.count(&delivered).await == 1 })
        .await;
    // A receipt is announced as its batch commits, microseconds after, while the count's query takes a round trip:
    // a `msg.delivered` (as before, when one was told after the end) queues before a's pong.
    sa.send(&ClientFrame::Ping { id: Some("a".into()) }).await.unwrap();
    assert_eq!(sa.next().await.unwrap(), ServerFrame::Pong { id: Some("a".into()) }, "no msg.delivered after the end");
}

async fn resume_replays_an_ended_match_across_pages_in_seq_order(backend: Backend) {
    // More than one page of 200; a burst big enough to send them at once.
    const SENT: i64 = 205;
    let app = spawn_app_with(backend, |c| c.hub.message_burst = 300).await;
    let (a, b) = (app.user("sayfa_a").await, app.user("sayfa_b").await);
    let (mut sa, mut chat, sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    drop(sb);
    let match_id = chat.info.match_id;
    for i in 0..SENT {
        sa.send(&chat.message(&format!("mesaj {i}"))).await.unwrap();
        assert!(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { .. }));
    }
    sa.send(&ClientFrame::MatchLeave { id: Some("bye".into()), match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();

    for (user, after_seq, mine) in [(&b, 0, false), (&a, 3, true)] {
        let mut socket = app.socket(user).await;
        socket.send(&ClientFrame::Resume { id: Some("r".into()), match_id, after_seq: Seq(after_seq) }).await.unwrap();
        for seq in after_seq + 1..=SENT {
            match socket.next().await.unwrap() {
                ServerFrame::Msg { seq: got, mine: got_mine, .. } => assert_eq!((got, got_mine), (Seq(seq), mine)),
                other => panic!("expected msg {seq}, got {other:?}"),
            }
        }
        assert_eq!(
            socket.next().await.unwrap(),
            ServerFrame::ResumeDone { id: Some("r".into()), match_id, last_seq: Seq(SENT) }
        );
    }
}

async fn match_cancel_from_another_socket_of_the_user_removes_the_queue_entry(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("iptal_a").await, app.user("iptal_b").await);
    let (mut phone, mut tablet) = (app.socket(&a).await, app.socket(&a).await);
    let find = |id: &str| find_with(id, 9);
    phone.send(&find("f1")).await.unwrap();
    assert!(matches!(phone.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    tablet.send(&ClientFrame::MatchCancel { id: Some("c1".into()) }).await.unwrap();
    assert_eq!(tablet.next().await.unwrap(), ServerFrame::MatchCancelled { id: Some("c1".into()) });
    // Only the asking socket hears about it.
    phone.send(&ClientFrame::Ping { id: Some("p".into()) }).await.unwrap();
    assert_eq!(phone.next().await.unwrap(), ServerFrame::Pong { id: Some("p".into()) });

    // The entry is gone: b waits, and a may queue again from the phone (no already_queued) and meets b.
    let mut sb = app.socket(&b).await;
    sb.send(&find("fb")).await.unwrap();
    assert!(matches!(sb.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    phone.send(&find("f2")).await.unwrap();
    let found = phone.next_where(|f| !matches!(f, ServerFrame::MatchQueued { .. })).await.unwrap();
    assert!(matches!(&found, ServerFrame::MatchFound { info, .. } if info.peer == b.handle), "{found:?}");
}

fn find_with(id: &str, key: u8) -> ClientFrame {
    ClientFrame::MatchFind {
        id: Some(id.into()),
        kind: MatchKind::Text,
        public_key: STANDARD.encode([key; 32]),
        nearby: false,
        interests: Default::default(),
        region: Default::default(),
        seeking: None,
    }
}

/// An app whose network dropped connects again and sends its find again before the server has seen the old socket
/// go: the find is `already_queued`, and the place becomes the new socket's, so the old socket's closing does not
/// take it away (the app would wait for a match nobody is looking for), and the match is keyed with the key the
/// app sent last.
async fn a_find_sent_again_from_a_new_socket_keeps_the_place_when_the_old_socket_closes(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("yeniden_a").await, app.user("yeniden_b").await);
    let (mut old, mut new) = (app.socket(&a).await, app.socket(&a).await);
    old.send(&find_with("f1", 9)).await.unwrap();
    assert!(matches!(old.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    new.send(&find_with("f1", 7)).await.unwrap();
    let again = new.next().await.unwrap();
    assert!(matches!(again, ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. }), "{again:?}");
    drop(old);
    // The hub forgets a socket (and its queue entry) before it gives its connection back.
    eventually(std::time::Duration::from_secs(10), "the old socket is gone", || async { app.hub.connections() == 1 })
        .await;

    let mut sb = app.socket(&b).await;
    sb.send(&find_with("fb", 5)).await.unwrap();
    let found = new.next_where(|f| matches!(f, ServerFrame::MatchFound { .. })).await.unwrap();
    assert!(matches!(&found, ServerFrame::MatchFound { info, .. } if info.peer == b.handle), "{found:?}");
    let found_b = sb.next_where(|f| matches!(f, ServerFrame::MatchFound { .. })).await.unwrap();
    let ServerFrame::MatchFound { info, .. } = found_b else { unreachable!() };
    assert_eq!(info.peer_public_key, STANDARD.encode([7u8; 32]), "keyed with the key sent last");
}

async fn the_message_rate_bucket_is_shared_by_a_users_sockets(backend: Backend) {
    // Two tokens for the whole user, refilled at one a second of the server's clock, which stands still here.
    let app = spawn_app_with(backend, |c| (c.hub.messages_per_second, c.hub.message_burst) = (1, 2)).await;
    let (a, b) = (app.user("kova_a").await, app.user("kova_b").await);
    let (mut sa, mut chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let mut second = app.socket(&a).await;
    for text in ["bir", "iki"] {
        sa.send(&chat.message(text)).await.unwrap();
        assert!(matches!(sa.next().await.unwrap(), ServerFrame::MsgAccepted { .. }));
    }
    second.send(&chat.message("üç")).await.unwrap();
    let refused = second.next_where(|f| !matches!(f, ServerFrame::Msg { .. })).await.unwrap();
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::RateLimited, .. }), "{refused:?}");
    // The token that comes back a second later is the user's, whichever socket spends it.
    app.clock.advance(TimeDelta::seconds(1));
    second.send(&chat.message("dört")).await.unwrap();
    let accepted = second.next_where(|f| !matches!(f, ServerFrame::Msg { .. })).await.unwrap();
    assert!(matches!(accepted, ServerFrame::MsgAccepted { .. }), "{accepted:?}");
    sa.send(&chat.message("beş")).await.unwrap();
    let refused = sa.next_where(|f| !matches!(f, ServerFrame::Msg { .. })).await.unwrap();
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::RateLimited, .. }), "{refused:?}");
}
