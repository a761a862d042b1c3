//! Promises of docs/operations.md (Push notifications) that no other test covered, against push.rs's local FCM
//! stand-in: `INVALID_ARGUMENT` removes the device, a push that keeps failing is dropped after its 8th try
//! with a `push.dropped` entry in the audit trail, and a device token registered by a second account moves to it
//! without what was waiting for the first. Pushes are caused the way the product causes them: a ban by a
//! moderator notifies the user on every device.

use std::time::Duration;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, TestApp, TestUser, eventually};
use crate::on_both_stores;
use crate::push::{Shared, outbox, register_device, spawn};

on_both_stores!(
    an_invalid_argument_from_fcm_removes_the_device_and_its_pushes,
    a_push_failing_its_eighth_try_is_dropped_with_an_audit_entry,
    a_device_token_registered_by_another_account_moves_and_takes_nothing_of_the_first_with_it,
);

fn fcm_error(status: u16, code: &str) -> (u16, Option<u64>, Value) {
    let body = json!({ "error": { "code": status, "status": code, "details": [
        { "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code } ] } });
    (status, None, body)
}

async fn devices(app: &TestApp, user: &TestUser) -> i64 {
    app.count(format!("SELECT COUNT(*) FROM devices WHERE user_id = {}", user.id)).await
}

fn sends(google: &Shared) -> usize {
    google.lock().unwrap().sends.len()
}

async fn an_invalid_argument_from_fcm_removes_the_device_and_its_pushes(backend: Backend) {
    let (app, google) = spawn(backend).await;
    let moderator = app.staff("bildirimci", "moderator").await;
    let user = app.user("gecersiz").await;
    assert_eq!(register_device(&app, &user, "tok-not-a-real-token", "tr").await.status(), StatusCode::NO_CONTENT);
    google.lock().unwrap().answers.push_back(fcm_error(400, "INVALID_ARGUMENT"));

    app.ban(&moderator, user.id, "spam").await;
    eventually(Duration::from_secs(10), "the ban is queued for the device", || async { outbox(&app).await == 1 }).await;
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(sends(&google), 1);
    assert_eq!(devices(&app, &user).await, 0, "INVALID_ARGUMENT removes the device");
    assert_eq!(outbox(&app).await, 0, "and nothing of it waits to be retried");

    // Later notifications find no device to push to.
    app.clock.advance(TimeDelta::hours(1));
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(sends(&google), 1);
}

async fn a_push_failing_its_eighth_try_is_dropped_with_an_audit_entry(backend: Backend) {
    const TRIES: usize = 8;
    let (app, google) = spawn(backend).await;
    let moderator = app.staff("israrci", "moderator").await;
    let user = app.user("ulasilamaz").await;
    assert_eq!(register_device(&app, &user, "tok-busy-device", "tr").await.status(), StatusCode::NO_CONTENT);
    google.lock().unwrap().answers.extend((0..TRIES + 1).map(|_| fcm_error(503, "UNAVAILABLE")));
    app.ban(&moderator, user.id, "spam").await;
    eventually(Duration::from_secs(10), "the ban is queued for the device", || async { outbox(&app).await == 1 }).await;

    // Each try after the longest backoff (an hour) has passed.
    for tried in 1..TRIES {
        app.run_job(Job::Push).await.unwrap();
        assert_eq!(sends(&google), tried);
        assert_eq!(outbox(&app).await, 1, "still waiting after {tried} tries");
        app.clock.advance(TimeDelta::hours(1));
    }
    assert_eq!(dropped(&app, &moderator).await, Vec::<Value>::new());
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(sends(&google), TRIES);
    assert_eq!(outbox(&app).await, 0, "dropped after the eighth try");
    assert_eq!(devices(&app, &user).await, 1, "a busy service is no reason to forget the device");
    let entries = dropped(&app, &moderator).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["details"]["attempts"], TRIES);

    app.clock.advance(TimeDelta::hours(1));
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(sends(&google), TRIES, "never tried again");
}

/// The `push.dropped` entries of the audit trail, as a moderator browses it.
async fn dropped(app: &TestApp, moderator: &TestUser) -> Vec<Value> {
    let (status, page) = app.get_json("/v1/admin/audit?action=push.dropped", &app.access_token(moderator).await).await;
    assert_eq!(status, StatusCode::OK);
    page["entries"].as_array().unwrap().clone()
}

async fn a_device_token_registered_by_another_account_moves_and_takes_nothing_of_the_first_with_it(backend: Backend) {
    let (app, google) = spawn(backend).await;
    let moderator = app.staff("devren", "moderator").await;
    let (first, second) = (app.user("ilksahip").await, app.user("yenisahip").await);
    const SHARED: &str = "tok-shared_1:phone";
    assert_eq!(register_device(&app, &first, SHARED, "tr").await.status(), StatusCode::NO_CONTENT);
    app.ban(&moderator, first.id, "spam").await;
    eventually(Duration::from_secs(10), "the ban is queued for the first account's device", || async {
        outbox(&app).await == 1
    })
    .await;

    // The phone is signed in as another account before the push job ran: the token is the second account's now.
    assert_eq!(register_device(&app, &second, SHARED, "en").await.status(), StatusCode::NO_CONTENT);
    assert_eq!((devices(&app, &first).await, devices(&app, &second).await), (0, 1));
    app.run_job(Job::Push).await.unwrap();
    assert_eq!(sends(&google), 0, "the first account's ban never reaches the second account's phone");
    assert_eq!(outbox(&app).await, 0);

    // The second account gets its own pushes there.
    app.ban(&moderator, second.id, "spam").await;
    eventually(Duration::from_secs(10), "the ban is queued for the second account's device", || async {
        outbox(&app).await == 1
    })
    .await;
    app.run_job(Job::Push).await.unwrap();
    let sent = google.lock().unwrap().sends.clone();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["message"]["token"], SHARED);
}
