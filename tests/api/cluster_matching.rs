//! Matching that no single process decides (src/matching/cluster/local.rs): a node pairs its own seekers with
//! each other and hands whoever it could not pair to the elected matchmaker. Who paired a match shows in its
//! row: a node's own pairs carry no matchmaker epoch, the elected matchmaker's carry its epoch.

use std::collections::HashMap;
use std::time::Duration;

use tanis::domain::UserId;
use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ServerFrame};

use crate::helpers::{TestApp, TestUser, eventually, spawn_cluster_with, text_find};

const WITHIN: Duration = Duration::from_secs(10);

/// Two nodes holding their own seekers for the longest hold allowed: two seekers asking on one node one after
/// the other meet there, however slow the machine.
async fn two_nodes() -> Vec<TestApp> {
    spawn_cluster_with(2, |c| c.cluster.local_pairing_ms = 1000).await
}

async fn next_within(socket: &mut Connection, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    tokio::time::timeout(WITHIN, socket.next_where(wanted)).await.expect("the frame arrives in time").unwrap()
}

/// Asks for a text match on a new socket of `node`; returns it once `match.queued` came.
async fn queued(node: &TestApp, user: &TestUser) -> Connection {
    let mut socket = node.socket(user).await;
    socket.send(&text_find(Some("f"))).await.unwrap();
    let answer = next_within(&mut socket, |_| true).await;
    assert!(matches!(answer, ServerFrame::MatchQueued { .. }), "{} waits: {answer:?}", user.handle);
    socket
}

/// The handle of the partner `socket` was given.
async fn partner(socket: &mut Connection) -> String {
    match next_within(socket, |f| !matches!(f, ServerFrame::MatchQueued { .. })).await {
        ServerFrame::MatchFound { info, .. } => info.peer,
        other => panic!("expected match.found, got {other:?}"),
    }
}

/// The epoch the match of `user` was written under; `None` when a node paired it among its own seekers.
async fn paired_under(node: &TestApp, user: &TestUser) -> Option<i64> {
    let epochs = node
        .integers(format!(
            "SELECT COALESCE(matchmaker_epoch, -1) FROM matches WHERE user1_id = {0} OR user2_id = {0}",
            user.id
        ))
        .await;
    assert_eq!(epochs.len(), 1, "{} is in one match", user.handle);
    (epochs[0] >= 0).then_some(epochs[0])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seekers_on_one_node_are_paired_there_and_seekers_of_two_nodes_by_the_elected_matchmaker() {
    let nodes = two_nodes().await;
    let (a, b) = (nodes[1].user("kedi").await, nodes[1].user("kopek").await);
    let mut sa = queued(&nodes[1], &a).await;
    let mut sb = nodes[1].socket(&b).await;
    sb.send(&text_find(Some("f"))).await.unwrap();
    assert_eq!(partner(&mut sb).await, a.handle);
    assert_eq!(partner(&mut sa).await, b.handle);
    assert_eq!(paired_under(&nodes[1], &a).await, None, "node 1 paired its own seekers");

    let (c, d) = (nodes[0].user("tilki").await, nodes[1].user("kurt").await);
    let mut sc = queued(&nodes[0], &c).await;
    let mut sd = queued(&nodes[1], &d).await;
    assert_eq!(partner(&mut sc).await, d.handle);
    assert_eq!(partner(&mut sd).await, c.handle);
    assert!(paired_under(&nodes[0], &c).await.is_some(), "seekers of two nodes meet at the elected matchmaker");
}

/// A node still holds a seeker who left through another node: it must not pair them, and their new request on
/// the node that held them is a new wait, not "already waiting".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_seeker_who_left_through_another_node_is_not_paired_by_the_node_that_held_them() {
    let nodes = two_nodes().await;
    let (a, b, c) = (nodes[1].user("kedi").await, nodes[1].user("kopek").await, nodes[1].user("tilki").await);
    let mut held = queued(&nodes[1], &a).await;
    let mut elsewhere = nodes[0].socket(&a).await;
    elsewhere.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    assert_eq!(next_within(&mut elsewhere, |_| true).await, ServerFrame::MatchCancelled { id: Some("c".into()) });

    // b and c meet on node 1, which still remembered a: a is nobody's partner.
    let mut sb = queued(&nodes[1], &b).await;
    let mut sc = nodes[1].socket(&c).await;
    sc.send(&text_find(Some("f"))).await.unwrap();
    assert_eq!(partner(&mut sc).await, b.handle);
    assert_eq!(partner(&mut sb).await, c.handle);

    held.send(&text_find(Some("again"))).await.unwrap();
    let answer = next_within(&mut held, |_| true).await;
    assert!(matches!(answer, ServerFrame::MatchQueued { .. }), "a new wait: {answer:?}");
    let count = nodes[0].count(format!("SELECT COUNT(*) FROM matches WHERE user1_id = {0} OR user2_id = {0}", a.id));
    assert_eq!(count.await, 0, "a was never paired");
}

/// Everyone asks from both nodes at once: each user is paired exactly once, whether their partner was on their
/// node or the other, and whichever node decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everyone_asking_from_both_nodes_at_once_is_paired_exactly_once() {
    let nodes = spawn_cluster_with(2, |_| {}).await;
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(nodes[i % 2].user(&format!("kisi{i}")).await);
    }
    let mut sockets = Vec::new();
    for user in &users {
        sockets.push((nodes[0].socket(user).await, nodes[1].socket(user).await));
    }
    let asks = sockets.iter_mut().map(|(first, second)| async move {
        let find = text_find(Some("f"));
        let (x, y) = tokio::join!(first.send(&find), second.send(&find));
        (x.unwrap(), y.unwrap());
        // Each request is answered: a wait, "already waiting", or (asked again on the other node once the first
        // request was paired) "already in a match"; the found match may reach either socket.
        let answered = |f: &ServerFrame| matches!(f, ServerFrame::MatchQueued { .. } | ServerFrame::Error { .. });
        let answers = tokio::join!(next_within(first, answered), next_within(second, answered));
        for answer in [answers.0, answers.1] {
            let fine = [ErrorCode::AlreadyQueued, ErrorCode::AlreadyInMatch];
            assert!(
                matches!(&answer, ServerFrame::MatchQueued { .. })
                    || matches!(&answer, ServerFrame::Error { code, .. } if fine.contains(code)),
                "{answer:?}"
            );
        }
    });
    futures_util::future::join_all(asks).await;

    let pairs = || nodes[0].integers("SELECT user1_id * 1000000 + user2_id FROM matches".into());
    eventually(WITHIN, "ten matches", || async { pairs().await.len() >= 10 }).await;
    let pairs = pairs().await;
    assert_eq!(pairs.len(), 10, "{pairs:?}");
    let mut seen: HashMap<UserId, usize> = HashMap::new();
    for pair in pairs {
        for user in [pair / 1_000_000, pair % 1_000_000] {
            *seen.entry(UserId(user)).or_default() += 1;
        }
    }
    assert!(users.iter().all(|u| seen.get(&u.id) == Some(&1)), "each user in one match: {seen:?}");
}

/// The pairing rules hold on a node's own pairs: a recent partner is passed over there, as at the elected
/// matchmaker (the same rules, src/matching/rules.rs; seekers who rank partners are not held by a node).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_pairing_its_own_seekers_passes_over_recent_partners() {
    let nodes = two_nodes().await;
    let (a, b, c) = (nodes[0].user("eski_a").await, nodes[1].user("eski_b").await, nodes[1].user("yeni_c").await);
    // a and b meet across the nodes, and part.
    let (mut sa, mut sb) = (nodes[0].socket(&a).await, nodes[1].socket(&b).await);
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let match_id = chat_a.unwrap().info.match_id;
    assert_eq!(chat_b.unwrap().info.match_id, match_id);
    sa.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
    next_within(&mut sb, |f| matches!(f, ServerFrame::MatchEnded { .. })).await;

    // Both ask again on node 1: it holds both, and does not pair them; c, asking there after them, meets a.
    let mut qa = queued(&nodes[1], &a).await;
    let mut qb = queued(&nodes[1], &b).await;
    let mut qc = nodes[1].socket(&c).await;
    qc.send(&text_find(Some("f"))).await.unwrap();
    assert_eq!(partner(&mut qc).await, a.handle);
    assert_eq!(partner(&mut qa).await, c.handle);
    assert_eq!(paired_under(&nodes[1], &c).await, None, "node 1 paired them");
    qb.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    assert_eq!(next_within(&mut qb, |_| true).await, ServerFrame::MatchCancelled { id: Some("c".into()) });
}

/// An app that reconnects and asks again before its node saw the old socket go is told `already_queued`, and the
/// place its node holds becomes the new socket's (the HOLD script and the node's matchmaker): the old socket's
/// closing does not take it away, and the app is paired on its new socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_find_sent_again_from_a_new_socket_keeps_the_place_its_node_holds() {
    let nodes = two_nodes().await;
    let (a, b) = (nodes[0].user("yeniden_a").await, nodes[0].user("yeniden_b").await);
    let old = queued(&nodes[0], &a).await;
    let mut new = nodes[0].socket(&a).await;
    new.send(&text_find(Some("f"))).await.unwrap();
    let again = next_within(&mut new, |_| true).await;
    assert!(matches!(again, ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. }), "{again:?}");
    drop(old);
    // The hub forgets a socket (and its queue entry) before it gives its connection back.
    eventually(WITHIN, "the old socket is gone", || async { nodes[0].hub.connections() == 1 }).await;

    let mut sb = queued(&nodes[0], &b).await;
    assert_eq!(partner(&mut new).await, b.handle);
    assert_eq!(partner(&mut sb).await, a.handle);
}
