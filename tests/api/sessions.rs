//! Sessions (issue 15, points 2 and 3): a user lists their signed-in devices, signs one or all others out, and
//! changes their password; whatever is signed out stops working at once (refresh token, access token, sockets,
//! on every node).

use std::time::Duration;

use chrono::TimeDelta;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tanis_client::{Connection, TokenIn};
use tanis_proto::{ClientFrame, CloseCode, ServerFrame};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, new_phone, spawn_app, spawn_cluster, tokens};
use crate::on_both_stores;

on_both_stores!(
    each_sign_in_is_listed_with_its_device_and_address_and_the_asking_one_is_current,
    signing_out_a_session_closes_its_socket_and_stops_its_tokens_while_the_other_session_goes_on,
    signing_out_every_other_session_keeps_only_the_current_one,
    another_users_session_an_unknown_id_or_a_bad_one_is_refused_and_nothing_is_signed_out,
    logout_closes_the_sockets_of_its_session,
    a_wrong_current_password_or_a_weak_new_one_changes_nothing,
    wrong_current_passwords_are_throttled_like_logins,
    a_password_change_signs_out_every_other_session_and_only_the_new_password_signs_in,
    a_refresh_caught_up_in_a_sign_out_is_refused_as_signed_out_not_as_reuse,
);

/// The new password the tests change to.
const NEW_PASSWORD: &str = "yeni-parola-2027";

/// One signed-in device as the tests hold it.
struct Device {
    access: String,
    refresh: String,
}

/// Signs `phone` in from `ip` with `user_agent`.
async fn sign_in(app: &TestApp, phone: &str, user_agent: &str, ip: &str) -> Device {
    let body = json!({ "phone": phone, "password": PASSWORD });
    let response = app
        .post("/v1/auth/login")
        .header("user-agent", user_agent)
        .header("x-forwarded-for", ip)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (access, refresh) = tokens(&response.json::<Value>().await.unwrap());
    Device { access, refresh }
}

/// A registered account (its own registration is a session too) and its phone.
async fn account(app: &TestApp, alias: &str) -> String {
    let phone = new_phone();
    app.register(&phone, alias).await;
    phone
}

async fn list(app: &TestApp, access: &str) -> Response {
    app.client.get(app.url("/v1/me/sessions")).bearer_auth(access).send().await.unwrap()
}

async fn sessions(app: &TestApp, access: &str) -> Vec<Value> {
    let response = list(app, access).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// The id of the session `device` belongs to.
async fn session_id(app: &TestApp, device: &Device) -> String {
    let listed = sessions(app, &device.access).await;
    let current = listed.iter().find(|s| s["current"] == true).expect("the asking session is listed");
    current["id"].as_str().unwrap().to_owned()
}

async fn sign_out(app: &TestApp, access: &str, id: &str) -> Response {
    app.client.delete(app.url(&format!("/v1/me/sessions/{id}"))).bearer_auth(access).send().await.unwrap()
}

async fn sign_out_others(app: &TestApp, access: &str) -> Response {
    app.client.delete(app.url("/v1/me/sessions")).bearer_auth(access).send().await.unwrap()
}

async fn change_password(app: &TestApp, access: &str, current: &str, new: &str) -> Response {
    let body = json!({ "current_password": current, "new_password": new });
    app.post("/v1/me/password").bearer_auth(access).json(&body).send().await.unwrap()
}

async fn socket(app: &TestApp, device: &Device) -> Connection {
    Connection::connect(&app.ws_url(), &device.access).await.expect("the socket opens with hello").0
}

/// The socket answers a ping: it is open.
async fn assert_open(socket: &mut Connection) {
    socket.send(&ClientFrame::Ping { id: Some("still-here".into()) }).await.unwrap();
    let pong = socket.next_where(|f| matches!(f, ServerFrame::Pong { .. })).await.expect("the socket is open");
    assert_eq!(pong, ServerFrame::Pong { id: Some("still-here".into()) });
}

fn signed_out() -> Option<u16> {
    Some(CloseCode::InvalidToken.code())
}

/// Everything a signed-out device holds is refused: its refresh token, its access token on REST and on a new
/// socket.
async fn assert_signed_out(app: &TestApp, device: &Device) {
    assert_error(app.refresh(&device.refresh).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_error(app.get_me(&device.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let mut again = Connection::open(&app.ws_url(), Some(&device.access), TokenIn::Header).await.unwrap();
    assert_eq!(again.closed().await, signed_out(), "a new socket with its token is closed before hello");
}

async fn each_sign_in_is_listed_with_its_device_and_address_and_the_asking_one_is_current(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = account(&app, "kediadam").await;
    let started = app.now();
    app.clock.advance(TimeDelta::minutes(5));
    let phone_app = sign_in(&app, &phone, "tanis-android/3.1 (Pixel 8)", "203.0.113.7").await;
    app.clock.advance(TimeDelta::minutes(5));
    let browser = sign_in(&app, &phone, "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", "198.51.100.20").await;

    let listed = sessions(&app, &browser.access).await;
    assert_eq!(listed.len(), 3, "registration, the phone and the browser: {listed:#?}");
    let agents: Vec<&Value> = listed.iter().map(|s| &s["user_agent"]).collect();
    assert_eq!(
        agents,
        [&json!("Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"), &json!("tanis-android/3.1 (Pixel 8)"), &Value::Null],
        "most recently used first; the registration sent no User-Agent"
    );
    assert_eq!(listed[0]["ip_address"], "198.51.100.20");
    assert_eq!(listed[1]["ip_address"], "203.0.113.7");
    assert_eq!(listed[2]["ip_address"], "127.0.0.1", "the registration came straight from loopback");
    let current: Vec<bool> = listed.iter().map(|s| s["current"].as_bool().unwrap()).collect();
    assert_eq!(current, [true, false, false]);
    assert!(listed.iter().all(|s| s["place"].is_null()), "no address-to-place database: no place");
    assert_eq!(listed[2]["created_at"], json!(started));
    let keys: Vec<&String> = listed[0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "contact_keys",
            "created_at",
            "current",
            "expires_at",
            "id",
            "ip_address",
            "last_used_at",
            "place",
            "user_agent"
        ],
        "{:#}",
        listed[0]
    );

    // A refresh is a use: the phone's session moves to the top, its sign-in time stays.
    app.clock.advance(TimeDelta::minutes(5));
    let refreshed = app.refresh(&phone_app.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let (phone_access, _) = tokens(&refreshed.json::<Value>().await.unwrap());
    let listed = sessions(&app, &phone_access).await;
    assert_eq!(listed[0]["user_agent"], "tanis-android/3.1 (Pixel 8)");
    assert_eq!(listed[0]["current"], true, "the refreshed access token belongs to the same session");
    assert_eq!(listed[0]["last_used_at"], json!(app.now()));
    assert_eq!(listed[0]["created_at"], json!(started + TimeDelta::minutes(5)));
    assert_eq!(
        listed[0]["expires_at"],
        json!(app.now() + TimeDelta::seconds(app.config.auth.refresh_token_ttl_secs as i64))
    );

    // An expired session is not listed; an unauthenticated request is refused.
    app.clock.advance(TimeDelta::seconds(app.config.auth.refresh_token_ttl_secs as i64) - TimeDelta::minutes(1));
    let fresh = sign_in(&app, &phone, "tanis-ios/3.1", "192.0.2.1").await;
    let agents: Vec<Value> = sessions(&app, &fresh.access).await.into_iter().map(|s| s["user_agent"].clone()).collect();
    assert_eq!(agents, [json!("tanis-ios/3.1"), json!("tanis-android/3.1 (Pixel 8)")], "the others expired");
    let anonymous = app.client.get(app.url("/v1/me/sessions")).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
}

async fn signing_out_a_session_closes_its_socket_and_stops_its_tokens_while_the_other_session_goes_on(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let phone = account(&app, "kediadam").await;
    let (phone_app, tablet) = (
        sign_in(&app, &phone, "tanis-android/3.1", "203.0.113.7").await,
        sign_in(&app, &phone, "tanis-ipad/3.1", "203.0.113.8").await,
    );
    let (mut phone_socket, mut tablet_socket) = (socket(&app, &phone_app).await, socket(&app, &tablet).await);
    let phone_session = session_id(&app, &phone_app).await;

    assert_eq!(sign_out(&app, &tablet.access, &phone_session).await.status(), StatusCode::NO_CONTENT);

    assert_eq!(phone_socket.closed().await, signed_out());
    assert_open(&mut tablet_socket).await;
    assert_signed_out(&app, &phone_app).await;
    assert_eq!(app.get_me(&tablet.access).await.status(), StatusCode::OK);
    let listed = sessions(&app, &tablet.access).await;
    assert!(listed.iter().all(|s| s["id"] != phone_session.as_str()), "no longer listed");
    assert_eq!(app.refresh(&tablet.refresh).await.status(), StatusCode::OK, "the tablet's session goes on");
    // Twice is not found: it is signed out already.
    let again = sign_out(&app, &tablet.access, &phone_session).await;
    assert_error(again, StatusCode::NOT_FOUND, "not_found").await;
}

async fn signing_out_every_other_session_keeps_only_the_current_one(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = account(&app, "kediadam").await;
    let others = [
        sign_in(&app, &phone, "tanis-android/3.1", "203.0.113.7").await,
        sign_in(&app, &phone, "tanis-ipad/3.1", "203.0.113.8").await,
    ];
    let here = sign_in(&app, &phone, "Firefox/140.0", "198.51.100.20").await;
    let mut other_sockets = [socket(&app, &others[0]).await, socket(&app, &others[1]).await];
    let mut here_socket = socket(&app, &here).await;

    assert_eq!(sign_out_others(&app, &here.access).await.status(), StatusCode::NO_CONTENT);

    for socket in &mut other_sockets {
        assert_eq!(socket.closed().await, signed_out());
    }
    assert_open(&mut here_socket).await;
    for device in &others {
        assert_signed_out(&app, device).await;
    }
    let listed = sessions(&app, &here.access).await;
    assert_eq!(listed.len(), 1, "the registration's session went too: {listed:#?}");
    assert_eq!((listed[0]["current"].as_bool(), listed[0]["user_agent"].as_str()), (Some(true), Some("Firefox/140.0")));
    let refreshed = app.refresh(&here.refresh).await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let (access, refresh) = tokens(&refreshed.json::<Value>().await.unwrap());
    let here = Device { access, refresh };
    // With nothing else left, it is a no-op.
    assert_eq!(sign_out_others(&app, &here.access).await.status(), StatusCode::NO_CONTENT);
    assert_open(&mut here_socket).await;
    // The current session is signed out only when named.
    let here_id = session_id(&app, &here).await;
    assert_eq!(sign_out(&app, &here.access, &here_id).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(here_socket.closed().await, signed_out());
    assert_signed_out(&app, &here).await;
}

async fn another_users_session_an_unknown_id_or_a_bad_one_is_refused_and_nothing_is_signed_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mine, theirs) = (account(&app, "kediadam").await, account(&app, "kopekadam").await);
    let me = sign_in(&app, &mine, "tanis-android/3.1", "203.0.113.7").await;
    let them = sign_in(&app, &theirs, "tanis-ios/3.1", "203.0.113.9").await;
    let mut their_socket = socket(&app, &them).await;
    let their_session = session_id(&app, &them).await;

    assert_error(sign_out(&app, &me.access, &their_session).await, StatusCode::NOT_FOUND, "not_found").await;
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_error(sign_out(&app, &me.access, &unknown).await, StatusCode::NOT_FOUND, "not_found").await;
    for bad in ["abc", "42", "00000000-0000-0000-0000-00000000000g"] {
        assert_error(sign_out(&app, &me.access, bad).await, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
    let anonymous = app.client.delete(app.url(&format!("/v1/me/sessions/{their_session}"))).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
    assert_error(sign_out(&app, "garbage", &their_session).await, StatusCode::UNAUTHORIZED, "invalid_token").await;

    assert_open(&mut their_socket).await;
    assert_eq!(app.refresh(&them.refresh).await.status(), StatusCode::OK, "their session is untouched");
    assert_eq!(sessions(&app, &them.access).await.len(), 2);
}

async fn logout_closes_the_sockets_of_its_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = account(&app, "kediadam").await;
    let (leaving, staying) = (
        sign_in(&app, &phone, "tanis-android/3.1", "203.0.113.7").await,
        sign_in(&app, &phone, "tanis-ipad/3.1", "203.0.113.8").await,
    );
    let (mut leaving_socket, mut staying_socket) = (socket(&app, &leaving).await, socket(&app, &staying).await);

    assert_eq!(app.logout(&leaving.refresh).await.status(), StatusCode::NO_CONTENT);

    assert_eq!(leaving_socket.closed().await, signed_out());
    assert_open(&mut staying_socket).await;
    assert_signed_out(&app, &leaving).await;
}

async fn a_wrong_current_password_or_a_weak_new_one_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = account(&app, "kediadam").await;
    let (here, other) = (
        sign_in(&app, &phone, "tanis-android/3.1", "203.0.113.7").await,
        sign_in(&app, &phone, "tanis-ipad/3.1", "203.0.113.8").await,
    );
    let mut other_socket = socket(&app, &other).await;

    let wrong = change_password(&app, &here.access, "not-my-password", NEW_PASSWORD).await;
    assert_error(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let too_long = change_password(&app, &here.access, &"x".repeat(73), NEW_PASSWORD).await;
    assert_error(too_long, StatusCode::FORBIDDEN, "wrong_password").await;
    for (new, code) in [("kisa", "weak_password"), ("password1", "weak_password"), ("zzzzzzzzzz", "weak_password")] {
        let weak = change_password(&app, &here.access, PASSWORD, new).await;
        assert_error(weak, StatusCode::UNPROCESSABLE_ENTITY, code).await;
    }
    let long = change_password(&app, &here.access, PASSWORD, &"ş".repeat(37)).await;
    assert_error(long, StatusCode::UNPROCESSABLE_ENTITY, "password_too_long").await;
    let extra = json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD, "also": 1 });
    let extra = app.post("/v1/me/password").bearer_auth(&here.access).json(&extra).send().await.unwrap();
    assert_error(extra, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let missing = app.post("/v1/me/password").bearer_auth(&here.access).json(&json!({ "current_password": PASSWORD }));
    assert_error(missing.send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let anonymous =
        app.post("/v1/me/password").json(&json!({ "current_password": PASSWORD, "new_password": NEW_PASSWORD }));
    assert_error(anonymous.send().await.unwrap(), StatusCode::UNAUTHORIZED, "missing_token").await;

    assert_open(&mut other_socket).await;
    assert_eq!(app.refresh(&other.refresh).await.status(), StatusCode::OK, "no session was signed out");
    assert_eq!(app.login(&phone, PASSWORD).await.status(), StatusCode::OK, "the password is unchanged");
    assert_error(app.login(&phone, NEW_PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let changes = app.count("SELECT COUNT(*) FROM system_logs WHERE action = 'auth.password_changed'").await;
    assert_eq!(changes, 0);
}

async fn wrong_current_passwords_are_throttled_like_logins(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = account(&app, "kediadam").await;
    let here = sign_in(&app, &phone, "tanis-android/3.1", "203.0.113.7").await;
    for _ in 0..app.config.auth.max_failures_per_phone {
        let wrong = change_password(&app, &here.access, "not-my-password", NEW_PASSWORD).await;
        assert_error(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    }

    let locked = change_password(&app, &here.access, PASSWORD, NEW_PASSWORD).await;
    assert!(locked.headers().contains_key("retry-after"));
    assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // The same count as the login's: the phone is locked there too.
    assert_error(app.login(&phone, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    app.clock.advance(TimeDelta::seconds(app.config.auth.login_window_secs as i64));
    let here = sign_in(&app, &phone, "tanis-android/3.1", "203.0.113.7").await;
    assert_eq!(change_password(&app, &here.access, PASSWORD, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
}

async fn a_password_change_signs_out_every_other_session_and_only_the_new_password_signs_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = account(&app, "kediadam").await;
    let here = sign_in(&app, &phone, "Firefox/140.0", "198.51.100.20").await;
    let others = [
        sign_in(&app, &phone, "tanis-android/3.1", "203.0.113.7").await,
        sign_in(&app, &phone, "tanis-ipad/3.1", "203.0.113.8").await,
    ];
    let mut other_sockets = [socket(&app, &others[0]).await, socket(&app, &others[1]).await];
    let mut here_socket = socket(&app, &here).await;

    assert_eq!(change_password(&app, &here.access, PASSWORD, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);

    for socket in &mut other_sockets {
        assert_eq!(socket.closed().await, signed_out());
    }
    for device in &others {
        assert_signed_out(&app, device).await;
    }
    assert_open(&mut here_socket).await;
    assert_eq!(app.get_me(&here.access).await.status(), StatusCode::OK, "this session continues");
    assert_eq!(app.refresh(&here.refresh).await.status(), StatusCode::OK);
    assert_error(app.login(&phone, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(app.login(&phone, NEW_PASSWORD).await.status(), StatusCode::OK);
    let id = app.user_id(&phone).await;
    let audited = app
        .count(&format!("SELECT COUNT(*) FROM system_logs WHERE action = 'auth.password_changed' AND user_id = {id}"))
        .await;
    assert_eq!(audited, 1);
}

async fn a_refresh_caught_up_in_a_sign_out_is_refused_as_signed_out_not_as_reuse(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = account(&app, "kediadam").await;
    let (leaving, here) = (
        sign_in(&app, &phone, "tanis-android/3.1", "203.0.113.7").await,
        sign_in(&app, &phone, "tanis-ipad/3.1", "203.0.113.8").await,
    );
    let leaving_session = session_id(&app, &leaving).await;
    // The leaving device's refresh has read its token as unused and is held just before its rotation; the
    // sign-out commits meanwhile, then the refresh goes on.
    let mut held = app.store.fail_points.hold("refresh.before_rotate");
    let refresh = tokio::spawn({
        let (url, client, token) = (app.url("/v1/auth/refresh"), app.client.clone(), leaving.refresh.clone());
        async move { client.post(url).json(&json!({ "refresh_token": token })).send().await.unwrap() }
    });
    tokio::time::timeout(Duration::from_secs(10), held.reached()).await.expect("the refresh reached its rotation");
    assert_eq!(sign_out(&app, &here.access, &leaving_session).await.status(), StatusCode::NO_CONTENT);
    held.release();
    assert_error(refresh.await.unwrap(), StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(app.refresh(&here.refresh).await.status(), StatusCode::OK, "the other session goes on");
    let reuse = app.count("SELECT COUNT(*) FROM system_logs WHERE action = 'auth.refresh_token_reused'").await;
    assert_eq!(reuse, 0, "a sign-out is not a stolen token");
}

/// Within how long a sign-out reaches a socket on another node.
const WITHIN: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_signed_out_through_one_node_closes_its_socket_on_another() {
    let nodes = spawn_cluster(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let phone = account(a, "kediadam").await;
    let (here, phone_app, tablet) = (
        sign_in(a, &phone, "Firefox/140.0", "198.51.100.20").await,
        sign_in(b, &phone, "tanis-android/3.1", "203.0.113.7").await,
        sign_in(b, &phone, "tanis-ipad/3.1", "203.0.113.8").await,
    );
    let (mut phone_on_b, mut tablet_on_b) = (socket(b, &phone_app).await, socket(b, &tablet).await);
    let mut here_on_a = socket(a, &here).await;
    let phone_session = session_id(a, &phone_app).await;

    assert_eq!(sign_out(a, &here.access, &phone_session).await.status(), StatusCode::NO_CONTENT);
    let closed = tokio::time::timeout(WITHIN, phone_on_b.closed()).await.expect("closed in time");
    assert_eq!(closed, signed_out());
    assert_open(&mut tablet_on_b).await;
    assert_signed_out(b, &phone_app).await;

    // A password change through node A signs out the tablet on node B.
    assert_eq!(change_password(a, &here.access, PASSWORD, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    let closed = tokio::time::timeout(WITHIN, tablet_on_b.closed()).await.expect("closed in time");
    assert_eq!(closed, signed_out());
    assert_open(&mut here_on_a).await;
    assert_signed_out(b, &tablet).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_out_whose_event_was_lost_between_nodes_closes_the_socket_at_the_resync() {
    let nodes = spawn_cluster(1).await;
    let node = &nodes[0];
    let phone = account(node, "kediadam").await;
    let (lost, kept) = (
        sign_in(node, &phone, "tanis-android/3.1", "203.0.113.7").await,
        sign_in(node, &phone, "tanis-ipad/3.1", "203.0.113.8").await,
    );
    let (mut lost_socket, mut kept_socket) = (socket(node, &lost).await, socket(node, &kept).await);
    let lost_session = session_id(node, &lost).await;
    // Signed out in the database while its event never reached the node (Redis was away, or its outbox full).
    let user_id = node.user_id(&phone).await;
    assert!(node.store.revoke_login(user_id, &lost_session, node.now()).await.unwrap());
    // Another process tells the node that frames for the user may have been lost.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let other = tanis::startup::delivery(&node.config, Default::default(), shutdown.clone()).await.unwrap();
    other.deliver(tanis::delivery::Event::Resync { users: vec![user_id] });

    let closed = tokio::time::timeout(WITHIN, lost_socket.closed()).await.expect("the node closes the socket");
    assert_eq!(closed, signed_out());
    assert_open(&mut kept_socket).await;
    shutdown.cancel();
}
