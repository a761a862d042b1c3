//! The 24 h recent-partner rule at its boundary: matched 23 h 59 m ago is too recent, 24 h + 1 s is not.

use chrono::TimeDelta;
use tanis_client::Connection;
use tanis_proto::{ClientFrame, MatchKind, ServerFrame};

use crate::helpers::{Backend, TestApp, TestUser, spawn_app, text_find};
use crate::on_both_stores;

on_both_stores!(partners_matched_23h59m_ago_are_not_paired_again, partners_matched_24h_and_1s_ago_are_paired_again,);

/// Queues `user` for a text match on a new socket; returns it after `match.queued`.
async fn queued(app: &TestApp, user: &TestUser) -> Connection {
    let mut socket = app.socket(user).await;
    socket.send(&text_find(None)).await.unwrap();
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    socket
}

async fn peer(socket: &mut Connection) -> String {
    match socket.next_where(|f| !matches!(f, ServerFrame::MatchQueued { .. })).await.unwrap() {
        ServerFrame::MatchFound { info, .. } => info.peer,
        other => panic!("expected match.found, got {other:?}"),
    }
}

/// Pairs a and b once, ends that match at once, and moves the clock to `since` after its creation.
async fn met(app: &TestApp, a: &TestUser, b: &TestUser, since: TimeDelta) {
    let (mut sa, chat, _sb, _) = app.pair(a, b, MatchKind::Text).await;
    sa.send(&ClientFrame::MatchLeave { id: Some("bye".into()), match_id: chat.info.match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();
    assert_eq!(app.config.matching.recent_partner_hours, 24);
    app.clock.advance(since);
}

async fn partners_matched_23h59m_ago_are_not_paired_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b, c) = (app.user("dun_a").await, app.user("dun_b").await, app.user("yeni_c").await);
    met(&app, &a, &b, TimeDelta::hours(23) + TimeDelta::minutes(59)).await;
    let mut qa = queued(&app, &a).await;
    // `queued` asserts b got match.queued: with a waiting alone, b was not paired with a.
    let mut qb = queued(&app, &b).await;
    // Both still wait: c meets a, the oldest waiter, and b is left (a third party proves they were queued).
    let mut qc = app.socket(&c).await;
    qc.send(&text_find(None)).await.unwrap();
    assert_eq!(peer(&mut qc).await, a.handle);
    assert_eq!(peer(&mut qa).await, c.handle);
    qb.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    assert_eq!(qb.next().await.unwrap(), ServerFrame::MatchCancelled { id: Some("c".into()) }, "b was still waiting");
}

async fn partners_matched_24h_and_1s_ago_are_paired_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("dun_a").await, app.user("dun_b").await);
    met(&app, &a, &b, TimeDelta::hours(24) + TimeDelta::seconds(1)).await;
    let mut qa = queued(&app, &a).await;
    let mut sb = app.socket(&b).await;
    sb.send(&text_find(None)).await.unwrap();
    assert_eq!(peer(&mut sb).await, a.handle);
    assert_eq!(peer(&mut qa).await, b.handle);
}
