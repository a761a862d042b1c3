//! Connecting, authenticating, protocol errors, heartbeats and connection limits.

use std::time::Duration;

use chrono::TimeDelta;
use tanis_client::{Connection, TokenIn};
use tanis_proto::{ClientFrame, CloseCode, ErrorCode, ServerFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Backend, spawn_app, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    a_header_token_gets_hello_with_handle_balances_and_limits,
    hello_announces_the_servers_report_window,
    a_browser_can_send_its_token_as_a_subprotocol,
    bad_tokens_and_banned_users_are_closed_with_a_code_before_any_frame,
    bad_frames_get_error_frames_with_the_request_id_and_the_socket_stays_open,
    a_client_that_keeps_sending_bad_frames_is_disconnected,
    a_peer_that_stops_answering_heartbeats_is_disconnected,
    the_connection_cap_closes_the_extra_socket,
    the_reference_client_gives_up_waiting_even_while_pings_arrive,
);

fn code(c: CloseCode) -> Option<u16> {
    Some(c.code())
}

async fn a_header_token_gets_hello_with_handle_balances_and_limits(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("kediadam").await;
    let (_, hello) = app.connect(&user).await;
    let ServerFrame::Hello { protocol, handle, balances, premium, limits, server_time, active_match } = hello else {
        panic!("hello first")
    };
    assert_eq!(protocol, 1);
    assert_eq!(handle, user.handle);
    assert_eq!((balances.daily_text, balances.daily_video), (10, 3));
    assert!(!premium);
    assert_eq!(limits.max_message_bytes, 16 * 1024);
    assert_eq!(server_time, app.now());
    assert_eq!(active_match, None);
}

async fn hello_announces_the_servers_report_window(backend: Backend) {
    // Not the default (30), so that a client falling back to its own default would not pass for having read it.
    let app = spawn_app_with(backend, |c| c.jobs.report_window_days = 45).await;
    let user = app.user("kediadam").await;
    let (_, hello) = app.connect(&user).await;
    let ServerFrame::Hello { limits, .. } = hello else { panic!("hello first") };
    assert_eq!(limits.report_window_days, 45, "jobs.report_window_days, for the client's `revealable`");
}

async fn a_browser_can_send_its_token_as_a_subprotocol(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("kediadam").await;
    let mut socket = Connection::open(&app.ws_url(), Some(&user.access), TokenIn::Subprotocol).await.unwrap();
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::Hello { .. }));
}

async fn bad_tokens_and_banned_users_are_closed_with_a_code_before_any_frame(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("kediadam").await;
    let url = app.ws_url();

    let mut anonymous = Connection::open(&url, None, TokenIn::Header).await.unwrap();
    assert_eq!(anonymous.closed().await, code(CloseCode::InvalidToken));
    let mut forged = Connection::open(&url, Some("eyJhbGciOiJIUzI1NiJ9.e30.x"), TokenIn::Header).await.unwrap();
    assert_eq!(forged.closed().await, code(CloseCode::InvalidToken));

    app.clock.advance(TimeDelta::minutes(16));
    let mut expired = Connection::open(&url, Some(&user.access), TokenIn::Subprotocol).await.unwrap();
    assert_eq!(expired.closed().await, code(CloseCode::TokenExpired));
    app.clock.advance(-TimeDelta::minutes(16));

    let moderator = app.staff("bekci", "moderator").await;
    app.ban(&moderator, user.id, "spam").await;
    let mut banned = Connection::open(&url, Some(&user.access), TokenIn::Header).await.unwrap();
    // `closed` skips nothing here: the first thing the server sends is the close.
    assert!(matches!(banned.next().await, Err(tanis_client::ClientError::Closed { code: Some(4003), .. })));
}

async fn bad_frames_get_error_frames_with_the_request_id_and_the_socket_stays_open(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("kediadam").await;
    let mut socket = app.socket(&user).await;
    let oversize = format!(r#"{{"type":"ping","id":"big","pad":"{}"}}"#, "x".repeat(40 * 1024));
    let cases: Vec<(Message, Option<&str>, ErrorCode)> = vec![
        (Message::Text("{not json".into()), None, ErrorCode::MalformedJson),
        (Message::Text(r#"{"type":"no.such","id":"r1"}"#.into()), Some("r1"), ErrorCode::InvalidFrame),
        (Message::Text(r#"{"type":"msg.ack","id":"r2","match_id":1}"#.into()), Some("r2"), ErrorCode::InvalidFrame),
        (
            Message::Text(r#"{"type":"match.find","id":"r3","kind":"text","public_key":"%%%"}"#.into()),
            Some("r3"),
            ErrorCode::InvalidBase64,
        ),
        (Message::Binary(vec![1, 2, 3].into()), None, ErrorCode::BinaryNotSupported),
        (Message::Text(oversize.into()), None, ErrorCode::MessageTooLarge),
    ];
    for (frame, id, expected) in cases {
        socket.send_raw(frame).await.unwrap();
        match socket.next().await.unwrap() {
            ServerFrame::Error { id: got, code, .. } => {
                assert_eq!(code, expected);
                assert_eq!(got.as_deref(), id);
            }
            other => panic!("expected an error frame, got {other:?}"),
        }
    }
    socket.send(&ClientFrame::Ping { id: Some("still-there".into()) }).await.unwrap();
    assert_eq!(socket.next().await.unwrap(), ServerFrame::Pong { id: Some("still-there".into()) });
}

async fn a_client_that_keeps_sending_bad_frames_is_disconnected(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.hub.max_protocol_errors = 3).await;
    let user = app.user("kediadam").await;
    let mut socket = app.socket(&user).await;
    for _ in 0..4 {
        socket.send_raw(Message::Text("garbage".into())).await.unwrap();
    }
    assert_eq!(socket.closed().await, code(CloseCode::ProtocolAbuse));
}

/// A client that completes the handshake and then never reads again: it never answers a ping.
async fn a_peer_that_stops_answering_heartbeats_is_disconnected(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.hub.heartbeat_interval_ms = 100;
        c.hub.heartbeat_timeout_ms = 300;
    })
    .await;
    let user = app.user("kediadam").await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut tcp = tokio::net::TcpStream::connect(&address).await.unwrap();
    let request = format!(
        "GET /v1/ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: Bearer {}\r\n\r\n",
        user.access
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    // Read raw bytes (no WebSocket library answering pings) until the server hangs up.
    let mut received = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut received))
        .await
        .expect("the server hangs up")
        .unwrap();
    let close_4009 = [0x88, 0x13, 0x0F, 0xA9];
    assert!(received.windows(4).any(|w| w == close_4009), "a close frame with 4009 heartbeat_timeout was sent");
    assert!(received.windows(2).any(|w| w == [0x89, 0x00]), "pings were sent first");
}

async fn the_connection_cap_closes_the_extra_socket(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.hub.max_connections = 2).await;
    let user = app.user("kediadam").await;
    let _first = app.socket(&user).await;
    let _second = app.socket(&user).await;
    let mut third = Connection::open(&app.ws_url(), Some(&user.access), TokenIn::Header).await.unwrap();
    assert_eq!(third.closed().await, code(CloseCode::Overloaded));
    drop(_first);
    // Once a socket is gone its slot is free again (as soon as the server has noticed the close).
    let reconnected = async {
        while Connection::connect(&app.ws_url(), &user.access).await.is_err() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reconnected).await.expect("the freed slot is reused");
}

/// The reference client's `wait` bounds a whole wait: server pings (every 50 ms here) must not restart it, or
/// a client waiting for a match that never comes would hang for ever (it did, in the load generator).
async fn the_reference_client_gives_up_waiting_even_while_pings_arrive(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.hub.heartbeat_interval_ms = 50).await;
    let user = app.user("kediadam").await;
    let mut socket = app.socket(&user).await;
    socket.wait = Duration::from_millis(500);
    let waited = tokio::time::timeout(Duration::from_secs(10), socket.next_where(|_| false))
        .await
        .expect("the client's own wait ends the wait");
    assert!(matches!(waited, Err(tanis_client::ClientError::Timeout(_))), "{waited:?}");
}

/// A node that comes back while its phones reconnect gets their handshakes all at once: its listener queues as many
/// as the kernel allows (`net.core.somaxconn`), not the 128 a plain bind asks for, beyond which SYNs were dropped
/// and phones waited a second or more for their retry (BENCHMARKS.md, issue 79 point 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_queues_a_reconnect_storm() {
    let app = spawn_app(Backend::Sqlite).await;
    let port = app.address.rsplit_once(':').expect("http://127.0.0.1:<port>").1;
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap().trim().parse().unwrap();
    let expected = tanis::startup::LISTEN_BACKLOG.min(somaxconn);
    assert!(expected > 128, "this machine's somaxconn ({somaxconn}) hides the difference");
    // `ss` shows a listening socket's queue length as its Send-Q: `LISTEN 0 4096 127.0.0.1:port …`.
    let out = std::process::Command::new("ss").args(["-Hltn", &format!("sport = :{port}")]).output().unwrap();
    let listing = String::from_utf8(out.stdout).unwrap();
    let queue: u32 = listing.split_whitespace().nth(2).expect("ss lists the listener").parse().unwrap();
    assert_eq!(queue, expected, "{listing}");
}
