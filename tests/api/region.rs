//! Whom you meet (issue 29, point 3): a premium find may be restricted to the own country (the phone number's) or to
//! a radius around the stored location, without the fall-back "nearby" has; the restriction binds the one asking
//! whether they arrive or wait; free users are refused it and keep "nearby" as a preference; bad regions are
//! refused; and the country, never shown to anyone else, is in the owner's export.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_client::{Chat, Connection, Find, Identity};
use tanis_proto::{ClientFrame, ErrorCode, MatchKind, Region, ServerFrame};

use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, spawn_app};
use crate::interests::{found, still_waiting};
use crate::on_both_stores;

on_both_stores!(
    a_premium_newcomer_restricted_to_their_country_skips_a_foreign_waiter_however_long_it_waited,
    a_premium_waiter_restricted_to_their_country_is_never_given_a_foreign_newcomer,
    a_radius_refuses_a_far_waiter_even_after_hours_and_takes_one_within_it,
    a_free_user_asking_for_a_region_is_refused_and_nearby_still_pairs_them,
    a_region_that_cannot_be_asked_is_refused_and_nothing_is_queued,
    an_account_made_before_countries_were_kept_learns_its_own_at_sign_in,
    a_phone_change_moves_the_country_with_the_number,
);

const ISTANBUL: (f64, f64) = (41.0082, 28.9784);
const KADIKOY: (f64, f64) = (40.9901, 29.0290);
const ANKARA: (f64, f64) = (39.9334, 32.8597);

/// A German mobile number, distinct per `n`.
fn german_phone(n: u32) -> String {
    format!("+49151{:08}", 23_450_000 + n)
}

async fn profile(app: &TestApp, user: &TestUser, body: Value) {
    let response = app.patch_me(&user.access, &body).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
}

async fn place(app: &TestApp, user: &TestUser, (lat, lon): (f64, f64)) {
    profile(app, user, json!({ "location": { "lat": lat, "lon": lon } })).await;
}

/// A premium user (with a Turkish phone), granted by an admin through the admin API.
pub(crate) async fn premium(app: &TestApp, alias: &str) -> TestUser {
    let admin = app.staff("kaptan", "admin").await;
    let user = app.user(alias).await;
    app.grant_premium(&admin, user.id).await;
    user
}

/// Sends `find` on a new socket of `user`.
pub(crate) async fn find(app: &TestApp, user: &TestUser, find: Find) -> Connection {
    let mut socket = app.socket(user).await;
    socket.send(&find.frame(Some("f".into()), Identity::generate().public_key_b64())).await.unwrap();
    socket
}

/// Sends `find` and waits for `match.queued`.
pub(crate) async fn queued(app: &TestApp, user: &TestUser, find_: Find) -> Connection {
    let mut socket = find(app, user, find_).await;
    let answer = socket.next().await.unwrap();
    assert!(matches!(answer, ServerFrame::MatchQueued { .. }), "{} waits, not {answer:?}", user.handle);
    socket
}

fn text() -> Find {
    Find::new(MatchKind::Text)
}

/// The `error` answering the find just sent, and proof that nothing was queued.
async fn refused(socket: &mut Connection) -> (ErrorCode, String) {
    let ServerFrame::Error { code, message, .. } = socket.next().await.unwrap() else { panic!("an error") };
    socket.send(&ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    let answer = socket.next().await.unwrap();
    assert!(matches!(answer, ServerFrame::Error { code: ErrorCode::NotQueued, .. }), "nothing queued: {answer:?}");
    (code, message)
}

async fn a_premium_newcomer_restricted_to_their_country_skips_a_foreign_waiter_however_long_it_waited(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let german = app.user_with_phone(&german_phone(1), "almanca").await;
    let turkish = app.user("turkce").await;
    let picky = premium(&app, "secici").await;
    // The two waiters share no language, so they wait side by side; the German one came first.
    profile(&app, &german, json!({ "languages": ["de"] })).await;
    profile(&app, &turkish, json!({ "languages": ["tr"] })).await;
    let mut s_german = queued(&app, &german, text()).await;
    let mut s_turkish = queued(&app, &turkish, text()).await;
    app.clock.advance(TimeDelta::hours(3));

    let mut s_picky = find(&app, &picky, text().region(Region::Country)).await;
    assert_eq!(found(&mut s_picky).await.peer, turkish.handle, "the longest waiter is foreign: skipped");
    assert_eq!(found(&mut s_turkish).await.peer, picky.handle);
    still_waiting(&mut s_german).await;
}

async fn a_premium_waiter_restricted_to_their_country_is_never_given_a_foreign_newcomer(backend: Backend) {
    let app = spawn_app(backend).await;
    let picky = premium(&app, "secici").await;
    let (german, turkish) = (app.user_with_phone(&german_phone(2), "almanca").await, app.user("turkce").await);

    let mut s_picky = queued(&app, &picky, text().region(Region::Country)).await;
    // The German newcomer asks for nothing the premium one lacks, but the one waiting does: it waits too. Its wish
    // for nearby partners is what keeps the matchmaker sweeping the queue as time passes (a country restriction
    // alone would give it nothing to sweep for), so a restriction that lapsed with waiting would pair them here.
    place(&app, &german, ANKARA).await;
    let mut s_german = queued(&app, &german, text().nearby(true)).await;
    // Three hours of both waiting, swept over by the matchmaker: the restriction never lapses.
    app.advance_and_sweep(TimeDelta::hours(3)).await;
    // A Turkish newcomer gets the longest waiter, the premium one.
    let mut s_turkish = find(&app, &turkish, text()).await;
    assert_eq!(found(&mut s_turkish).await.peer, picky.handle);
    assert_eq!(found(&mut s_picky).await.peer, turkish.handle);
    still_waiting(&mut s_german).await;
}

async fn a_radius_refuses_a_far_waiter_even_after_hours_and_takes_one_within_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let picky = premium(&app, "secici").await;
    let (ankara, kadikoy) = (app.user("ankara").await, app.user("kadikoy").await);
    place(&app, &picky, ISTANBUL).await;
    place(&app, &ankara, ANKARA).await;
    place(&app, &kadikoy, KADIKOY).await;

    // Ankara (~350 km away) asks for nearby partners and waits an hour: its own radius covers the planet by now.
    let mut s_ankara = queued(&app, &ankara, text().nearby(true)).await;
    app.clock.advance(TimeDelta::hours(1));
    let mut s_picky = queued(&app, &picky, text().nearby(true).region(Region::RadiusKm(50))).await;
    // An hour of the premium one waiting too, swept over by the matchmaker: their 50 km never widens to Ankara.
    app.advance_and_sweep(TimeDelta::hours(1)).await;
    // Kadıköy (4.5 km) could have either: the closest is the premium one, whose 50 km never widened.
    let mut s_kadikoy = find(&app, &kadikoy, text().nearby(true)).await;
    assert_eq!(found(&mut s_kadikoy).await.peer, picky.handle);
    assert_eq!(found(&mut s_picky).await.peer, kadikoy.handle);
    still_waiting(&mut s_ankara).await;
}

async fn a_free_user_asking_for_a_region_is_refused_and_nearby_still_pairs_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (istanbul, kadikoy) = (app.user("istanbul").await, app.user("kadikoy").await);
    place(&app, &istanbul, ISTANBUL).await;
    place(&app, &kadikoy, KADIKOY).await;
    for region in [Region::Country, Region::RadiusKm(50)] {
        let mut socket = find(&app, &istanbul, text().region(region)).await;
        assert_eq!(refused(&mut socket).await.0, ErrorCode::PremiumRequired, "{region:?}");
    }

    let (mut s_istanbul, mut s_kadikoy) = (app.socket(&istanbul).await, app.socket(&kadikoy).await);
    let near = text().nearby(true);
    let (a, b) = tokio::join!(Chat::find_with(&mut s_istanbul, &near), Chat::find_with(&mut s_kadikoy, &near));
    let (a, b) = (a.expect("istanbul is paired"), b.expect("kadikoy is paired"));
    assert_eq!((a.info.peer, b.info.peer), (kadikoy.handle, istanbul.handle));
}

async fn a_region_that_cannot_be_asked_is_refused_and_nothing_is_queued(backend: Backend) {
    let app = spawn_app(backend).await;
    let picky = premium(&app, "secici").await;
    for radius in [0, 20_001] {
        let mut socket = find(&app, &picky, text().region(Region::RadiusKm(radius))).await;
        let (code, message) = refused(&mut socket).await;
        assert_eq!(code, ErrorCode::InvalidField, "{radius} km");
        assert!(message.contains("radius_km"), "{message}");
    }
    let mut socket = find(&app, &picky, text().region(Region::RadiusKm(50))).await;
    assert_eq!(refused(&mut socket).await.0, ErrorCode::LocationRequired, "no location stored");

    // With a location the same find waits; the whole planet is a radius too.
    place(&app, &picky, ISTANBUL).await;
    let mut socket = queued(&app, &picky, text().region(Region::RadiusKm(20_000))).await;
    still_waiting(&mut socket).await;
}

async fn an_account_made_before_countries_were_kept_learns_its_own_at_sign_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let (old, picky) = (premium(&app, "eskihesap").await, premium(&app, "secici").await);
    let german = app.user_with_phone(&german_phone(3), "almanca").await;
    assert_eq!(export(&app, &german).await["profile"]["country"], "DE", "taken at registration");
    // As migration 0021 leaves an account made before it: no country (phones are sealed: no SQL can fill it).
    app.execute(format!("UPDATE users SET country = '' WHERE id = {}", old.id)).await;
    assert_eq!(export(&app, &old).await["profile"]["country"], Value::Null);

    // Matching caches the old account's standing beside this socket, without a country; a premium user restricted
    // to their country does not take someone whose country is not known.
    let mut s_old = queued(&app, &old, text()).await;
    let mut s_picky = queued(&app, &picky, text().region(Region::Country)).await;
    still_waiting(&mut s_old).await;
    // Nor may the old account ask for its own country yet.
    let mut socket = find(&app, &old, text().region(Region::Country)).await;
    let (code, message) = refused(&mut socket).await;
    assert_eq!(code, ErrorCode::InvalidField);
    assert!(message.contains("sign in"), "{message}");

    // Signing in with its phone gives it the country, and the standing cached without it is dropped: the same
    // socket's plain find now reaches the premium waiter.
    assert_eq!(app.login(&old.phone, PASSWORD).await.status(), StatusCode::OK);
    s_old.send(&text().frame(Some("again".into()), Identity::generate().public_key_b64())).await.unwrap();
    assert_eq!(found(&mut s_old).await.peer, picky.handle);
    assert_eq!(found(&mut s_picky).await.peer, old.handle);
    assert_eq!(export(&app, &old).await["profile"]["country"], "TR", "learnt from the phone signed in with");
}

async fn a_phone_change_moves_the_country_with_the_number(backend: Backend) {
    let (app, twilio) = crate::twilio::spawn_with_sms(backend, |_| {}).await;
    let (mover, picky) = (app.user("gocmen").await, premium(&app, "secici").await);
    // Matching caches the Turkish account's standing beside this socket.
    let mut s_mover = queued(&app, &mover, text()).await;
    still_waiting(&mut s_mover).await;
    let mut s_picky = queued(&app, &picky, text().region(Region::Country)).await;

    let new = german_phone(5);
    let body = json!({ "phone": new, "password": PASSWORD });
    let asked = app.post("/v1/me/phone/change").bearer_auth(app.access_token(&mover).await).json(&body).send().await;
    assert_eq!(asked.unwrap().status(), StatusCode::ACCEPTED);
    let code = json!({ "code": twilio.code_to(&new) });
    let confirmed =
        app.post("/v1/me/phone/change/verify").bearer_auth(app.access_token(&mover).await).json(&code).send();
    assert_eq!(confirmed.await.unwrap().status(), StatusCode::OK);

    // Now German: the same socket's find is not given to the premium waiter restricted to Turkey.
    s_mover.send(&text().frame(Some("again".into()), Identity::generate().public_key_b64())).await.unwrap();
    assert!(matches!(s_mover.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    still_waiting(&mut s_mover).await;
    still_waiting(&mut s_picky).await;
    assert_eq!(export(&app, &mover).await["profile"]["country"], "DE");
}

async fn export(app: &TestApp, user: &TestUser) -> Value {
    // One export per minute per user: the test clock moves past the cooldown first.
    app.clock.advance(TimeDelta::minutes(2));
    let access = app.access_token(user).await;
    let (status, export) = app.get_json("/v1/me/export", &access).await;
    assert_eq!(status, StatusCode::OK);
    export
}

/// The restriction through the elected cluster matchmaker: the seekers' countries travel in their queue entries in
/// Redis, whichever node they asked from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_nodes_the_elected_matchmaker_keeps_a_country_restriction() {
    // Every seeker to the elected matchmaker at once: node 1 would otherwise pair its own two seekers, the German
    // one and the newcomer, before the picky one on node 0 is handed over (tests/api/cluster_matching.rs).
    let nodes = crate::helpers::spawn_cluster_with(2, |c| c.cluster.local_pairing_ms = 0).await;
    let picky = premium(&nodes[0], "secici").await;
    let german = nodes[1].user_with_phone(&german_phone(4), "almanca").await;
    let turkish = nodes[1].user("turkce").await;

    let mut s_picky = queued(&nodes[0], &picky, text().region(Region::Country)).await;
    let mut s_german = queued(&nodes[1], &german, text()).await;
    let mut s_turkish = find(&nodes[1], &turkish, text()).await;
    assert_eq!(found(&mut s_turkish).await.peer, picky.handle);
    assert_eq!(found(&mut s_picky).await.peer, turkish.handle);
    still_waiting(&mut s_german).await;
}
