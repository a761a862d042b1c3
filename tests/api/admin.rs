//! The admin side: who may call what (the role matrix), looking users up, and the audit trail.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tanis::domain::BanReason;
use tanis_proto::{ReportReason, UserId};

use crate::api_document::document;
use crate::helpers::{Backend, TestApp, assert_error, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    every_admin_operation_of_the_openapi_document_answers_401_and_403_before_reading_its_parameters,
    every_admin_endpoint_refuses_anonymous_and_users_and_serves_moderators_and_admins,
    every_admin_only_endpoint_refuses_anonymous_users_and_moderators_and_serves_admins,
    a_user_view_shows_reports_claims_and_bans_and_only_admins_see_the_phone_with_an_audit_row,
    the_audit_trail_filters_by_actor_target_action_and_time_and_pages,
    bad_lookups_and_filters_are_refused_with_invalid_parameter,
    only_admins_set_roles_and_each_change_is_audited_with_its_admin,
    staff_are_not_banned_until_an_admin_demotes_them,
);

async fn call(
    app: &TestApp,
    method: Method,
    path: impl AsRef<str>,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = app.client.request(method, app.url(path.as_ref()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// Every operation under `/v1/admin/` in the OpenAPI document (so a new one cannot be missed), called with
/// well-formed parameters and with missing or malformed ones: anonymous callers get 401 and plain users 403 either
/// way — the role is decided before the path, query or body is read, so non-staff learn nothing of an operation's
/// parameters. A moderator calling an admin-only operation with malformed parameters gets 403 too.
async fn every_admin_operation_of_the_openapi_document_answers_401_and_403_before_reading_its_parameters(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let user = app.user("siradan").await;
    let moderator = app.staff("bekci", "moderator").await;
    let admin = app.staff("kaptan", "admin").await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let mut operations = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        if !template.starts_with("/v1/admin/") {
            continue;
        }
        for (verb, op) in item.as_object().unwrap() {
            let Ok(method) = verb.to_uppercase().parse::<Method>() else { continue };
            operations += 1;
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            // Well-formed: every path parameter an id, every query parameter a value of its type, a JSON body.
            let mut valid = template.clone();
            let mut malformed = template.clone();
            let mut query = Vec::new();
            for p in &params {
                let name = p["name"].as_str().unwrap();
                let sample = if p["schema"]["type"] == "integer" { "1" } else { "x" };
                match p["in"].as_str() {
                    Some("path") => {
                        valid = valid.replace(&format!("{{{name}}}"), sample);
                        malformed = malformed.replace(&format!("{{{name}}}"), "not-an-id");
                    }
                    Some("query") => query.push(format!("{name}={sample}")),
                    _ => {}
                }
            }
            if !query.is_empty() {
                valid = format!("{valid}?{}", query.join("&"));
            }
            let body = op.get("requestBody").map(|_| json!({}));
            let mut moderator_refused = Vec::new();
            for (path, body) in [(&valid, body.clone()), (&malformed, None)] {
                let what = format!("{method} {path}");
                let anonymous = call(&app, method.clone(), path, None, body.clone()).await;
                assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
                let refused = call(&app, method.clone(), path, Some(&user.access), body.clone()).await;
                assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{what} as a plain user");
                // An admin always gets past the role check, whatever the parameters then earn.
                let as_admin = call(&app, method.clone(), path, Some(&admin.access), body.clone()).await;
                assert_ne!(as_admin.status(), StatusCode::FORBIDDEN, "{what} as an admin");
                let as_moderator = call(&app, method.clone(), path, Some(&moderator.access), body.clone()).await;
                moderator_refused.push(as_moderator.status() == StatusCode::FORBIDDEN);
            }
            // Admin-only operations refuse a moderator whatever the parameters; the others refuse them never.
            assert_eq!(moderator_refused[0], moderator_refused[1], "{method} {template} as a moderator");
        }
    }
    assert!(operations >= 15, "the document lists the admin operations ({operations} found)");
}

async fn every_admin_endpoint_refuses_anonymous_and_users_and_serves_moderators_and_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let target = app.user("hedef").await;
    let user = app.user("siradan").await;
    let moderator = app.staff("bekci", "moderator").await;
    let admin = app.staff("kaptan", "admin").await;
    let handle = target.handle.replace('#', "%23");
    let endpoints: Vec<(Method, String, Option<Value>, StatusCode)> = vec![
        (Method::GET, format!("/v1/admin/users/{}", target.id), None, StatusCode::OK),
        (Method::GET, format!("/v1/admin/users?handle={handle}"), None, StatusCode::OK),
        (Method::GET, "/v1/admin/audit".into(), None, StatusCode::OK),
        (
            Method::POST,
            format!("/v1/admin/users/{}/ban", target.id),
            Some(json!({"reason": "spam"})),
            StatusCode::NO_CONTENT,
        ),
        (Method::POST, format!("/v1/admin/users/{}/unban", target.id), None, StatusCode::NO_CONTENT),
        (Method::POST, format!("/v1/admin/users/{}/clearance", target.id), None, StatusCode::NO_CONTENT),
        (Method::GET, "/v1/admin/reports".into(), None, StatusCode::OK),
        (Method::GET, "/v1/admin/appeals".into(), None, StatusCode::OK),
        // Nothing to resolve or decide: past the role check, the answer is about the missing record.
        (
            Method::POST,
            "/v1/admin/reports/999999/resolve".into(),
            Some(json!({"resolution": "dismissed", "note": "x"})),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/v1/admin/appeals/999999/decision".into(),
            Some(json!({"decision": "reject", "note": "x"})),
            StatusCode::NOT_FOUND,
        ),
    ];
    for (method, path, body, _) in &endpoints {
        let anonymous = call(&app, method.clone(), path, None, body.clone()).await;
        assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
        let refused = call(&app, method.clone(), path, Some(&user.access), body.clone()).await;
        assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    }
    // Each role runs the whole list in order (ban, then unban, …), so each finds the state it expects.
    for who in [&moderator, &admin] {
        for (method, path, body, allowed) in &endpoints {
            let served = call(&app, method.clone(), path, Some(&who.access), body.clone()).await;
            assert_eq!(served.status(), *allowed, "{method} {path} as {}", who.handle);
        }
    }
    // Admins only: setting roles.
    let path = format!("/v1/admin/users/{}/role", target.id);
    let body = Some(json!({"role": "user"}));
    assert_error(call(&app, Method::PUT, &path, None, body.clone()).await, StatusCode::UNAUTHORIZED, "missing_token")
        .await;
    for who in [&user, &moderator] {
        let refused = call(&app, Method::PUT, &path, Some(&who.access), body.clone()).await;
        assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(call(&app, Method::PUT, &path, Some(&admin.access), body).await.status(), StatusCode::NO_CONTENT);

    // A demoted moderator's token stops working at once.
    app.store.set_role(moderator.id, tanis::domain::Role::User, app.now()).await.unwrap();
    let demoted = call(&app, Method::GET, "/v1/admin/audit", Some(&moderator.access), None).await;
    assert_error(demoted, StatusCode::FORBIDDEN, "forbidden").await;
}

async fn every_admin_only_endpoint_refuses_anonymous_users_and_moderators_and_serves_admins(backend: Backend) {
    let app = spawn_app(backend).await;
    let target = app.user("hedef").await;
    let user = app.user("siradan").await;
    let moderator = app.staff("bekci", "moderator").await;
    let admin = app.staff("kaptan", "admin").await;
    let subscription = format!("/v1/admin/users/{}/subscription", target.id);
    // In order: each finds the state the one before left (the subscription granted, then ended).
    let endpoints: Vec<(Method, String, Option<Value>, StatusCode)> = vec![
        (
            Method::PUT,
            format!("/v1/admin/users/{}/role", target.id),
            Some(json!({"role": "user"})),
            StatusCode::NO_CONTENT,
        ),
        (
            Method::POST,
            "/v1/admin/broadcasts".into(),
            Some(json!({"audience": "all", "tr": "Merhaba", "en": "Hello"})),
            StatusCode::OK,
        ),
        (Method::GET, "/v1/admin/ads".into(), None, StatusCode::OK),
        (
            Method::POST,
            "/v1/admin/ads".into(),
            Some(json!({"title": "Kahve", "content": "İlk fincan bizden", "target_group": "all"})),
            StatusCode::CREATED,
        ),
        (Method::PATCH, "/v1/admin/ads/999999".into(), Some(json!({"active": false})), StatusCode::NOT_FOUND),
        (
            Method::PUT,
            subscription.clone(),
            Some(json!({"plan": "premium_support", "days": 7})),
            StatusCode::NO_CONTENT,
        ),
        (Method::DELETE, subscription, None, StatusCode::NO_CONTENT),
    ];
    for (method, path, body, allowed) in &endpoints {
        let anonymous = call(&app, method.clone(), path, None, body.clone()).await;
        assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
        for who in [&user, &moderator] {
            let refused = call(&app, method.clone(), path, Some(&who.access), body.clone()).await;
            assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
        }
        let served = call(&app, method.clone(), path, Some(&admin.access), body.clone()).await;
        assert_eq!(served.status(), *allowed, "{method} {path} as an admin");
    }
}

async fn a_user_view_shows_reports_claims_and_bans_and_only_admins_see_the_phone_with_an_audit_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let target = app.user("hedef").await;
    let moderator = app.staff("bekci", "moderator").await;
    let admin = app.staff("kaptan", "admin").await;
    for alias in ["rapor1", "rapor2"] {
        let reporter = app.user(alias).await;
        let match_id = app.matched_and_reported(&reporter, &target, ReportReason::Harassment).await;
        if alias == "rapor1" {
            let claim = json!({ "match_id": match_id });
            let filed = call(&app, Method::POST, "/v1/claims", Some(&target.access), Some(claim)).await;
            assert_eq!(filed.status(), StatusCode::CREATED);
        }
    }
    let ban = call(
        &app,
        Method::POST,
        format!("/v1/admin/users/{}/ban", target.id),
        Some(&moderator.access),
        Some(json!({"reason": "spam"})),
    );
    assert_eq!(ban.await.status(), StatusCode::NO_CONTENT);

    let path = format!("/v1/admin/users/{}", target.id);
    let seen: Value = call(&app, Method::GET, &path, Some(&moderator.access), None).await.json().await.unwrap();
    assert_eq!(seen["handle"], target.handle.as_str());
    assert_eq!((seen["status"].as_str(), seen["ban_reason"].as_str()), (Some("banned"), Some("spam")));
    assert_eq!((seen["reporters"].as_i64(), seen["reporters_since_clearance"].as_i64()), (Some(2), Some(2)));
    assert_eq!(seen["claims"], json!({"pending": 1}));
    assert_eq!(seen["account_age_days"], 0);
    assert_eq!(seen["history"][0]["action"], "user.banned");
    assert_eq!(seen["history"][0]["actor_id"], moderator.id.get(), "the ban names its moderator");
    assert!(seen["phone_number"].is_null(), "moderators never see the phone number");
    let phone_views = || {
        app.count(format!(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'admin.phone_viewed' AND user_id = {}",
            target.id
        ))
    };
    assert_eq!(phone_views().await, 0);

    // Cleared by an unban: the automatic-ban count starts again, the history keeps both.
    let unban = call(&app, Method::POST, format!("/v1/admin/users/{}/unban", target.id), Some(&moderator.access), None);
    assert_eq!(unban.await.status(), StatusCode::NO_CONTENT);
    let handle = target.handle.to_uppercase().replace('#', "%23");
    let by_handle = call(&app, Method::GET, format!("/v1/admin/users?handle={handle}"), Some(&admin.access), None);
    let seen: Value = by_handle.await.json().await.unwrap();
    assert_eq!(
        (seen["id"].as_i64(), seen["status"].as_str()),
        (Some(target.id.get()), Some("active")),
        "the alias in any case"
    );
    assert_eq!((seen["reporters"].as_i64(), seen["reporters_since_clearance"].as_i64()), (Some(2), Some(0)));
    let actions: Vec<&str> =
        seen["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(&actions[..2], ["user.unbanned", "user.banned"]);
    assert!(seen["phone_number"].is_null(), "looking a user up is not a phone view, even for an admin: {seen}");
    assert_eq!(phone_views().await, 0);
    // The phone only when an admin asks for it (the console's "show phone"), audited; a moderator asking sees none.
    let asked = format!("/v1/admin/users?handle={handle}&phone=true");
    let seen: Value = call(&app, Method::GET, &asked, Some(&moderator.access), None).await.json().await.unwrap();
    assert!(seen["phone_number"].is_null(), "moderators never see the phone number");
    assert_eq!(phone_views().await, 0);
    let seen: Value = call(&app, Method::GET, &asked, Some(&admin.access), None).await.json().await.unwrap();
    assert!(seen["phone_number"].as_str().is_some_and(|p| p.starts_with('+')), "admins see it: {seen}");
    let audited = app
        .count(format!(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'admin.phone_viewed' AND user_id = {} AND actor_id = {}",
            target.id, admin.id
        ))
        .await;
    assert_eq!(audited, 1, "every admin view of a phone number is audited with its actor");
}

async fn the_audit_trail_filters_by_actor_target_action_and_time_and_pages(backend: Backend) {
    let app = spawn_app(backend).await;
    let (a, b) = (app.user("birinci").await, app.user("ikinci").await);
    let m1 = app.staff("bekci", "moderator").await;
    let m2 = app.staff("gozcu", "moderator").await;
    let started = app.now();
    for (moderator, target) in [(&m1, &a), (&m2, &b), (&m1, &b)] {
        let path = format!("/v1/admin/users/{}/ban", target.id);
        let response =
            call(&app, Method::POST, &path, Some(&app.access_token(moderator).await), Some(json!({"reason": "spam"})))
                .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        let path = format!("/v1/admin/users/{}/unban", target.id);
        assert_eq!(
            call(&app, Method::POST, &path, Some(&app.access_token(moderator).await), None).await.status(),
            StatusCode::NO_CONTENT
        );
        app.clock.advance(chrono::TimeDelta::minutes(10));
    }
    let page = |query: String| {
        let (app, m1) = (&app, &m1);
        async move {
            // Refreshed at the test clock: the run moves it past an access token's lifetime.
            let token = app.access_token(m1).await;
            let response = call(app, Method::GET, &format!("/v1/admin/audit?{query}"), Some(&token), None).await;
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    let summary = |page: &Value| -> Vec<(String, UserId, UserId)> {
        page["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap().to_owned(),
                    UserId(e["actor_id"].as_i64().unwrap_or(0)),
                    UserId(e["target_id"].as_i64().unwrap_or(0)),
                )
            })
            .collect()
    };
    let by_m1 = page(format!("actor={}", m1.id)).await;
    assert_eq!(
        summary(&by_m1),
        [
            ("user.unbanned".into(), m1.id, b.id),
            ("user.banned".into(), m1.id, b.id),
            ("user.unbanned".into(), m1.id, a.id),
            ("user.banned".into(), m1.id, a.id)
        ]
    );
    let bans_of_b = page(format!("target={}&action=user.banned", b.id)).await;
    assert_eq!(summary(&bans_of_b), [("user.banned".into(), m1.id, b.id), ("user.banned".into(), m2.id, b.id)]);
    // The second round only: from 10 minutes in, until 20.
    let since = (started + chrono::TimeDelta::minutes(10)).to_rfc3339().replace('+', "%2B");
    let until = (started + chrono::TimeDelta::minutes(20)).to_rfc3339().replace('+', "%2B");
    let window = page(format!("since={since}&until={until}&action=user.banned")).await;
    assert_eq!(summary(&window), [("user.banned".into(), m2.id, b.id)]);
    // An action no entry has, known or not, is an empty last page.
    for action in ["appeal.filed", "user.teleported"] {
        let none = page(format!("action={action}")).await;
        assert_eq!((summary(&none).len(), none["next_before"].is_null()), (0, true), "{action}: {none}");
    }

    // Paging by moderator actions: two per page, then the rest; the full last page names no next one.
    let first = page(format!("actor={}&limit=2", m1.id)).await;
    let before = first["next_before"].as_i64().expect("a full page has a next page");
    let second = page(format!("actor={}&limit=2&before={before}", m1.id)).await;
    let both: Vec<_> = summary(&first).into_iter().chain(summary(&second)).collect();
    assert_eq!(both, summary(&by_m1), "the pages are the whole list, in order, without repeats");
    assert!(second["next_before"].is_null(), "the second page is full and the last: {second}");
}

async fn bad_lookups_and_filters_are_refused_with_invalid_parameter(backend: Backend) {
    let app = spawn_app(backend).await;
    let moderator = app.staff("bekci", "moderator").await;
    for path in [
        "/v1/admin/users?handle=nohash",
        "/v1/admin/users?handle=kedi%2312",
        "/v1/admin/users?handle=%239021",
        "/v1/admin/users",
        "/v1/admin/users?handle=kedi%239021&extra=1",
        "/v1/admin/users/abc",
        "/v1/admin/audit?limit=0",
        "/v1/admin/audit?limit=201",
        "/v1/admin/audit?since=yesterday",
        "/v1/admin/audit?actor=me",
        "/v1/admin/audit?action=",
        "/v1/admin/audit?colour=red",
    ] {
        let response = call(&app, Method::GET, path, Some(&moderator.access), None).await;
        assert_error(response, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
    let nobody = call(&app, Method::GET, "/v1/admin/users?handle=kimse%230000", Some(&moderator.access), None).await;
    assert_error(nobody, StatusCode::NOT_FOUND, "not_found").await;
    let nobody = call(&app, Method::GET, "/v1/admin/users/999999", Some(&moderator.access), None).await;
    assert_error(nobody, StatusCode::NOT_FOUND, "not_found").await;
}

async fn only_admins_set_roles_and_each_change_is_audited_with_its_admin(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("kaptan", "admin").await;
    let helper = app.user("yardimci").await;
    let role = |id: UserId, role: &str| {
        let (app, token, role) = (&app, admin.access.clone(), role.to_owned());
        async move {
            call(app, Method::PUT, format!("/v1/admin/users/{id}/role"), Some(&token), Some(json!({ "role": role })))
                .await
        }
    };
    assert_eq!(role(helper.id, "moderator").await.status(), StatusCode::NO_CONTENT);
    // The new moderator can work at once, with the token they already had.
    let audit = call(&app, Method::GET, "/v1/admin/audit?action=user.role_changed", Some(&helper.access), None).await;
    assert_eq!(audit.status(), StatusCode::OK);
    let page: Value = audit.json().await.unwrap();
    let entry = &page["entries"][0];
    assert_eq!(
        (entry["target_id"].as_i64(), entry["actor_id"].as_i64()),
        (Some(helper.id.get()), Some(admin.id.get()))
    );
    assert_eq!(entry["details"], json!({"role": "moderator"}));
    // …but cannot make others staff.
    let other = app.user("baska").await;
    let path = format!("/v1/admin/users/{}/role", other.id);
    let refused = call(&app, Method::PUT, &path, Some(&helper.access), Some(json!({"role": "admin"}))).await;
    assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;

    assert_error(role(helper.id, "superuser").await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert_error(role(admin.id, "user").await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert_error(role(UserId(999_999), "moderator").await, StatusCode::NOT_FOUND, "not_found").await;
    let extra = call(&app, Method::PUT, &path, Some(&admin.access), Some(json!({"role": "user", "also": 1}))).await;
    assert_error(extra, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert_eq!(
        app.store.user_by_id(admin.id).await.unwrap().unwrap().role,
        tanis::domain::Role::Admin,
        "nothing stored by a refusal"
    );

    // Back to a plain user: refused at once.
    assert_eq!(role(helper.id, "user").await.status(), StatusCode::NO_CONTENT);
    let demoted = call(&app, Method::GET, "/v1/admin/audit", Some(&helper.access), None).await;
    assert_error(demoted, StatusCode::FORBIDDEN, "forbidden").await;
}

/// Found by fuzzing as a moderator: a moderator could ban the admin (and themselves), locking the admin side out.
/// Staff are not banned; an admin takes the role away first, and then the ban goes through.
async fn staff_are_not_banned_until_an_admin_demotes_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let (admin, moderator) = (app.staff("kaptan", "admin").await, app.staff("gozcu", "moderator").await);
    let other = app.staff("bekci", "moderator").await;
    let (admin_token, moderator_token) = (app.access_token(&admin).await, app.access_token(&moderator).await);
    let ban = json!({ "reason": "spam" });
    for (token, target) in [(&moderator_token, &admin), (&moderator_token, &moderator), (&moderator_token, &other)]
        .into_iter()
        .chain([(&admin_token, &admin), (&admin_token, &moderator)])
    {
        let path = format!("/v1/admin/users/{}/ban", target.id);
        let refused = call(&app, Method::POST, &path, Some(token), Some(ban.clone())).await;
        assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM bans").await, 0, "nothing was stored");
    assert_eq!(app.get_me(&admin_token).await.status(), StatusCode::OK, "the admin is still signed in");

    let body = Some(json!({ "role": "user" }));
    let demoted = call(&app, Method::PUT, format!("/v1/admin/users/{}/role", other.id), Some(&admin_token), body);
    assert_eq!(demoted.await.status(), StatusCode::NO_CONTENT);
    let path = format!("/v1/admin/users/{}/ban", other.id);
    let banned = call(&app, Method::POST, &path, Some(&moderator_token), Some(ban)).await;
    assert_eq!(banned.status(), StatusCode::NO_CONTENT, "a plain user again, they can be banned");
}

/// The console offers the ban reasons the OpenAPI document states (web/admin/actions.js reads them from the pattern
/// of the ban's `reason` in `/openapi.json`, in that shape): they are the server's own codes, every one, in order.
/// The document only; the store plays no part, so one store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_states_every_ban_reason_code_the_console_offers() {
    let app = spawn_app(Backend::Sqlite).await;
    let doc = document(&app).await;
    let ban = &doc["paths"]["/v1/admin/users/{id}/ban"]["post"];
    let body = &ban["requestBody"]["content"]["application/json"]["schema"];
    let schema = match body["$ref"].as_str() {
        Some(named) => &doc["components"]["schemas"][named.rsplit('/').next().unwrap()],
        None => body,
    };
    let codes: Vec<&str> = BanReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(schema["properties"]["reason"]["pattern"], json!(format!("^({})$", codes.join("|"))), "{schema}");
}
