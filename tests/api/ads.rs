//! Ads: admins manage them; a free user gets at most one, targeted, after a match ends, capped in frequency;
//! premium users none; impressions and clicks are counted per ad.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis::domain::MatchId;
use tanis_client::Connection;
use tanis_proto::{ClientFrame, MatchKind, ServerFrame};

use crate::helpers::{Backend, TestApp, TestUser, assert_error, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    a_free_user_gets_one_targeted_ad_after_a_match_and_premium_users_none,
    ads_are_capped_in_frequency_and_clicks_count_once_per_showing,
    only_admins_manage_ads_and_bad_targets_are_refused,
);

async fn admin(app: &TestApp) -> TestUser {
    let admin = app.user("kaptan").await;
    app.store.set_role(admin.id, tanis::domain::Role::Admin, app.now()).await.unwrap();
    admin
}

async fn create_ad(app: &TestApp, admin: &TestUser, title: &str, target: &str) -> i64 {
    let body = json!({ "title": title, "content": format!("{title} — şimdi"), "target_group": target });
    let created =
        app.client.post(app.url("/v1/admin/ads")).bearer_auth(&admin.access).json(&body).send().await.unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    created.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

/// `leaver` ends their match with the peer; both get `match.ended`.
async fn end(leaver: &mut Connection, match_id: MatchId, peer: &mut Connection) {
    leaver.send(&ClientFrame::MatchLeave { id: Some("l".into()), match_id }).await.unwrap();
    for socket in [leaver, peer] {
        socket.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();
    }
}

/// The next frame that is an ad or a pong: after a `ping`, a pong first means no ad was queued before it.
async fn ad_or_pong(socket: &mut Connection) -> Option<i64> {
    socket.send(&ClientFrame::Ping { id: Some("p".into()) }).await.unwrap();
    match socket.next_where(|f| matches!(f, ServerFrame::Ad { .. } | ServerFrame::Pong { .. })).await.unwrap() {
        ServerFrame::Ad { ad } => Some(ad.id),
        _ => None,
    }
}

async fn next_ad(socket: &mut Connection) -> i64 {
    match socket.next_where(|f| matches!(f, ServerFrame::Ad { .. })).await.unwrap() {
        ServerFrame::Ad { ad } => ad.id,
        _ => unreachable!(),
    }
}

async fn views(app: &TestApp, user: &TestUser) -> i64 {
    app.count(format!("SELECT COUNT(*) FROM ad_views WHERE user_id = {}", user.id)).await
}

async fn a_free_user_gets_one_targeted_ad_after_a_match_and_premium_users_none(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin(&app).await;
    let ankara = create_ad(&app, &admin, "Ankara kahvesi", "near:39.93,32.86,50").await;
    let everyone = create_ad(&app, &admin, "Herkese", "all").await;
    let (free, premium) = (app.user("ucretsiz").await, app.user("premiumcu").await);
    let at_istanbul = app.patch_me(&free.access, &json!({ "location": { "lat": 41.04, "lon": 29.01 } })).await;
    assert_eq!(at_istanbul.status(), StatusCode::OK);
    app.subscribe(premium.id, app.now() + TimeDelta::days(30)).await;

    let (mut sf, chat, mut sp, _) = app.pair(&free, &premium, MatchKind::Text).await;
    // The premium side leaves: the two are handled in that order, so once the free user's ad is here the premium
    // user's turn is over.
    end(&mut sp, chat.info.match_id, &mut sf).await;
    assert_eq!(next_ad(&mut sf).await, everyone, "the regional ad is for Ankara, the user is in Istanbul");
    assert_eq!(ad_or_pong(&mut sp).await, None, "premium users get no ads");
    assert_eq!(views(&app, &premium).await, 0);
    assert_eq!(ad_or_pong(&mut sf).await, None, "one ad between matches");
    let (_, ads) = app.get_json("/v1/admin/ads", &admin.access).await;
    let counted: Vec<(i64, i64)> = ads
        .as_array()
        .unwrap()
        .iter()
        .map(|a| (a["id"].as_i64().unwrap(), a["impressions"].as_i64().unwrap()))
        .collect();
    assert_eq!(counted, [(everyone, 1), (ankara, 0)]);
}

async fn ads_are_capped_in_frequency_and_clicks_count_once_per_showing(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin(&app).await;
    let ad = create_ad(&app, &admin, "Yeni gelenlere", "new").await;
    let never_shown = create_ad(&app, &admin, "Ankara", "near:39.93,32.86,50").await;
    let a = app.user("birinci").await;
    let (b, c, d) = (app.user("ikinci").await, app.user("ucuncu").await, app.user("dorduncu").await);

    let (mut sa, chat, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    end(&mut sa, chat.info.match_id, &mut sb).await;
    assert_eq!(next_ad(&mut sa).await, ad);
    assert_eq!(next_ad(&mut sb).await, ad);

    // Straight into another match and out: `a` is within the interval; `c` is handled after `a`, so once c's ad
    // is here a's turn is over.
    let (mut sa, chat, mut sc, _) = app.pair(&a, &c, MatchKind::Text).await;
    end(&mut sa, chat.info.match_id, &mut sc).await;
    assert_eq!(next_ad(&mut sc).await, ad);
    assert_eq!(ad_or_pong(&mut sa).await, None, "capped: at most one per ads.min_interval_secs");
    assert_eq!(views(&app, &a).await, 1);

    app.clock.advance(TimeDelta::seconds(i64::try_from(app.config.ads.min_interval_secs).unwrap()));
    let (mut sa, chat, mut sd, _) = app.pair(&a, &d, MatchKind::Text).await;
    end(&mut sd, chat.info.match_id, &mut sa).await;
    assert_eq!(next_ad(&mut sa).await, ad, "the interval has passed");

    let click = |id: i64| {
        let (app, a) = (&app, &a);
        async move {
            let url = app.url(&format!("/v1/ads/{id}/click"));
            app.client.post(url).bearer_auth(app.access_token(a).await).send().await.unwrap()
        }
    };
    assert_eq!(click(ad).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(click(ad).await.status(), StatusCode::NO_CONTENT, "again: still once");
    assert_error(click(never_shown).await, StatusCode::NOT_FOUND, "not_found").await;
    assert_error(click(999_999).await, StatusCode::NOT_FOUND, "not_found").await;
    let (_, ads) = app.get_json("/v1/admin/ads", &app.access_token(&admin).await).await;
    let stats = ads.as_array().unwrap().iter().find(|x| x["id"] == ad).unwrap();
    assert_eq!(
        (stats["impressions"].as_i64(), stats["clicks"].as_i64()),
        (Some(5), Some(1)),
        "a twice, b, c and d once each"
    );
}

async fn only_admins_manage_ads_and_bad_targets_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = admin(&app).await;
    let moderator = app.user("bekci").await;
    app.store.set_role(moderator.id, tanis::domain::Role::Moderator, app.now()).await.unwrap();
    let good = json!({ "title": "Kahve", "content": "İlk fincan bizden", "target_group": "all" });
    for who in [&moderator, &app.user("siradan").await] {
        let listed = app.client.get(app.url("/v1/admin/ads")).bearer_auth(&who.access).send().await.unwrap();
        assert_error(listed, StatusCode::FORBIDDEN, "forbidden").await;
        let created =
            app.client.post(app.url("/v1/admin/ads")).bearer_auth(&who.access).json(&good).send().await.unwrap();
        assert_error(created, StatusCode::FORBIDDEN, "forbidden").await;
        let changed = app
            .client
            .patch(app.url("/v1/admin/ads/1"))
            .bearer_auth(&who.access)
            .json(&json!({"active": false}))
            .send()
            .await
            .unwrap();
        assert_error(changed, StatusCode::FORBIDDEN, "forbidden").await;
    }
    for bad in [
        json!({ "title": "Kahve", "content": "x", "target_group": "premium" }),
        json!({ "title": "Kahve", "content": "x", "target_group": "near:41,29" }),
        json!({ "title": " ", "content": "x", "target_group": "all" }),
        json!({ "title": "Kahve", "content": "x".repeat(1001), "target_group": "all" }),
    ] {
        let refused =
            app.client.post(app.url("/v1/admin/ads")).bearer_auth(&admin.access).json(&bad).send().await.unwrap();
        assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM ads").await, 0);
    let id = create_ad(&app, &admin, "Kahve", "all").await;
    let path = format!("/v1/admin/ads/{id}");
    let bad = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&admin.access)
        .json(&json!({"target_group": "mars"}))
        .send()
        .await
        .unwrap();
    assert_error(bad, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    let off = app
        .client
        .patch(app.url(&path))
        .bearer_auth(&admin.access)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    let unknown = app
        .client
        .patch(app.url("/v1/admin/ads/999999"))
        .bearer_auth(&admin.access)
        .json(&json!({"active": false}))
        .send()
        .await
        .unwrap();
    assert_error(unknown, StatusCode::NOT_FOUND, "not_found").await;

    // Deactivated: a match ends and no ad comes.
    let (a, b) = (app.user("birinci").await, app.user("ikinci").await);
    let (mut sa, chat, mut sb, _) = app.pair(&a, &b, MatchKind::Text).await;
    end(&mut sb, chat.info.match_id, &mut sa).await;
    assert_eq!(ad_or_pong(&mut sa).await, None);
    let audited = app
        .count(format!(
            "SELECT COUNT(*) FROM system_logs WHERE action IN ('ad.created', 'ad.updated') AND actor_id = {}",
            admin.id
        ))
        .await;
    assert_eq!(audited, 2);
}
