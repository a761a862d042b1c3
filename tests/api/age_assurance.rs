//! Age assurance as a seam (issue 64 point 5): a server that asks an assured age for video, for a gender filter or
//! for everything refuses those finds with `age_assurance_required` until the provider (Yoti's API, played by a
//! local stand-in that checks every request: tests/api/yoti.rs) found the user at or over the threshold; what is
//! kept is the provider's answer and its reference, shown to the user and in their export, and nothing is stored
//! when the provider fails.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::Value;
use tanis_client::{Connection, Find};
use tanis_proto::{ErrorCode, Gender, MatchKind, PreferenceMode, Seeking, ServerFrame};

use crate::helpers::{Backend, TestApp, TestUser, spawn_app, spawn_app_with};
use crate::interests::found;
use crate::on_both_stores;
use crate::region::{find, premium};
use crate::yoti::{Answer, RETURN_URL, SDK_ID, Yoti};
use tanis::domain::RequiredFor;

on_both_stores!(
    a_video_find_is_refused_until_the_provider_assures_the_age_and_admitted_after,
    a_gender_filter_or_every_find_needs_the_assurance_as_the_server_says,
    a_provider_that_fails_or_refuses_leaves_nothing_stored,
    starts_are_limited_per_day_and_an_assured_user_is_not_sent_again,
    every_call_to_the_provider_counts_toward_the_days_limits_a_failed_one_too,
    the_export_holds_the_providers_answer_and_nothing_more,
);

async fn app_asking(backend: Backend, required_for: RequiredFor) -> (TestApp, Yoti) {
    let yoti = Yoti::start().await;
    let config = yoti.config(required_for);
    let app = spawn_app_with(backend, move |c| c.age_assurance = config).await;
    (app, yoti)
}

async fn start(app: &TestApp, user: &TestUser) -> reqwest::Response {
    app.client.post(app.url("/v1/me/age-assurance")).bearer_auth(&user.access).send().await.unwrap()
}

/// Starts a session; the provider's reference.
async fn started(app: &TestApp, user: &TestUser) -> String {
    let response = start(app, user).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{}", response.text().await.unwrap());
    let body: Value = response.json().await.unwrap();
    body["reference"].as_str().unwrap().to_owned()
}

async fn check(app: &TestApp, user: &TestUser) -> reqwest::Response {
    app.client.post(app.url("/v1/me/age-assurance/check")).bearer_auth(&user.access).send().await.unwrap()
}

/// Checks; the view answered.
async fn checked(app: &TestApp, user: &TestUser) -> Value {
    let response = check(app, user).await;
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    (status, body["error"]["code"].as_str().unwrap().to_owned())
}

async fn age_of(app: &TestApp, user: &TestUser) -> Value {
    let me: Value = app.get_me(&user.access).await.json().await.unwrap();
    me["age_assurance"].clone()
}

async fn export(app: &TestApp, user: &TestUser) -> Value {
    let response = app.client.get(app.url("/v1/me/export")).bearer_auth(&user.access).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

fn video() -> Find {
    Find::new(MatchKind::Video)
}

fn text() -> Find {
    Find::new(MatchKind::Text)
}

fn seeking_women() -> Find {
    text().seeking(Seeking { genders: vec![Gender::Woman], mode: PreferenceMode::Only })
}

/// Sends `find` on `socket`.
async fn send(socket: &mut Connection, find: Find) {
    let key = tanis_client::Identity::generate().public_key_b64();
    socket.send(&find.frame(Some("f".into()), key)).await.unwrap();
}

/// The next frame is the error refusing a find, and nothing was queued; its code.
async fn refused(socket: &mut Connection) -> ErrorCode {
    let answer = socket.next().await.unwrap();
    let ServerFrame::Error { code, .. } = answer else { panic!("an error, not {answer:?}") };
    socket.send(&tanis_proto::ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    let cancel = socket.next().await.unwrap();
    assert!(matches!(cancel, ServerFrame::Error { code: ErrorCode::NotQueued, .. }), "nothing queued: {cancel:?}");
    code
}

async fn a_video_find_is_refused_until_the_provider_assures_the_age_and_admitted_after(backend: Backend) {
    let (app, yoti) = app_asking(backend, RequiredFor::Video).await;
    let (ayla, deniz) = (app.user("ayla").await, app.user("deniz").await);
    let before = age_of(&app, &ayla).await;
    assert_eq!(before["required_for"], "video");
    assert_eq!((before["offered"].clone(), before["assured"].clone()), (Value::Bool(true), Value::Bool(false)));
    assert_eq!(before["latest"], Value::Null);

    // Refused for video, on a socket that stays open through the assurance; text is not asked for.
    let mut socket = app.socket(&ayla).await;
    send(&mut socket, video()).await;
    assert_eq!(refused(&mut socket).await, ErrorCode::AgeAssuranceRequired);
    send(&mut socket, text()).await;
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }), "a text find waits");
    socket.send(&tanis_proto::ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchCancelled { .. }));

    // The client opens the provider's page with the session the server started.
    let response = start(&app, &ayla).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    let reference = body["reference"].as_str().unwrap().to_owned();
    assert_eq!(yoti.created(), [reference.as_str()]);
    assert_eq!(body["url"], format!("{}?sessionId={reference}&sdkId={SDK_ID}", yoti.base_url));
    assert_eq!(body["status"], "pending");
    // Back before finishing there: still pending, still refused.
    let waiting = checked(&app, &ayla).await;
    assert_eq!(
        (waiting["assured"].clone(), waiting["latest"]["status"].clone()),
        (Value::Bool(false), "pending".into())
    );
    send(&mut socket, video()).await;
    assert_eq!(refused(&mut socket).await, ErrorCode::AgeAssuranceRequired);

    // The provider found her at or over 18 from a document: assured, and the same socket's video find waits.
    yoti.finish(&reference, "COMPLETE", Some(18), Some("DOC_SCAN"));
    let assured = checked(&app, &ayla).await;
    assert_eq!(assured["assured"], true);
    let latest = &assured["latest"];
    assert_eq!((latest["status"].clone(), latest["method"].clone()), ("assured".into(), "doc_scan".into()));
    assert_eq!((latest["over_threshold"].clone(), latest["threshold"].clone()), (Value::Bool(true), 18.into()));
    assert_eq!(latest["reference"], reference.as_str());
    assert!(latest["decided_at"].is_string(), "{latest}");
    assert_eq!(age_of(&app, &ayla).await, assured, "GET /v1/me shows the same");
    let reads = yoti.reads();
    assert_eq!(checked(&app, &ayla).await, assured, "a decided session is answered as kept");
    assert_eq!(yoti.reads(), reads, "…without asking the provider again");
    send(&mut socket, video()).await;
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }), "assured: her video find waits");

    // A partner must be assured too: refused, then assured by estimation, then paired with her.
    let mut s_deniz = find(&app, &deniz, video()).await;
    assert_eq!(refused(&mut s_deniz).await, ErrorCode::AgeAssuranceRequired);
    let his = started(&app, &deniz).await;
    yoti.finish(&his, "COMPLETE", Some(25), Some("AGE_ESTIMATION"));
    assert_eq!(checked(&app, &deniz).await["latest"]["method"], "age_estimation");
    send(&mut s_deniz, video()).await;
    assert_eq!(found(&mut s_deniz).await.peer, ayla.handle);
    assert_eq!(found(&mut socket).await.peer, deniz.handle);
}

async fn a_gender_filter_or_every_find_needs_the_assurance_as_the_server_says(backend: Backend) {
    let (app, yoti) = app_asking(backend, RequiredFor::GenderFilter).await;
    let selin = premium(&app, "selin").await;
    let mut socket = find(&app, &selin, seeking_women()).await;
    assert_eq!(refused(&mut socket).await, ErrorCode::AgeAssuranceRequired);
    send(&mut socket, video()).await;
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }), "a plain find is not asked");
    socket.send(&tanis_proto::ClientFrame::MatchCancel { id: Some("c".into()) }).await.unwrap();
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchCancelled { .. }));
    let reference = started(&app, &selin).await;
    yoti.finish(&reference, "COMPLETE", Some(18), Some("DIGITAL_ID"));
    assert_eq!(checked(&app, &selin).await["assured"], true);
    send(&mut socket, seeking_women()).await;
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }), "assured: her filter waits");
    drop(socket);

    let (everything, yoti) = app_asking(backend, RequiredFor::Everything).await;
    let kaan = everything.user("kaan").await;
    let mut socket = find(&everything, &kaan, text()).await;
    assert_eq!(refused(&mut socket).await, ErrorCode::AgeAssuranceRequired);
    let reference = started(&everything, &kaan).await;
    // Under the threshold: refused by the provider, and by matching still.
    yoti.finish(&reference, "FAIL", None, Some("AGE_ESTIMATION"));
    let under = checked(&everything, &kaan).await;
    assert_eq!((under["assured"].clone(), under["latest"]["status"].clone()), (Value::Bool(false), "refused".into()));
    assert_eq!(under["latest"]["over_threshold"], false);
    send(&mut socket, text()).await;
    assert_eq!(refused(&mut socket).await, ErrorCode::AgeAssuranceRequired);

    // A server that asks nothing refuses nothing, and offers nothing without a provider.
    let plain = spawn_app(backend).await;
    let ece = plain.user("ece").await;
    let mut socket = find(&plain, &ece, video()).await;
    assert!(matches!(socket.next().await.unwrap(), ServerFrame::MatchQueued { .. }));
    let view = age_of(&plain, &ece).await;
    assert_eq!((view["required_for"].clone(), view["offered"].clone()), ("none".into(), Value::Bool(false)));
    let not_offered = (StatusCode::NOT_FOUND, "age_assurance_not_offered".to_owned());
    assert_eq!(error_code(start(&plain, &ece).await).await, not_offered);
    assert_eq!(error_code(check(&plain, &ece).await).await, not_offered);
}

async fn a_provider_that_fails_or_refuses_leaves_nothing_stored(backend: Backend) {
    let (app, yoti) = app_asking(backend, RequiredFor::Video).await;
    let mert = app.user("mert").await;
    let unavailable = (StatusCode::SERVICE_UNAVAILABLE, "age_assurance_unavailable".to_owned());
    assert_eq!(error_code(check(&app, &mert).await).await, (StatusCode::NOT_FOUND, "not_found".into()), "none yet");

    yoti.answer_creations(&[Answer::Status(503), Answer::Status(403), Answer::Garbage]);
    for _ in 0..3 {
        assert_eq!(error_code(start(&app, &mert).await).await, unavailable);
    }
    assert_eq!(age_of(&app, &mert).await["latest"], Value::Null, "no session stored");
    assert_eq!(export(&app, &mert).await["age_assurances"], serde_json::json!([]));

    let reference = started(&app, &mert).await;
    yoti.finish(&reference, "COMPLETE", Some(18), Some("DOC_SCAN"));
    yoti.answer_reads(&[Answer::Status(500), Answer::Garbage]);
    for _ in 0..2 {
        assert_eq!(error_code(check(&app, &mert).await).await, unavailable);
    }
    let latest = age_of(&app, &mert).await["latest"].clone();
    assert_eq!((latest["status"].clone(), latest["decided_at"].clone()), ("pending".into(), Value::Null));
    let mut socket = find(&app, &mert, video()).await;
    assert_eq!(refused(&mut socket).await, ErrorCode::AgeAssuranceRequired, "no result, no assurance");
    assert_eq!(checked(&app, &mert).await["assured"], true, "the provider back, the result is read");

    // A session the user never finished runs out: expired, and a new one may be started.
    let ela = app.user("ela").await;
    let stale = started(&app, &ela).await;
    yoti.runs_out(&stale, "2026-11-21T09:00:00Z");
    assert_eq!(checked(&app, &ela).await["latest"]["status"], "expired");
    let again = started(&app, &ela).await;
    assert_ne!(again, stale);
    assert_eq!(yoti.created().len(), 3, "mert's one, ela's two");
}

async fn starts_are_limited_per_day_and_an_assured_user_is_not_sent_again(backend: Backend) {
    let yoti = Yoti::start().await;
    let config = tanis::config::AgeAssuranceConfig { max_starts_per_day: 2, ..yoti.config(RequiredFor::Everything) };
    let app = spawn_app_with(backend, move |c| c.age_assurance = config).await;
    let mut nur = app.user("nur").await;
    started(&app, &nur).await;
    app.clock.advance(TimeDelta::hours(1));
    nur.access = app.sign_in(&nur).await;
    started(&app, &nur).await;
    let limited = start(&app, &nur).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: i64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(retry, 23 * 3600, "a day after the first of the two");
    assert_eq!(error_code(limited).await.1, "rate_limited");
    assert_eq!(yoti.created().len(), 2, "the provider was not asked a third time");

    app.clock.advance(TimeDelta::hours(23));
    nur.access = app.sign_in(&nur).await;
    let third = started(&app, &nur).await;
    yoti.finish(&third, "COMPLETE", Some(18), Some("DOC_SCAN"));
    assert_eq!(checked(&app, &nur).await["assured"], true);
    app.clock.advance(TimeDelta::days(2));
    nur.access = app.sign_in(&nur).await;
    let again = error_code(start(&app, &nur).await).await;
    assert_eq!(again, (StatusCode::CONFLICT, "age_already_assured".into()));
    assert_eq!(yoti.created().len(), 3);
}

/// Each call to the provider is made under the operator's key, so each counts toward the day's limits, answered or
/// not (issue 77 point 6: failed starts were not counted and checks were not limited): a start the provider failed,
/// and every read of a pending session's result. A check of a session decided already asks the provider nothing.
async fn every_call_to_the_provider_counts_toward_the_days_limits_a_failed_one_too(backend: Backend) {
    let yoti = Yoti::start().await;
    let config = tanis::config::AgeAssuranceConfig {
        max_starts_per_day: 2,
        max_checks_per_day: 3,
        ..yoti.config(RequiredFor::Video)
    };
    let app = spawn_app_with(backend, move |c| c.age_assurance = config).await;
    let mut nur = app.user("nur").await;
    let unavailable = (StatusCode::SERVICE_UNAVAILABLE, "age_assurance_unavailable".to_owned());

    yoti.answer_creations(&[Answer::Status(503)]);
    assert_eq!(error_code(start(&app, &nur).await).await, unavailable);
    let session = started(&app, &nur).await;
    let limited = start(&app, &nur).await;
    assert_eq!(limited.headers()["retry-after"], "86400", "a day after the failed start");
    assert_eq!(error_code(limited).await, (StatusCode::TOO_MANY_REQUESTS, "rate_limited".into()));
    assert_eq!(yoti.requests(), (2, 0), "the third start never reached the provider");

    yoti.answer_reads(&[Answer::Status(500)]);
    assert_eq!(error_code(check(&app, &nur).await).await, unavailable);
    for _ in 0..2 {
        assert_eq!(checked(&app, &nur).await["latest"]["status"], "pending");
    }
    let limited = check(&app, &nur).await;
    assert_eq!(limited.headers()["retry-after"], "86400", "a day after the failed read");
    assert_eq!(error_code(limited).await, (StatusCode::TOO_MANY_REQUESTS, "rate_limited".into()));
    assert_eq!(yoti.requests(), (2, 3), "the fourth check never reached the provider");

    // A day on, the user may check again; once the session is decided, checking asks the provider nothing.
    app.clock.advance(TimeDelta::days(1));
    nur.access = app.sign_in(&nur).await;
    yoti.finish(&session, "COMPLETE", Some(18), Some("DOC_SCAN"));
    assert_eq!(checked(&app, &nur).await["assured"], true);
    for _ in 0..4 {
        assert_eq!(checked(&app, &nur).await["latest"]["status"], "assured");
    }
    assert_eq!(yoti.requests(), (2, 4));
}

async fn the_export_holds_the_providers_answer_and_nothing_more(backend: Backend) {
    let (app, yoti) = app_asking(backend, RequiredFor::Video).await;
    let can = app.user("can").await;
    let cancelled = started(&app, &can).await;
    yoti.finish(&cancelled, "CANCELLED", None, None);
    assert_eq!(checked(&app, &can).await["latest"]["status"], "cancelled");
    let reference = started(&app, &can).await;
    yoti.finish(&reference, "COMPLETE", Some(25), Some("AGE_ESTIMATION"));
    checked(&app, &can).await;
    app.clock.advance(TimeDelta::minutes(2));

    let exported = export(&app, &can).await;
    let sessions = exported["age_assurances"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let newest = sessions[0].as_object().unwrap();
    let mut fields: Vec<&str> = newest.keys().map(String::as_str).collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            "created_at",
            "decided_at",
            "expires_at",
            "method",
            "over_threshold",
            "provider",
            "reference",
            "status",
            "threshold"
        ]
    );
    assert_eq!(
        (newest["provider"].clone(), newest["reference"].clone(), newest["status"].clone()),
        ("yoti".into(), reference.as_str().into(), "assured".into())
    );
    assert_eq!((newest["threshold"].clone(), newest["method"].clone()), (18.into(), "age_estimation".into()));
    assert_eq!(
        (sessions[1]["status"].clone(), sessions[1]["reference"].clone()),
        ("cancelled".into(), cancelled.into())
    );
    // Nothing else the provider said is kept: not its evidence id, not where it sent her.
    let text = exported.to_string();
    for kept_by_the_provider_only in ["evidence-5b1d-only-at-yoti", RETURN_URL, "biometric"] {
        assert!(!text.contains(kept_by_the_provider_only), "the export holds {kept_by_the_provider_only}");
    }
}
