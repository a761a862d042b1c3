use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, assert_error, new_phone, spawn_app, tokens};
use crate::on_both_stores;

on_both_stores!(
    me_shows_the_handle_and_balances_and_never_the_phone_or_id,
    a_new_alias_comes_with_a_new_tag_and_bad_aliases_change_nothing,
    location_can_be_set_cleared_or_kept_and_must_be_on_earth,
);

async fn me_shows_the_handle_and_balances_and_never_the_phone_or_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    let (access, _) = tokens(&app.register(&phone, "kediadam").await);

    let response = app.get_me(&access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let me: Value = serde_json::from_str(&text).unwrap();
    assert!(me["handle"].as_str().unwrap().starts_with("kediadam#"));
    assert_eq!(me["is_premium"], false);
    assert_eq!(me["role"], "user");
    assert!(!text.contains(&phone[3..]), "the phone number is not echoed");
    assert!(me.get("id").is_none() && me.get("phone").is_none());
}

async fn a_new_alias_comes_with_a_new_tag_and_bad_aliases_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (access, _) = tokens(&app.register(&new_phone(), "kediadam").await);

    let response = app.patch_me(&access, &json!({ "alias": "ｙｅｎｉ_ad" })).await;
    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    let tag = me["tag"].as_str().unwrap();
    assert_eq!(me["handle"], format!("yeni_ad#{tag}"), "NFKC-normalised");

    assert_error(
        app.patch_me(&access, &json!({ "alias": "x" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_alias",
    )
    .await;
    assert_error(
        app.patch_me(&access, &json!({ "alias": "moderator" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reserved_alias",
    )
    .await;
    let after: Value = app.get_me(&access).await.json().await.unwrap();
    assert_eq!(after["handle"], me["handle"]);
}

async fn location_can_be_set_cleared_or_kept_and_must_be_on_earth(backend: Backend) {
    let app = spawn_app(backend).await;
    let (access, _) = tokens(&app.register(&new_phone(), "kediadam").await);

    let set: Value =
        app.patch_me(&access, &json!({ "location": { "lat": 41.0082, "lon": 28.9784 } })).await.json().await.unwrap();
    assert_eq!(set["location"], json!({ "lat": 41.0082, "lon": 28.9784 }));

    let kept: Value = app.patch_me(&access, &json!({ "alias": "baskaad" })).await.json().await.unwrap();
    assert_eq!(kept["location"], set["location"], "an absent location is left alone");

    for bad in [json!({ "lat": 91.0, "lon": 0.0 }), json!({ "lat": 0.0, "lon": -180.5 })] {
        let response = app.patch_me(&access, &json!({ "location": bad, "alias": "ucuncu" })).await;
        assert_error(response, StatusCode::UNPROCESSABLE_ENTITY, "invalid_location").await;
    }
    let unchanged: Value = app.get_me(&access).await.json().await.unwrap();
    assert_eq!(unchanged["alias"], "baskaad", "a refused change stores nothing, not even its valid part");

    let cleared: Value = app.patch_me(&access, &json!({ "location": null })).await.json().await.unwrap();
    assert_eq!(cleared["location"], Value::Null);
}
