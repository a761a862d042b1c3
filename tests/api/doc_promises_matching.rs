//! docs/protocol.md's pairing rules that no other test covered: a newcomer asking for `nearby` partners gets the
//! closest waiter, and waiters without a location (or who did not ask for `nearby` themselves: a location is used
//! only by its owner's choice) rank last, the longest-waiting first among them.

use reqwest::StatusCode;
use serde_json::json;
use tanis_client::{Connection, Identity};
use tanis_proto::{ClientFrame, MatchKind, ServerFrame};

use crate::helpers::{Backend, TestApp, TestUser, spawn_app};
use crate::on_both_stores;

on_both_stores!(a_nearby_newcomer_gets_the_closest_waiter_and_waiters_without_a_location_rank_last);

const ISTANBUL: (f64, f64) = (41.0082, 28.9784);
/// 4.5 km from Istanbul's point: inside the starting nearby radius (5 km).
const KADIKOY: (f64, f64) = (40.9901, 29.0290);

async fn place(app: &TestApp, user: &TestUser, (lat, lon): (f64, f64)) {
    let response = app.patch_me(&user.access, &json!({ "location": { "lat": lat, "lon": lon } })).await;
    assert_eq!(response.status(), StatusCode::OK);
}

async fn find(app: &TestApp, user: &TestUser, nearby: bool) -> Connection {
    let mut socket = app.socket(user).await;
    let public_key = Identity::generate().public_key_b64();
    socket
        .send(&ClientFrame::MatchFind {
            id: Some("f".into()),
            kind: MatchKind::Text,
            public_key,
            nearby,
            interests: Default::default(),
            region: Default::default(),
            seeking: None,
        })
        .await
        .unwrap();
    socket
}

async fn queued(app: &TestApp, user: &TestUser, nearby: bool) -> Connection {
    let mut socket = find(app, user, nearby).await;
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }), "{} waits", user.handle);
    socket
}

async fn partner(socket: &mut Connection) -> String {
    match socket.next_where(|f| !matches!(f, ServerFrame::MatchQueued { .. })).await.unwrap() {
        ServerFrame::MatchFound { info, .. } => info.peer,
        other => panic!("expected match.found, got {other:?}"),
    }
}

/// Pairs the two and ends the match: from then on they are recent partners, never paired again today.
async fn met(app: &TestApp, a: &TestUser, b: &TestUser) {
    let (mut sa, chat, _sb, _) = app.pair(a, b, MatchKind::Text).await;
    sa.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id: chat.info.match_id }).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();
}

async fn a_nearby_newcomer_gets_the_closest_waiter_and_waiters_without_a_location_rank_last(backend: Backend) {
    let app = spawn_app(backend).await;
    let (nowhere, shy, close) = (app.user("konumsuz").await, app.user("cekingen").await, app.user("yakin").await);
    let (first, second, third) = (app.user("gelen_bir").await, app.user("gelen_iki").await, app.user("gelen_uc").await);
    place(&app, &shy, ISTANBUL).await;
    place(&app, &close, ISTANBUL).await;
    for newcomer in [&first, &second, &third] {
        place(&app, newcomer, KADIKOY).await;
    }
    // The three waiters have met each other, so they wait side by side instead of pairing among themselves.
    met(&app, &nowhere, &shy).await;
    met(&app, &nowhere, &close).await;
    met(&app, &shy, &close).await;

    // In order of arrival: no location at all; a location but no nearby wish; a location and the wish.
    let mut s_nowhere = queued(&app, &nowhere, true).await;
    let mut s_shy = queued(&app, &shy, false).await;
    let mut s_close = queued(&app, &close, true).await;

    // First come, first served would pick the one without a location: nearby picks the closest instead.
    let mut s_first = find(&app, &first, true).await;
    assert_eq!(partner(&mut s_first).await, close.handle);
    assert_eq!(partner(&mut s_close).await, first.handle);
    // The other two rank last, alike: among equals the longest waiting wins, then the next.
    let mut s_second = find(&app, &second, true).await;
    assert_eq!(partner(&mut s_second).await, nowhere.handle);
    assert_eq!(partner(&mut s_nowhere).await, second.handle);
    let mut s_third = find(&app, &third, true).await;
    assert_eq!(partner(&mut s_third).await, shy.handle);
    assert_eq!(partner(&mut s_shy).await, third.handle);
}
