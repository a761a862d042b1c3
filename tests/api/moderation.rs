//! Moderation as records: the report queue and its resolutions, bans with reason codes, notes and durations
//! (lifted by the job), what a banned user sees, and appeals.

use chrono::TimeDelta;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tanis_proto::{ReportReason, UserId};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, assert_error, new_phone, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    the_report_queue_orders_users_by_distinct_reporters_and_a_dismissed_report_stops_counting,
    a_temporary_ban_shows_its_code_and_end_to_the_user_and_the_job_lifts_it,
    an_appeal_is_filed_once_per_ban_while_banned_and_moderators_decide_it,
    bad_ban_requests_are_refused_and_store_nothing,
);

async fn call(
    app: &TestApp,
    method: Method,
    path: impl AsRef<str>,
    token: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path.as_ref())).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// `reporter` reports `reported` from a match they shared; the report's id.
async fn report(app: &TestApp, reporter: &TestUser, reported: &TestUser, reason: ReportReason) -> i64 {
    app.matched_and_reported(reporter, reported, reason).await;
    let (by, on) = (reporter.id, reported.id);
    app.count(format!("SELECT MAX(id) FROM reports WHERE reporter_id = {by} AND reported_id = {on}")).await
}

/// A user whose phone the test knows, for the endpoints a banned user reaches with their password.
async fn user_with_phone(app: &TestApp, alias: &str) -> (UserId, String) {
    let phone = new_phone();
    app.register(&phone, alias).await;
    (app.user_id(&phone).await, phone)
}

async fn ban_status(app: &TestApp, phone: &str) -> reqwest::Response {
    app.post_json("/v1/ban/status", &json!({ "phone": phone, "password": PASSWORD })).await
}

async fn login(app: &TestApp, phone: &str) -> reqwest::Response {
    app.post_json("/v1/auth/login", &json!({ "phone": phone, "password": PASSWORD })).await
}

async fn the_report_queue_orders_users_by_distinct_reporters_and_a_dismissed_report_stops_counting(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("bekci", "moderator").await;
    let (often, once) = (app.user("cokrapor").await, app.user("azrapor").await);
    let mut reports = Vec::new();
    for n in 0..3 {
        let reporter = app.user(&format!("rapor{n}")).await;
        reports.push(report(&app, &reporter, &often, ReportReason::Harassment).await);
        if n == 0 {
            report(&app, &reporter, &once, ReportReason::Spam).await;
        }
    }
    let queue: Value =
        call(&app, Method::GET, "/v1/admin/reports", &moderator.access, None).await.json().await.unwrap();
    let users = queue["users"].as_array().unwrap();
    let order: Vec<(i64, i64)> =
        users.iter().map(|u| (u["user_id"].as_i64().unwrap(), u["reporters"].as_i64().unwrap())).collect();
    assert_eq!(order, [(often.id.get(), 3), (once.id.get(), 1)], "most distinct reporters first");
    let first = &users[0]["reports"][0];
    assert_eq!((first["id"].as_i64(), first["reason"].as_str()), (Some(reports[0]), Some("harassment")));
    assert!(first["match_id"].as_i64().is_some(), "the match the report came from");
    assert!(first.get("ciphertext").is_none() && first.get("content").is_none());
    assert_eq!(app.store.users_over_report_threshold(3).await.unwrap(), [often.id]);

    // Resolving: bad inputs first, then a dismissal, which the automatic ban no longer counts.
    let path = format!("/v1/admin/reports/{}/resolve", reports[0]);
    for bad in [json!({"resolution": "ignored", "note": "x"}), json!({"resolution": "dismissed", "note": " "})] {
        let refused = call(&app, Method::POST, &path, &moderator.access, Some(bad)).await;
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    let body = json!({"resolution": "dismissed", "note": "ekran görüntüsü yok"});
    let resolved = call(&app, Method::POST, &path, &moderator.access, Some(body.clone())).await;
    assert_eq!(resolved.status(), StatusCode::NO_CONTENT);
    let again = call(&app, Method::POST, &path, &moderator.access, Some(body.clone())).await;
    assert_error(again, StatusCode::CONFLICT, "already_decided").await;
    let unknown = call(&app, Method::POST, "/v1/admin/reports/999999/resolve", &moderator.access, Some(body)).await;
    assert_error(unknown, StatusCode::NOT_FOUND, "not_found").await;
    assert!(app.store.users_over_report_threshold(3).await.unwrap().is_empty(), "a dismissed report stops counting");
    let queue: Value =
        call(&app, Method::GET, "/v1/admin/reports", &moderator.access, None).await.json().await.unwrap();
    assert_eq!(queue["users"][0]["reporters"], 2);
    assert_eq!(queue["users"][0]["reports"].as_array().unwrap().len(), 2, "the resolved report left the queue");
    let audited = app
        .count(format!(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'report.resolved' AND actor_id = {} AND user_id = {}",
            moderator.id, often.id
        ))
        .await;
    assert_eq!(audited, 1);

    // Paging: one user per page.
    let page: Value = call(&app, Method::GET, "/v1/admin/reports?limit=1&offset=1", &moderator.access, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["users"][0]["user_id"], once.id.get());
    let bad = call(&app, Method::GET, "/v1/admin/reports?limit=0", &moderator.access, None).await;
    assert_error(bad, StatusCode::BAD_REQUEST, "invalid_parameter").await;
}

async fn a_temporary_ban_shows_its_code_and_end_to_the_user_and_the_job_lifts_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("bekci", "moderator").await;
    let (id, phone) = user_with_phone(&app, "gecici").await;
    let body = json!({ "reason": "harassment", "note": "üç ayrı şikâyet, aynı gün", "duration_hours": 24 });
    let banned = call(&app, Method::POST, format!("/v1/admin/users/{id}/ban"), &moderator.access, Some(body)).await;
    assert_eq!(banned.status(), StatusCode::NO_CONTENT);
    let ends_at = app.now() + TimeDelta::hours(24);

    let message = assert_error(login(&app, &phone).await, StatusCode::FORBIDDEN, "account_banned").await;
    assert!(message.contains("harassment") && message.contains(&ends_at.to_rfc3339()), "{message}");
    let status: Value = ban_status(&app, &phone).await.json().await.unwrap();
    assert_eq!(status["reason_code"], "harassment");
    assert_eq!(status["ends_at"].as_str().map(|s| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap()), Some(ends_at));
    assert!(status.get("note").is_none(), "the moderator's note stays on the admin side");
    assert!(status["appeal"].is_null());

    // Not yet: a minute before the end the job leaves the ban alone.
    app.clock.advance(TimeDelta::hours(24) - TimeDelta::minutes(1));
    app.run_job(Job::AutoBan).await.unwrap();
    assert_error(login(&app, &phone).await, StatusCode::FORBIDDEN, "account_banned").await;
    app.clock.advance(TimeDelta::minutes(1));
    app.run_job(Job::AutoBan).await.unwrap();
    assert_eq!(login(&app, &phone).await.status(), StatusCode::OK, "the ban ended by itself");
    let lifted = app.count(format!("SELECT COUNT(*) FROM bans WHERE user_id = {id} AND lift_reason = 'expired'")).await;
    assert_eq!(lifted, 1);
    let told = app
        .count(format!("SELECT COUNT(*) FROM notifications WHERE user_id = {id} AND template = 'ban_expired'"))
        .await;
    assert_eq!(told, 1);
    let not_banned = ban_status(&app, &phone).await;
    assert_error(not_banned, StatusCode::CONFLICT, "not_banned").await;

    // The moderator's view keeps the history: reason, note, end and how it was lifted (a day later: a fresh token).
    let token = app.access_token(&moderator).await;
    let view: Value =
        call(&app, Method::GET, format!("/v1/admin/users/{id}"), &token, None).await.json().await.unwrap();
    let history = &view["bans"][0];
    assert_eq!(
        (history["reason_code"].as_str(), history["lift_reason"].as_str()),
        (Some("harassment"), Some("expired"))
    );
    assert_eq!(history["note"], "üç ayrı şikâyet, aynı gün");
    assert_eq!(history["banned_by"], moderator.id.get());
}

async fn an_appeal_is_filed_once_per_ban_while_banned_and_moderators_decide_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("bekci", "moderator").await;
    let (rejected_id, rejected_phone) = user_with_phone(&app, "itirazci").await;
    let (accepted_id, accepted_phone) = user_with_phone(&app, "hakli").await;
    let appeal = |phone: &str, text: &str| json!({ "phone": phone, "password": PASSWORD, "text": text });

    let not_banned = app.post_json("/v1/ban/appeal", &appeal(&rejected_phone, "neden?")).await;
    assert_error(not_banned, StatusCode::CONFLICT, "not_banned").await;
    for id in [rejected_id, accepted_id] {
        let body = Some(json!({ "reason": "spam" }));
        let banned = call(&app, Method::POST, format!("/v1/admin/users/{id}/ban"), &moderator.access, body).await;
        assert_eq!(banned.status(), StatusCode::NO_CONTENT);
    }
    let wrong = json!({ "phone": rejected_phone, "password": "yanlis-parola-1", "text": "x" });
    assert_error(app.post_json("/v1/ban/appeal", &wrong).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let empty = app.post_json("/v1/ban/appeal", &appeal(&rejected_phone, "  ")).await;
    assert_error(empty, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    for phone in [&rejected_phone, &accepted_phone] {
        let filed = app.post_json("/v1/ban/appeal", &appeal(phone, "reklam yapmadım")).await;
        assert_eq!(filed.status(), StatusCode::CREATED);
    }
    let twice = app.post_json("/v1/ban/appeal", &appeal(&rejected_phone, "lütfen")).await;
    assert_error(twice, StatusCode::CONFLICT, "appeal_exists").await;

    let pending: Value =
        call(&app, Method::GET, "/v1/admin/appeals", &moderator.access, None).await.json().await.unwrap();
    let pending = pending["appeals"].as_array().unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(
        (pending[0]["user_id"].as_i64(), pending[0]["text"].as_str()),
        (Some(rejected_id.get()), Some("reklam yapmadım"))
    );
    let (reject, accept) = (pending[0]["id"].as_i64().unwrap(), pending[1]["id"].as_i64().unwrap());

    let bad = json!({ "decision": "maybe", "note": "x" });
    let refused =
        call(&app, Method::POST, format!("/v1/admin/appeals/{reject}/decision"), &moderator.access, Some(bad)).await;
    assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let body = json!({ "decision": "reject", "note": "bağlantılar açıkça reklam" });
    let path = format!("/v1/admin/appeals/{reject}/decision");
    assert_eq!(
        call(&app, Method::POST, &path, &moderator.access, Some(body.clone())).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_error(
        call(&app, Method::POST, &path, &moderator.access, Some(body)).await,
        StatusCode::CONFLICT,
        "already_decided",
    )
    .await;
    let status: Value = ban_status(&app, &rejected_phone).await.json().await.unwrap();
    assert_eq!(
        (status["appeal"]["status"].as_str(), status["appeal"]["decision_note"].as_str()),
        (Some("rejected"), Some("bağlantılar açıkça reklam"))
    );
    assert_error(login(&app, &rejected_phone).await, StatusCode::FORBIDDEN, "account_banned").await;

    let body = json!({ "decision": "accept", "note": "yanlış eşleşme" });
    let path = format!("/v1/admin/appeals/{accept}/decision");
    assert_eq!(call(&app, Method::POST, &path, &moderator.access, Some(body)).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(login(&app, &accepted_phone).await.status(), StatusCode::OK, "an accepted appeal lifts the ban");
    for (user, template) in [(rejected_id, "appeal_rejected"), (accepted_id, "appeal_accepted")] {
        let told = app
            .count(format!("SELECT COUNT(*) FROM notifications WHERE user_id = {user} AND template = '{template}'"))
            .await;
        assert_eq!(told, 1, "{template}");
    }
    let lifted =
        app.count(format!("SELECT COUNT(*) FROM bans WHERE user_id = {accepted_id} AND lift_reason = 'appeal'")).await;
    assert_eq!(lifted, 1);
    let audited = app
        .count(format!(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'appeal.decided' AND actor_id = {}",
            moderator.id
        ))
        .await;
    assert_eq!(audited, 2);
}

async fn bad_ban_requests_are_refused_and_store_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("bekci", "moderator").await;
    let target = app.user("hedef").await;
    let path = format!("/v1/admin/users/{}/ban", target.id);
    let long_note = "x".repeat(1001);
    for bad in [
        json!({ "reason": "looked at me funny" }),
        json!({ "reason": "spam", "duration_hours": 0 }),
        json!({ "reason": "spam", "duration_hours": 8761 }),
        json!({ "reason": "spam", "note": long_note }),
    ] {
        let refused = call(&app, Method::POST, &path, &moderator.access, Some(bad.clone())).await;
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM bans").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM system_logs WHERE action = 'user.banned'").await, 0);

    let body = Some(json!({ "reason": "spam" }));
    assert_eq!(call(&app, Method::POST, &path, &moderator.access, body.clone()).await.status(), StatusCode::NO_CONTENT);
    let twice = call(&app, Method::POST, &path, &moderator.access, body.clone()).await;
    assert_error(twice, StatusCode::CONFLICT, "already_banned").await;
    let nobody = call(&app, Method::POST, "/v1/admin/users/999999/ban", &moderator.access, body).await;
    assert_error(nobody, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM bans").await, 1);

    let unban = format!("/v1/admin/users/{}/unban", target.id);
    assert_eq!(call(&app, Method::POST, &unban, &moderator.access, None).await.status(), StatusCode::NO_CONTENT);
    let not_banned = call(&app, Method::POST, &unban, &moderator.access, None).await;
    assert_error(not_banned, StatusCode::CONFLICT, "not_banned").await;
}
