//! A string holding U+0000 — which PostgreSQL's text cannot store — is refused where it enters, in every REST
//! body and WebSocket frame, on both stores alike, and never fails anyone else's request.

use reqwest::StatusCode;
use serde_json::json;
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ReportReason, ServerFrame};

use crate::helpers::{Backend, assert_error, new_phone, registration, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    a_nul_in_a_message_is_refused_alone_and_everyone_elses_messages_are_stored,
    a_nul_in_any_rest_body_is_refused_with_invalid_text_and_nothing_is_stored,
    a_nul_in_report_details_is_refused_and_no_report_is_stored,
);

const NUL: &str = "\u{0}";

async fn a_nul_in_a_message_is_refused_alone_and_everyone_elses_messages_are_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, c, d) =
        (app.user("ayse").await, app.user("burak").await, app.user("cem").await, app.user("deniz").await);
    let (mut sa, mut chat_a, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let (mut sc, mut chat_c, mut sd, _) = app.pair(&c, &d, MatchKind::Text).await;

    let ClientFrame::MsgSend { match_id, ciphertext, nonce, commitment, .. } = chat_a.message("zehir") else {
        unreachable!()
    };
    let client_msg_id = format!("x{NUL}");
    let poisoned = ClientFrame::MsgSend {
        id: Some("p".into()),
        match_id,
        client_msg_id,
        ciphertext,
        nonce,
        commitment,
        ack: None,
    };
    // The poison and ten ordinary messages of another pair at the same time, so they would share a batch.
    sa.send(&poisoned).await.unwrap();
    for n in 0..10 {
        sc.send(&chat_c.message(&format!("merhaba {n}"))).await.unwrap();
    }
    match sa.next().await.unwrap() {
        ServerFrame::Error { id, code, .. } => assert_eq!((id.as_deref(), code), (Some("p"), ErrorCode::InvalidText)),
        other => panic!("expected invalid_text, got {other:?}"),
    }
    for n in 0..10 {
        let accepted = sc.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. }));
        assert!(matches!(accepted.await.unwrap(), ServerFrame::MsgAccepted { .. }), "message {n} accepted");
        sd.next_where(|f| matches!(f, ServerFrame::Msg { .. })).await.unwrap();
    }
    assert_eq!(app.count(format!("SELECT COUNT(*) FROM messages WHERE match_id = {match_id}")).await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM messages").await, 10);
}

async fn a_nul_in_any_rest_body_is_refused_with_invalid_text_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.user("denetci").await;
    app.store.set_role(moderator.id, tanis::domain::Role::Moderator, app.now()).await.unwrap();
    let target = app.user("hedef").await;
    let users = app.count("SELECT COUNT(*) FROM users").await;

    let mut bodies = Vec::new();
    for (field, value) in [("referral_code", json!(format!("ABC{NUL}"))), ("alias", json!(format!("kedi{NUL}adam")))] {
        let mut body = registration(&new_phone(), "kediadam");
        body[field] = value;
        bodies.push(body);
    }
    let mut keyed = registration(&new_phone(), "kediadam");
    keyed.as_object_mut().unwrap().insert(format!("phone{NUL}"), json!("x"));
    bodies.push(keyed);
    for body in bodies {
        assert_error(app.register_body(&body).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users, "no account was created");

    let ban = app
        .client
        .post(app.url(&format!("/v1/admin/users/{}/ban", target.id)))
        .bearer_auth(&moderator.access)
        .json(&json!({ "reason": format!("spam{NUL}") }))
        .send()
        .await
        .unwrap();
    assert_error(ban, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;
    assert!(!app.store.user_by_id(target.id).await.unwrap().unwrap().is_banned);

    let profile = app.patch_me(&target.access, &json!({ "alias": format!("a{NUL}b") })).await;
    assert_error(profile, StatusCode::UNPROCESSABLE_ENTITY, "invalid_text").await;

    // The escaped backslash is six ordinary characters, not a NUL: refused as an alias for its own reasons.
    let literal = app.patch_me(&target.access, &json!({ "alias": "a\\u0000b" })).await;
    assert_error(literal, StatusCode::UNPROCESSABLE_ENTITY, "invalid_alias").await;
}

async fn a_nul_in_report_details_is_refused_and_no_report_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("ayse").await, app.user("burak").await);
    let (mut sa, chat, _sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    let report = ClientFrame::Report {
        id: Some("r".into()),
        match_id: chat.info.match_id,
        reason_code: ReportReason::Harassment,
        details: Some(format!("kaba{NUL}")),
        evidence: Vec::new(),
    };
    sa.send(&report).await.unwrap();
    match sa.next().await.unwrap() {
        ServerFrame::Error { id, code, .. } => assert_eq!((id.as_deref(), code), (Some("r"), ErrorCode::InvalidText)),
        other => panic!("expected invalid_text, got {other:?}"),
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM reports").await, 0);
}
