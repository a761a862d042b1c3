//! Money under clock skew (issue 74 point 2): whether a request was spent by a match is decided by the user's
//! count of matches opened (`users.matches_opened`), not by the asking node's wall clock against the opening
//! node's. A request stamped with a count is judged by it whatever its clock says; one of the previous release,
//! stamped by its clock alone, still by the clocks.

use chrono::{TimeDelta, Utc};
use tanis::domain::{EndCause, UserId};
use tanis::store::{Asked, CreateMatchError, NewMatch};
use tanis_proto::MatchKind;

use crate::helpers::{Backend, TestApp, new_match, spawn_app};
use crate::on_both_stores;

on_both_stores!(a_request_is_spent_by_the_matches_opened_since_whatever_the_nodes_clocks_say);

/// `user` asking `asked` against `partner`, a fresh request of theirs.
fn asking(app: &TestApp, user: UserId, asked: Asked, partner: UserId) -> NewMatch {
    let fresh = Asked { after: Some(0), at: Some(Utc::now()) };
    NewMatch { user1_asked: asked, user2_asked: fresh, ..new_match(user, partner, MatchKind::Text, app.now()) }
}

async fn matches_opened(app: &TestApp, user: UserId) -> i64 {
    app.store.user_by_id(user).await.unwrap().unwrap().matches_opened
}

async fn a_request_is_spent_by_the_matches_opened_since_whatever_the_nodes_clocks_say(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut ids = Vec::new();
    for alias in ["ayse", "burak", "cem", "deniz"] {
        ids.push(app.user(alias).await.id);
    }
    let (ayse, burak, cem, deniz) = (ids[0], ids[1], ids[2], ids[3]);
    let skew = TimeDelta::minutes(10);

    // Ayşe's first request, asked by a node whose clock runs ten minutes ahead: matched, and counted.
    let ahead = Asked { after: Some(0), at: Some(Utc::now() + skew) };
    let opened = app.store.create_matches(&[asking(&app, ayse, ahead, burak)], None).await.unwrap();
    let first = opened[0].as_ref().expect("her first request is matched").row.id;
    assert_eq!(opened[0].as_ref().unwrap().user1.matches_opened, 1, "the opening says her new count");
    assert_eq!(matches_opened(&app, ayse).await, 1);
    app.store.end_match(first, EndCause::Left, app.now()).await.unwrap();

    // A copy of that same request, adopted after the match ended: its clock says it was asked after the match
    // opened, yet the count says the match spent it. Refused, and nobody pays.
    let balance = async |user| app.store.user_by_id(user).await.unwrap().unwrap().daily_chat_balance;
    let before = (balance(ayse).await, balance(cem).await);
    let copy = app.store.create_matches(&[asking(&app, ayse, ahead, cem)], None).await.unwrap();
    assert!(matches!(copy[0], Err(CreateMatchError::Spent(id)) if id == ayse), "{:?}", copy[0].as_ref().err());
    assert_eq!((balance(ayse).await, balance(cem).await), before, "a spent request charges nobody");

    // Her next request, asked by a node whose clock runs ten minutes behind (before the match, by that clock):
    // the count says it is new. Matched.
    let behind = Asked { after: Some(1), at: Some(Utc::now() - skew) };
    let opened = app.store.create_matches(&[asking(&app, ayse, behind, cem)], None).await.unwrap();
    let second = opened[0].as_ref().expect("a new request is matched whatever its clock says").row.id;
    assert_eq!(matches_opened(&app, ayse).await, 2);
    app.store.end_match(second, EndCause::Left, app.now()).await.unwrap();

    // The previous release's stamp, its clock alone, is judged by the clocks: behind the last match, spent.
    let by_clock = Asked { after: None, at: Some(Utc::now() - skew) };
    let old = app.store.create_matches(&[asking(&app, ayse, by_clock, deniz)], None).await.unwrap();
    assert!(matches!(old[0], Err(CreateMatchError::Spent(id)) if id == ayse), "{:?}", old[0].as_ref().err());
}
