//! Promises of docs/admin.md, docs/privacy.md and docs/operations.md about accounts that no other test covered:
//! the billing webhook's refusals (a signature from the future, no signature header, no secret configured), a
//! phone in its deletion grace period, a consent accepted twice, and the SMS provider's timeout and redirects.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis::billing::sign;
use tanis::domain::UserId;
use tanis_workers::schedule::Job;

use crate::deletion::{account, delete_me, deleted};
use crate::helpers::{
    BILLING_SECRET, Backend, PASSWORD, TestApp, assert_error, registration, spawn_app, spawn_app_with,
};
use crate::on_both_stores;
use crate::phone_codes::{self, request_verification, verify};
use crate::twilio::spawn_with_sms;

on_both_stores!(
    a_billing_event_signed_in_the_future_or_without_the_header_is_refused_and_changes_nothing,
    the_billing_webhook_without_a_configured_secret_is_unavailable,
    registering_a_phone_in_its_deletion_grace_period_is_phone_taken_until_the_purge,
    accepting_the_same_notice_version_again_keeps_the_first_acceptance_time,
    an_sms_provider_that_never_answers_fails_within_the_timeout,
    an_sms_providers_redirect_is_not_followed,
);

/// Posts `body` to the webhook with this `Tanis-Signature` header (none when `None`).
async fn post_event(app: &TestApp, body: &str, signature: Option<String>) -> reqwest::Response {
    let mut request = app.post("/v1/billing/events").header("content-type", "application/json").body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("tanis-signature", signature);
    }
    request.send().await.unwrap()
}

fn started(id: &str, user_id: UserId, app: &TestApp) -> String {
    let ends_at = app.now() + TimeDelta::days(30);
    json!({ "id": id, "type": "subscription.started", "user_id": user_id, "plan": "premium_monthly", "ends_at": ends_at })
        .to_string()
}

async fn a_billing_event_signed_in_the_future_or_without_the_header_is_refused_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("gelecek").await;
    let window = app.config.billing.replay_window_secs as i64;
    let now = app.now().timestamp();
    let sign_at = |t: i64, body: &str| Some(sign(BILLING_SECRET.as_bytes(), t, body.as_bytes()));

    // "More than replay_window_secs from now either way": a provider clock a second too far ahead is refused.
    let ahead = started("evt_future", user.id, &app);
    let refused = post_event(&app, &ahead, sign_at(now + window + 1, &ahead)).await;
    assert_error(refused, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    let unsigned = started("evt_unsigned", user.id, &app);
    assert_error(post_event(&app, &unsigned, None).await, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM billing_events").await, 0, "a refused event is not remembered");
    assert_eq!(app.count("SELECT COUNT(*) FROM subscriptions").await, 0);

    // Within the window, ahead by exactly its width, the same event is applied: the bound is the window.
    let applied = post_event(&app, &ahead, sign_at(now + window, &ahead)).await;
    assert_eq!(applied.status(), StatusCode::OK);
    assert_eq!(app.count("SELECT COUNT(*) FROM subscriptions").await, 1);
}

async fn the_billing_webhook_without_a_configured_secret_is_unavailable(backend: Backend) {
    let app = spawn_app_with(backend, |c| c.billing.webhook_secret = None).await;
    let user = app.user("sirsiz").await;
    let body = started("evt_nosecret", user.id, &app);
    // Signed with what would have been the secret, and unsigned: neither is read.
    let signed = Some(sign(BILLING_SECRET.as_bytes(), app.now().timestamp(), body.as_bytes()));
    for signature in [signed, None] {
        let refused = post_event(&app, &body, signature).await;
        assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM subscriptions").await, 0);
    let me: Value = app.get_me(&user.access).await.json().await.unwrap();
    assert_eq!(me["is_premium"], false);
}

async fn registering_a_phone_in_its_deletion_grace_period_is_phone_taken_until_the_purge(backend: Backend) {
    let app = spawn_app(backend).await;
    let owner = account(&app, "vazgecen").await;
    let purge_after = deleted(delete_me(&app, &owner.user.access, PASSWORD).await).await;
    let users = app.count("SELECT COUNT(*) FROM users").await;

    // The last minute of the grace period, in the number's international and national forms.
    app.clock.set(purge_after - TimeDelta::minutes(1));
    for form in [owner.phone.clone(), format!("0{}", &owner.phone[3..])] {
        let taken = app.register_body(&registration(&form, "yeni_sahip")).await;
        assert_error(taken, StatusCode::CONFLICT, "phone_taken").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, users, "nothing stored");
    let pending =
        app.count(format!("SELECT COUNT(*) FROM users WHERE id = {} AND deleted_at IS NOT NULL", owner.user.id));
    assert_eq!(pending.await, 1, "a refused registration neither undoes nor hurries the deletion");

    // Once purged, the number is free.
    app.clock.set(purge_after + TimeDelta::minutes(1));
    app.run_job(Job::Purge).await.unwrap();
    let registered = app.register_body(&registration(&owner.phone, "yeni_sahip")).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
}

/// `user`'s accepted notice versions with their times, as their data export shows them.
async fn consents(app: &TestApp, access: &str) -> Vec<(String, String)> {
    let (_, export) = app.get_json("/v1/me/export", access).await;
    let profile_time = export["profile"]["privacy_consent_at"].as_str().unwrap().to_owned();
    let listed: Vec<(String, String)> = export["consents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["version"].as_str().unwrap().to_owned(), c["accepted_at"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(listed.last().map(|c| &c.1), Some(&profile_time), "the profile names the latest acceptance");
    listed
}

async fn accept(app: &TestApp, access: &str, version: &str) {
    let response = app.post("/v1/me/consent").bearer_auth(access).json(&json!({ "version": version })).send().await;
    let response = response.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
}

async fn accepting_the_same_notice_version_again_keeps_the_first_acceptance_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("onayci").await;
    let current = app.config.auth.privacy_notice_version.clone();
    let at_registration = consents(&app, &user.access).await;
    assert_eq!(at_registration.len(), 1);

    // Registration accepted it; accepting it again a day later changes nothing.
    app.clock.advance(TimeDelta::days(1));
    accept(&app, &app.access_token(&user).await, &current).await;
    // One export a minute.
    app.clock.advance(TimeDelta::minutes(1));
    assert_eq!(consents(&app, &app.access_token(&user).await).await, at_registration);

    // A new notice is published (a restart with the new version) and accepted twice: its first time stays.
    app.stop().await;
    let republished = restarted(&app, "2027-01-01").await;
    republished.clock.set(app.now() + TimeDelta::days(2));
    accept(&republished, &republished.access_token(&user).await, "2027-01-01").await;
    let first = consents(&republished, &republished.access_token(&user).await).await;
    republished.clock.advance(TimeDelta::days(1));
    accept(&republished, &republished.access_token(&user).await, "2027-01-01").await;
    republished.clock.advance(TimeDelta::minutes(1));
    let again = consents(&republished, &republished.access_token(&user).await).await;
    assert_eq!(again, first);
    assert_eq!(again.len(), 2, "both versions, each with its own time: {again:?}");
    assert_eq!(again[0], at_registration[0]);
}

/// The server of `app` started again on the same database and data directory (its keys), now publishing
/// privacy notice `version`.
async fn restarted(app: &TestApp, version: &str) -> TestApp {
    let (url, data_dir) = (app.database_url.clone(), app.config.data_dir.clone());
    let mut again = spawn_app_with(app.backend, |c| {
        c.database_url = Some(url.clone());
        c.data_dir = data_dir;
        c.auth.privacy_notice_version = version.to_owned();
    })
    .await;
    again.database_url = url;
    again
}

async fn an_sms_provider_that_never_answers_fails_within_the_timeout(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |c| c.sms.timeout_ms = 300).await;
    // Without the timeout these would wait for ever: bounded here, far above 300 ms, so the test fails instead.
    // The registration's code and the next one are taken and never answered.
    twilio.stall_next(2);
    let user = tokio::time::timeout(GIVE_UP, phone_codes::account(&app, "sabirli")).await;
    let user = user.expect("registration waits for the provider for ever");
    assert_eq!(twilio.sent_to(&user.phone), 1, "registration tried");

    let failed = tokio::time::timeout(GIVE_UP, request_verification(&app, &user.access)).await;
    let failed = failed.expect("the code request waits for the provider for ever");
    assert_error(failed, StatusCode::SERVICE_UNAVAILABLE, "sms_unavailable").await;
    assert_eq!(twilio.sent_to(&user.phone), 2);
    // The provider may still deliver it late: that code must never work.
    let unanswered = twilio.code_to(&user.phone);
    assert_error(verify(&app, &user.access, &unanswered).await, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;

    // A failed send holds no request off: the next one goes out at once and works.
    assert_eq!(request_verification(&app, &user.access).await.status(), StatusCode::ACCEPTED);
    assert_eq!(verify(&app, &user.access, &twilio.code_to(&user.phone)).await.status(), StatusCode::OK);
}

/// A failure bound for a request that should end with the provider's timeout.
const GIVE_UP: std::time::Duration = std::time::Duration::from_secs(20);

async fn an_sms_providers_redirect_is_not_followed(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    twilio.redirect_next(2);
    let user = phone_codes::account(&app, "yonlenmeyen").await;

    // The redirect's target would have answered 201: following it would have looked like a success.
    let failed = request_verification(&app, &user.access).await;
    assert_error(failed, StatusCode::SERVICE_UNAVAILABLE, "sms_unavailable").await;
    assert_eq!(twilio.redirects_followed(), 0, "the provider's credentials never went elsewhere");
    let unsent = twilio.code_to(&user.phone);
    assert_error(verify(&app, &user.access, &unsent).await, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;
}
