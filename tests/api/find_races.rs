//! One find per person however many devices (docs/protocol.md §5, "which finds a match answers"): a find from a
//! second device while the first device's find is being paired is answered by that match, takes no place, and
//! spends nothing.
//!
//! The race is forced, not hoped for: a transaction holds the matches table, so the opening of the first find's
//! pair waits in the database while the second device's find goes to the matchmaker behind it.

use std::time::Duration;

use sqlx::Connection as _;
use tanis_client::Connection;
use tanis_proto::{ClientFrame, ErrorCode, ServerFrame};

use crate::helpers::{Backend, eventually, spawn_app_with, text_find};

const WITHIN: Duration = Duration::from_secs(10);

async fn next(socket: &mut Connection) -> ServerFrame {
    tokio::time::timeout(WITHIN, socket.next()).await.expect("a frame in time").expect("a frame")
}

/// Before (docs/testing.md row 18), the second device's find was placed once the match had opened: after the match
/// ended, a newcomer was paired with the person though nobody had asked again, and a second unit was spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_find_from_a_second_device_while_the_first_is_being_paired_is_answered_by_that_match() {
    let app = spawn_app_with(Backend::Postgres, |c| c.quotas.free_text_daily = 2).await;
    let (a, b, c) = (app.user("ikicihaz").await, app.user("bekleyen").await, app.user("yenigelen").await);
    let mut waiting = app.socket(&b).await;
    waiting.send(&text_find(Some("b"))).await.unwrap();
    assert!(matches!(next(&mut waiting).await, ServerFrame::MatchQueued { .. }));
    let (mut phone, mut tablet) = (app.socket(&a).await, app.socket(&a).await);

    let mut holder = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("LOCK TABLE matches IN EXCLUSIVE MODE").execute(&mut *held).await.unwrap();
    phone.send(&text_find(Some("phone"))).await.unwrap();
    eventually(WITHIN, "the pair's opening waits for the table", || crate::helpers::waiting_for_a_lock(&app)).await;
    tablet.send(&text_find(Some("tablet"))).await.unwrap();
    held.rollback().await.unwrap();

    let found = |frame: ServerFrame| match frame {
        ServerFrame::MatchFound { info, .. } => info.match_id,
        other => panic!("the match answers the find, nothing else: {other:?}"),
    };
    // The phone's find was queued, and paired in the same turn of the matchmaker.
    assert!(matches!(next(&mut phone).await, ServerFrame::MatchQueued { .. }));
    let match_id = found(next(&mut phone).await);
    // In a cluster (the suite's pass with delivery through Redis) the tablet's node sees the claim first and answers
    // `already_queued` (docs/protocol.md §5); on one node the match alone answers it.
    let mut answer = next(&mut tablet).await;
    if crate::helpers::delivery_through_redis()
        && matches!(answer, ServerFrame::Error { code: ErrorCode::AlreadyQueued, .. })
    {
        answer = next(&mut tablet).await;
    }
    assert_eq!(found(answer), match_id, "the tablet's find is answered by the same match");
    assert_eq!(found(next(&mut waiting).await), match_id);
    // A find after `match.found` is refused, not queued.
    tablet.send(&text_find(Some("after"))).await.unwrap();
    let refused = next(&mut tablet).await;
    assert!(matches!(refused, ServerFrame::Error { code: ErrorCode::AlreadyInMatch, .. }), "{refused:?}");

    phone.send(&ClientFrame::MatchLeave { id: Some("leave".into()), match_id }).await.unwrap();
    while next(&mut phone).await != (ServerFrame::Ok { id: Some("leave".into()) }) {}
    let mut newcomer = app.socket(&c).await;
    newcomer.send(&text_find(Some("c"))).await.unwrap();
    assert!(matches!(next(&mut newcomer).await, ServerFrame::MatchQueued { .. }), "nobody waits for the newcomer");
    newcomer.send(&ClientFrame::MatchCancel { id: Some("cancel".into()) }).await.unwrap();
    let cancelled = next(&mut newcomer).await;
    assert!(matches!(cancelled, ServerFrame::MatchCancelled { .. }), "still waiting, not paired: {cancelled:?}");
    let user = app.store.user_by_id(a.id).await.unwrap().unwrap();
    assert_eq!(user.daily_chat_balance, 1, "one match, one unit");
}

/// A cancel that holds across nodes (docs/testing.md row 17): the elected matchmaker pairs two users of different
/// nodes, and while it opens the pair (held in the database by a lock on the matches table) one of them cancels. The
/// cancel is answered `not_queued` and the match follows; before, it was answered `match.cancelled`, and the match
/// followed all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_while_the_elected_matchmaker_opens_the_pair_is_answered_not_queued_and_the_match_follows() {
    let nodes = crate::helpers::spawn_cluster_with(2, |c| c.cluster.local_pairing_ms = 50).await;
    let (a, b) = (nodes[0].user("vazgecen").await, nodes[1].user("obursuz").await);
    let mut holder = sqlx::PgConnection::connect(&nodes[0].database_url).await.unwrap();
    let mut held = holder.begin().await.unwrap();
    sqlx::query("LOCK TABLE matches IN EXCLUSIVE MODE").execute(&mut *held).await.unwrap();
    let (mut sa, mut sb) = (nodes[0].socket(&a).await, nodes[1].socket(&b).await);
    for socket in [&mut sa, &mut sb] {
        socket.send(&text_find(Some("f"))).await.unwrap();
        assert!(matches!(next(socket).await, ServerFrame::MatchQueued { .. }));
    }
    eventually(WITHIN, "the elected matchmaker's opening waits for the table", || {
        crate::helpers::waiting_for_a_lock(&nodes[0])
    })
    .await;

    sa.send(&ClientFrame::MatchCancel { id: Some("cancel".into()) }).await.unwrap();
    let answer = next(&mut sa).await;
    assert!(matches!(answer, ServerFrame::Error { code: ErrorCode::NotQueued, .. }), "being opened: {answer:?}");
    held.rollback().await.unwrap();
    let (found_a, found_b) = (next(&mut sa).await, next(&mut sb).await);
    let id = |frame: &ServerFrame| match frame {
        ServerFrame::MatchFound { info, .. } => info.match_id,
        other => panic!("the match follows: {other:?}"),
    };
    assert_eq!(id(&found_a), id(&found_b));
}
