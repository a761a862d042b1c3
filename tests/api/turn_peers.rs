//! The embedded TURN relay is no way into the server itself (issue 47, point 5): with credentials from
//! `GET /v1/rtc/ice-servers`, as any video client gets them, a TURN client that asks to reach the server's own
//! HTTP/WebSocket listener, its TURN listener or its own relay address is refused with 403 Forbidden — outside
//! production too, where loopback peers are otherwise relayed (tests run every call over loopback).

use std::net::SocketAddr;
use std::sync::Arc;

use tanis_proto::RtcConfig;
use tokio::time::timeout;
use webrtc::turn::client::{Client, ClientConfig};
use webrtc::util::Conn;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_stores;

on_both_stores!(the_relay_refuses_the_servers_own_listeners_and_its_own_address_as_peers_with_403);

/// Bound on each TURN transaction over loopback.
const STEP: std::time::Duration = std::time::Duration::from_secs(5);

/// A TURN client of the app's embedded relay over UDP, signed in with the credentials a video client is given.
async fn turn_client(app: &TestApp) -> (Client, SocketAddr) {
    let user = app.user("kamera").await;
    let (_, answer) = app.get_json("/v1/rtc/ice-servers", &app.access_token(&user).await).await;
    let rtc: RtcConfig = serde_json::from_value(answer).unwrap();
    let server = &rtc.ice_servers[0];
    // turn:127.0.0.1:PORT?transport=udp
    let address = server.urls[0].strip_prefix("turn:").unwrap().split('?').next().unwrap().to_owned();
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client = Client::new(ClientConfig {
        stun_serv_addr: address.clone(),
        turn_serv_addr: address.clone(),
        username: server.username.clone().unwrap(),
        password: server.credential.clone().unwrap(),
        realm: app.config.video.turn_realm.clone(),
        software: String::new(),
        rto_in_ms: 0,
        conn: Arc::new(socket),
        vnet: None,
    })
    .await
    .unwrap();
    client.listen().await.unwrap();
    (client, address.parse().unwrap())
}

/// The STUN error code of a refusal, as webrtc-rs's client words it ("… (error 403: …)").
fn stun_code(err: &impl std::fmt::Display) -> Option<u16> {
    let text = err.to_string();
    text.split_once("(error ")?.1.get(..3)?.parse().ok()
}

async fn the_relay_refuses_the_servers_own_listeners_and_its_own_address_as_peers_with_403(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, turn_listener) = turn_client(&app).await;
    let relay = timeout(STEP, client.allocate()).await.unwrap().expect("the relay allocates");
    let own_relay = relay.local_addr().unwrap();
    let http: SocketAddr = app.address.strip_prefix("http://").unwrap().parse().unwrap();

    for (what, peer) in [("the HTTP listener", http), ("the TURN listener", turn_listener), ("itself", own_relay)] {
        let sent = timeout(STEP, relay.send_to(b"GET /healthz HTTP/1.1\r\n\r\n", peer)).await.unwrap();
        let err = sent.expect_err(what);
        assert_eq!(stun_code(&err), Some(403), "{what} ({peer}) is refused as Forbidden: {err}");
    }
    relay.close().await.unwrap();
    client.close().await.unwrap();
}
