//! Promises of docs/protocol.md about connecting and framing that no other test covered: which token wins,
//! the shutdown close, the two frame-size limits and a non-string `id`.

use futures_util::StreamExt;
use tanis_client::{ClientError, Connection, TokenIn};
use tanis_proto::{ClientFrame, CloseCode, ErrorCode, ServerFrame};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    the_header_token_wins_over_the_subprotocol_token,
    server_shutdown_closes_open_sockets_with_1001,
    a_frame_up_to_the_hard_limit_is_refused_and_a_larger_one_closes_with_1009,
    a_non_string_id_is_an_invalid_frame_and_is_not_echoed,
);

/// Opens a socket offering both ways of sending a token, and returns the first thing the server says:
/// `Ok(frame)` or `Err(close code)`.
async fn first_with_both_tokens(app: &TestApp, header: &str, subprotocol: &str) -> Result<ServerFrame, Option<u16>> {
    let mut request = app.ws_url().into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("authorization", HeaderValue::from_str(&format!("Bearer {header}")).unwrap());
    let offered = format!("tanis.v1, tanis.auth.{subprotocol}");
    headers.insert("sec-websocket-protocol", HeaderValue::from_str(&offered).unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    loop {
        match socket.next().await.expect("the server answers").unwrap() {
            Message::Text(text) => {
                crate::frames::check(tanis_client::Direction::Received, text.as_str());
                return Ok(serde_json::from_str(text.as_str()).unwrap());
            }
            Message::Close(frame) => return Err(frame.map(|f| u16::from(f.code))),
            _ => continue,
        }
    }
}

async fn the_header_token_wins_over_the_subprotocol_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("baslik").await, app.user("altprotokol").await);
    let (token_a, token_b) = (app.access_token(&a).await, app.access_token(&b).await);

    let Ok(ServerFrame::Hello { handle, .. }) = first_with_both_tokens(&app, &token_a, &token_b).await else {
        panic!("hello")
    };
    assert_eq!(handle, a.handle, "the socket belongs to the header's user");
    // It wins even when it is bad: a valid subprotocol token does not rescue a forged header.
    let forged = first_with_both_tokens(&app, "eyJhbGciOiJIUzI1NiJ9.e30.x", &token_b).await;
    assert_eq!(forged, Err(Some(CloseCode::InvalidToken.code())));
}

async fn server_shutdown_closes_open_sockets_with_1001(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("kapanis").await;
    let mut socket = app.socket(&user).await;
    app.stop().await;
    assert_eq!(socket.closed().await, Some(CloseCode::GoingAway.code()));
}

async fn a_frame_up_to_the_hard_limit_is_refused_and_a_larger_one_closes_with_1009(backend: Backend) {
    let app = spawn_app(backend).await;
    let hard = app.config.hub.hard_frame_bytes();
    assert!(hard > 4 * app.config.hub.max_frame_bytes, "the hard limit holds a report of 20 reveals");
    let user = app.user("buyuk").await;
    let mut socket = app.socket(&user).await;
    let padded = |size: usize| {
        let frame = r#"{"type":"ping","id":"big","pad":""}"#;
        let text = frame.replace(r#""pad":"""#, &format!(r#""pad":"{}""#, "x".repeat(size - frame.len())));
        assert_eq!(text.len(), size);
        Message::Text(text.into())
    };

    // Exactly the hard limit, not a report: still read, refused with message_too_large (no id), the socket stays
    // open.
    socket.send_raw(padded(hard)).await.unwrap();
    let ServerFrame::Error { id, code, .. } = socket.next().await.unwrap() else { panic!("an error frame") };
    assert_eq!((id, code), (None, ErrorCode::MessageTooLarge));
    socket.send(&ClientFrame::Ping { id: Some("open".into()) }).await.unwrap();
    assert_eq!(socket.next().await.unwrap(), ServerFrame::Pong { id: Some("open".into()) });

    // One byte more: never read, and the socket is closed with 1009. The server stops reading at the frame's
    // header, so the rest of it may not be written before the connection ends: only the answer matters.
    let _ = socket.send_raw(padded(hard + 1)).await;
    match socket.next().await {
        Err(ClientError::Closed { code, .. }) => assert_eq!(code, Some(CloseCode::MessageTooBig.code())),
        other => panic!("expected a close with 1009, got {other:?}"),
    }
}

async fn a_non_string_id_is_an_invalid_frame_and_is_not_echoed(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("kimlik").await;
    let mut socket =
        Connection::open(&app.ws_url(), Some(&app.access_token(&user).await), TokenIn::Header).await.unwrap();
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::Hello { .. }));
    for frame in
        [r#"{"type":"ping","id":5}"#, r#"{"type":"match.cancel","id":{"x":"y"}}"#, r#"{"type":"ping","id":null}"#]
    {
        socket.send_raw(Message::Text(frame.into())).await.unwrap();
        let answer = socket.next().await.unwrap();
        if frame.contains("null") {
            // null is "no id": a valid frame.
            assert_eq!(answer, ServerFrame::Pong { id: None }, "{frame}");
            continue;
        }
        let ServerFrame::Error { id, code, .. } = answer else { panic!("an error frame for {frame}") };
        assert_eq!((id, code), (None, ErrorCode::InvalidFrame), "{frame}");
    }
}
