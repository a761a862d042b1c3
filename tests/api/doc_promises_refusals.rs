//! What the docs say a refusal is, held to the code (issue 47, point 7): the order of a `report`'s refusals
//! (docs/protocol.md, section 5), a `region` radius that is any number outside 1–20 000 (`invalid_field`, never a
//! protocol error), and the find limit on new accounts as a bucket (docs/admin.md, "Limits on new and unverified
//! accounts").

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::TimeDelta;
use reqwest::StatusCode;
use tanis_client::Identity;
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ServerFrame};
use tokio_tungstenite::tungstenite::Message;

use crate::helpers::{Backend, TestApp, TestUser, spawn_app, spawn_app_with, text_find};
use crate::on_both_stores;
use crate::twilio::spawn_with_sms;

on_both_stores!(
    an_outsiders_report_with_a_too_long_text_is_not_matched,
    every_reveals_form_is_checked_before_any_reveal_is_looked_up,
    a_radius_that_is_any_number_outside_the_range_is_invalid_field_and_not_a_protocol_error,
    a_new_account_finds_39_times_in_its_first_minute_and_a_verified_phone_does_not_lift_that_before_24_hours,
);

/// A reveal as JSON: `seq`, the base64 of `text` and a franking key of `key_len` bytes.
fn reveal(seq: i64, text: &str, key_len: usize) -> String {
    let (text, key) = (STANDARD.encode(text), STANDARD.encode(vec![3u8; key_len]));
    format!(r#"{{"seq":{seq},"text_utf8":"{text}","franking_key":"{key}"}}"#)
}

/// Sends a report of `match_id` with these reveals and returns the error it gets: its code and message.
async fn refusal(
    socket: &mut tanis_client::Connection,
    match_id: tanis_proto::MatchId,
    reveals: &[String],
) -> (ErrorCode, String) {
    let report = format!(
        r#"{{"type":"report","id":"r","match_id":{match_id},"reason_code":"harassment","evidence":[{}]}}"#,
        reveals.join(",")
    );
    socket.send_raw(Message::Text(report.into())).await.unwrap();
    match socket.next().await.unwrap() {
        ServerFrame::Error { code, message, .. } => (code, message),
        other => panic!("expected an error, got {other:?}"),
    }
}

async fn an_outsiders_report_with_a_too_long_text_is_not_matched(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, outsider) = (app.user("bir").await, app.user("iki").await, app.user("disaridan").await);
    let (_sa, chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let too_long = "x".repeat(app.config.hub.max_message_bytes + 1);
    let mut socket = app.socket(&outsider).await;
    let (code, _) = refusal(&mut socket, chat.info.match_id, &[reveal(1, &too_long, 32)]).await;
    assert_eq!(code, ErrorCode::NotMatched, "the match is checked before the evidence's form");
}

async fn every_reveals_form_is_checked_before_any_reveal_is_looked_up(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("sikayet").await, app.user("sikayetli").await);
    let (mut sa, chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let match_id = chat.info.match_id;
    // evidence[0] names no message of the peer (well formed), evidence[1] has a 31-byte key: the form of both is
    // checked first, so the key is what refuses the report.
    let (code, message) = refusal(&mut sa, match_id, &[reveal(999, "yok", 32), reveal(998, "yok", 31)]).await;
    assert_eq!(code, ErrorCode::InvalidBase64, "{message}");
    assert!(message.starts_with("evidence[1]"), "{message}");
    // A too-long text later in the list also comes before evidence[0]'s lookup.
    let too_long = "x".repeat(app.config.hub.max_message_bytes + 1);
    let (code, message) = refusal(&mut sa, match_id, &[reveal(999, "yok", 32), reveal(998, &too_long, 32)]).await;
    assert_eq!(code, ErrorCode::InvalidField, "{message}");
    assert!(message.starts_with("evidence[1]"), "{message}");
    // Well formed throughout: the first reveal that does not verify is named.
    let (code, message) = refusal(&mut sa, match_id, &[reveal(999, "yok", 32), reveal(998, "yok", 32)]).await;
    assert_eq!(code, ErrorCode::EvidenceNotTheirs, "{message}");
    assert!(message.starts_with("evidence[0]"), "{message}");
}

async fn premium(app: &TestApp, alias: &str) -> TestUser {
    let admin = app.staff("patron", "admin").await;
    let user = app.user(alias).await;
    app.grant_premium(&admin, user.id).await;
    user
}

async fn a_radius_that_is_any_number_outside_the_range_is_invalid_field_and_not_a_protocol_error(backend: Backend) {
    // Fewer protocol errors allowed than radii tried: were any of them a protocol error, the socket would close.
    let app = spawn_app_with(backend, |c| c.hub.max_protocol_errors = 2).await;
    let picky = premium(&app, "olcen").await;
    let mut socket = app.socket(&picky).await;
    let key = Identity::generate().public_key_b64();
    for radius in ["-1", "1.5", "0", "20001", "1e20", "18446744073709551616", "4294967346"] {
        let find = format!(
            r#"{{"type":"match.find","id":"f","kind":"text","public_key":"{key}","region":{{"radius_km":{radius}}}}}"#
        );
        socket.send_raw(Message::Text(find.into())).await.unwrap();
        match socket.next().await.unwrap() {
            ServerFrame::Error { code: ErrorCode::InvalidField, message, id, .. } => {
                assert!(message.contains("radius_km"), "{radius}: {message}");
                assert_eq!(id.as_deref(), Some("f"), "{radius}");
            }
            other => panic!("{radius} km: expected invalid_field, got {other:?}"),
        }
    }
    // A radius that is not a number is a malformed frame, as before.
    let find =
        format!(r#"{{"type":"match.find","id":"f","kind":"text","public_key":"{key}","region":{{"radius_km":"50"}}}}"#);
    socket.send_raw(Message::Text(find.into())).await.unwrap();
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::Error { code: ErrorCode::InvalidFrame, .. }));
    socket.send(&ClientFrame::Ping { id: Some("open".into()) }).await.unwrap();
    assert_eq!(socket.next().await.unwrap(), ServerFrame::Pong { id: Some("open".into()) }, "the socket is open");
}

/// A find and its cancel; true when the find was queued, false when it was refused with `rate_limited`.
async fn finds(socket: &mut tanis_client::Connection, n: usize) -> bool {
    let id = format!("f{n}");
    socket.send(&text_find(Some(&id))).await.unwrap();
    match socket.next().await.unwrap() {
        ServerFrame::MatchQueued { .. } => {}
        ServerFrame::Error { code: ErrorCode::RateLimited, .. } => return false,
        other => panic!("find {n}: {other:?}"),
    }
    socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchCancelled { .. }));
    true
}

/// How many finds in a row are queued before one is refused.
async fn finds_in_a_row(socket: &mut tanis_client::Connection) -> usize {
    let mut n = 0;
    while finds(socket, n).await {
        n += 1;
    }
    n
}

async fn a_new_account_finds_39_times_in_its_first_minute_and_a_verified_phone_does_not_lift_that_before_24_hours(
    backend: Backend,
) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let fresh = app.user("taze").await;
    let code = twilio.code_to(&fresh.phone);
    let verified = crate::phone_codes::verify(&app, &app.access_token(&fresh).await, &code).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let mut socket = app.socket(&fresh).await;
    // A bucket of 20, refilling at 20 a minute (one every 3 s): 20 at once, then 19 more within the minute.
    assert_eq!(finds_in_a_row(&mut socket).await, 20, "the bucket");
    app.clock.advance(TimeDelta::seconds(59));
    assert_eq!(finds_in_a_row(&mut socket).await, 19, "refilled within the first minute: 39 in all");
    // Verified, but not 24 h old: still limited. Once it is, the limit is gone.
    app.clock.advance(TimeDelta::hours(24));
    let mut socket = app.socket(&fresh).await;
    for n in 0..30 {
        assert!(finds(&mut socket, n).await, "find {n} of a verified account a day old");
    }
}
