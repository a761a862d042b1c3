//! Several nodes on one PostgreSQL and one Redis: users on different nodes meet and chat, bans reach every
//! node, one elected matchmaker serves them all and is replaced when its node dies. Each test has its own Redis
//! namespace; a Redis going away is tests/api/redis_outage.rs, with a Redis of the test's own.

use std::time::Duration;

use redis::AsyncCommands;
use tanis::domain::Seq;
use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, CloseCode, EndReason, ErrorCode, MatchKind, ServerFrame};

use crate::helpers::{
    eventually, join_cluster, matchmaking_key, redis_at, spawn_cluster, spawn_cluster_with, test_redis_url,
};

const WITHIN: Duration = Duration::from_secs(10);

async fn next_within(socket: &mut Connection, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    tokio::time::timeout(WITHIN, socket.next_where(wanted)).await.expect("the frame arrives in time").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_two_nodes_are_matched_and_chat_through_both() {
    let nodes = spawn_cluster(2).await;
    let (a, b) = (nodes[0].user("kedi").await, nodes[1].user("kopek").await);
    let (mut sa, mut sb) = (nodes[0].socket(&a).await, nodes[1].socket(&b).await);
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    let match_id = chat_a.info.match_id;
    assert_eq!(chat_b.info.match_id, match_id);
    assert_eq!(chat_a.info.peer, b.handle);

    sa.send(&chat_a.message("öteki düğümden merhaba")).await.unwrap();
    assert!(matches!(
        next_within(&mut sa, |f| matches!(f, ServerFrame::MsgAccepted { .. })).await,
        ServerFrame::MsgAccepted { seq: Seq(1), .. }
    ));
    let received = next_within(&mut sb, |f| matches!(f, ServerFrame::Msg { .. })).await;
    assert_eq!(chat_b.read(&received).unwrap(), "öteki düğümden merhaba");
    sb.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(1) }).await.unwrap();
    assert_eq!(
        next_within(&mut sa, |f| matches!(f, ServerFrame::MsgDelivered { .. })).await,
        ServerFrame::MsgDelivered { match_id, seq: Seq(1), up_to: false }
    );

    sb.send(&ClientFrame::Typing { id: None, match_id }).await.unwrap();
    assert_eq!(
        next_within(&mut sa, |f| matches!(f, ServerFrame::Typing { .. })).await,
        ServerFrame::Typing { match_id }
    );

    sb.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
    let ended = next_within(&mut sa, |f| matches!(f, ServerFrame::MatchEnded { .. })).await;
    assert_eq!(ended, ServerFrame::MatchEnded { id: None, match_id, reason: EndReason::PeerLeft });
    // Node 0 forgot the match when node 1 ended it: a message into it is refused at once.
    sa.send(&chat_a.message("kimse yok mu")).await.unwrap();
    let refused = next_within(&mut sa, |f| matches!(f, ServerFrame::Error { .. })).await;
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::NotInMatch, .. }), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_waits_once_whichever_node_they_ask_from() {
    let nodes = spawn_cluster(2).await;
    let a = nodes[0].user("kedi").await;
    let (mut on_first, mut on_second) = (nodes[0].socket(&a).await, nodes[1].socket(&a).await);
    let find = |id: &str| ClientFrame::MatchFind {
        id: Some(id.into()),
        kind: MatchKind::Text,
        public_key: tanis_client::e2e::Identity::generate().public_key_b64(),
        nearby: false,
        interests: Default::default(),
        region: Default::default(),
        seeking: None,
    };
    on_first.send(&find("f1")).await.unwrap();
    assert!(matches!(
        next_within(&mut on_first, |f| matches!(f, ServerFrame::MatchQueued { .. })).await,
        ServerFrame::MatchQueued { .. }
    ));
    on_second.send(&find("f2")).await.unwrap();
    let again = next_within(&mut on_second, |f| matches!(f, ServerFrame::Error { .. })).await;
    assert!(matches!(again, ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. }), "{again:?}");
    // Cancelled from the other node than the one that queued.
    on_second.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    assert!(matches!(
        next_within(&mut on_second, |f| matches!(f, ServerFrame::MatchCancelled { .. })).await,
        ServerFrame::MatchCancelled { .. }
    ));
}

/// `match.queued` then `match.found`, never the other way round, whichever node the seekers ask from: a client
/// that sees `found` is in a match, and a late `queued` would put its screen back to "searching".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_queued_always_comes_before_match_found_across_nodes() {
    let nodes = spawn_cluster(2).await;
    for round in 0..10 {
        let (a, b) = (nodes[0].user(&format!("kedi{round}")).await, nodes[1].user(&format!("kopek{round}")).await);
        let (mut sa, mut sb) = (nodes[0].socket(&a).await, nodes[1].socket(&b).await);
        let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
        let match_id = chat_a.unwrap().info.match_id;
        assert_eq!(chat_b.unwrap().info.match_id, match_id);
        // Both leave: after `match.ended` nothing of the finding may still arrive.
        sa.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
        for socket in [&mut sa, &mut sb] {
            let next = next_within(socket, |f| !matches!(f, ServerFrame::Ok { .. })).await;
            assert!(matches!(next, ServerFrame::MatchEnded { .. }), "round {round}: {next:?} after match.found");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_on_one_node_closes_the_users_sockets_on_the_other_and_ends_their_match() {
    let nodes = spawn_cluster(2).await;
    let (a, b) = (nodes[0].user("kedi").await, nodes[1].user("kopek").await);
    let (mut sa, mut sb) = (nodes[0].socket(&a).await, nodes[1].socket(&b).await);
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (match_id, _) = (chat_a.unwrap().info.match_id, chat_b.unwrap());

    // Banned by a moderator through node 0, whose hub holds none of b's sockets.
    let moderator = nodes[0].staff("bekci", "moderator").await;
    nodes[0].ban(&moderator, b.id, "spam").await;
    let told = next_within(&mut sb, |f| matches!(f, ServerFrame::MatchEnded { .. })).await;
    assert_eq!(told, ServerFrame::MatchEnded { id: None, match_id, reason: EndReason::Banned });
    assert_eq!(tokio::time::timeout(WITHIN, sb.closed()).await.unwrap(), Some(CloseCode::Banned.code()));
    let peer_told = next_within(&mut sa, |f| matches!(f, ServerFrame::MatchEnded { .. })).await;
    assert_eq!(peer_told, ServerFrame::MatchEnded { id: None, match_id, reason: EndReason::Banned });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_matchmaker_lease_lapses_and_another_node_pairs_under_a_higher_epoch() {
    let nodes = spawn_cluster(1).await;
    let namespace = nodes[0].config.cluster.namespace.clone();
    let url = test_redis_url();
    let mut conn = redis_at(&url).await;
    let (lease, epoch_key) = (matchmaking_key(&url, &namespace, "lease"), matchmaking_key(&url, &namespace, "epoch"));
    // Node 0 holds the lease; it is stopped without a chance to hand over: the lease is put back as a dead
    // node's, which nobody renews.
    eventually(WITHIN, "node 0 takes the lease", || {
        let mut conn = conn.clone();
        let key = lease.clone();
        async move { conn.exists::<_, bool>(key).await.unwrap() }
    })
    .await;
    nodes[0].stop().await;
    let epoch: i64 = conn.incr(&epoch_key, 1).await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(&lease)
        .arg(format!("dead-node:{epoch}"))
        .arg("PX")
        .arg(3000)
        .query_async(&mut conn)
        .await
        .unwrap();

    // Every seeker to the elected matchmaker at once: the pair below meets on one node, which would pair them.
    let survivor = join_cluster(&nodes[0], |c| c.cluster.local_pairing_ms = 0).await;
    let (a, b) = (survivor.user("kedi").await, survivor.user("kopek").await);
    let (mut sa, mut sb) = (survivor.socket(&a).await, survivor.socket(&b).await);
    // The dead lease lapses 3 s after it was set and the survivor takes it at its next renewal tick (the
    // 4 s of docs/operations.md). The bound is only a failure bound, generous so that a loaded machine cannot
    // miss it: what is proven is that the survivor pairs at all, and under a higher epoch.
    (sa.wait, sb.wait) = (WITHIN * 2, WITHIN * 2);
    let (chat_a, chat_b) = tokio::time::timeout(WITHIN * 2, async {
        tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text))
    })
    .await
    .expect("paired once the dead node's lease lapsed");
    let match_id = chat_a.unwrap().info.match_id;
    assert_eq!(chat_b.unwrap().info.match_id, match_id);
    let made_under = survivor.count(format!("SELECT matchmaker_epoch FROM matches WHERE id = {match_id}")).await;
    assert!(made_under > epoch, "the match carries the new holder's epoch ({made_under} > {epoch})");
    // And they were charged once each.
    for user in [&a, &b] {
        let spent = survivor
            .count(format!("SELECT COUNT(*) FROM matches WHERE user1_id = {0} OR user2_id = {0}", user.id))
            .await;
        assert_eq!(spent, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_users_message_rate_is_one_budget_across_the_nodes_of_their_sockets() {
    let nodes = spawn_cluster_with(2, |c| {
        // A burst of three, then one a second of the nodes' clocks, which stand still until the test moves them.
        c.hub.messages_per_second = 1;
        c.hub.message_burst = 3;
    })
    .await;
    let (first, second) = (&nodes[0], &nodes[1]);
    let (a, b) = (first.user("kedi").await, first.user("kopek").await);
    let (mut sa, mut chat_a, _sb, _) = first.pair(&a, &b, MatchKind::Text).await;
    let mut other = second.socket(&a).await;

    // Three from each node, alternating: the bucket holds three for the user, not three per node.
    let mut outcomes = Vec::new();
    for i in 0..6 {
        let socket = if i % 2 == 0 { &mut sa } else { &mut other };
        socket.send(&chat_a.message("hızlı")).await.unwrap();
        let answer =
            next_within(socket, |f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. })).await;
        outcomes.push(match answer {
            ServerFrame::MsgAccepted { .. } => "accepted",
            ServerFrame::Error { code: ErrorCode::RateLimited, .. } => "rate_limited",
            other => panic!("{other:?}"),
        });
    }
    assert_eq!(outcomes.iter().filter(|o| **o == "accepted").count(), 3, "{outcomes:?}");

    // A second later (on both nodes' clocks) one token is back for the user: one node spends it, the other
    // finds the bucket empty.
    for node in [first, second] {
        node.clock.advance(chrono::TimeDelta::seconds(1));
    }
    let mut answer = async |socket: &mut Connection| {
        socket.send(&chat_a.message("bir saniye sonra")).await.unwrap();
        next_within(socket, |f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. })).await
    };
    assert!(matches!(answer(&mut other).await, ServerFrame::MsgAccepted { .. }));
    let refused = answer(&mut sa).await;
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::RateLimited, .. }), "{refused:?}");

    // Node 1's clock falls a second behind node 0's: a token taken at node 1's earlier time neither refills nor
    // winds the bucket's time back, so a second later on node 0 there is one token again, not two.
    first.clock.advance(chrono::TimeDelta::seconds(1));
    assert!(matches!(answer(&mut sa).await, ServerFrame::MsgAccepted { .. }));
    let behind = answer(&mut other).await;
    assert!(matches!(behind, ServerFrame::Error { code: ErrorCode::RateLimited, .. }), "{behind:?}");
    first.clock.advance(chrono::TimeDelta::seconds(1));
    assert!(matches!(answer(&mut sa).await, ServerFrame::MsgAccepted { .. }));
    let refused = answer(&mut sa).await;
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::RateLimited, .. }), "{refused:?}");
}

/// A fast limit is leased a few tokens at a time (src/rate.rs): each node spends its lease locally, yet the two
/// nodes together never spend more than the one bucket holds. 100 a second with a burst of 40 leases 10; the
/// nodes' clocks stand still, so exactly 40 of 60 messages sent alternately from two nodes are accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_tokens_never_let_two_nodes_spend_more_than_the_users_one_bucket() {
    let nodes = spawn_cluster_with(2, |c| {
        c.hub.messages_per_second = 100;
        c.hub.message_burst = 40;
    })
    .await;
    let (first, second) = (&nodes[0], &nodes[1]);
    let (a, b) = (first.user("kedi").await, first.user("kopek").await);
    let (mut sa, mut chat_a, _sb, _) = first.pair(&a, &b, MatchKind::Text).await;
    let mut other = second.socket(&a).await;
    let mut accepted = [0, 0];
    for i in 0..60 {
        let socket = if i % 2 == 0 { &mut sa } else { &mut other };
        socket.send(&chat_a.message("hızlı")).await.unwrap();
        let answer =
            next_within(socket, |f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. })).await;
        match answer {
            ServerFrame::MsgAccepted { .. } => accepted[i % 2] += 1,
            ServerFrame::Error { code: ErrorCode::RateLimited, .. } => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(accepted, [20, 20], "each node spent its leases, and the bucket's 40 tokens in all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_automatic_ban_by_a_worker_process_closes_the_users_socket_on_a_node() {
    let (twilio, url) = crate::twilio::Twilio::start().await;
    let nodes = spawn_cluster_with(1, |c| {
        crate::twilio::through(c, &url);
        crate::trust::no_quarantine(c);
    })
    .await;
    let node = &nodes[0];
    let target = node.user("hedef").await;
    let mut socket = node.socket(&target).await;
    crate::jobs::reports_against(node, &twilio, &target, 10, "bildiren").await;

    // What `tanis worker` runs (src/cli.rs): the jobs with no hub and no sockets, reaching users through
    // delivery alone.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let delivery = tanis::startup::delivery(&node.config, Default::default(), shutdown.clone()).await.unwrap();
    let clock: tanis::clock::SharedClock = node.clock.clone();
    let worker = tanis::jobs::Detached { store: node.store.clone(), clock: clock.clone(), delivery, push: None };
    let ctx = tanis::jobs::context(node.store.clone(), worker, clock, &node.config);
    tanis_workers::schedule::Job::AutoBan.run(&ctx).await.unwrap();

    let closed = tokio::time::timeout(WITHIN, socket.closed()).await.expect("the node closes the socket");
    assert_eq!(closed, Some(CloseCode::Banned.code()));
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_of_a_match_writing_at_once_from_two_nodes_get_every_message_stored_once_in_order() {
    let nodes = spawn_cluster_with(2, |c| {
        c.hub.messages_per_second = 1000;
        c.hub.message_burst = 1000;
    })
    .await;
    let (first, second) = (&nodes[0], &nodes[1]);
    let (a, b) = (first.user("kedi").await, second.user("kopek").await);
    let (mut sa, mut sb) = (first.socket(&a).await, second.socket(&b).await);
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());

    // Each node's group commit stores its own user's messages into the one match, at the same time.
    const EACH: usize = 40;
    let burst = async |socket: &mut Connection, chat: &mut Chat| {
        for i in 0..EACH {
            socket.send(&chat.message(&format!("{i}"))).await.unwrap();
        }
        let mut seqs = Vec::new();
        while seqs.len() < EACH {
            match next_within(socket, |f| matches!(f, ServerFrame::MsgAccepted { .. } | ServerFrame::Error { .. }))
                .await
            {
                ServerFrame::MsgAccepted { seq, .. } => seqs.push(seq),
                other => panic!("refused: {other:?}"),
            }
        }
        seqs
    };
    let (from_a, from_b) = tokio::join!(burst(&mut sa, &mut chat_a), burst(&mut sb, &mut chat_b));
    let mut all: Vec<Seq> = from_a.iter().chain(&from_b).copied().collect();
    all.sort_unstable();
    assert_eq!(all, (1..=2 * EACH as i64).map(Seq).collect::<Vec<_>>(), "one seq per message, none twice, no gap");
    assert!(from_a.is_sorted() && from_b.is_sorted(), "each sender's messages keep their order");
    let stored = first
        .count(format!("SELECT COUNT(DISTINCT seq) FROM messages WHERE match_id = {}", chat_a.info.match_id))
        .await;
    assert_eq!(stored, 2 * EACH as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_whose_kick_was_lost_between_nodes_closes_the_socket_at_the_resync() {
    let nodes = spawn_cluster(1).await;
    let node = &nodes[0];
    let target = node.user("hedef").await;
    let mut socket = node.socket(&target).await;
    // Banned in the database while the kick never reached the node (Redis was away, or its outbox full). Every
    // door that bans also kicks, so the lost kick is made by writing the ban alone, in SQL.
    node.execute(format!("UPDATE users SET is_banned = TRUE, ban_reason = 'spam' WHERE id = {}", target.id)).await;
    // Another process tells the node that frames for the user may have been lost.
    let shutdown = tokio_util::sync::CancellationToken::new();
    let other = tanis::startup::delivery(&node.config, Default::default(), shutdown.clone()).await.unwrap();
    other.deliver(tanis::delivery::Event::Resync { users: vec![target.id] });

    let closed = tokio::time::timeout(WITHIN, socket.closed()).await.expect("the node closes the socket");
    assert_eq!(closed, Some(CloseCode::Banned.code()));
    shutdown.cancel();
}
