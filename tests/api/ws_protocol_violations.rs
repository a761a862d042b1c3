//! Frames that break RFC 6455, written by hand as an attacker would, each get a close frame with its code before
//! the server drops the connection (RFC 6455, 7.4): 1007 for a text frame that is not UTF-8, 1002 for a reserved
//! bit, an unmasked frame, an unknown opcode, a ping over 125 bytes or a close code a client may not send, 1009
//! for a frame above the hard limit. And the largest `report` a client can need is read and answered.
//!
//! The socket is a real handshake over loopback (the user's access token, the `tanis.v1` subprotocol) on a plain
//! TcpStream, so that the frames after it can be anything. One socket per violation: each ends its connection.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tanis_proto::{CloseCode, ErrorCode, MatchKind, ServerFrame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    a_text_frame_that_is_not_utf8_closes_with_1007,
    a_reserved_bit_closes_with_1002,
    an_unmasked_client_frame_closes_with_1002,
    an_unknown_opcode_closes_with_1002,
    a_ping_over_125_bytes_closes_with_1002,
    a_close_code_a_client_may_not_send_is_answered_with_1002,
    a_frame_above_the_hard_limit_closes_with_1009_and_a_reason,
    a_report_revealing_20_messages_of_the_largest_size_is_read_and_answered,
);

/// How long the server has to answer; only a bound on a failure, never waited out when it works.
const ANSWER: Duration = Duration::from_secs(10);

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const TEXT: u8 = 0x1;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;

/// A WebSocket after a real handshake, read and written as raw bytes.
struct Raw {
    stream: TcpStream,
    /// Read but not yet taken.
    pending: Vec<u8>,
}

impl Raw {
    /// Signs the user in as an app does (registration's session, a fresh access token), upgrades with the
    /// subprotocol and reads `hello`.
    async fn open(app: &TestApp) -> Raw {
        let user = app.user("saldirgan").await;
        let token = app.access_token(&user).await;
        let address = app.address.strip_prefix("http://").unwrap();
        let mut stream = TcpStream::connect(address).await.unwrap();
        let request = format!(
            "GET /v1/ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: tanis.v1\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Raw { stream, pending: Vec::new() };
        let head = raw.head().await;
        assert!(head.starts_with("HTTP/1.1 101"), "the upgrade is accepted: {head}");
        let (opcode, hello) = raw.frame().await.expect("hello");
        assert_eq!(opcode, TEXT);
        assert!(String::from_utf8(hello).unwrap().contains(r#""type":"hello""#));
        raw
    }

    /// Reads more bytes; false at the end of the stream (or a reset).
    async fn fill(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        match tokio::time::timeout(ANSWER, self.stream.read(&mut buf)).await.expect("the server answers in time") {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                true
            }
        }
    }

    async fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        while self.pending.len() < n {
            if !self.fill().await {
                return None;
            }
        }
        Some(self.pending.drain(..n).collect())
    }

    /// The HTTP response head.
    async fn head(&mut self) -> String {
        loop {
            if let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = self.pending.drain(..end + 4).collect();
                return String::from_utf8(head).unwrap();
            }
            assert!(self.fill().await, "the connection ended before the upgrade's answer");
        }
    }

    /// The next frame from the server (unmasked): its opcode and payload; `None` once the connection ended.
    async fn frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let header = self.take(2).await?;
        assert_eq!(header[1] & 0x80, 0, "the server never masks");
        let len = match header[1] & 0x7f {
            126 => u16::from_be_bytes(self.take(2).await?.try_into().unwrap()) as usize,
            127 => u64::from_be_bytes(self.take(8).await?.try_into().unwrap()) as usize,
            n => n as usize,
        };
        Some((header[0] & 0x0f, self.take(len).await?))
    }

    /// Reads until the server's close frame: its code and reason. Panics when the connection ends without one.
    async fn close_frame(&mut self) -> (u16, String) {
        loop {
            match self.frame().await {
                None => panic!("the connection was dropped without a close frame (a client sees 1006)"),
                Some((CLOSE, payload)) => {
                    assert!(payload.len() >= 2, "the close frame has a code");
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    return (code, String::from_utf8(payload[2..].to_vec()).unwrap());
                }
                // A ping of the heartbeat or a frame sent before: not the answer.
                Some(_) => {}
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }
}

/// A frame as a client writes one: `first` is the FIN, RSV and opcode byte; masked unless `mask` is `None`.
fn frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![first];
    let masked = if mask.is_some() { 0x80 } else { 0 };
    header_length(&mut out, masked, payload.len() as u64);
    match mask {
        Some(key) => {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => out.extend_from_slice(payload),
    }
    out
}

fn header_length(out: &mut Vec<u8>, masked: u8, len: u64) {
    match len {
        0..=125 => out.push(masked | len as u8),
        126..=0xffff => {
            out.push(masked | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(masked | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
}

const MASK: Option<[u8; 4]> = Some([0x37, 0xfa, 0x21, 0x3d]);

/// Opens a socket, sends `bytes` and returns the server's close code and reason.
async fn answer_to(app: &TestApp, bytes: &[u8]) -> (u16, String) {
    let mut raw = Raw::open(app).await;
    raw.send(bytes).await;
    raw.close_frame().await
}

async fn a_text_frame_that_is_not_utf8_closes_with_1007(backend: Backend) {
    let app = spawn_app(backend).await;
    let (code, reason) = answer_to(&app, &frame(FIN | TEXT, b"{\"type\":\"ping\",\"id\":\"\xff\xfe\"}", MASK)).await;
    assert_eq!((code, reason.as_str()), (1007, CloseCode::InvalidPayload.reason()));
}

async fn a_reserved_bit_closes_with_1002(backend: Backend) {
    let app = spawn_app(backend).await;
    let (code, reason) = answer_to(&app, &frame(FIN | RSV1 | TEXT, br#"{"type":"ping"}"#, MASK)).await;
    assert_eq!((code, reason.as_str()), (1002, CloseCode::ProtocolError.reason()));
}

async fn an_unmasked_client_frame_closes_with_1002(backend: Backend) {
    let app = spawn_app(backend).await;
    let (code, reason) = answer_to(&app, &frame(FIN | TEXT, br#"{"type":"ping"}"#, None)).await;
    assert_eq!((code, reason.as_str()), (1002, CloseCode::ProtocolError.reason()));
}

async fn an_unknown_opcode_closes_with_1002(backend: Backend) {
    let app = spawn_app(backend).await;
    // 0x3 is a reserved data opcode, 0xB a reserved control one.
    for opcode in [0x3, 0xB] {
        let (code, _) = answer_to(&app, &frame(FIN | opcode, b"x", MASK)).await;
        assert_eq!(code, 1002, "opcode {opcode:#x}");
    }
}

async fn a_ping_over_125_bytes_closes_with_1002(backend: Backend) {
    let app = spawn_app(backend).await;
    let (code, reason) = answer_to(&app, &frame(FIN | PING, &[7; 126], MASK)).await;
    assert_eq!((code, reason.as_str()), (1002, CloseCode::ProtocolError.reason()));
}

async fn a_close_code_a_client_may_not_send_is_answered_with_1002(backend: Backend) {
    let app = spawn_app(backend).await;
    // 1005 and 1006 are for reporting, never for the wire; 999 and 5000 are outside every range (RFC 6455, 7.4).
    for bad in [1005u16, 1006, 999, 5000] {
        let mut payload = bad.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let (code, _) = answer_to(&app, &frame(FIN | CLOSE, &payload, MASK)).await;
        assert_eq!(code, 1002, "close code {bad}");
    }
    // A close code a client may send is answered with itself: the closing handshake completes.
    let (code, _) = answer_to(&app, &frame(FIN | CLOSE, &1000u16.to_be_bytes(), MASK)).await;
    assert_eq!(code, 1000);
}

async fn a_frame_above_the_hard_limit_closes_with_1009_and_a_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let hard = app.config.hub.hard_frame_bytes();
    let mut raw = Raw::open(&app).await;
    // The header says one byte more than the hard limit, and some of the payload follows: the server never reads
    // the rest.
    let mut bytes = vec![FIN | TEXT];
    header_length(&mut bytes, 0x80, hard as u64 + 1);
    bytes.extend_from_slice(&MASK.unwrap());
    bytes.extend(std::iter::repeat_n(b'x', 16 * 1024));
    raw.send(&bytes).await;
    let (code, reason) = raw.close_frame().await;
    assert_eq!((code, reason.as_str()), (1009, CloseCode::MessageTooBig.reason()));
    assert!(!reason.is_empty());
}

async fn a_report_revealing_20_messages_of_the_largest_size_is_read_and_answered(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("sikayetci").await, app.user("karsi").await);
    let (mut sa, chat_a, _sb, _chat_b) = app.pair(&a, &b, MatchKind::Text).await;
    let largest = app.config.hub.max_message_bytes;
    let (key, text) = (STANDARD.encode([5u8; 32]), STANDARD.encode("q".repeat(largest)));
    // Messages the peer never sent: the report is refused, but only once it was read and checked as a report.
    let reveals: Vec<String> =
        (1..=20).map(|seq| format!(r#"{{"seq":{seq},"text_utf8":"{text}","franking_key":"{key}"}}"#)).collect();
    let report = format!(
        r#"{{"type":"report","id":"big","match_id":{},"reason_code":"harassment","details":"{}","evidence":[{}]}}"#,
        chat_a.info.match_id,
        "d".repeat(1000),
        reveals.join(",")
    );
    assert!(report.len() > 4 * app.config.hub.max_frame_bytes, "{} bytes", report.len());
    sa.send_raw(Message::Text(report.into())).await.unwrap();
    match sa.next().await {
        Ok(ServerFrame::Error { id, code: ErrorCode::EvidenceNotTheirs, .. }) => assert_eq!(id.as_deref(), Some("big")),
        other => panic!("expected evidence_not_theirs for the report, got {other:?}"),
    }
}
