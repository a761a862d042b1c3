//! `trusted_proxies`: the client address comes from X-Forwarded-For only when the request comes from a proxy
//! tanis was told to trust.

use reqwest::StatusCode;

use crate::helpers::{Backend, PASSWORD, TestApp, new_phone, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(x_forwarded_for_counts_only_from_a_trusted_proxy);

/// Logs in from 127.0.0.1 claiming to be 203.0.113.7; returns the `ip` the login attempt was recorded with.
async fn recorded_ip(app: &TestApp) -> (i64, i64) {
    let phone = new_phone();
    app.register(&phone, "vekil").await;
    assert_eq!(app.login_from("203.0.113.7", &phone, PASSWORD).await.status(), StatusCode::OK);
    let user = app.user_id(&phone).await;
    let from = |ip: &str| format!("SELECT COUNT(*) FROM login_attempts WHERE user_id = {user} AND ip = '{ip}'");
    (app.count(from("203.0.113.7")).await, app.count(from("127.0.0.1")).await)
}

async fn x_forwarded_for_counts_only_from_a_trusted_proxy(backend: Backend) {
    let untrusting = spawn_app_with(backend, |c| c.trusted_proxies = Vec::new()).await;
    assert_eq!(recorded_ip(&untrusting).await, (0, 1), "no proxy configured: the socket's address");
    let elsewhere = spawn_app_with(backend, |c| c.trusted_proxies = vec!["10.0.0.0/8".parse().unwrap()]).await;
    assert_eq!(recorded_ip(&elsewhere).await, (0, 1), "the peer is not the configured proxy: its own address");
    let trusting = spawn_app_with(backend, |c| c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()]).await;
    assert_eq!(recorded_ip(&trusting).await, (1, 0), "from the trusted proxy the header is the client");
}
