use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, assert_error, new_phone, spawn_app, spawn_app_with, tokens};
use crate::on_both_stores;

on_both_stores!(
    the_right_password_signs_in_and_the_attempt_is_recorded_with_ip_and_user_agent,
    a_wrong_password_and_an_unknown_phone_get_the_same_answer,
    five_failures_lock_the_phone_until_the_oldest_leaves_the_window,
    too_many_failures_from_one_address_lock_that_address_only,
    a_banned_user_is_refused_with_the_reason_and_loses_every_session,
    a_lifted_ban_lets_the_user_back_in,
    a_login_storm_waits_for_bcrypt_slots_while_other_requests_are_served,
    a_login_that_cannot_get_a_bcrypt_slot_in_time_is_told_the_server_is_busy,
);

async fn the_right_password_signs_in_and_the_attempt_is_recorded_with_ip_and_user_agent(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    app.register(&phone, "kediadam").await;

    let response = app
        .post("/v1/auth/login")
        .header("x-forwarded-for", "198.51.100.9, 203.0.113.5")
        .header("user-agent", "tanis-ios/1.2")
        .json(&serde_json::json!({ "phone": "0".to_owned() + &phone[3..], "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let session: Value = response.json().await.unwrap();
    assert!(session["user"]["handle"].as_str().unwrap().starts_with("kediadam#"));

    let user = app.user_id(&phone).await;
    let recorded = app
        .count(&format!(
            "SELECT COUNT(*) FROM login_attempts WHERE user_id = {user} AND outcome = 'success' \
             AND ip = '203.0.113.5' AND user_agent = 'tanis-ios/1.2'"
        ))
        .await;
    assert_eq!(recorded, 1, "the rightmost forwarded address is the one recorded");
}

async fn a_wrong_password_and_an_unknown_phone_get_the_same_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    app.register(&phone, "kediadam").await;

    let wrong =
        assert_error(app.login(&phone, "yanlis-parola").await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let unknown =
        assert_error(app.login(&new_phone(), PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(wrong, unknown);
    let failures = app.count("SELECT COUNT(*) FROM login_attempts WHERE outcome = 'bad_credentials'").await;
    assert_eq!(failures, 2, "unknown phones are recorded too");
}

async fn five_failures_lock_the_phone_until_the_oldest_leaves_the_window(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    app.register(&phone, "kediadam").await;

    for minute in 0..5 {
        assert_error(app.login(&phone, "yanlis-parola").await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        if minute < 4 {
            app.clock.advance(TimeDelta::minutes(1));
        }
    }
    // Even the right password is refused now, until the first failure (4 minutes ago) leaves the window.
    let locked = app.login(&phone, PASSWORD).await;
    assert_eq!(locked.headers()["retry-after"], (11 * 60).to_string().as_str());
    assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM login_attempts WHERE outcome = 'throttled'").await, 1);

    app.clock.advance(TimeDelta::minutes(11) - TimeDelta::seconds(1));
    assert_eq!(app.login(&phone, PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS, "one second early");
    app.clock.advance(TimeDelta::seconds(1));
    assert_eq!(app.login(&phone, PASSWORD).await.status(), StatusCode::OK);
}

async fn too_many_failures_from_one_address_lock_that_address_only(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.auth.max_failures_per_ip = 3).await;
    let phone = new_phone();
    app.register(&phone, "kediadam").await;

    for _ in 0..3 {
        let response = app.login_from("203.0.113.7", &new_phone(), "yanlis-parola").await;
        assert_error(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let locked = app.login_from("203.0.113.7", &phone, PASSWORD).await;
    assert!(locked.headers().contains_key("retry-after"));
    assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(app.login_from("203.0.113.8", &phone, PASSWORD).await.status(), StatusCode::OK);
}

async fn a_banned_user_is_refused_with_the_reason_and_loses_every_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    let session = app.register(&phone, "kediadam").await;
    let (access, refresh) = tokens(&session);
    let id = app.user_id(&phone).await;

    let moderator = app.staff("bekci", "moderator").await;
    app.ban(&moderator, id, "spam").await;

    let message = assert_error(app.login(&phone, PASSWORD).await, StatusCode::FORBIDDEN, "account_banned").await;
    assert!(message.contains("(spam) until lifted"), "{message}");
    assert_error(app.get_me(&access).await, StatusCode::FORBIDDEN, "account_banned").await;
    assert_error(app.refresh(&refresh).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // A wrong password does not reveal the ban.
    assert_error(app.login(&phone, "yanlis-parola").await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let logged =
        app.count(&format!("SELECT COUNT(*) FROM system_logs WHERE action = 'user.banned' AND user_id = {id}")).await;
    assert_eq!(logged, 1);
}

async fn a_lifted_ban_lets_the_user_back_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    app.register(&phone, "kediadam").await;
    let id = app.user_id(&phone).await;
    let moderator = app.staff("bekci", "moderator").await;
    app.ban(&moderator, id, "other").await;
    assert_error(app.login(&phone, PASSWORD).await, StatusCode::FORBIDDEN, "account_banned").await;
    app.unban(&moderator, id).await;
    assert_eq!(app.login(&phone, PASSWORD).await.status(), StatusCode::OK);
}

async fn a_login_storm_waits_for_bcrypt_slots_while_other_requests_are_served(backend: Backend) {
    // One slot and the production cost: eight logins take a couple of seconds one after another.
    let app = Arc::new(
        spawn_app_with(backend, |c| {
            c.auth.bcrypt_concurrency = 1;
            c.auth.bcrypt_cost = 12;
        })
        .await,
    );
    let phone = new_phone();
    app.register(&phone, "kediadam").await;
    // Registered before the storm: registering hashes a password too, and would queue behind it.
    let user = app.user("yolcu").await;

    let finished = Arc::new(AtomicUsize::new(0));
    let (first_done, mut first_done_rx) = tokio::sync::mpsc::channel::<()>(8);
    let storm: Vec<_> = (0..8)
        .map(|_| {
            let (app, phone, finished, done) = (app.clone(), phone.clone(), finished.clone(), first_done.clone());
            tokio::spawn(async move {
                let status = app.login(&phone, PASSWORD).await.status();
                finished.fetch_add(1, Ordering::SeqCst);
                let _ = done.send(()).await;
                status
            })
        })
        .collect();
    // Once one login is through, the others are queued behind the single slot.
    tokio::time::timeout(std::time::Duration::from_secs(30), first_done_rx.recv()).await.unwrap();
    // Meanwhile the rest of the server answers: health, an authenticated request, a WebSocket's hello.
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), StatusCode::OK);
    assert_eq!(app.get_me(&user.access).await.status(), StatusCode::OK);
    let (_socket, hello) = app.connect(&user).await;
    assert!(matches!(hello, tanis_proto::ServerFrame::Hello { .. }));
    assert!(finished.load(Ordering::SeqCst) < 8, "those requests were served while logins still queued");
    for login in storm {
        assert_eq!(login.await.unwrap(), StatusCode::OK, "queued logins all complete");
    }
}

async fn a_login_that_cannot_get_a_bcrypt_slot_in_time_is_told_the_server_is_busy(backend: Backend) {
    let app = Arc::new(
        spawn_app_with(backend, |c| {
            c.auth.bcrypt_concurrency = 1;
            c.auth.bcrypt_cost = 12;
            c.auth.bcrypt_queue_timeout_ms = 1;
        })
        .await,
    );
    let phone = new_phone();
    // Registration itself may be refused as busy if a slot is held, so arrange the account directly.
    app.register(&phone, "kediadam").await;
    let logins: Vec<_> = (0..4)
        .map(|_| {
            let (app, phone) = (app.clone(), phone.clone());
            tokio::spawn(async move { app.login(&phone, PASSWORD).await })
        })
        .collect();
    let mut busy = 0;
    for login in logins {
        let response = login.await.unwrap();
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert_eq!(response.headers()["retry-after"], "1");
            assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "server_busy").await;
            busy += 1;
        } else {
            assert_eq!(response.status(), StatusCode::OK);
        }
    }
    assert!(busy >= 1, "with one slot and a 1 ms queue, simultaneous logins are turned away");
}
