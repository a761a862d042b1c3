//! The data export (issue 15, point 5): everything tanis holds about a user in one JSON document, other people
//! only by handle, never their phone or account id; one export per minute.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE, RETRY_AFTER};
use serde_json::Value;
use tanis_proto::{ClientFrame, MatchKind, ReportReason, ServerFrame};

use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, assert_error, new_phone, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    an_export_holds_every_section_and_names_the_peer_only_by_handle,
    an_export_needs_a_token_and_is_refused_twice_within_a_minute,
    a_banned_user_exports_with_phone_and_password,
);

/// Registers `alias` on a fresh phone; the user and their phone.
async fn registered(app: &TestApp, alias: &str) -> (TestUser, String) {
    let phone = new_phone();
    let session = app.register(&phone, alias).await;
    let user = TestUser::signed_in(app.user_id(&phone).await, &phone, &session);
    (user, phone)
}

async fn export(app: &TestApp, access: &str) -> reqwest::Response {
    app.client.get(app.url("/v1/me/export")).bearer_auth(access).send().await.unwrap()
}

/// Every key anywhere in `value` with the number under it, for keys that name an id.
fn ids(value: &Value, found: &mut Vec<(String, Value)>) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map {
                if key == "id" || key.ends_with("_id") {
                    found.push((key.clone(), inner.clone()));
                }
                ids(inner, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| ids(item, found)),
        _ => {}
    }
}

/// The claims job's notification of a refunded text match, in Turkish.
const REFUNDED: &str = "Talebin onaylandı: bir yazılı eşleşme hakkın iade edildi.";

async fn an_export_holds_every_section_and_names_the_peer_only_by_handle(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut ayse, ayse_phone) = registered(&app, "ayse").await;
    let (mut burak, burak_phone) = registered(&app, "burak").await;
    // A failed and a good sign-in: two sessions in all with the registration's.
    assert_eq!(app.login(&ayse_phone, "not-the-password").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login_from("203.0.113.7", &ayse_phone, PASSWORD).await.status(), StatusCode::OK);
    // Ayşe writes, Burak never answers; she claims the unit back, reports him and blocks him (which ends the
    // match); two hours later the claims job refunds her, with a notification.
    let (mut sa, mut chat_a, _sb, _chat_b) = app.pair(&ayse, &burak, MatchKind::Text).await;
    let match_id = chat_a.info.match_id;
    sa.send(&chat_a.message("merhaba?")).await.unwrap();
    sa.next_where(|f| matches!(f, ServerFrame::MsgAccepted { .. })).await.unwrap();
    let reason_code = ReportReason::Harassment;
    for frame in [
        ClientFrame::Claim { id: Some("claim".into()), match_id },
        ClientFrame::Report {
            id: Some("report".into()),
            match_id,
            reason_code,
            details: Some("kaba davrandı".into()),
            evidence: Vec::new(),
        },
        ClientFrame::Block { id: Some("block".into()), match_id },
    ] {
        sa.send(&frame).await.unwrap();
        let answered = ServerFrame::Ok { id: frame.id().map(str::to_owned) };
        sa.next_where(|f| *f == answered).await.unwrap();
    }
    app.clock.advance(chrono::TimeDelta::hours(2) + chrono::TimeDelta::seconds(1));
    app.run_job(tanis_workers::schedule::Job::Claims).await.unwrap();
    // Their apps have refreshed their access tokens meanwhile.
    (ayse.access, burak.access) = (app.access_token(&ayse).await, app.access_token(&burak).await);
    let (_, claims) = app.get_json("/v1/claims", &ayse.access).await;
    let claim_id = claims[0]["id"].as_i64().expect("the claim");
    let device = serde_json::json!({ "token": "fcm-secret-token-9f3e", "platform": "android" });
    let registered = app.client.post(app.url("/v1/devices")).bearer_auth(&ayse.access).json(&device).send().await;
    assert_eq!(registered.unwrap().status(), StatusCode::NO_CONTENT);
    let now = app.now();

    let response = export(&app, &ayse.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let disposition = response.headers()[CONTENT_DISPOSITION].to_str().unwrap().to_owned();
    let date = now.format("%Y-%m-%d");
    let tag = ayse.handle.split('#').nth(1).unwrap();
    assert_eq!(disposition, format!("attachment; filename=\"tanis-export-ayse-{tag}-{date}.json\""));
    let text = response.text().await.unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();

    let sections: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
    for section in [
        "profile",
        "consents",
        "sessions",
        "contact_keys",
        "login_attempts",
        "phone_codes",
        "matches",
        "claims",
        "reports",
        "blocks",
        "notifications",
        "subscriptions",
        "devices",
        "bans",
        "appeals",
        "statements",
    ] {
        assert!(sections.contains(&section), "{section} is in the export: {sections:?}");
    }
    assert_eq!(doc["section_limit"], 10_000);
    assert_eq!(doc["truncated"], serde_json::json!([]));
    let profile = &doc["profile"];
    assert_eq!(profile["handle"], ayse.handle.as_str());
    assert_eq!(profile["phone"], ayse_phone.as_str(), "the user's own phone, opened");
    assert_eq!(profile["birth_year"], 1995);
    assert_eq!(profile["country"], "TR", "the phone's country");
    assert_eq!(doc["consents"].as_array().unwrap().len(), 1);
    assert_eq!(doc["consents"][0]["version"], "2026-11-01");

    let sessions = doc["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    assert!(sessions.iter().any(|s| s["ip"] == "203.0.113.7"), "{sessions:?}");
    let outcomes: Vec<&str> =
        doc["login_attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.contains(&"bad_credentials") && outcomes.contains(&"success"), "{outcomes:?}");
    // Registration's verification code: when and from where, never the code.
    let codes = doc["phone_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 1, "{codes:?}");
    assert_eq!((codes[0]["purpose"].as_str(), codes[0]["outcome"].as_str()), (Some("verify"), Some("sent")));
    assert_eq!(codes[0]["attempts"], 0);
    assert!(codes[0].get("code").is_none() && codes[0].get("code_hash").is_none(), "{codes:?}");
    assert_eq!(profile["phone_verified_at"], Value::Null);

    let matches = doc["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 1);
    assert_eq!(matches[0]["id"], match_id.get());
    assert_eq!(matches[0]["kind"], "text");
    assert_eq!(matches[0]["peer"], burak.handle.as_str());
    assert_eq!(doc["claims"][0]["match_id"], match_id.get());
    assert_eq!(doc["claims"][0]["id"], claim_id);
    assert_eq!(doc["reports"][0]["reported"], burak.handle.as_str());
    assert_eq!(doc["reports"][0]["reason"], "harassment");
    assert_eq!(doc["reports"][0]["details"], "kaba davrandı");
    assert_eq!(doc["blocks"][0]["blocked"], burak.handle.as_str());
    assert_eq!(doc["notifications"][0]["text"], REFUNDED);
    assert_eq!(doc["devices"][0]["platform"], "android");
    assert_eq!(doc["devices"][0]["push_token"], "…9f3e", "masked");
    assert!(!text.contains("fcm-secret-token"));
    for empty in ["subscriptions", "bans", "appeals"] {
        assert_eq!(doc[empty], serde_json::json!([]), "{empty}");
    }

    // The peer: by handle only. No phone, and every id in the document is the match's or the claim's.
    assert!(!text.contains(&burak_phone) && !text.contains(&burak_phone[1..]), "the peer's phone never appears");
    let mut found = Vec::new();
    ids(&doc, &mut found);
    for (key, value) in &found {
        assert!(["id", "match_id"].contains(&key.as_str()), "no {key} in an export");
        assert!(*value == match_id.get() || *value == claim_id, "{key} = {value} names no one");
    }
    assert!(!found.is_empty());

    // Burak's own export holds none of Ayşe's data: Ayşe is only the peer of their match, by handle.
    let theirs = export(&app, &burak.access).await;
    assert_eq!(theirs.status(), StatusCode::OK);
    let their_text = theirs.text().await.unwrap();
    let their_doc: Value = serde_json::from_str(&their_text).unwrap();
    assert_eq!(their_doc["profile"]["phone"], burak_phone.as_str());
    assert_eq!(their_doc["matches"][0]["peer"], ayse.handle.as_str());
    for leak in [&ayse_phone[..], &ayse_phone[1..], "203.0.113.7", "kaba davrandı", REFUNDED, "9f3e", "bad_credentials"]
    {
        assert!(!their_text.contains(leak), "{leak} is Ayşe's");
    }
    for section in ["claims", "reports", "blocks", "notifications", "devices"] {
        assert_eq!(their_doc[section], serde_json::json!([]), "{section}");
    }
}

async fn an_export_needs_a_token_and_is_refused_twice_within_a_minute(backend: Backend) {
    let app = spawn_app(backend).await;
    let unauthenticated = app.client.get(app.url("/v1/me/export")).send().await.unwrap();
    assert_error(unauthenticated, StatusCode::UNAUTHORIZED, "missing_token").await;

    let (user, _) = registered(&app, "sabirli").await;
    assert_eq!(export(&app, &user.access).await.status(), StatusCode::OK);
    let again = export(&app, &user.access).await;
    assert_eq!(again.headers()[RETRY_AFTER], "60");
    assert_error(again, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;

    app.clock.advance(chrono::TimeDelta::seconds(61));
    assert_eq!(export(&app, &user.access).await.status(), StatusCode::OK, "a minute later");

    // Documented with its schema and the download header, so generated clients and schemathesis know it.
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let ok = &doc["paths"]["/v1/me/export"]["get"]["responses"]["200"];
    assert_eq!(ok["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Export", "{ok}");
    assert!(ok["headers"]["Content-Disposition"].is_object(), "{ok}");
    let peer = &doc["components"]["schemas"]["ExportedMatch"]["properties"]["peer"];
    assert!(peer.to_string().contains("null"), "the peer is nullable: {peer}");
}

async fn banned_export(app: &TestApp, phone: &str, password: &str) -> reqwest::Response {
    app.post_json("/v1/ban/export", &serde_json::json!({ "phone": phone, "password": password })).await
}

/// A ban signs every session out, and the right of access stays: the banned user shows phone and password.
async fn a_banned_user_exports_with_phone_and_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let (ayse, ayse_phone) = registered(&app, "ayse").await;

    // Not banned: the signed-in export is the way.
    assert_error(banned_export(&app, &ayse_phone, PASSWORD).await, StatusCode::CONFLICT, "not_banned").await;

    let moderator = app.staff("bekci", "moderator").await;
    app.ban(&moderator, ayse.id, "spam").await;
    assert_error(export(&app, &ayse.access).await, StatusCode::FORBIDDEN, "account_banned").await;
    assert_error(
        banned_export(&app, &ayse_phone, "not-the-password").await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;

    let response = banned_export(&app, &ayse_phone, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()[CONTENT_DISPOSITION].to_str().unwrap().starts_with("attachment;"));
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["profile"]["handle"], ayse.handle.as_str());
    assert_eq!(doc["profile"]["phone"], ayse_phone.as_str());
    assert_eq!(doc["profile"]["is_banned"], true);
    assert_eq!(doc["bans"].as_array().unwrap().len(), 1, "{}", doc["bans"]);
    // The attempts this took are in it: the wrong password, and the banned sign-ins.
    let outcomes: Vec<&str> =
        doc["login_attempts"].as_array().unwrap().iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert!(outcomes.contains(&"bad_credentials") && outcomes.contains(&"banned"), "{outcomes:?}");

    let again = banned_export(&app, &ayse_phone, PASSWORD).await;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(again.headers().contains_key(RETRY_AFTER));
}
