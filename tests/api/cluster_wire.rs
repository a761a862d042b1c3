//! What crosses Redis between nodes (src/delivery/redis/wire.rs): a batch's events for one node in one envelope,
//! and a node of the previous release beside one of this version, as during a rolling upgrade. That node is the
//! previous release's own writing to Redis, captured beside a node of this version and kept in
//! tests/api/fixtures/wire/ (its README.md says how): its scripts are run again with a test's ids, so what it
//! published reaches this version's sockets as it did; and what this version publishes to a node named as that
//! release named itself is compared, byte for byte but for ids and times, with what that release published.
//!
//! Layout: the envelope tests, then the two of the previous release. Beside the fixtures, `previous_release`
//! reads them back (masking and filling a run's ids and times) and plays that release's node; `capture` is the
//! capture that wrote them, ignored by the suite (scripts/capture-wire-fixtures runs it).

use std::time::Duration;

use previous_release::{
    Capture, Holding, Listening, Record, Run, Side, Wrote, last_input, node_holding, queue_entry, stored_as_sent,
    this_version_in,
};
use tanis::domain::Seq;
use tanis::store::{Asked, NewMatch, WriteOutcome};
use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, EndReason, ErrorCode, MatchKind, ServerFrame};

use crate::helpers::{redis_at, spawn_cluster, test_redis_url};

/// The previous release's writing to Redis, read back from the fixtures (and the helpers that play its node).
pub(crate) mod previous_release;

/// The capture that wrote the fixtures (ignored by the suite: scripts/capture-wire-fixtures runs it).
mod capture;

const WITHIN: Duration = Duration::from_secs(10);

/// This release ends a seeker's JSON with when and which request it is
/// (`"asked_after":<count>,"asked_at":"<time>","ask":"<16 hex>"`, issues 60 and 74), fields the previous release's
/// serde skips when it reads them: `text` without them, once checked that they are exactly these, at the
/// seeker's end.
fn without_request_stamp(text: &str) -> String {
    let (head, counted) = text.split_once(r#","asked_after":"#).expect("this release counts the user's matches");
    let (count, stamp) = counted.split_once(r#","asked_at":""#).expect("and stamps its requests");
    assert!(count.chars().all(|c| c.is_ascii_digit()), "{text}");
    let (_, ask) = stamp.split_once(r#"","ask":""#).expect("and names them");
    let (hex, tail) = ask.split_at(16);
    assert!(hex.chars().all(|c| c.is_ascii_hexdigit()) && tail.starts_with("\"}"), "{text}");
    format!("{head}{}", &tail[1..])
}

async fn next_within(socket: &mut Connection, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    tokio::time::timeout(WITHIN, socket.next_where(wanted)).await.expect("the frame arrives in time").unwrap()
}

fn seq_of(frame: &ServerFrame) -> Seq {
    match frame {
        ServerFrame::Msg { seq, .. } | ServerFrame::MsgAccepted { seq, .. } | ServerFrame::MsgDelivered { seq, .. } => {
            *seq
        }
        other => panic!("not a message frame: {other:?}"),
    }
}

/// `n` messages from `from`'s side, each read in order by `to` (who acknowledges it) and by `copy`, another
/// socket of the sender's, as `mine`; the sender hears each accepted and delivered.
async fn exchange(
    n: i64,
    (from, from_chat): (&mut Connection, &mut Chat),
    (to, to_chat): (&mut Connection, &mut Chat),
    copy: Option<&mut Connection>,
) {
    let match_id = from_chat.info.match_id;
    let first = {
        for i in 0..n {
            from.send(&from_chat.message(&format!("mesaj {i}"))).await.unwrap();
        }
        let accepted = next_within(from, |f| matches!(f, ServerFrame::MsgAccepted { .. })).await;
        seq_of(&accepted).0
    };
    for i in 0..n {
        let received = next_within(to, |f| matches!(f, ServerFrame::Msg { .. })).await;
        assert_eq!(seq_of(&received), Seq(first + i), "in order");
        assert_eq!(to_chat.read(&received).unwrap(), format!("mesaj {i}"));
        to.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(first + i) }).await.unwrap();
    }
    if let Some(copy) = copy {
        for i in 0..n {
            let mine = next_within(copy, |f| matches!(f, ServerFrame::Msg { mine: true, .. })).await;
            assert_eq!(seq_of(&mine), Seq(first + i), "the sender's other socket, in order");
        }
    }
    for i in 0..n {
        let delivered = next_within(from, |f| matches!(f, ServerFrame::MsgDelivered { .. })).await;
        assert_eq!(seq_of(&delivered), Seq(first + i), "receipts in order");
    }
}

/// Ten pairs across two nodes, each side sending a burst without waiting: every message arrives whole and in
/// order, every receipt comes back, and what crossed went in envelopes (the histogram of events per envelope
/// counts at least every message and receipt that crossed; it stays empty when events travel one by one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_across_nodes_arrives_whole_and_in_order_in_envelopes() {
    const PAIRS: usize = 10;
    const BURST: i64 = 30;
    let nodes = spawn_cluster(2).await;
    let before = nodes[0].scrape().await;
    let mut pairs = Vec::new();
    for p in 0..PAIRS {
        let (a, b) = (nodes[0].user(&format!("sol{p}")).await, nodes[1].user(&format!("sag{p}")).await);
        let (mut sa, mut sb) = (nodes[0].socket(&a).await, nodes[1].socket(&b).await);
        let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
        let (chat_a, chat_b) = (chat_a.unwrap(), chat_b.unwrap());
        assert_eq!(chat_a.info.match_id, chat_b.info.match_id);
        pairs.push((sa, chat_a, sb, chat_b));
    }
    let runs = pairs.into_iter().map(|(mut sa, mut chat_a, mut sb, mut chat_b)| async move {
        exchange(BURST, (&mut sa, &mut chat_a), (&mut sb, &mut chat_b), None).await;
        exchange(BURST, (&mut sb, &mut chat_b), (&mut sa, &mut chat_a), None).await;
    });
    futures_util::future::join_all(runs).await;

    let after = nodes[0].scrape().await;
    let crossed = |s: &crate::helpers::Scrape| s.value("tanis_delivery_envelope_events_sum");
    let envelopes = |s: &crate::helpers::Scrape| s.value("tanis_delivery_envelope_events_count");
    // Both nodes record into this process's one recorder: each message and each receipt crossed once.
    let events = crossed(&after) - crossed(&before);
    let sent = envelopes(&after) - envelopes(&before);
    let at_least = (2 * 2 * PAIRS as i64 * BURST) as f64;
    assert!(events >= at_least, "{events} events crossed in envelopes, {at_least} messages and receipts did");
    eprintln!("{events} events crossed in {sent} envelopes ({:.1} per envelope)", events / sent);
}

/// A receipt riding on a message, to a sender whose version 1 socket is on another node than the message's
/// writer: it crosses Redis once (the version 2 frame), and that node renders it as version 1 promises — the
/// `msg.delivered` first, then the message without the receipt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_riding_receipt_reaches_a_version_1_socket_on_another_node_as_its_own_frames() {
    let nodes = spawn_cluster(2).await;
    let (a, b) = (nodes[0].user("kedi").await, nodes[1].user("kopek").await);
    let (mut sa, mut sb) = (nodes[0].socket_version(&a, 2).await, nodes[1].socket_version(&b, 2).await);
    let mut tablet_v1 = nodes[1].socket_version(&b, 1).await;
    let (chat_a, chat_b) = tokio::join!(Chat::find(&mut sa, MatchKind::Text), Chat::find(&mut sb, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    let match_id = chat_a.info.match_id;

    sb.send(&chat_b.message("ilk")).await.unwrap();
    let first = seq_of(&next_within(&mut sa, |f| matches!(f, ServerFrame::Msg { .. })).await);
    // a answers, acknowledging b's message on the answer.
    let mut answer = chat_a.message("cevap");
    if let ClientFrame::MsgSend { ack, .. } = &mut answer {
        *ack = Some(first);
    }
    sa.send(&answer).await.unwrap();
    let on_v2 = next_within(&mut sb, |f| matches!(f, ServerFrame::Msg { mine: false, .. })).await;
    assert!(matches!(on_v2, ServerFrame::Msg { delivered: Some(s), .. } if s == first), "{on_v2:?}");

    let not_mine = |f: &ServerFrame| !matches!(f, ServerFrame::Msg { mine: true, .. } | ServerFrame::MatchFound { .. });
    let receipt = next_within(&mut tablet_v1, not_mine).await;
    assert_eq!(receipt, ServerFrame::MsgDelivered { match_id, seq: first, up_to: false });
    let message = next_within(&mut tablet_v1, not_mine).await;
    assert!(matches!(&message, ServerFrame::Msg { delivered: None, mine: false, .. }), "{message:?}");
    assert_eq!(chat_b.read(&message).unwrap(), "cevap");
}

/// A node of the previous release, played by what it did in Redis in the capture (tests/api/fixtures/wire/: its
/// scripts run again with this test's ids, as it ran them), holds the matchmaker lease and a's socket; b's socket,
/// and a copy of a's, are on a node of this version. This node writes b's queue entry as that release's
/// matchmaker read it, and every frame that release published reaches its sockets: b's `match.queued` and
/// `match.found`, a's messages (and their copies on a's other socket), the receipts of b's, typing, and a leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_node_of_the_previous_version_does_in_redis_is_read_by_this_one() {
    let capture = Capture::load();
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let mut redis = redis_at(&test_redis_url()).await;
    let identity_a = tanis_client::Identity::generate();
    let mut run = Run { namespace: namespace.clone(), sender: previous_release::node_name(), ..Run::default() };
    // It holds the lease before this node starts, renewing it as it did, every third of the lease.
    let lease = Holding::take(&capture, &run).await;
    let node = this_version_in(&namespace).await;
    let (a, b) = (node.user("eski").await, node.user("yeni").await);
    let (mut a_new, mut b_new) = (node.socket(&a).await, node.socket(&b).await);
    run.receiver = node_holding(&mut redis, &namespace, b.id).await;
    run.here = Side { user: a.id.get(), socket: rand::random(), key: identity_a.public_key_b64(), handle: a.handle };
    run.there = Side { user: b.id.get(), handle: b.handle.clone(), ..Side::default() };
    let values = |_: &Record| previous_release::now(node.now());

    // a asks on the previous release's node (with b's second socket there, as in the capture); then b here.
    capture.replay("connect", &mut redis, &run, values).await;
    capture.replay("find", &mut redis, &run, values).await;
    let key_b = Chat::ask(&mut b_new, MatchKind::Text).await.unwrap();
    let entry = queue_entry(&mut redis, &namespace, b.id).await;
    run.there.socket = entry.split('|').next().unwrap().parse().unwrap();
    run.there.key = key_b.public_key_b64();
    // This node's entry and input record, seen from it, are the ones that release made for its own asker.
    let join = capture.step("find").find(|r| r.script() == Some("join")).expect("the capture's find");
    let Wrote::Script { args, .. } = &join.wrote else { unreachable!() };
    let input = last_input(&mut redis, &namespace).await;
    let (entry, input) = (without_request_stamp(&entry), without_request_stamp(&input));
    assert_eq!(run.mirrored().mask_entry(&entry), args[1], "this node's queue entry as that release wrote its own");
    assert_eq!(run.mirrored().mask(&input), args[2], "this node's input record as that release wrote its own");

    // That release's matchmaker pairs them: its commit, then what it did in Redis.
    let now = node.now();
    let (user1_public_key, user2_public_key) = (run.here.key.clone(), run.there.key.clone());
    let expires_at = now + chrono::TimeDelta::hours(24);
    let pair = NewMatch {
        user1_id: a.id,
        user2_id: b.id,
        kind: MatchKind::Text,
        user1_public_key,
        user2_public_key,
        user1_asked: Asked::default(),
        user2_asked: Asked::default(),
        user1_filtered: false,
        user2_filtered: false,
        now,
        expires_at,
    };
    let mut opened = node.store.create_matches(&[pair], Some(lease.epoch)).await.unwrap();
    run.match_id = opened.remove(0).unwrap().row.id.get();
    capture.replay("paired", &mut redis, &run, values).await;
    let queued = next_within(&mut b_new, |f| matches!(f, ServerFrame::MatchQueued { .. })).await;
    assert_eq!(queued, ServerFrame::MatchQueued { id: Some("find".into()), kind: MatchKind::Text });
    let mut chat_b = Chat::found(&mut b_new, key_b).await.unwrap();
    assert_eq!((chat_b.info.match_id.get(), chat_b.info.peer.as_str()), (run.match_id, run.here.handle.as_str()));
    let ServerFrame::MatchFound { info, .. } =
        next_within(&mut a_new, |f| matches!(f, ServerFrame::MatchFound { .. })).await
    else {
        unreachable!()
    };
    let mut chat_a = Chat::established(identity_a, info).unwrap();
    let waiting: i64 = redis::cmd("HLEN").arg(format!("{namespace}:mm:queue")).query_async(&mut redis).await.unwrap();
    assert_eq!(waiting, 0, "that release's matchmaker took this node's entry out of the queue");

    // a's messages, stored by that release's node and published as it did: b reads each, a's copy sees it.
    let sent: Vec<ClientFrame> = (0..3).map(|i| chat_a.message(&format!("mesaj {i}"))).collect();
    for (i, message) in sent.iter().enumerate() {
        let stored = node.store.insert_messages(&[stored_as_sent(&run, message)], node.now()).await.unwrap();
        assert!(matches!(stored[0], WriteOutcome::Stored { seq, .. } if seq == Seq(i as i64 + 1)));
    }
    let message_values = |record: &Record| previous_release::message(values(record), record, &sent);
    capture.replay("messages", &mut redis, &run, message_values).await;
    let match_id = chat_b.info.match_id;
    for i in 0..3 {
        let received = next_within(&mut b_new, |f| matches!(f, ServerFrame::Msg { .. })).await;
        assert_eq!((seq_of(&received), chat_b.read(&received).unwrap()), (Seq(i + 1), format!("mesaj {i}")));
        b_new.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(i + 1) }).await.unwrap();
        let copy = next_within(&mut a_new, |f| matches!(f, ServerFrame::Msg { mine: true, .. })).await;
        assert_eq!(seq_of(&copy), Seq(i + 1), "a's other socket sees a's message");
    }
    for i in 1..=3 {
        let receipt = next_within(&mut a_new, |f| matches!(f, ServerFrame::MsgDelivered { .. })).await;
        assert_eq!(seq_of(&receipt), Seq(i), "this node's receipts of b's reading");
    }

    // b answers here; a reads on the other node, whose receipts reach b.
    for i in 0..3 {
        b_new.send(&chat_b.message(&format!("cevap {i}"))).await.unwrap();
        let received = next_within(&mut a_new, |f| matches!(f, ServerFrame::Msg { mine: false, .. })).await;
        assert_eq!(chat_a.read(&received).unwrap(), format!("cevap {i}"));
    }
    capture.replay("answers", &mut redis, &run, values).await;
    for i in 4..=6 {
        let receipt = next_within(&mut b_new, |f| matches!(f, ServerFrame::MsgDelivered { .. })).await;
        assert_eq!(seq_of(&receipt), Seq(i), "that release's receipts, in order");
    }

    capture.replay("typing", &mut redis, &run, values).await;
    assert_eq!(
        next_within(&mut b_new, |f| matches!(f, ServerFrame::Typing { .. })).await,
        ServerFrame::Typing { match_id }
    );

    // a leaves there: ended in its commit, then told as it told it. b's node forgets the match.
    node.execute(format!(
        "UPDATE matches SET status = 'completed', ended_at = now(), end_reason = 'left' WHERE id = {match_id}"
    ))
    .await;
    capture.replay("leave", &mut redis, &run, values).await;
    let told = next_within(&mut b_new, |f| matches!(f, ServerFrame::MatchEnded { .. })).await;
    assert_eq!(told, ServerFrame::MatchEnded { id: None, match_id, reason: EndReason::PeerLeft });
    let own = next_within(&mut a_new, |f| matches!(f, ServerFrame::MatchEnded { .. })).await;
    assert_eq!(own, ServerFrame::MatchEnded { id: None, match_id, reason: EndReason::Left });
    b_new.send(&chat_b.message("orada misin")).await.unwrap();
    let refused =
        next_within(&mut b_new, |f| matches!(f, ServerFrame::Error { .. } | ServerFrame::MsgAccepted { .. })).await;
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::NotInMatch, .. }), "{refused:?}");
}

/// A node of this version, the cluster's matchmaker, beside a node of the previous release (played by a test
/// subscriber on its channel, and by what that release did in Redis in the capture). What this node publishes to
/// it, from the `match.queued` of a's request, read from that release's queue entry, to the end of the match, is
/// exactly what that release published in the same part (tests/api/fixtures/wire/): the same channel and, but for
/// ids and times, the same bytes, one event a publish. Not an envelope, not a field that release did not write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_this_node_publishes_to_a_node_of_the_previous_version_is_what_that_version_published() {
    let capture = Capture::load();
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let mut redis = redis_at(&test_redis_url()).await;
    let node = this_version_in(&namespace).await;
    let previous = previous_release::node_name();
    let mut heard = Listening::on(&namespace, &previous).await;
    let (a, b) = (node.user("eski").await, node.user("yeni").await);
    let mut b_new = node.socket(&b).await;
    let identity_a = tanis_client::Identity::generate();
    // Its parts as the previous release's node sees them (to do what it did), and as this one does (to compare).
    let mut there = Run { namespace: namespace.clone(), sender: previous, ..Run::default() };
    there.receiver = node_holding(&mut redis, &namespace, b.id).await;
    there.here = Side { user: a.id.get(), socket: rand::random(), key: identity_a.public_key_b64(), handle: a.handle };
    there.there = Side { user: b.id.get(), handle: b.handle.clone(), ..Side::default() };
    let values = |_: &Record| previous_release::now(node.now());
    capture.replay("connect", &mut redis, &there, values).await;

    // b asks here first, then a on the other node: the capture's order, with the parts swapped.
    let key_b = Chat::ask(&mut b_new, MatchKind::Text).await.unwrap();
    next_within(&mut b_new, |f| matches!(f, ServerFrame::MatchQueued { .. })).await;
    let entry = queue_entry(&mut redis, &namespace, b.id).await;
    there.there.socket = entry.split('|').next().unwrap().parse().unwrap();
    there.there.key = key_b.public_key_b64();
    // It asks as that release's node asked; its matchmaker's part of the step is this node's now.
    capture.replay_where("find", |r| r.script() != Some("route"), &mut redis, &there, values).await;
    let mut chat_b = Chat::found(&mut b_new, key_b).await.unwrap();
    there.match_id = chat_b.info.match_id.get();
    let here = there.mirrored();
    let paired = heard.as_the_previous_version_published(&capture, "paired", &here).await;
    // What a was told, as that release's node would have shown it to a's socket.
    let info = paired
        .iter()
        .map(|(_, payload)| serde_json::from_str::<serde_json::Value>(payload).unwrap())
        .find(|event| event["MatchOpened"]["user_id"] == a.id.get())
        .map(|event| serde_json::from_value(event["MatchOpened"]["active"]["info"].clone()).unwrap())
        .expect("a's match.found was published to a's node");

    // b's messages, then the receipts of a's (stored there, as that release's node did: seqs 4 to 6).
    let match_id = chat_b.info.match_id;
    for i in 0..3 {
        b_new.send(&chat_b.message(&format!("mesaj {i}"))).await.unwrap();
        next_within(&mut b_new, |f| matches!(f, ServerFrame::MsgAccepted { .. })).await;
    }
    heard.as_the_previous_version_published(&capture, "messages", &here).await;
    let mut chat_a = Chat::established(identity_a, info).unwrap();
    for i in 0..3 {
        let answer = chat_a.message(&format!("cevap {i}"));
        node.store.insert_messages(&[stored_as_sent(&there, &answer)], node.now()).await.unwrap();
    }
    for seq in 4..=6 {
        b_new.send(&ClientFrame::MsgAck { id: None, match_id, seq: Seq(seq) }).await.unwrap();
    }
    heard.as_the_previous_version_published(&capture, "answers", &here).await;

    b_new.send(&ClientFrame::Typing { id: None, match_id }).await.unwrap();
    heard.as_the_previous_version_published(&capture, "typing", &here).await;

    b_new.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
    heard.as_the_previous_version_published(&capture, "leave", &here).await;
    heard.nothing_else(&mut redis).await;
}
