//! Whom a waiting user may meet, kept current across nodes (src/matching/find/refresh.rs): a report that quarantines
//! a user whose place the elected matchmaker holds, on another node than their socket, reaches that place at once.

use std::time::Duration;

use tanis_client::{Chat, Connection};
use tanis_proto::{ClientFrame, MatchKind, ReportReason, ServerFrame};

use crate::helpers::{Backend, TestApp, cluster_config, eventually, join_cluster, test_redis_url, text_find};
use crate::reporters::{all_report, own_range, socket_from, trusted_reporters};
use crate::twilio::{Twilio, spawn_with_sms};

const WITHIN: Duration = Duration::from_secs(10);

async fn next_within(socket: &mut Connection, wanted: impl Fn(&ServerFrame) -> bool) -> ServerFrame {
    tokio::time::timeout(WITHIN, socket.next_where(wanted)).await.expect("the frame arrives in time").unwrap()
}

/// Two nodes handing their seekers to the elected matchmaker after 50 ms, the first with the SMS stand-in (the
/// reporters verify their phones through it).
async fn two_nodes() -> (TestApp, TestApp, Twilio) {
    let namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    let tweak = |c: &mut tanis::config::Config| {
        c.quotas.free_text_daily = 40;
        c.sms.max_per_ip_per_hour = 1000;
        c.cluster.local_pairing_ms = 50;
    };
    let (first, twilio) = spawn_with_sms(Backend::Postgres, |c| {
        cluster_config(c, &test_redis_url(), &namespace);
        tweak(c);
    })
    .await;
    let second = join_cluster(&first, tweak).await;
    (first, second, twilio)
}

/// The third report that quarantines `waiting` comes while the elected matchmaker holds their place (handed over by
/// node 1, their socket's); node 1 rewrites that place, and the next quarantined user meets them. Without the
/// refresh their place stays clean, and a quarantined user is never given them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_quarantining_a_user_whose_place_the_elected_matchmaker_holds_reaches_it_at_once() {
    let (nodes, twilio) = {
        let (first, second, twilio) = two_nodes().await;
        ([first, second], twilio)
    };
    let (waiting, other) = (nodes[0].user("bekleyen").await, nodes[0].user("karantinada").await);
    let reporters = trusted_reporters(&nodes[0], &twilio, 6, "bildiren").await;
    // Both nodes on one clock: node 1 judges the reports' ages too.
    nodes[1].clock.set(nodes[0].now());
    all_report(&nodes[0], &reporters[..2], &waiting).await;
    all_report(&nodes[0], &reporters[3..], &other).await;

    // The third reporter meets them and leaves; they ask again on node 1, which hands them over.
    let last = &reporters[2];
    let mut sr = socket_from(&nodes[0], last, &own_range(last)).await;
    let mut sw = nodes[0].socket(&waiting).await;
    let (chat_r, chat_w) = tokio::join!(Chat::find(&mut sr, MatchKind::Text), Chat::find(&mut sw, MatchKind::Text));
    let (chat_r, match_id) = (chat_r.unwrap(), chat_w.unwrap().info.match_id);
    sr.send(&ClientFrame::MatchLeave { id: Some("left".into()), match_id }).await.unwrap();
    next_within(&mut sw, |f| matches!(f, ServerFrame::MatchEnded { .. })).await;
    drop(sw);
    let handed = || async { nodes[1].scrape().await.value("tanis_matching_handed_over_total") };
    let before = handed().await;
    let mut on_node_1 = nodes[1].socket(&waiting).await;
    on_node_1.send(&text_find(Some("f1"))).await.unwrap();
    let queued = next_within(&mut on_node_1, |_| true).await;
    assert!(matches!(queued, ServerFrame::MatchQueued { .. }), "{queued:?}");
    eventually(WITHIN, "node 1 handed them over", || async { handed().await > before }).await;

    // The third report, while the matchmaker holds them, quarantines them; the other quarantined user asks on node
    // 0, and they meet.
    sr.send(&chat_r.report(ReportReason::Harassment, None, &[]).unwrap()).await.unwrap();
    let reported = next_within(&mut sr, |f| matches!(f, ServerFrame::Ok { id } if id.as_deref() == Some("report")));
    assert_eq!(reported.await, ServerFrame::Ok { id: Some("report".into()) });
    let mut so = nodes[0].socket(&other).await;
    so.send(&text_find(Some("f2"))).await.unwrap();
    let found = next_within(&mut so, |f| matches!(f, ServerFrame::MatchFound { .. })).await;
    let ServerFrame::MatchFound { info, .. } = found else { unreachable!() };
    assert_eq!(info.peer, waiting.handle, "the two quarantined users meet");
    next_within(&mut on_node_1, |f| matches!(f, ServerFrame::MatchFound { .. })).await;
}
