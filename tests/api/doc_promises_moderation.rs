//! Promises of docs/admin.md and docs/privacy.md about moderation that no other test covered: a clearance
//! restarts the automatic ban's count, appeals are filtered and paged and their text is bounded, `/v1/ban/*` is
//! throttled like a login, and a data export never carries a moderator's notes or who the moderator was.

use std::collections::BTreeSet;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis::domain::UserId;
use tanis_client::Chat;
use tanis_proto::{ClientFrame, MatchKind, ReportReason, ServerFrame};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, assert_error, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    a_clearance_restarts_the_count_of_distinct_reporters_that_bans_automatically,
    moderators_list_appeals_by_status_oldest_first_in_pages,
    an_appeal_holds_1_to_2000_characters,
    every_ban_endpoint_is_throttled_with_the_logins_of_the_same_phone,
    a_data_export_holds_no_moderators_note_nor_who_the_moderator_was,
);

/// `reporter` (connected from an address range of their own: tests/api/reporters.rs) and `reported` are paired
/// through the queue, `reporter` reports the other with the `report` frame, and the match ends.
async fn reported_after_a_match(app: &TestApp, reporter: &TestUser, reported: &TestUser, details: &str) {
    let mut sr = crate::reporters::socket_from(app, reporter, &crate::reporters::own_range(reporter)).await;
    let mut sd = app.socket(reported).await;
    let (chat, _) = tokio::join!(Chat::find(&mut sr, MatchKind::Text), Chat::find(&mut sd, MatchKind::Text));
    let match_id = chat.unwrap().info.match_id;
    let report = ClientFrame::Report {
        id: Some("r".into()),
        match_id,
        reason_code: ReportReason::Harassment,
        details: Some(details.into()),
        evidence: Vec::new(),
    };
    sr.send(&report).await.unwrap();
    assert_eq!(sr.next().await.unwrap(), ServerFrame::Ok { id: Some("r".into()) });
    sr.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
    sr.next_where(|f| matches!(f, ServerFrame::Ok { .. })).await.unwrap();
    sd.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();
}

async fn admin_view(app: &TestApp, staff: &TestUser, user_id: UserId) -> Value {
    app.get_json(&format!("/v1/admin/users/{user_id}"), &app.access_token(staff).await).await.1
}

async fn is_banned(app: &TestApp, user: &TestUser) -> bool {
    app.login(&user.phone, PASSWORD).await.status() == StatusCode::FORBIDDEN
}

async fn a_clearance_restarts_the_count_of_distinct_reporters_that_bans_automatically(backend: Backend) {
    // The reported user is matched once per reporter: enough daily units for all of them.
    let (app, twilio) = crate::twilio::spawn_with_sms(backend, |c| {
        c.quotas.free_text_daily = 40;
        crate::trust::no_quarantine(c);
    })
    .await;
    let threshold = app.config.jobs.report_threshold as usize;
    let moderator = app.staff("temizleyen", "moderator").await;
    let reported = app.user("sikayetli").await;
    // Reporters who count toward the automatic ban (docs/admin.md "Trust").
    let reporters = crate::reporters::trusted_reporters(&app, &twilio, 2 * threshold - 1, "sikayetci").await;

    // One short of the threshold, then a clearance.
    for reporter in &reporters[..threshold - 1] {
        reported_after_a_match(&app, reporter, &reported, "hakaret").await;
    }
    let cleared = app
        .post(&format!("/v1/admin/users/{}/clearance", reported.id))
        .bearer_auth(app.access_token(&moderator).await)
        .send()
        .await
        .unwrap();
    assert_eq!(cleared.status(), StatusCode::NO_CONTENT);
    app.clock.advance(TimeDelta::seconds(1));

    // As many again: twice the threshold minus two in all, but only threshold - 1 since the clearance.
    for reporter in &reporters[threshold - 1..2 * threshold - 2] {
        reported_after_a_match(&app, reporter, &reported, "yine hakaret").await;
    }
    app.run_job(Job::AutoBan).await.unwrap();
    assert!(!is_banned(&app, &reported).await, "reports from before the clearance do not count");
    let view = admin_view(&app, &moderator, reported.id).await;
    let (ever, since) = (2 * threshold as i64 - 2, threshold as i64 - 1);
    assert_eq!((view["reporters"].as_i64(), view["reporters_since_clearance"].as_i64()), (Some(ever), Some(since)));

    // The threshold-th distinct reporter since the clearance: banned by the job, with the automatic code.
    reported_after_a_match(&app, &reporters[2 * threshold - 2], &reported, "son damla").await;
    app.run_job(Job::AutoBan).await.unwrap();
    let refused = app.login(&reported.phone, PASSWORD).await;
    let message = assert_error(refused, StatusCode::FORBIDDEN, "account_banned").await;
    assert!(message.contains("(reports)"), "{message}");
}

async fn appeal(app: &TestApp, phone: &str, text: &str) -> reqwest::Response {
    app.post_json("/v1/ban/appeal", &json!({ "phone": phone, "password": PASSWORD, "text": text })).await
}

async fn appeals(app: &TestApp, staff: &TestUser, query: &str) -> reqwest::Response {
    let url = app.url(&format!("/v1/admin/appeals{query}"));
    app.client.get(url).bearer_auth(app.access_token(staff).await).send().await.unwrap()
}

/// The appeal ids of a listing page, and its `next_after`.
async fn page(app: &TestApp, staff: &TestUser, query: &str) -> (Vec<i64>, Option<i64>) {
    let response = appeals(app, staff, query).await;
    assert_eq!(response.status(), StatusCode::OK, "{query}");
    let body: Value = response.json().await.unwrap();
    let ids = body["appeals"].as_array().unwrap().iter().map(|a| a["id"].as_i64().unwrap()).collect();
    (ids, body["next_after"].as_i64())
}

async fn decide(app: &TestApp, staff: &TestUser, appeal_id: i64, decision: &str) {
    let body = json!({ "decision": decision, "note": format!("{decision}: incelendi") });
    let url = app.url(&format!("/v1/admin/appeals/{appeal_id}/decision"));
    let response = app.client.post(url).bearer_auth(app.access_token(staff).await).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
}

async fn moderators_list_appeals_by_status_oldest_first_in_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("itirazci", "moderator").await;
    let mut filed = Vec::new();
    for n in 0..5 {
        let user = app.user(&format!("itiraz{n}")).await;
        app.ban(&moderator, user.id, "spam").await;
        assert_eq!(appeal(&app, &user.phone, &format!("itirazım {n}")).await.status(), StatusCode::CREATED);
        app.clock.advance(TimeDelta::minutes(1));
        filed.push(user);
    }
    let (all, _) = page(&app, &moderator, "?limit=100").await;
    assert_eq!(all.len(), 5, "pending is the default: {all:?}");
    assert!(all.windows(2).all(|w| w[0] < w[1]), "oldest first: {all:?}");
    decide(&app, &moderator, all[1], "accept").await;
    decide(&app, &moderator, all[3], "reject").await;

    let pending = vec![all[0], all[2], all[4]];
    assert_eq!(page(&app, &moderator, "").await.0, pending);
    assert_eq!(page(&app, &moderator, "?status=pending").await.0, pending);
    assert_eq!(page(&app, &moderator, "?status=accepted").await, (vec![all[1]], None));
    let rejected: Value = appeals(&app, &moderator, "?status=rejected").await.json().await.unwrap();
    assert_eq!(rejected["appeals"].as_array().unwrap().len(), 1);
    assert_eq!(rejected["appeals"][0]["id"], all[3]);
    assert_eq!(rejected["appeals"][0]["decision_note"], "reject: incelendi");
    assert_eq!(rejected["appeals"][0]["handle"], filed[3].handle);

    // Pages of two: a full page names where the next begins; the last one does not.
    let (first, after) = page(&app, &moderator, "?status=pending&limit=2").await;
    assert_eq!((first, after), (pending[..2].to_vec(), Some(pending[1])));
    let (second, after) = page(&app, &moderator, &format!("?status=pending&limit=2&after={}", pending[1])).await;
    assert_eq!((second, after), (pending[2..].to_vec(), None));
    let whole = page(&app, &moderator, "?status=pending&limit=3").await;
    assert_eq!(whole, (pending, None), "a full last page is the last: no cursor to an empty page");

    for bad in ["?status=lifted", "?limit=0", "?limit=101", "?after=-1", "?sort=newest"] {
        assert_error(appeals(&app, &moderator, bad).await, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
}

async fn an_appeal_holds_1_to_2000_characters(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("sayaci", "moderator").await;
    let user = app.user("uzun_yazan").await;
    app.ban(&moderator, user.id, "spam").await;

    // Characters, not bytes: "ş" is two bytes in UTF-8.
    for (text, why) in [("ş".repeat(2001), "over 2000"), ("   ".into(), "blank"), (String::new(), "empty")] {
        assert_error(appeal(&app, &user.phone, &text).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
        assert_eq!(app.count("SELECT COUNT(*) FROM appeals").await, 0, "{why}: nothing stored");
    }
    assert_eq!(appeal(&app, &user.phone, &"ş".repeat(2000)).await.status(), StatusCode::CREATED);
    let (stored, _) = page(&app, &moderator, "").await;
    assert_eq!(stored.len(), 1);
}

/// One call to a `/v1/ban/*` endpoint with the phone and this password.
async fn ban_endpoint(app: &TestApp, path: &str, phone: &str, password: &str) -> reqwest::Response {
    let mut body = json!({ "phone": phone, "password": password });
    if path == "/v1/ban/appeal" {
        body["text"] = "lütfen".into();
    }
    app.post_json(path, &body).await
}

async fn every_ban_endpoint_is_throttled_with_the_logins_of_the_same_phone(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("esik", "moderator").await;
    let limit = app.config.auth.max_failures_per_phone;
    let window = TimeDelta::seconds(app.config.auth.login_window_secs as i64);
    let endpoints = [
        ("/v1/ban/status", StatusCode::OK),
        ("/v1/ban/appeal", StatusCode::CREATED),
        ("/v1/ban/export", StatusCode::OK),
        ("/v1/ban/deletion", StatusCode::ACCEPTED),
    ];
    for (n, (path, success)) in endpoints.into_iter().enumerate() {
        let user = app.user(&format!("kilitli{n}")).await;
        app.ban(&moderator, user.id, "spam").await;
        // Failures at the endpoint and at the login count together, as one phone's failed sign-ins.
        let wrong = app.login(&user.phone, "yanlis-parola").await;
        assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        for _ in 1..limit {
            let wrong = ban_endpoint(&app, path, &user.phone, "yanlis-parola").await;
            assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
        let locked = ban_endpoint(&app, path, &user.phone, PASSWORD).await;
        assert!(locked.headers().contains_key("retry-after"), "{path}");
        assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
        let login = app.login(&user.phone, PASSWORD).await;
        assert_error(login, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

        app.clock.advance(window);
        assert_eq!(ban_endpoint(&app, path, &user.phone, PASSWORD).await.status(), success, "{path} after the window");
    }
}

/// Every key of `value` that names an id, with the section (top-level key) it is in.
fn id_keys(value: &Value, section: &str, found: &mut BTreeSet<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                let section = if section.is_empty() { key.as_str() } else { section };
                if key == "id" || key.ends_with("_id") || key.ends_with("_by") || key.contains("moderator") {
                    found.insert((section.to_owned(), key.clone()));
                }
                id_keys(inner, section, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| id_keys(item, section, found)),
        _ => {}
    }
}

async fn a_data_export_holds_no_moderators_note_nor_who_the_moderator_was(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("gizli_bekci", "moderator").await;
    let (user, peer) = (app.user("disa_aktaran").await, app.user("karsi_taraf").await);
    reported_after_a_match(&app, &user, &peer, "kendi sözlerim").await;
    let (_, queue) = app.get_json("/v1/admin/reports", &app.access_token(&moderator).await).await;
    let report_id = queue["users"][0]["reports"][0]["id"].as_i64().unwrap();
    let resolve = json!({ "resolution": "dismissed", "note": "RAPOR-NOTU-gizli" });
    let resolved = app
        .post(&format!("/v1/admin/reports/{report_id}/resolve"))
        .bearer_auth(app.access_token(&moderator).await)
        .json(&resolve)
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), StatusCode::NO_CONTENT);
    app.ban_with(&moderator, user.id, json!({ "reason": "harassment", "note": "YASAK-NOTU-gizli" })).await;
    assert_eq!(appeal(&app, &user.phone, "haksızlık").await.status(), StatusCode::CREATED);
    let (filed, _) = page(&app, &moderator, "").await;
    decide(&app, &moderator, filed[0], "reject").await;

    let response = app.post_json("/v1/ban/export", &json!({ "phone": user.phone, "password": PASSWORD })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let export: Value = serde_json::from_str(&text).unwrap();
    // What the user wrote and was shown is theirs; what moderators wrote for themselves, and who they are, is not.
    assert_eq!(export["reports"][0]["details"], "kendi sözlerim");
    assert_eq!(export["reports"][0]["resolution"], "dismissed");
    assert_eq!(export["appeals"][0]["decision_note"], "reject: incelendi");
    for secret in ["RAPOR-NOTU-gizli", "YASAK-NOTU-gizli", moderator.handle.as_str(), "gizli_bekci"] {
        assert!(!text.contains(secret), "the export shows {secret:?}: {text}");
    }
    let mut keys = BTreeSet::new();
    id_keys(&export, "", &mut keys);
    let allowed: BTreeSet<(String, String)> = [
        ("matches", "id"),
        ("claims", "id"),
        ("claims", "match_id"),
        ("reports", "match_id"),
        ("bans", "id"),
        ("appeals", "ban_id"),
    ]
    .into_iter()
    .map(|(s, k)| (s.to_owned(), k.to_owned()))
    .collect();
    assert!(keys.is_subset(&allowed), "ids beyond the user's own matches, claims and bans: {keys:?}");
    assert!(!keys.is_empty(), "the walk found the export's own ids");
    assert_ne!(export["bans"].as_array().map(Vec::len), Some(0));
}
