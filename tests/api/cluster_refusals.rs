//! What one node decides about a user holds on every node: a refresh token presented twice signs its session
//! out everywhere (its sockets close with 4001 whichever node holds them), and a ban made through one node
//! refuses the user's new sockets on the other before `hello` (4003).

use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_client::{ClientError, Connection, TokenIn};
use tanis_proto::{ClientFrame, CloseCode, ServerFrame};

use crate::helpers::{PASSWORD, TestApp, assert_error, new_phone, spawn_cluster, tokens};

/// The socket answers a ping: it is open.
async fn assert_open(socket: &mut Connection) {
    socket.send(&ClientFrame::Ping { id: Some("still-here".into()) }).await.unwrap();
    let pong = socket.next_where(|f| matches!(f, ServerFrame::Pong { .. })).await.expect("the socket is open");
    assert_eq!(pong, ServerFrame::Pong { id: Some("still-here".into()) });
}

async fn socket(node: &TestApp, access: &str) -> Connection {
    Connection::connect(&node.ws_url(), access).await.expect("the socket opens with hello").0
}

/// Opens a socket with `access` and returns the close code it got instead of any frame: the server refused it
/// before `hello`.
async fn refused_before_hello(url: &str, access: &str) -> Option<u16> {
    let mut socket = Connection::open(url, Some(access), TokenIn::Header).await.unwrap();
    match socket.next().await {
        Err(ClientError::Closed { code, .. }) => code,
        other => panic!("the socket was not closed before any frame: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_refresh_token_closes_its_sessions_sockets_on_every_node_and_no_other_sessions() {
    let nodes = spawn_cluster(2).await;
    let phone = new_phone();
    let (first_access, stolen) = tokens(&nodes[0].register(&phone, "kediadam").await);
    // The rightful device refreshes through node 1: the stolen copy is now a used token of the same session.
    let rotated: Value = nodes[1].refresh(&stolen).await.json().await.unwrap();
    let (rotated_access, _) = tokens(&rotated);
    let other_session: Value = nodes[1].login(&phone, PASSWORD).await.json().await.unwrap();
    let (other_access, _) = tokens(&other_session);
    let mut on_first = socket(&nodes[0], &first_access).await;
    let mut on_second = socket(&nodes[1], &rotated_access).await;
    let mut other_on_second = socket(&nodes[1], &other_access).await;

    // The thief presents the used token, through node 0.
    assert_error(nodes[0].refresh(&stolen).await, StatusCode::UNAUTHORIZED, "token_reused").await;

    let signed_out = Some(CloseCode::InvalidToken.code());
    for (socket, node) in [(&mut on_first, "node 0"), (&mut on_second, "node 1")] {
        assert_eq!(socket.ended().await.expect("closed in time"), signed_out, "the session's socket on {node}");
    }
    assert_open(&mut other_on_second).await;
    assert_eq!(refused_before_hello(&nodes[1].ws_url(), &rotated_access).await, signed_out);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_users_new_socket_is_refused_before_hello_on_the_other_node() {
    let nodes = spawn_cluster(2).await;
    let moderator = nodes[0].user("bekci").await;
    // The role is given as `tanis set-role` gives it (the store call the command makes): no API grants a first
    // role.
    assert!(nodes[0].store.set_role(moderator.id, tanis::domain::Role::Moderator, nodes[0].now()).await.unwrap());
    let target = nodes[1].user("hedef").await;
    let mut old_socket = socket(&nodes[1], &target.access).await;

    let ban = nodes[0]
        .post(&format!("/v1/admin/users/{}/ban", target.id))
        .bearer_auth(&moderator.access)
        .json(&json!({ "reason": "spam" }))
        .send()
        .await
        .unwrap();
    assert_eq!(ban.status(), StatusCode::NO_CONTENT);

    let banned = Some(CloseCode::Banned.code());
    assert_eq!(old_socket.ended().await.expect("closed in time"), banned, "the socket open at the ban");
    // A token issued before the ban is still unexpired: node 1 refuses it for the ban, not only as signed out.
    assert_eq!(refused_before_hello(&nodes[1].ws_url(), &target.access).await, banned);
    assert_eq!(refused_before_hello(&nodes[0].ws_url(), &target.access).await, banned);
}
