//! What crosses Redis between nodes (src/delivery/redis/wire.rs): a batch's events for one node in one envelope,
//! and a node of the previous version beside one of this version, as during a rolling upgrade. The previous
//! version is the same binary with `cluster.batch_envelope = false`: it names itself as that version did,
//! publishes events one by one and refuses envelopes, as that version could not read them.

use std::time::Duration;

use tanis::domain::Seq;
use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, EndReason, MatchKind, ServerFrame};

use crate::helpers::{join_cluster, spawn_cluster, spawn_cluster_with};

const WITHIN: Duration = Duration::from_secs(10);

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_of_the_previous_version_and_one_of_this_version_serve_one_cluster() {
    let old = spawn_cluster_with(1, |c| c.cluster.batch_envelope = false).await.remove(0);
    let new = join_cluster(&old, |c| c.cluster.batch_envelope = true).await;
    let (a, b) = (old.user("eski").await, new.user("yeni").await);
    let (mut a_old, mut b_new) = (old.socket(&a).await, new.socket(&b).await);
    // b has a second socket, on the old node: their own messages reach it from the new node.
    let mut b_old = old.socket(&b).await;
    let (chat_a, chat_b) =
        tokio::join!(Chat::find(&mut a_old, MatchKind::Text), Chat::find(&mut b_new, MatchKind::Text));
    let (mut chat_a, mut chat_b) = (chat_a.unwrap(), chat_b.unwrap());
    let match_id = chat_a.info.match_id;
    assert_eq!(chat_b.info.match_id, match_id);
    assert!(matches!(
        next_within(&mut b_old, |f| matches!(f, ServerFrame::MatchFound { .. })).await,
        ServerFrame::MatchFound { .. }
    ));

    // Old → new: single events, read by the new node.
    exchange(20, (&mut a_old, &mut chat_a), (&mut b_new, &mut chat_b), None).await;
    // New → old: to a node of the previous version one by one (it refuses envelopes), the copies included.
    exchange(20, (&mut b_new, &mut chat_b), (&mut a_old, &mut chat_a), Some(&mut b_old)).await;

    a_old.send(&ClientFrame::Typing { id: None, match_id }).await.unwrap();
    assert_eq!(
        next_within(&mut b_new, |f| matches!(f, ServerFrame::Typing { .. })).await,
        ServerFrame::Typing { match_id }
    );
    b_new.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
    let told = next_within(&mut a_old, |f| matches!(f, ServerFrame::MatchEnded { .. })).await;
    assert_eq!(told, ServerFrame::MatchEnded { id: None, match_id, reason: EndReason::PeerLeft });
    assert!(matches!(
        next_within(&mut b_old, |f| matches!(f, ServerFrame::MatchEnded { .. })).await,
        ServerFrame::MatchEnded { .. }
    ));
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
