//! Promises of docs/protocol.md about one socket that no other test covered: `not_queued` right after a pairing,
//! the 60 s protocol-error window (on the injected clock), 4013 checked before anything else at connect,
//! duplicate sends spending a rate token, and the bounded flush before a close.

use std::time::Duration;

use chrono::TimeDelta;
use tanis::domain::Seq;
use tanis_client::{Chat, Connection, TokenIn};
use tanis_proto::{ClientFrame, CloseCode, EndReason, ErrorCode, MatchKind, ServerFrame};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::{Backend, STANDARD_COMMITMENT, TestApp, eventually, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    match_cancel_right_after_a_pairing_is_answered_not_queued,
    protocol_errors_spread_over_more_than_60_seconds_do_not_close_the_socket,
    more_protocol_errors_than_the_limit_within_any_60_seconds_close_the_socket,
    a_full_node_answers_4013_before_looking_at_the_token,
    a_duplicate_send_spends_a_rate_token,
    a_peer_that_stopped_reading_cannot_hold_a_closing_socket_beyond_the_flush_bound,
    a_close_decided_while_the_clients_frames_are_in_flight_still_reaches_it_as_a_close_frame,
);

async fn match_cancel_right_after_a_pairing_is_answered_not_queued(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("hizli").await, app.user("gec").await);
    let (mut sa, mut sb) = (app.socket(&a).await, app.socket(&b).await);
    let identity = Chat::ask(&mut sa, MatchKind::Text).await.unwrap();
    assert!(matches!(sa.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    let chat_b = Chat::find(&mut sb, MatchKind::Text).await.unwrap();

    // a cancels without having read match.found: the pairing has happened, so there is no queue entry left.
    sa.send(&ClientFrame::MatchCancel { id: Some("too-late".into()) }).await.unwrap();
    let chat_a = Chat::found(&mut sa, identity).await.unwrap();
    assert_eq!(chat_a.info.match_id, chat_b.info.match_id);
    let refused = sa.next().await.unwrap();
    assert!(
        matches!(&refused, ServerFrame::Error { id: Some(id), code: ErrorCode::NotQueued, .. } if id == "too-late"),
        "{refused:?}"
    );
    // And the match stands: the cancel did not undo it.
    let active =
        app.count(format!("SELECT COUNT(*) FROM matches WHERE id = {} AND status = 'active'", chat_a.info.match_id));
    assert_eq!(active.await, 1);
}

/// A protocol error (an unknown frame type) and its `invalid_frame` answer.
async fn protocol_error(socket: &mut Connection, n: &str) {
    socket.send_raw(Message::Text(format!(r#"{{"type":"no.such","id":"{n}"}}"#).into())).await.unwrap();
    let answer = socket.next().await.unwrap();
    assert!(matches!(&answer, ServerFrame::Error { code: ErrorCode::InvalidFrame, .. }), "{n}: {answer:?}");
}

async fn still_open(socket: &mut Connection) {
    socket.send(&ClientFrame::Ping { id: Some("open?".into()) }).await.unwrap();
    assert_eq!(socket.next().await.unwrap(), ServerFrame::Pong { id: Some("open?".into()) }, "the socket is open");
}

/// The limit, small so the test stays short; the window is the fixed 60 s.
const LIMIT: u32 = 3;

async fn protocol_errors_spread_over_more_than_60_seconds_do_not_close_the_socket(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.hub.max_protocol_errors = LIMIT).await;
    let user = app.user("sakar").await;
    let mut socket = app.socket(&user).await;
    for round in 0..3 {
        for n in 0..LIMIT {
            protocol_error(&mut socket, &format!("r{round}e{n}")).await;
        }
        still_open(&mut socket).await;
        // The limit again, but a minute and a second later: the earlier ones are out of the window.
        app.clock.advance(TimeDelta::seconds(61));
    }
}

async fn more_protocol_errors_than_the_limit_within_any_60_seconds_close_the_socket(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.hub.max_protocol_errors = LIMIT).await;
    let user = app.user("bozuk").await;
    let mut socket = app.socket(&user).await;
    // One error at 0 s, two at 50 s, then at 61 s: the one at 0 s has left the window, but the two at 50 s
    // have not. A window counted from the first error (or from the connect) would start afresh at 61 s and
    // miss that four errors fell within eleven seconds.
    protocol_error(&mut socket, "t0").await;
    app.clock.advance(TimeDelta::seconds(50));
    protocol_error(&mut socket, "t50a").await;
    protocol_error(&mut socket, "t50b").await;
    app.clock.advance(TimeDelta::seconds(11));
    protocol_error(&mut socket, "t61a").await;
    still_open(&mut socket).await;
    // The fourth within 60 s: its error frame, then 4004.
    protocol_error(&mut socket, "t61b").await;
    assert_eq!(socket.closed().await, Some(CloseCode::ProtocolAbuse.code()));
}

/// The closing handshake: after its close frame the server reads until the client's reply. A server that dropped
/// the connection at once, with the client's later frames unread, would make the kernel answer with a reset, and
/// the reset can reach the client before it has read the close frame (seen in CI as `Connection reset by peer`
/// where 1001 was due).
async fn a_close_decided_while_the_clients_frames_are_in_flight_still_reaches_it_as_a_close_frame(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.hub.max_protocol_errors = 1).await;
    let user = app.user("aceleci").await;
    let mut socket = app.socket(&user).await;
    // The second error closes the socket with 4004; the frames after it are in flight when that is decided.
    // 400 small frames stay well within the two sockets' buffers, so sending them never waits for the server.
    for n in 0..400 {
        socket.send_raw(Message::Text(format!(r#"{{"type":"no.such","id":"{n}"}}"#).into())).await.unwrap();
    }
    assert_eq!(socket.ended().await.unwrap(), Some(CloseCode::ProtocolAbuse.code()), "a close frame, not a reset");
}

/// Opens a socket with `token` (or none) and returns the close code the server ends it with.
async fn close_code(app: &TestApp, token: Option<&str>) -> Option<u16> {
    Connection::open(&app.ws_url(), token, TokenIn::Header).await.unwrap().closed().await
}

async fn a_full_node_answers_4013_before_looking_at_the_token(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.hub.max_connections = 1).await;
    let moderator = app.staff("nobetci", "moderator").await;
    let (holder, late, banned) = (app.user("dolduran").await, app.user("gecikmis").await, app.user("yasakli").await);
    let signed_out = crate::deletion::account(&app, "cikan").await;
    let expired = late.access.clone();
    app.clock.advance(TimeDelta::seconds(app.config.auth.access_token_ttl_secs as i64 + 1));
    // Tokens their apps refreshed just before the ban and the sign-out.
    let (of_banned, of_signed_out) = (app.access_token(&banned).await, app.access_token(&signed_out.user).await);
    app.ban(&moderator, banned.id, "spam").await;
    assert!(app.logout(&signed_out.user.refresh_token().await).await.status().is_success());
    let tokens = [
        (None, CloseCode::InvalidToken),
        (Some("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.forged".to_owned()), CloseCode::InvalidToken),
        (Some(expired), CloseCode::TokenExpired),
        (Some(of_banned), CloseCode::Banned),
        (Some(of_signed_out), CloseCode::InvalidToken),
    ];

    let full = app.socket(&holder).await;
    for (token, _) in &tokens {
        assert_eq!(close_code(&app, token.as_deref()).await, Some(CloseCode::Overloaded.code()), "{token:?}");
    }
    // With room on the node the same tokens get their own codes: 4013 really came first.
    drop(full);
    eventually(Duration::from_secs(10), "the holder's socket is gone", || async { app.hub.connections() == 0 }).await;
    for (token, code) in &tokens {
        assert_eq!(close_code(&app, token.as_deref()).await, Some(code.code()), "{token:?}");
    }
}

async fn a_duplicate_send_spends_a_rate_token(backend: Backend) {
    // A burst of 5 refilled at one a second: the 20 sends below go out back to back, far faster than that.
    const BURST: u32 = 5;
    const SENDS: usize = 20;
    let app = spawn_app_with(backend, |c| (c.hub.messages_per_second, c.hub.message_burst) = (1, BURST)).await;
    let (a, b) = (app.user("tekrar").await, app.user("alici").await);
    let (mut sa, mut chat, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    // One message and its identical retries (same client_msg_id, ciphertext and nonce), as a client whose
    // acknowledgements keep getting lost would send them.
    let frame = chat.message("bir kez");
    for _ in 0..SENDS {
        sa.send(&frame).await.unwrap();
    }
    let (mut accepted, mut limited) = (Vec::new(), 0);
    for _ in 0..SENDS {
        match sa.next().await.unwrap() {
            ServerFrame::MsgAccepted { seq, .. } => accepted.push(seq),
            ServerFrame::Error { code: ErrorCode::RateLimited, .. } => limited += 1,
            other => panic!("expected msg.accepted or rate_limited, got {other:?}"),
        }
    }
    assert!(accepted.len() >= BURST as usize, "the burst's worth is accepted: {accepted:?}");
    assert!(limited > 0, "retries spent the bucket like new messages: {} accepted, none refused", accepted.len());
    assert!(accepted.iter().all(|&seq| seq == Seq(1)), "every retry got the original seq back: {accepted:?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 1, "stored once");
    // The peer got it once: every answer is in, and the next thing b sees after the message is a's typing.
    assert!(matches!(sb.next().await.unwrap(), ServerFrame::Msg { seq: Seq(1), .. }));
    let match_id = chat.info.match_id;
    sa.send(&ClientFrame::Typing { id: None, match_id }).await.unwrap();
    assert_eq!(sb.next().await.unwrap(), ServerFrame::Typing { match_id });
}

/// Most bytes a loopback connection buffers before a writer blocks: the kernel's largest send buffer (the
/// receiver's is pinned small below). Linux's default is 4 MiB.
fn kernel_send_buffer_max() -> usize {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().nth(2)?.parse().ok())
        .unwrap_or(4 << 20)
}

async fn a_peer_that_stopped_reading_cannot_hold_a_closing_socket_beyond_the_flush_bound(backend: Backend) {
    let max = 16 * 1024;
    // Frames of one full message each: enough to fill every buffer between the server and a client that does
    // not read, twice, with a queue long enough that none of it is a slow-consumer close (4008, which drops the
    // queue instead of flushing it).
    let frames = 2 * kernel_send_buffer_max() / max + 64;
    let app = spawn_app_with(backend, |c| {
        c.hub.max_message_bytes = max;
        c.hub.outbound_queue = frames + 64;
        c.hub.message_burst = u32::try_from(frames).unwrap() + 1;
        // Silence would close the socket after this (4009): far beyond the test.
        c.hub.heartbeat_timeout_ms = 600_000;
    })
    .await;
    let moderator = app.staff("kapici", "moderator").await;
    let (a, b) = (app.user("okumayan").await, app.user("yazan").await);
    let (sa, _, mut sb, chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    drop(sa);
    eventually(Duration::from_secs(10), "a's pairing socket is gone", || async { app.hub.connections() == 1 }).await;
    let _stalled = stalled_socket(&app, &app.access_token(&a).await).await;
    eventually(Duration::from_secs(10), "a's stalled socket is open", || async { app.hub.connections() == 2 }).await;

    let payload = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![7u8; max]);
    for n in 0..frames {
        let send = ClientFrame::MsgSend {
            id: None,
            match_id: chat_b.info.match_id,
            client_msg_id: format!("big-{n}"),
            ciphertext: payload.clone(),
            nonce: "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            commitment: STANDARD_COMMITMENT.into(),
            ack: None,
        };
        sb.send(&send).await.unwrap();
        assert!(matches!(sb.next().await.unwrap(), ServerFrame::MsgAccepted { .. }), "message {n}");
    }

    // The ban decides a 4003, which flushes what is queued first; a's socket takes nothing more, so the flush
    // can only end by its bound. Then the socket must be let go (its task, its connection slot).
    app.ban(&moderator, a.id, "spam").await;
    let ended = sb.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();
    assert!(matches!(ended, ServerFrame::MatchEnded { reason: EndReason::Banned, .. }));
    eventually(Duration::from_secs(15), "the stalled socket is released", || async { app.hub.connections() == 1 })
        .await;
}

/// A socket as `token` whose client never reads after the handshake, with a receive buffer pinned small: what
/// the server writes to it piles up in the server's own buffers.
async fn stalled_socket(app: &TestApp, token: &str) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let address = app.address.trim_start_matches("http://").parse().unwrap();
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(4096).unwrap();
    let stream = tcp.connect(address).await.unwrap();
    let mut request = app.ws_url().into_client_request().unwrap();
    request.headers_mut().insert("authorization", HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
    let (socket, _) = tokio_tungstenite::client_async(request, stream).await.unwrap();
    socket
}
