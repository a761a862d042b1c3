//! Push through FCM HTTP v1, against a local stand-in that checks each request as Google would: the OAuth2 JWT
//! bearer grant (signed RS256 by the service account's key, right issuer, audience and scope), then
//! `POST /v1/projects/{project}/messages:send` with `Authorization: Bearer <that token>` and a v1 body. It answers
//! what the test scripts: 200, 404 UNREGISTERED, 429 with Retry-After, 503.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Json, Router};
use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis::push::PushKind;
use tanis_proto::{MatchId, MatchKind, ServerFrame};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, TestApp, TestUser, assert_error, eventually, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    a_message_to_an_offline_user_is_pushed_once_per_match_without_its_content,
    retry_after_is_honoured_a_dead_token_removes_the_device_and_tokens_are_cached_until_expiry,
    a_ban_is_pushed_and_bad_device_registrations_are_refused,
);

const PROJECT: &str = "tanis-test";
const CLIENT_EMAIL: &str = "push@tanis-test.iam.gserviceaccount.com";
const PRIVATE_KEY: &str = include_str!("fixtures/fcm_test_key.pem");
const PUBLIC_KEY: &str = include_str!("fixtures/fcm_test_key.pub.pem");

/// What the stand-in saw and will answer.
#[derive(Default)]
pub(crate) struct Google {
    pub(crate) grants: usize,
    token_uri: String,
    /// Message bodies received, in order.
    pub(crate) sends: Vec<Value>,
    /// Scripted answers to sends; 200 when empty.
    pub(crate) answers: VecDeque<(u16, Option<u64>, Value)>,
}

pub(crate) type Shared = Arc<Mutex<Google>>;

#[derive(serde::Deserialize)]
struct Grant {
    grant_type: String,
    assertion: String,
}

async fn token(State(google): State<Shared>, Form(grant): Form<Grant>) -> Response {
    let mut g = google.lock().unwrap();
    if grant.grant_type != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return (AxumStatus::BAD_REQUEST, "grant_type").into_response();
    }
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[g.token_uri.clone()]);
    validation.set_issuer(&[CLIENT_EMAIL]);
    // The server's clock is the test's manual one; the stand-in checks the signature and the claims, not the time.
    validation.validate_exp = false;
    let Ok(claims) = jsonwebtoken::decode::<Value>(&grant.assertion, &key, &validation) else {
        return (AxumStatus::UNAUTHORIZED, "assertion").into_response();
    };
    if claims.claims["scope"] != "https://www.googleapis.com/auth/firebase.messaging" {
        return (AxumStatus::FORBIDDEN, "scope").into_response();
    }
    g.grants += 1;
    Json(json!({ "access_token": format!("ya29.test-{}", g.grants), "expires_in": 3600, "token_type": "Bearer" }))
        .into_response()
}

async fn send(
    State(google): State<Shared>,
    Path(project): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let mut g = google.lock().unwrap();
    let expected = format!("Bearer ya29.test-{}", g.grants);
    if project != PROJECT || headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (AxumStatus::UNAUTHORIZED, Json(json!({ "error": { "code": 401, "status": "UNAUTHENTICATED" } })))
            .into_response();
    }
    let m = &body["message"];
    let valid = m["token"].is_string()
        && m["notification"]["title"].is_string()
        && m["notification"]["body"].is_string()
        && m["data"].as_object().is_some_and(|d| d.values().all(Value::is_string));
    if !valid {
        return (AxumStatus::BAD_REQUEST, Json(json!({ "error": { "code": 400, "status": "INVALID_ARGUMENT" } })))
            .into_response();
    }
    g.sends.push(body.clone());
    let (status, retry_after, answer) =
        g.answers.pop_front().unwrap_or((200, None, json!({ "name": "projects/tanis-test/messages/1" })));
    let mut response = (AxumStatus::from_u16(status).unwrap(), Json(answer)).into_response();
    if let Some(seconds) = retry_after {
        response.headers_mut().insert("retry-after", seconds.into());
    }
    response
}

/// Starts the stand-in and a tanis server that pushes through it.
pub(crate) async fn spawn(backend: Backend) -> (TestApp, Shared) {
    let google: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    google.lock().unwrap().token_uri = format!("{base}/token");
    let router = Router::new()
        .route("/token", post(token))
        .route("/v1/projects/{project}/messages:send", post(send))
        .with_state(google.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let key_file = tempfile::NamedTempFile::new().unwrap();
    let account = json!({
        "type": "service_account", "project_id": PROJECT, "client_email": CLIENT_EMAIL,
        "private_key": PRIVATE_KEY, "token_uri": "https://oauth2.googleapis.com/token",
    });
    std::fs::write(key_file.path(), account.to_string()).unwrap();
    let (path, token_uri) = (key_file.into_temp_path().keep().unwrap(), format!("{base}/token"));
    let app = spawn_app_with(backend, |c| {
        c.push.fcm_service_account_file = Some(path);
        c.push.fcm_base_url = base.clone();
        c.push.fcm_token_uri = Some(token_uri);
    })
    .await;
    (app, google)
}

pub(crate) async fn register_device(app: &TestApp, user: &TestUser, token: &str, locale: &str) -> reqwest::Response {
    let body = json!({ "token": token, "platform": "android", "locale": locale });
    app.client.post(app.url("/v1/devices")).bearer_auth(app.access_token(user).await).json(&body).send().await.unwrap()
}

pub(crate) async fn outbox(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) FROM push_outbox").await
}

async fn a_message_to_an_offline_user_is_pushed_once_per_match_without_its_content(backend: Backend) {
    let (app, google) = spawn(backend).await;
    let (a, b) = (app.user("kedi").await, app.user("kopek").await);
    assert_eq!(register_device(&app, &b, "tok-b_1:x", "en").await.status(), StatusCode::NO_CONTENT);
    let (mut sa, mut chat, sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    drop(sb);
    eventually(std::time::Duration::from_secs(10), "b's socket is gone", || async { app.hub.connections() == 1 }).await;

    for text in ["gizli bir şey", "orada mısın?"] {
        sa.send(&chat.message(text)).await.unwrap();
        sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    }
    eventually(std::time::Duration::from_secs(10), "a push is queued", || async { outbox(&app).await == 1 }).await;
    app.run_job(Job::Push).await.unwrap();

    let sends = google.lock().unwrap().sends.clone();
    assert_eq!(sends.len(), 1, "one push for two messages in one match");
    let m = &sends[0]["message"];
    assert_eq!(m["token"], "tok-b_1:x");
    assert_eq!(m["notification"]["body"], format!("New message from {}", a.handle), "in the device's language");
    assert_eq!(m["android"]["collapse_key"], format!("match-{}", chat.info.match_id));
    assert_eq!(m["data"]["match_id"], chat.info.match_id.to_string());
    let raw = sends[0].to_string();
    assert!(!raw.contains("gizli") && !raw.contains("ciphertext"), "never the content: {raw}");
    assert_eq!(outbox(&app).await, 0);

    // An online receiver gets no push, though the minute that holds a match's next push back has passed.
    app.clock.advance(TimeDelta::seconds(61));
    let sb = app.socket(&b).await;
    sa.send(&chat.message("şimdi buradasın")).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    // Messages reach the notifier in commit order and it queues in that order: once a push for a message sent
    // after this one is queued, a push for this one would be queued too, had there been one.
    let (c, d) = (app.user("kus").await, app.user("balik").await);
    assert_eq!(register_device(&app, &d, "tok-d_1:x", "en").await.status(), StatusCode::NO_CONTENT);
    let (mut sc, mut chat_cd, sd, _) = app.pair(&c, &d, MatchKind::Text).await;
    drop(sd);
    eventually(std::time::Duration::from_secs(10), "d's socket is gone", || async { app.hub.connections() == 3 }).await;
    sc.send(&chat_cd.message("sonra gelen")).await.unwrap();
    sc.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    eventually(std::time::Duration::from_secs(10), "the later push is queued", || async { outbox(&app).await == 1 })
        .await;
    let for_b =
        format!("SELECT COUNT(*) FROM push_outbox o JOIN devices d ON d.id = o.device_id WHERE d.user_id = {}", b.id);
    assert_eq!(app.count(for_b).await, 0, "nothing queued for the online receiver");
    drop(sb);
}

async fn retry_after_is_honoured_a_dead_token_removes_the_device_and_tokens_are_cached_until_expiry(backend: Backend) {
    let (app, google) = spawn(backend).await;
    let user = app.user("uyuyan").await;
    register_device(&app, &user, "tok-1", "tr").await;
    let push = |n: i64| PushKind::Message { match_id: MatchId(n), from: "kedi#0001".into() };
    {
        let mut g = google.lock().unwrap();
        g.answers.push_back((429, Some(120), json!({ "error": { "code": 429, "status": "RESOURCE_EXHAUSTED" } })));
        g.answers.push_back((503, None, json!({ "error": { "code": 503, "status": "UNAVAILABLE" } })));
    }
    app.store.enqueue_push(user.id, &push(1), app.now()).await.unwrap();
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(google.lock().unwrap().sends.len(), 1, "429");
    app.clock.advance(TimeDelta::seconds(119));
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(google.lock().unwrap().sends.len(), 1, "not before Retry-After");
    app.clock.advance(TimeDelta::seconds(1));
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(google.lock().unwrap().sends.len(), 2, "503 without Retry-After: backoff");
    app.clock.advance(TimeDelta::seconds(59));
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(google.lock().unwrap().sends.len(), 2, "the second try's backoff is 60 s");
    app.clock.advance(TimeDelta::seconds(1));
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(google.lock().unwrap().sends.len(), 3);
    assert_eq!(outbox(&app).await, 0, "delivered at the third try");
    assert_eq!(google.lock().unwrap().grants, 1, "one access token for all of it");

    // An hour later the token has expired: a new grant.
    app.clock.advance(TimeDelta::hours(1));
    let unregistered = json!({ "error": { "code": 404, "status": "NOT_FOUND", "details": [
        { "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED" } ] } });
    google.lock().unwrap().answers.push_back((404, None, unregistered));
    app.store.enqueue_push(user.id, &push(2), app.now()).await.unwrap();
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(google.lock().unwrap().grants, 2, "the cached token expired");
    assert_eq!(
        app.count(format!("SELECT COUNT(*) FROM devices WHERE user_id = {}", user.id)).await,
        0,
        "UNREGISTERED removes it"
    );
    assert_eq!(outbox(&app).await, 0);
}

async fn a_ban_is_pushed_and_bad_device_registrations_are_refused(backend: Backend) {
    let (app, google) = spawn(backend).await;
    let (user, other) = (app.user("yasakli").await, app.user("baskasi").await);
    for bad in [
        json!({ "token": "tok", "platform": "windows" }),
        json!({ "token": "has spaces", "platform": "ios" }),
        json!({ "token": "", "platform": "ios" }),
        json!({ "token": "tok", "platform": "ios", "locale": "de" }),
    ] {
        let refused =
            app.client.post(app.url("/v1/devices")).bearer_auth(&user.access).json(&bad).send().await.unwrap();
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    let anonymous =
        app.client.post(app.url("/v1/devices")).json(&json!({ "token": "t", "platform": "ios" })).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    assert_eq!(register_device(&app, &user, "tok-user", "tr").await.status(), StatusCode::NO_CONTENT);
    let foreign = app
        .client
        .delete(app.url("/v1/devices"))
        .bearer_auth(&other.access)
        .json(&json!({ "token": "tok-user" }))
        .send()
        .await
        .unwrap();
    assert_error(foreign, StatusCode::NOT_FOUND, "not_found").await;

    let moderator = app.staff("bekci", "moderator").await;
    app.ban(&moderator, user.id, "spam").await;
    app.run_job(Job::Push).await.unwrap();
    let sends = google.lock().unwrap().sends.clone();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0]["message"]["notification"]["body"], "Hesabın yasaklandı (spam).", "Turkish by default");
    assert_eq!(sends[0]["message"]["data"]["type"], "system");
}
