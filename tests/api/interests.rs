//! Whom you meet (issue 29, points 1 and 2): a profile's interests and languages, set with `PATCH /v1/me` and
//! checked before anything is written; the vocabulary served without a token; and matching that prefers the
//! waiter sharing the most interests, falls back to anyone after the wait (or never, with `only`), never pairs two
//! people with no language in common, and names in `match.found` what the two share.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_client::{Connection, Identity};
use tanis_proto::{ClientFrame, InterestMatching, MatchInfo, MatchKind, ServerFrame};

use crate::helpers::{Backend, TestApp, TestUser, assert_error, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    the_vocabulary_is_served_to_anyone_with_both_labels,
    a_profile_takes_known_interests_and_languages_and_a_bad_one_changes_nothing,
    the_waiter_sharing_the_most_interests_is_chosen_and_match_found_names_what_both_share,
    two_people_with_no_language_in_common_are_never_paired,
    prefer_falls_back_to_anyone_after_the_wait_and_only_never_does,
);

async fn profile(app: &TestApp, user: &TestUser, body: Value) {
    let response = app.patch_me(&user.access, &body).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
}

async fn find(app: &TestApp, user: &TestUser, interests: InterestMatching) -> Connection {
    let mut socket = app.socket(user).await;
    let public_key = Identity::generate().public_key_b64();
    let frame = ClientFrame::MatchFind {
        id: Some("f".into()),
        kind: MatchKind::Text,
        public_key,
        nearby: false,
        interests,
        region: Default::default(),
        seeking: None,
    };
    socket.send(&frame).await.unwrap();
    socket
}

async fn queued(app: &TestApp, user: &TestUser, interests: InterestMatching) -> Connection {
    let mut socket = find(app, user, interests).await;
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }), "{} waits", user.handle);
    socket
}

pub(crate) async fn found(socket: &mut Connection) -> MatchInfo {
    match socket.next_where(|f| !matches!(f, ServerFrame::MatchQueued { .. })).await.unwrap() {
        ServerFrame::MatchFound { info, .. } => info,
        other => panic!("expected match.found, got {other:?}"),
    }
}

/// Leaves the queue, proving the user was still waiting (`not_queued` otherwise).
pub(crate) async fn still_waiting(socket: &mut Connection) {
    socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    let answer = socket.next_where(|f| !matches!(f, ServerFrame::MatchQueued { .. })).await.unwrap();
    assert!(matches!(answer, ServerFrame::MatchCancelled { .. }), "still waiting, not {answer:?}");
}

async fn the_vocabulary_is_served_to_anyone_with_both_labels(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = reqwest::get(app.url("/v1/interests")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let topics = body["topics"].as_array().unwrap();
    assert!((60..=120).contains(&topics.len()), "{} topics", topics.len());
    assert_eq!(body["max_per_profile"], 10);
    let music = topics.iter().find(|t| t["id"] == "music").expect("music is a topic");
    assert_eq!((music["tr"].as_str(), music["en"].as_str()), (Some("Müzik"), Some("Music")));
    let mut ids: Vec<&str> = topics.iter().map(|t| t["id"].as_str().unwrap()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), topics.len(), "every id once");
}

async fn a_profile_takes_known_interests_and_languages_and_a_bad_one_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("meraklı").await;
    let me: Value = app.get_me(&user.access).await.json().await.unwrap();
    assert_eq!((me["interests"].clone(), me["languages"].clone()), (json!([]), json!(["tr"])), "the locale's language");

    profile(&app, &user, json!({ "interests": ["chess", "music", "chess"], "languages": ["tr", "de"] })).await;
    let me: Value = app.get_me(&user.access).await.json().await.unwrap();
    assert_eq!(me["interests"], json!(["music", "chess"]), "vocabulary order, once each");
    assert_eq!(me["languages"], json!(["de", "tr"]));

    let eleven: Vec<&str> = [
        "music",
        "movies",
        "series",
        "books",
        "gaming",
        "football",
        "basketball",
        "volleyball",
        "tennis",
        "running",
        "fitness",
    ]
    .to_vec();
    for (body, status, code) in [
        (
            json!({ "interests": ["music", "knitting_with_cats"] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_interests",
        ),
        (json!({ "interests": eleven }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_interests"),
        (json!({ "languages": ["tr", "xx"] }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_languages"),
        (json!({ "languages": ["TR"] }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_languages"),
        (json!({ "languages": [] }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_languages"),
        (json!({ "languages": ["tr", "en", "de", "fr"] }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_languages"),
        (json!({ "interests": "music" }), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        // A good alias beside a bad language: neither is stored.
        (
            json!({ "alias": "yenisim", "languages": ["klingon"] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_languages",
        ),
    ] {
        let response = app.patch_me(&user.access, &body).await;
        assert_error(response, status, code).await;
    }
    let me: Value = app.get_me(&user.access).await.json().await.unwrap();
    assert_eq!((me["interests"].clone(), me["languages"].clone()), (json!(["music", "chess"]), json!(["de", "tr"])));
    assert_eq!(me["alias"], "meraklı", "nothing of a refused change is stored");

    profile(&app, &user, json!({ "interests": [] })).await;
    let me: Value = app.get_me(&user.access).await.json().await.unwrap();
    assert_eq!(me["interests"], json!([]), "an empty list clears them");
}

async fn the_waiter_sharing_the_most_interests_is_chosen_and_match_found_names_what_both_share(backend: Backend) {
    let app = spawn_app(backend).await;
    let (cats, chess, newcomer) = (app.user("kedisever").await, app.user("satrancci").await, app.user("yeni").await);
    profile(&app, &cats, json!({ "interests": ["cats"] })).await;
    profile(&app, &chess, json!({ "interests": ["music", "chess"], "languages": ["tr", "en"] })).await;
    profile(&app, &newcomer, json!({ "interests": ["cats", "chess", "music"], "languages": ["en", "tr"] })).await;

    // Both insist on their own interest, so they wait side by side; the cat lover came first.
    let mut s_cats = queued(&app, &cats, InterestMatching::Only).await;
    let mut s_chess = queued(&app, &chess, InterestMatching::Only).await;

    let mut s_new = find(&app, &newcomer, InterestMatching::Prefer).await;
    let info = found(&mut s_new).await;
    assert_eq!(info.peer, chess.handle, "two interests in common beat one, however long the other waited");
    assert_eq!(
        (info.shared_interests, info.shared_languages),
        (vec!["music".to_owned(), "chess".into()], vec!["en".to_owned(), "tr".into()])
    );
    let theirs = found(&mut s_chess).await;
    assert_eq!(theirs.peer, newcomer.handle);
    assert_eq!(theirs.shared_interests, ["music", "chess"], "both sides are told the same");
    still_waiting(&mut s_cats).await;
}

async fn two_people_with_no_language_in_common_are_never_paired(backend: Backend) {
    let app = spawn_app(backend).await;
    let (german, turkish, both) = (app.user("almanca").await, app.user("turkce").await, app.user("ikidilli").await);
    let english = app.user("ingilizce").await;
    profile(&app, &german, json!({ "languages": ["de"] })).await;
    profile(&app, &turkish, json!({ "languages": ["tr"] })).await;
    profile(&app, &both, json!({ "languages": ["de", "tr"] })).await;
    // Never chose: speaks its notification language, which is no promise (a browser sets it from its own).
    profile(&app, &english, json!({ "locale": "en" })).await;

    let mut s_german = queued(&app, &german, InterestMatching::Off).await;
    let mut s_turkish = queued(&app, &turkish, InterestMatching::Off).await;
    app.clock.advance(TimeDelta::hours(1));
    // Someone speaking both arrives: the longest waiting (German) gets them; the Turkish speaker still waits.
    let mut s_both = find(&app, &both, InterestMatching::Off).await;
    let info = found(&mut s_both).await;
    assert_eq!((info.peer, info.shared_languages), (german.handle.clone(), vec!["de".to_owned()]));
    assert_eq!(found(&mut s_german).await.peer, both.handle);
    // A profile that never chose its languages is refused by no one; nothing is named as shared (en and tr).
    let mut s_english = find(&app, &english, InterestMatching::Off).await;
    let info = found(&mut s_english).await;
    assert_eq!((info.peer, info.shared_languages.len()), (turkish.handle.clone(), 0));
    assert_eq!(found(&mut s_turkish).await.peer, english.handle);
}

async fn prefer_falls_back_to_anyone_after_the_wait_and_only_never_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let (picky, keen, plain, fan) =
        (app.user("secici").await, app.user("istekli").await, app.user("siradan").await, app.user("hayran").await);
    profile(&app, &picky, json!({ "interests": ["jazz"] })).await;
    profile(&app, &keen, json!({ "interests": ["jazz"] })).await;
    profile(&app, &fan, json!({ "interests": ["jazz"] })).await;

    // `only` waits for a shared interest however long it takes; the plain newcomer is not given to it.
    let mut s_picky = queued(&app, &picky, InterestMatching::Only).await;
    let mut s_plain = queued(&app, &plain, InterestMatching::Off).await;
    // Two hours of waiting, swept over by the matchmaker: the picky one never falls back to the plain waiter.
    app.advance_and_sweep(TimeDelta::hours(2)).await;
    // `prefer` arrives: it shares jazz with the picky one at once.
    let mut s_keen = find(&app, &keen, InterestMatching::Prefer).await;
    assert_eq!(found(&mut s_keen).await.peer, picky.handle);
    assert_eq!(found(&mut s_picky).await.peer, keen.handle);

    // A `prefer` fan with nobody sharing jazz in the queue waits for the fallback (10 s on the server's clock),
    // then the sweep gives them the plain waiter, who never asked for interests.
    let mut s_fan = queued(&app, &fan, InterestMatching::Prefer).await;
    app.advance_and_sweep(TimeDelta::seconds(i64::try_from(app.config.matching.interest_fallback_secs).unwrap())).await;
    let info = found(&mut s_fan).await;
    assert_eq!((info.peer, info.shared_interests.len()), (plain.handle.clone(), 0));
    assert_eq!(found(&mut s_plain).await.peer, fan.handle);
}

/// The same rules through the elected cluster matchmaker: the seekers' interests and languages travel in their
/// queue entries in Redis, whichever node they asked from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_nodes_the_elected_matchmaker_keeps_the_interest_and_language_rules() {
    let nodes = crate::helpers::spawn_cluster(2).await;
    let (cats, chess) = (nodes[0].user("kedisever").await, nodes[1].user("satrancci").await);
    let (german, newcomer) = (nodes[1].user("almanca").await, nodes[0].user("yeni").await);
    profile(&nodes[0], &cats, json!({ "interests": ["cats"] })).await;
    profile(&nodes[1], &chess, json!({ "interests": ["music", "chess"] })).await;
    profile(&nodes[1], &german, json!({ "languages": ["de"] })).await;
    profile(&nodes[0], &newcomer, json!({ "interests": ["cats", "chess", "music"] })).await;

    let mut s_cats = queued(&nodes[0], &cats, InterestMatching::Only).await;
    let mut s_chess = queued(&nodes[1], &chess, InterestMatching::Only).await;
    let mut s_german = queued(&nodes[1], &german, InterestMatching::Off).await;
    let mut s_new = find(&nodes[0], &newcomer, InterestMatching::Prefer).await;
    let info = found(&mut s_new).await;
    assert_eq!((info.peer, info.shared_interests), (chess.handle.clone(), vec!["music".to_owned(), "chess".into()]));
    assert_eq!(found(&mut s_chess).await.peer, newcomer.handle);
    // The German speaker, waiting before the newcomer and insisting on nothing, shares no language with them.
    still_waiting(&mut s_german).await;
    still_waiting(&mut s_cats).await;
}
