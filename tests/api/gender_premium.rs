//! Premium, which a `seeking` find needs, is kept in the standing cached beside the user's sockets (issue 74 point
//! 6: a find with `seeking` no longer reads the account), and follows the subscription: the job that ends
//! subscriptions past their end date, billing and a moderator each drop the cached standing on every node.

use chrono::TimeDelta;
use tanis_client::{Connection, Find, Identity};
use tanis_proto::{ClientFrame, ErrorCode, Gender, MatchKind, PreferenceMode, Seeking, ServerFrame};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, spawn_app};
use crate::on_both_stores;

on_both_stores!(premium_kept_beside_the_sockets_ends_and_starts_with_the_subscription);

/// Sends a find asking only for women on `socket`, and returns its answer.
async fn answer_to_seeking(socket: &mut Connection) -> ServerFrame {
    let find = Find::new(MatchKind::Text).seeking(Seeking { genders: vec![Gender::Woman], mode: PreferenceMode::Only });
    socket.send(&find.frame(Some("f".into()), Identity::generate().public_key_b64())).await.unwrap();
    socket.next().await.unwrap()
}

async fn cancelled(socket: &mut Connection) {
    socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    let answer = socket.next_where(|f| !matches!(f, ServerFrame::Ad { .. })).await.unwrap();
    assert!(matches!(answer, ServerFrame::MatchCancelled { .. }), "the find is cancelled: {answer:?}");
}

/// One socket throughout, so that every find after the first is decided on the standing cached beside it.
async fn premium_kept_beside_the_sockets_ends_and_starts_with_the_subscription(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("abone").await;
    app.subscribe(user.id, app.now() + TimeDelta::hours(1)).await;
    let mut socket = app.socket(&user).await;
    let first = answer_to_seeking(&mut socket).await;
    assert!(matches!(first, ServerFrame::MatchQueued { .. }), "premium may ask for a gender: {first:?}");
    cancelled(&mut socket).await;

    // The subscription's end date passes; the job ends it, and the socket's next find is refused.
    app.clock.advance(TimeDelta::hours(1));
    app.run_job(Job::Subscriptions).await.unwrap();
    let ended = answer_to_seeking(&mut socket).await;
    assert!(
        matches!(ended, ServerFrame::Error { code: ErrorCode::PremiumRequired, .. }),
        "the cached premium went with the subscription: {ended:?}"
    );

    // Started again by billing: the very next find may ask again.
    app.subscribe(user.id, app.now() + TimeDelta::hours(1)).await;
    let again = answer_to_seeking(&mut socket).await;
    assert!(matches!(again, ServerFrame::MatchQueued { .. }), "premium again: {again:?}");
}
