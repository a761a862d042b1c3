//! Matching that no single process decides (src/matching/cluster/local.rs): a node pairs its own seekers with
//! each other and hands whoever it could not pair to the elected matchmaker. Who paired a match shows in its
//! row: a node's own pairs carry no matchmaker epoch, the elected matchmaker's carry its epoch.

use std::collections::HashMap;
use std::time::Duration;

use tanis::domain::UserId;
use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, ServerFrame};

use crate::helpers::{
    TestApp, TestUser, eventually, matchmaking_key, redis_at, spawn_cluster_with, test_redis_url, text_find,
};

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

/// How an app's old socket goes once it reconnected: with a close frame, or dropped (a phone changing networks).
#[derive(Clone, Copy, Debug)]
enum Goes {
    Cleanly,
    Dropped,
}

async fn goes(mut socket: Connection, how: Goes) {
    match how {
        Goes::Cleanly => {
            socket.send_raw(tokio_tungstenite::tungstenite::Message::Close(None)).await.unwrap();
            tokio::time::timeout(WITHIN, socket.ended()).await.expect("the server closes after a close frame").ok();
        }
        Goes::Dropped => drop(socket),
    }
}

/// Where the place of a waiting user is when they ask again from another node.
#[derive(Clone, Copy, Debug)]
enum HeldBy {
    /// The node they asked on first, pairing its own seekers (within `cluster.local_pairing_ms`).
    FirstNode,
    /// The elected matchmaker, the first node having handed them over.
    Matchmaker,
}

/// A user waits on node 0, the app reconnects to node 1 and sends the same find again: told `already_queued`,
/// and when the old socket goes, however it goes, the place stays theirs, and they are paired on the new socket
/// (docs/protocol.md §5: "the place you keep becomes your new socket's"). Before, the HOLD script left the entry
/// naming the old socket, and its closing took the place away: never paired.
async fn a_find_sent_again_on_another_node_keeps_the_place(held_by: HeldBy, how: Goes) {
    let nodes = spawn_cluster_with(2, |c| {
        c.cluster.local_pairing_ms = match held_by {
            HeldBy::FirstNode => 1000,
            HeldBy::Matchmaker => 50,
        }
    })
    .await;
    let (a, b) = (nodes[0].user("tasinan").await, nodes[0].user("bekleyen").await);
    let handed = || async { nodes[0].scrape().await.value("tanis_matching_handed_over_total") };
    let before = handed().await;
    let old = queued(&nodes[0], &a).await;
    if let HeldBy::Matchmaker = held_by {
        eventually(WITHIN, "node 0 handed the seeker over", || async { handed().await > before }).await;
    }
    let mut new = nodes[1].socket(&a).await;
    new.send(&text_find(Some("yine"))).await.unwrap();
    let again = next_within(&mut new, |_| true).await;
    assert!(matches!(&again, ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. }), "{again:?}");
    goes(old, how).await;
    eventually(WITHIN, "node 0 forgot the old socket", || async { nodes[0].hub.connections() == 0 }).await;

    // b asks on node 0: two nodes apart, the elected matchmaker pairs them, on a's new socket.
    let mut sb = queued(&nodes[0], &b).await;
    assert_eq!(partner(&mut new).await, b.handle, "{held_by:?}, old socket {how:?}");
    assert_eq!(partner(&mut sb).await, a.handle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_find_sent_again_on_another_node_keeps_the_place_the_first_node_holds_when_the_old_socket_closes() {
    a_find_sent_again_on_another_node_keeps_the_place(HeldBy::FirstNode, Goes::Cleanly).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_find_sent_again_on_another_node_keeps_the_place_the_first_node_holds_when_the_old_socket_drops() {
    a_find_sent_again_on_another_node_keeps_the_place(HeldBy::FirstNode, Goes::Dropped).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_find_sent_again_on_another_node_keeps_the_place_the_matchmaker_holds_when_the_old_socket_closes() {
    a_find_sent_again_on_another_node_keeps_the_place(HeldBy::Matchmaker, Goes::Cleanly).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_find_sent_again_on_another_node_keeps_the_place_the_matchmaker_holds_when_the_old_socket_drops() {
    a_find_sent_again_on_another_node_keeps_the_place(HeldBy::Matchmaker, Goes::Dropped).await;
}

/// The cluster queue's keys of `node`'s namespace that a failover could take back in time: the queue and the
/// claims' stamps (one hash tag: one shard on a Redis Cluster).
async fn queue_keys(node: &TestApp) -> (tanis::redis_link::Conn, Vec<String>) {
    let url = test_redis_url();
    let namespace = &node.config.cluster.namespace;
    let keys = ["queue", "claimed"].map(|name| matchmaking_key(&url, namespace, name)).to_vec();
    (redis_at(&url).await, keys)
}

/// A Redis failover that loses a settle (replication is asynchronous): the pair a node claimed stays claimed after
/// its match opened. Played by putting the queue back as it was while the match was being opened (DUMP before the
/// commit, RESTORE after), as the promoted replica would hold it. Once the match ends, its user asks again on the
/// other node and is paired: the claim goes stale after `cluster.claim_timeout_ms`, and the elected matchmaker takes
/// it over at its next tick (raising the claiming node's fence first, docs/testing.md row 38); until then each ask is
/// answered `already_queued`. Before, every node answered `already_queued` for as long as the claiming node lived,
/// and nobody paired them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_whose_settle_a_failover_lost_does_not_keep_its_user_from_being_paired() {
    let nodes = spawn_cluster_with(2, |c| {
        c.cluster.local_pairing_ms = 1000;
        c.cluster.claim_timeout_ms = 1000;
    })
    .await;
    let (a, b, c) = (nodes[0].user("kayip_a").await, nodes[0].user("kayip_b").await, nodes[1].user("kayip_c").await);
    let mut held = nodes[0].store.fail_points.hold("opening.written");
    let mut sa = queued(&nodes[0], &a).await;
    let mut sb = nodes[0].socket(&b).await;
    sb.send(&text_find(Some("f"))).await.unwrap();
    tokio::time::timeout(WITHIN, held.reached()).await.expect("node 0 opens a and b's match");
    let (mut redis, keys) = queue_keys(&nodes[0]).await;
    let mut saved = Vec::new();
    for key in &keys {
        let dump: Vec<u8> = redis::cmd("DUMP").arg(key).query_async(&mut redis).await.unwrap();
        saved.push((key, dump));
    }
    held.release();
    let match_id = match next_within(&mut sa, |f| matches!(f, ServerFrame::MatchFound { .. })).await {
        ServerFrame::MatchFound { info, .. } => info.match_id,
        _ => unreachable!(),
    };
    assert_eq!(partner(&mut sb).await, a.handle);
    // Node 0 settles the claims once the match is announced: the failover comes after that.
    let queue = keys.iter().find(|k| k.ends_with(":queue")).unwrap().clone();
    eventually(WITHIN, "node 0 settled the claims", || {
        let (mut redis, queue) = (redis.clone(), queue.clone());
        async move { redis::cmd("HLEN").arg(queue).query_async::<i64>(&mut redis).await.unwrap() == 0 }
    })
    .await;
    for (key, dump) in saved {
        let _: () =
            redis::cmd("RESTORE").arg(key).arg(0).arg(dump).arg("REPLACE").query_async(&mut redis).await.unwrap();
    }

    sa.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
    assert_eq!(
        next_within(&mut sa, |f| matches!(f, ServerFrame::Ok { .. })).await,
        ServerFrame::Ok { id: Some("l".into()) }
    );
    let mut again = nodes[1].socket(&a).await;
    again.send(&text_find(Some("yine"))).await.unwrap();
    let answer = next_within(&mut again, |_| true).await;
    assert!(
        matches!(&answer, ServerFrame::MatchQueued { .. } | ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. }),
        "{answer:?}"
    );
    let mut sc = queued(&nodes[1], &c).await;
    let waiting = |f: &ServerFrame| {
        matches!(f, ServerFrame::MatchQueued { .. } | ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. })
    };
    match next_within(&mut again, |f| !waiting(f)).await {
        ServerFrame::MatchFound { info, .. } => assert_eq!(info.peer, c.handle),
        other => panic!("expected match.found, got {other:?}"),
    }
    assert_eq!(partner(&mut sc).await, a.handle);
}

/// Row 38 of docs/testing.md: a node taken for dead (cut off from Redis, not from the database) opens no pair it had
/// claimed once the elected matchmaker took its places over. The second node claims a and b and begins their
/// opening, held at its start; meanwhile its liveness lapses (its score set in the past; its own ticks come every
/// 20 s) and the first node, elected, raises the second's fence and adopts the claimed places. Released, the
/// second's opening finds its fence raised and writes nothing; a and b are matched once, by the elected matchmaker.
/// Before, the second's opening committed its match: after a cancel of an adopted place had been answered
/// `match.cancelled`, as the simulation found, that match followed the cancel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_taken_for_dead_opens_no_pair_it_had_claimed_once_its_places_were_adopted() {
    let nodes = spawn_cluster_with(1, |c| c.cluster.local_pairing_ms = 1000).await;
    let first = &nodes[0];
    let second = crate::helpers::join_cluster(first, |c| {
        c.cluster.local_pairing_ms = 1000;
        c.cluster.matchmaker_lease_ms = 60_000;
    })
    .await;
    let (a, b) = (second.user("terkedilen").await, second.user("bekleyen").await);
    let mut held = second.store.fail_points.hold("opening.before");
    let mut fenced = second.store.fail_points.hold("opening.fenced");
    let mut sa = queued(&second, &a).await;
    let mut sb = second.socket(&b).await;
    sb.send(&text_find(Some("f"))).await.unwrap();
    tokio::time::timeout(WITHIN, held.reached()).await.expect("the second node opens a and b's match");

    let url = test_redis_url();
    let namespace = &first.config.cluster.namespace;
    let (alive, queue) = (matchmaking_key(&url, namespace, "alive"), matchmaking_key(&url, namespace, "queue"));
    let mut redis = redis_at(&url).await;
    let name = second.hub.delivery().cluster().expect("a cluster").node().to_owned();
    let lapsed = chrono::Utc::now().timestamp_millis() - 1_000;
    let _: () = redis::cmd("ZADD").arg(&alive).arg(lapsed).arg(&name).query_async(&mut redis).await.unwrap();
    let claimed_here = format!("|!{name}|");
    eventually(WITHIN, "the elected matchmaker adopts the claimed places", || {
        let (mut redis, queue, claimed_here) = (redis.clone(), queue.clone(), claimed_here.clone());
        async move {
            let entry: Option<String> =
                redis::cmd("HGET").arg(queue).arg(a.id.get()).query_async(&mut redis).await.unwrap();
            entry.is_none_or(|e| !e.contains(&claimed_here))
        }
    })
    .await;
    held.release();
    tokio::time::timeout(WITHIN, fenced.reached()).await.expect("the second node's opening is fenced off");
    fenced.release();

    assert_eq!(partner(&mut sa).await, b.handle, "matched by the elected matchmaker");
    assert_eq!(partner(&mut sb).await, a.handle);
    let theirs =
        format!("SELECT COUNT(*) FROM matches WHERE user1_id IN ({0}, {1}) OR user2_id IN ({0}, {1})", a.id, b.id);
    assert_eq!(second.count(theirs).await, 1, "one match");
}
