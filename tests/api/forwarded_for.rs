//! `trust_forwarded_for`: only a server behind its own proxy takes the client address from X-Forwarded-For.

use reqwest::StatusCode;

use crate::helpers::{Backend, PASSWORD, TestApp, new_phone, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(an_untrusted_x_forwarded_for_is_ignored_and_the_peer_address_recorded);

/// Logs in from 127.0.0.1 claiming to be 203.0.113.7; returns the `ip` the login attempt was recorded with.
async fn recorded_ip(app: &TestApp) -> (i64, i64) {
    let phone = new_phone();
    app.register(&phone, "vekil").await;
    assert_eq!(app.login_from("203.0.113.7", &phone, PASSWORD).await.status(), StatusCode::OK);
    let from = |ip: &str| format!("SELECT COUNT(*) FROM login_attempts WHERE phone_number = '{phone}' AND ip = '{ip}'");
    (app.count(from("203.0.113.7")).await, app.count(from("127.0.0.1")).await)
}

async fn an_untrusted_x_forwarded_for_is_ignored_and_the_peer_address_recorded(backend: Backend) {
    let untrusting = spawn_app_with(backend, |c| c.trust_forwarded_for = false).await;
    assert_eq!(recorded_ip(&untrusting).await, (0, 1), "the socket's address, not the header's claim");
    let trusting = spawn_app_with(backend, |c| c.trust_forwarded_for = true).await;
    assert_eq!(recorded_ip(&trusting).await, (1, 0), "behind our own proxy the header is the client");
}
