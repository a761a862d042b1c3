//! The age gate at registration and consent per privacy-notice version (issue 15): a new version stops matching
//! until it is accepted, and every accepted version is kept.

use chrono::Datelike;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_proto::{ErrorCode, ServerFrame};

use crate::helpers::{
    Backend, TestApp, TestUser, assert_error, new_phone, registration, spawn_app, spawn_app_with, text_find,
};
use crate::on_both_stores;

on_both_stores!(
    registration_refuses_the_underage_and_impossible_birth_years_and_stores_nothing,
    the_minimum_age_is_configurable,
    a_new_notice_version_stops_matching_until_the_user_accepts_it,
);

/// This year as the age gate counts it (Turkey's calendar; the test clock is in November, far from New Year).
fn this_year(app: &TestApp) -> i32 {
    app.now().year()
}

fn born(phone: &str, alias: &str, year: Value) -> Value {
    let mut body = registration(phone, alias);
    body["birth_year"] = year;
    body
}

async fn registration_refuses_the_underage_and_impossible_birth_years_and_stores_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let year = this_year(&app);
    let phone = new_phone();
    let cases = [
        (json!(year - 17), StatusCode::FORBIDDEN, "underage"),
        (json!(year), StatusCode::FORBIDDEN, "underage"),
        (json!(year + 1), StatusCode::UNPROCESSABLE_ENTITY, "invalid_birth_year"),
        (json!(1899), StatusCode::UNPROCESSABLE_ENTITY, "invalid_birth_year"),
        (json!(-1995), StatusCode::UNPROCESSABLE_ENTITY, "invalid_birth_year"),
        (json!("1995"), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (json!(1995.5), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (json!(null), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
    ];
    for (birth_year, status, code) in cases {
        assert_error(app.register_body(&born(&phone, "genc", birth_year)).await, status, code).await;
    }
    let mut missing = registration(&phone, "genc");
    missing.as_object_mut().unwrap().remove("birth_year");
    assert_error(app.register_body(&missing).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0, "nothing stored for a refusal");
    assert_eq!(app.count("SELECT COUNT(*) FROM privacy_consents").await, 0);

    // Eighteen this year: in, with the year kept and the consent recorded.
    let response = app.register_body(&born(&phone, "genc", json!(year - 18))).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id = app.user_id(&phone).await;
    assert_eq!(
        app.count(format!("SELECT COUNT(*) FROM users WHERE id = {id} AND birth_year = {}", year - 18)).await,
        1
    );
    let consents = app.store.consents_of(id).await.unwrap();
    assert_eq!(consents.len(), 1);
    assert_eq!(consents[0].notice_version, "2026-11-01");
}

async fn the_minimum_age_is_configurable(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.auth.minimum_age = 21).await;
    let year = this_year(&app);
    let refused = app.register_body(&born(&new_phone(), "yirmi", json!(year - 20))).await;
    let message = assert_error(refused, StatusCode::FORBIDDEN, "underage").await;
    assert!(message.contains("21"), "the message names the minimum: {message}");
    let admitted = app.register_body(&born(&new_phone(), "yirmibir", json!(year - 21))).await;
    assert_eq!(admitted.status(), StatusCode::CREATED);
}

async fn find(app: &TestApp, user: &TestUser) -> ServerFrame {
    let mut socket = app.socket(user).await;
    socket.send(&text_find(Some("f"))).await.unwrap();
    socket.next().await.unwrap()
}

async fn accept(app: &TestApp, user: &TestUser, version: &str) -> reqwest::Response {
    app.post("/v1/me/consent")
        .bearer_auth(app.access_token(user).await)
        .json(&json!({ "version": version }))
        .send()
        .await
        .unwrap()
}

async fn a_new_notice_version_stops_matching_until_the_user_accepts_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("eski").await;
    // They registered under last year's notice; the server now shows 2026-11-01.
    app.execute(format!("UPDATE users SET privacy_notice_version = '2025-06-01' WHERE id = {}", user.id)).await;
    app.execute(format!("UPDATE privacy_consents SET notice_version = '2025-06-01' WHERE user_id = {}", user.id)).await;

    let me: Value = app.get_me(&app.access_token(&user).await).await.json().await.unwrap();
    assert_eq!(me["current_privacy_notice_version"], json!("2026-11-01"), "what to show and accept");
    assert_eq!(
        (me["privacy_notice_version"].as_str(), me["must_accept_privacy_notice"].as_bool()),
        (Some("2025-06-01"), Some(true))
    );
    // Refused, and refused again from the standing cached by the first find.
    for _ in 0..2 {
        match find(&app, &user).await {
            ServerFrame::Error { code: ErrorCode::ConsentRequired, message, .. } => {
                assert!(message.contains("2026-11-01"))
            }
            other => panic!("expected consent_required, got {other:?}"),
        }
    }

    let stale = accept(&app, &user, "2025-06-01").await;
    let message = assert_error(stale, StatusCode::CONFLICT, "stale_notice_version").await;
    assert!(message.contains("2026-11-01"), "the current version is named: {message}");
    let bad = accept(&app, &user, "").await;
    assert_error(bad, StatusCode::CONFLICT, "stale_notice_version").await;
    let unauthenticated = app.post("/v1/me/consent").json(&json!({ "version": "2026-11-01" })).send().await.unwrap();
    assert_error(unauthenticated, StatusCode::UNAUTHORIZED, "missing_token").await;

    let accepted = accept(&app, &user, "2026-11-01").await;
    assert_eq!(accepted.status(), StatusCode::OK);
    let me: Value = accepted.json().await.unwrap();
    assert_eq!(me["must_accept_privacy_notice"], json!(false));
    assert!(matches!(find(&app, &user).await, ServerFrame::MatchQueued { .. }), "matching again");

    // Both versions are kept, each with the time it was accepted; accepting again adds nothing.
    assert_eq!(accept(&app, &user, "2026-11-01").await.status(), StatusCode::OK);
    let versions: Vec<String> =
        app.store.consents_of(user.id).await.unwrap().into_iter().map(|c| c.notice_version).collect();
    assert_eq!(versions, ["2025-06-01", "2026-11-01"]);
}
