//! `trusted_proxies`: the client address comes from X-Forwarded-For only when the request comes from a proxy
//! tanis was told to trust.

use reqwest::StatusCode;

use crate::helpers::{Backend, PASSWORD, TestApp, new_phone, spawn_app_with};
use crate::on_both_stores;

on_both_stores!(
    x_forwarded_for_counts_only_from_a_trusted_proxy,
    the_shipped_deployments_trust_only_their_ingress_so_a_forged_header_from_a_pod_is_ignored,
);

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

/// Every `TANIS_TRUSTED_PROXIES` value written in `file` (deploy/kubernetes's ConfigMap, docker-compose.yml), as the
/// networks tanis reads from it.
fn shipped_trusted_proxies(file: &str) -> Vec<Vec<ipnet::IpNet>> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
    let lists: Vec<_> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("TANIS_TRUSTED_PROXIES:"))
        .map(|value| {
            let json = value.trim().trim_matches('\'');
            let written: Vec<String> = serde_json::from_str(json).unwrap_or_else(|e| panic!("{file}: {json}: {e}"));
            written
                .iter()
                .map(|w| w.parse().or_else(|_| w.parse::<std::net::IpAddr>().map(ipnet::IpNet::from)).unwrap())
                .collect()
        })
        .collect();
    assert!(!lists.is_empty(), "{file} sets TANIS_TRUSTED_PROXIES");
    lists
}

/// The ingress's own addresses, one by one, and nothing wider (issue 62: the whole pod network was trusted, so any
/// pod could reach a node with a forged header). A node started with each shipped list, reached from an address
/// outside it (a pod's, here loopback's), counts the login under that address, not the one it claimed.
async fn the_shipped_deployments_trust_only_their_ingress_so_a_forged_header_from_a_pod_is_ignored(backend: Backend) {
    for file in ["deploy/kubernetes/base/config.yaml", "docker-compose.yml"] {
        for proxies in shipped_trusted_proxies(file) {
            for proxy in &proxies {
                assert_eq!(proxy.prefix_len(), proxy.max_prefix_len(), "{file}: {proxy} is a network, not one proxy");
                assert!(!proxy.contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap()), "{file}: {proxy}");
            }
            let app = spawn_app_with(backend, |c| c.trusted_proxies = proxies.clone()).await;
            assert_eq!(
                recorded_ip(&app).await,
                (0, 1),
                "{file}: the forged address is ignored from outside {proxies:?}"
            );
        }
    }
}
