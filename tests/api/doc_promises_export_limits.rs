//! docs/privacy.md's bound on a data export: each list holds at most 10 000 rows, newest first, and the document
//! says so (`section_limit`) and names the lists that were cut (`truncated`). The rows are made through the
//! product's cheapest door for one user's list: an admin's broadcast stores one notification per reached user per
//! call, so 10 001 broadcasts overflow the user's `notifications` by one.

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestUser, spawn_app};
use crate::on_both_stores;

on_both_stores!(an_export_keeps_the_newest_10_000_rows_of_a_list_and_names_the_list_it_cut);

/// The documented bound.
const SECTION_LIMIT: usize = 10_000;

async fn broadcast(app: &TestApp, admin: &str, text: &str) {
    let body = json!({ "audience": "all", "tr": text, "en": text });
    let response = app.post("/v1/admin/broadcasts").bearer_auth(admin).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "{}", response.text().await.unwrap());
}

async fn export(app: &TestApp, user: &TestUser) -> Value {
    let (status, export) = app.get_json("/v1/me/export", &app.access_token(user).await).await;
    assert_eq!(status, StatusCode::OK);
    export
}

async fn an_export_keeps_the_newest_10_000_rows_of_a_list_and_names_the_list_it_cut(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.staff("duyurucu", "admin").await;
    let user = app.user("kalabalik").await;
    let token = app.access_token(&admin).await;
    let before: Value = export(&app, &user).await;
    assert_eq!(
        (before["section_limit"].as_u64(), before["truncated"].as_array().map(Vec::len)),
        (Some(10_000), Some(0))
    );
    app.clock.advance(chrono::TimeDelta::minutes(1));

    // The oldest alone, then all but the newest side by side, then the newest: the first is the one cut.
    broadcast(&app, &token, "en eski duyuru").await;
    futures_util::stream::iter(0..SECTION_LIMIT - 1)
        .for_each_concurrent(8, |n| {
            let token = token.clone();
            let app = &app;
            async move { broadcast(app, &token, &format!("duyuru {n}")).await }
        })
        .await;
    broadcast(&app, &token, "en yeni duyuru").await;

    let document = export(&app, &user).await;
    let notifications = document["notifications"].as_array().unwrap();
    assert_eq!(notifications.len(), SECTION_LIMIT);
    assert_eq!(notifications[0]["text"], "en yeni duyuru", "newest first");
    assert!(notifications.iter().all(|n| n["text"] != "en eski duyuru"), "the oldest is the one left out");
    assert_eq!(document["truncated"], json!(["notifications"]), "only the list that was cut is named");
    assert_eq!(document["section_limit"], SECTION_LIMIT);
}
