//! Premium: the billing provider's signed webhook (signature, replay window, one application per event id) and
//! admins' grants; `is_premium`, today's balance and `GET /v1/me` follow at once.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis::billing::sign;
use tanis::domain::UserId;

use crate::helpers::{BILLING_SECRET, Backend, TestApp, TestUser, assert_error, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    a_signed_subscription_starts_tops_up_today_is_applied_once_and_ends,
    unsigned_stale_tampered_and_malformed_events_change_nothing,
    admins_grant_and_end_premium_and_nobody_else_can,
);

async fn post_event(app: &TestApp, body: &Value, signature: Option<String>) -> reqwest::Response {
    let raw = body.to_string();
    let signature = signature.unwrap_or_else(|| sign(BILLING_SECRET.as_bytes(), app.now().timestamp(), raw.as_bytes()));
    app.client
        .post(app.url("/v1/billing/events"))
        .header("content-type", "application/json")
        .header("tanis-signature", signature)
        .body(raw)
        .send()
        .await
        .unwrap()
}

async fn me(app: &TestApp, user: &TestUser) -> Value {
    app.get_me(&app.access_token(user).await).await.json().await.unwrap()
}

fn event(id: &str, kind: &str, user_id: UserId, ends_at: Option<chrono::DateTime<chrono::Utc>>) -> Value {
    json!({ "id": id, "type": kind, "user_id": user_id, "plan": "premium_monthly", "ends_at": ends_at })
}

async fn a_signed_subscription_starts_tops_up_today_is_applied_once_and_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("abone").await;
    let free = me(&app, &user).await;
    assert_eq!((free["is_premium"].as_bool(), free["plan"].is_null()), (Some(false), true));
    let (premium_text, premium_video) = (app.config.quotas.premium_text_daily, app.config.quotas.premium_video_daily);
    assert!(free["balances"]["daily_text"].as_u64().unwrap() < u64::from(premium_text));

    let ends_at = app.now() + TimeDelta::days(30);
    let started = event("evt_1", "subscription.started", user.id, Some(ends_at));
    let applied: Value = post_event(&app, &started, None).await.json().await.unwrap();
    assert_eq!(applied, json!({ "applied": true, "premium": true }));
    let seen = me(&app, &user).await;
    assert_eq!(seen["is_premium"], true);
    assert_eq!(
        (seen["balances"]["daily_text"].as_u64(), seen["balances"]["daily_video"].as_u64()),
        (Some(u64::from(premium_text)), Some(u64::from(premium_video))),
        "an upgrade tops today up instead of waiting for midnight"
    );
    assert_eq!(seen["plan"]["name"], "premium_monthly");
    assert_eq!(seen["plan"]["ends_at"].as_str().unwrap().parse::<chrono::DateTime<chrono::Utc>>().unwrap(), ends_at);
    assert_eq!(seen["plan"]["renews"], true);

    // Delivered again (providers retry): applied once.
    let again: Value = post_event(&app, &started, None).await.json().await.unwrap();
    assert_eq!(again, json!({ "applied": false, "premium": null }));
    assert_eq!(app.count(format!("SELECT COUNT(*) FROM subscriptions WHERE user_id = {}", user.id)).await, 1);

    let renewed_to = ends_at + TimeDelta::days(30);
    post_event(&app, &event("evt_2", "subscription.renewed", user.id, Some(renewed_to)), None).await;
    post_event(&app, &event("evt_3", "subscription.cancelled", user.id, None), None).await;
    let seen = me(&app, &user).await;
    assert_eq!(
        (seen["is_premium"].as_bool(), seen["plan"]["renews"].as_bool()),
        (Some(true), Some(false)),
        "cancelled: premium until the end"
    );
    assert_eq!(
        app.count(format!("SELECT COUNT(*) FROM subscriptions WHERE user_id = {}", user.id)).await,
        1,
        "renewed in place"
    );

    let ended: Value =
        post_event(&app, &event("evt_4", "subscription.expired", user.id, None), None).await.json().await.unwrap();
    assert_eq!(ended["premium"], false);
    let seen = me(&app, &user).await;
    assert_eq!((seen["is_premium"].as_bool(), seen["plan"].is_null()), (Some(false), true));
    let audited = app
        .count(format!(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'subscription.billing' AND user_id = {}",
            user.id
        ))
        .await;
    assert_eq!(audited, 4, "each applied event once");
}

async fn unsigned_stale_tampered_and_malformed_events_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("sahtekar").await;
    let body = event("evt_x", "subscription.started", user.id, Some(app.now() + TimeDelta::days(30)));
    let raw = body.to_string();
    let now = app.now().timestamp();
    for (signature, why) in [
        (String::new(), "no signature"),
        (sign(b"not the shared secret", now, raw.as_bytes()), "another secret"),
        (sign(BILLING_SECRET.as_bytes(), now - 301, raw.as_bytes()), "older than the replay window"),
        (sign(BILLING_SECRET.as_bytes(), now, b"{}"), "signed another body"),
    ] {
        let refused = post_event(&app, &body, Some(signature)).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{why}");
        assert_error(refused, StatusCode::UNAUTHORIZED, "invalid_signature").await;
    }
    // Signed but wrong: bad JSON shape, an end in the past, nobody, nothing to cancel.
    let past = event("evt_p", "subscription.started", user.id, Some(app.now() - TimeDelta::seconds(1)));
    let unknown_type = json!({ "id": "evt_t", "type": "subscription.paused", "user_id": user.id, "plan": "p" });
    for bad in [past, unknown_type] {
        assert_error(post_event(&app, &bad, None).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    let nobody = event("evt_n", "subscription.started", UserId(999_999), Some(app.now() + TimeDelta::days(1)));
    assert_error(post_event(&app, &nobody, None).await, StatusCode::NOT_FOUND, "not_found").await;
    let nothing = event("evt_c", "subscription.cancelled", user.id, None);
    assert_error(post_event(&app, &nothing, None).await, StatusCode::NOT_FOUND, "not_found").await;

    assert_eq!(app.count("SELECT COUNT(*) FROM subscriptions").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM billing_events").await, 0, "a refused event is not remembered");
    assert_eq!(me(&app, &user).await["is_premium"], false);
}

async fn admins_grant_and_end_premium_and_nobody_else_can(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("uyecik").await;
    let moderator = app.user("bekci").await;
    let admin = app.user("kaptan").await;
    app.store.set_role(moderator.id, tanis::domain::Role::Moderator, app.now()).await.unwrap();
    app.store.set_role(admin.id, tanis::domain::Role::Admin, app.now()).await.unwrap();
    let path = format!("/v1/admin/users/{}/subscription", user.id);
    let grant = json!({ "plan": "premium_support", "days": 7 });
    for who in [&user, &moderator] {
        let refused = app.client.put(app.url(&path)).bearer_auth(&who.access).json(&grant).send().await.unwrap();
        assert_error(refused, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for bad in [
        json!({ "plan": "Premium!", "days": 7 }),
        json!({ "plan": "p", "days": 0 }),
        json!({ "plan": "p", "days": 367 }),
    ] {
        let refused = app.client.put(app.url(&path)).bearer_auth(&admin.access).json(&bad).send().await.unwrap();
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    let granted = app.client.put(app.url(&path)).bearer_auth(&admin.access).json(&grant).send().await.unwrap();
    assert_eq!(granted.status(), StatusCode::NO_CONTENT);
    let seen = me(&app, &user).await;
    assert_eq!((seen["is_premium"].as_bool(), seen["plan"]["name"].as_str()), (Some(true), Some("premium_support")));

    let ended = app.client.delete(app.url(&path)).bearer_auth(&admin.access).send().await.unwrap();
    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &user).await["is_premium"], false);
    let again = app.client.delete(app.url(&path)).bearer_auth(&admin.access).send().await.unwrap();
    assert_error(again, StatusCode::NOT_FOUND, "not_found").await;
    let audited = app
        .count(format!(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'subscription.changed' AND actor_id = {}",
            admin.id
        ))
        .await;
    assert_eq!(audited, 2);
}
