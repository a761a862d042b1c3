//! Notifications: the list in the user's language, the unread count and marking read, and admin broadcasts
//! delivered live as `notification` frames.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tanis_proto::{ServerFrame, UserId};

use crate::helpers::{Backend, TestApp, TestUser, assert_error, spawn_app};
use crate::on_both_stores;

on_both_stores!(
    notifications_are_listed_newest_first_in_the_users_language_and_marked_read_up_to_an_id,
    a_broadcast_reaches_its_audience_live_in_each_language_and_only_admins_send_it,
);

async fn list(app: &TestApp, user: &TestUser, query: &str) -> reqwest::Response {
    app.client.get(app.url(&format!("/v1/notifications{query}"))).bearer_auth(&user.access).send().await.unwrap()
}

async fn mark_read(app: &TestApp, user: &TestUser, body: Value) -> reqwest::Response {
    app.client.post(app.url("/v1/notifications/read")).bearer_auth(&user.access).json(&body).send().await.unwrap()
}

async fn notifications_are_listed_newest_first_in_the_users_language_and_marked_read_up_to_an_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let (mut user, other) = (app.user("kedi").await, app.user("kopek").await);
    let moderator = app.staff("bekci", "moderator").await;
    app.ban(&moderator, user.id, "spam").await;
    app.unban(&moderator, user.id).await;
    // The ban signed every session out; unbanned, the user signs in again.
    user.access = app.sign_in(&user).await;

    let page: Value = list(&app, &user, "").await.json().await.unwrap();
    let texts: Vec<&str> =
        page["notifications"].as_array().unwrap().iter().map(|n| n["text"].as_str().unwrap()).collect();
    assert_eq!(
        texts,
        ["Hesabındaki yasak kaldırıldı.", "Hesabın yasaklandı (spam)."],
        "Turkish by default, newest first"
    );
    assert_eq!((page["unread"].as_i64(), page["notifications"][0]["type"].as_str()), (Some(2), Some("system")));

    let switched = app.patch_me(&user.access, &json!({ "locale": "en" })).await;
    assert_eq!(switched.status(), StatusCode::OK);
    let me: Value = app.get_me(&user.access).await.json().await.unwrap();
    assert_eq!(me["locale"], "en");
    let page: Value = list(&app, &user, "?limit=1").await.json().await.unwrap();
    assert_eq!(page["notifications"][0]["text"], "Your ban was lifted.", "the whole list follows the setting");
    let (newest, next) = (page["notifications"][0]["id"].as_i64().unwrap(), page["next_before"].as_i64().unwrap());
    let older: Value = list(&app, &user, &format!("?before={next}")).await.json().await.unwrap();
    assert_eq!(older["notifications"][0]["text"], "Your account is banned (spam).");
    assert!(older["next_before"].is_null(), "the last page");
    let oldest = older["notifications"][0]["id"].as_i64().unwrap();

    // Someone else's "up to" never touches this user's notifications.
    let theirs: Value = mark_read(&app, &other, json!({ "up_to": newest })).await.json().await.unwrap();
    assert_eq!(theirs["unread"], 0);
    assert_eq!(list(&app, &user, "").await.json::<Value>().await.unwrap()["unread"], 2);
    let read: Value = mark_read(&app, &user, json!({ "up_to": oldest })).await.json().await.unwrap();
    assert_eq!(read["unread"], 1, "only up to that id");
    let read: Value = mark_read(&app, &user, json!({ "up_to": newest })).await.json().await.unwrap();
    assert_eq!(read["unread"], 0);

    // Bad inputs.
    for query in ["?limit=0", "?limit=101", "?before=0", "?limit=x", "?colour=red"] {
        assert_error(list(&app, &user, query).await, StatusCode::BAD_REQUEST, "invalid_parameter").await;
    }
    assert_error(
        mark_read(&app, &user, json!({ "up_to": 0 })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    assert_error(
        app.patch_me(&user.access, &json!({ "locale": "de" })).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_request",
    )
    .await;
    let anonymous = app.client.get(app.url("/v1/notifications")).send().await.unwrap();
    assert_error(anonymous, StatusCode::UNAUTHORIZED, "missing_token").await;
}

async fn a_broadcast_reaches_its_audience_live_in_each_language_and_only_admins_send_it(backend: Backend) {
    let app = spawn_app(backend).await;
    // Registered more than seven days before the broadcasts: not `new`.
    let veteran = app.user("emektar").await;
    app.clock.advance(TimeDelta::days(7) + TimeDelta::seconds(1));
    let (turkish, english, premium, banned) =
        (app.user("turk").await, app.user("ingiliz").await, app.user("premiumcu").await, app.user("yasakli").await);
    let moderator = app.staff("bekci", "moderator").await;
    let admin = app.staff("kaptan", "admin").await;
    assert_eq!(app.patch_me(&english.access, &json!({ "locale": "en" })).await.status(), StatusCode::OK);
    app.subscribe(premium.id, app.now() + TimeDelta::days(30)).await;
    app.ban(&moderator, banned.id, "spam").await;
    let (mut tr_socket, mut en_socket) = (app.socket(&turkish).await, app.socket(&english).await);
    let mut premium_socket = app.socket(&premium).await;

    let send = |token: String, body: Value| {
        let request = app.client.post(app.url("/v1/admin/broadcasts")).bearer_auth(token).json(&body);
        async move { request.send().await.unwrap() }
    };
    let body = json!({ "audience": "free", "tr": "Bu gece bakım var.", "en": "Maintenance tonight." });
    assert_error(send(moderator.access.clone(), body.clone()).await, StatusCode::FORBIDDEN, "forbidden").await;
    assert_error(send(turkish.access.clone(), body.clone()).await, StatusCode::FORBIDDEN, "forbidden").await;
    for bad in [
        json!({ "audience": "everyone", "tr": "x", "en": "x" }),
        json!({ "audience": "all", "tr": " ", "en": "x" }),
        json!({ "audience": "all", "tr": "x" }),
    ] {
        assert_error(send(admin.access.clone(), bad).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM notifications WHERE template = 'broadcast'").await, 0);

    // Who each audience reaches: never the banned user; `free` and `premium` split the rest by plan, `new` is
    // everyone registered in the last seven days.
    let everyone_else = [&veteran, &turkish, &english, &premium, &moderator, &admin];
    let free: Vec<&TestUser> = everyone_else.iter().copied().filter(|u| u.id != premium.id).collect();
    let fresh: Vec<&TestUser> = everyone_else.iter().copied().filter(|u| u.id != veteran.id).collect();
    for (audience, reached) in
        [("free", free), ("premium", vec![&premium]), ("new", fresh), ("all", everyone_else.into())]
    {
        let en = format!("Maintenance tonight ({audience}).");
        let body = json!({ "audience": audience, "tr": format!("Bu gece bakım var ({audience})."), "en": en });
        let sent: Value = send(admin.access.clone(), body).await.json().await.unwrap();
        assert_eq!(sent["reached"], reached.len(), "{audience}");
        let mut expected: Vec<UserId> = reached.iter().map(|u| u.id).collect();
        expected.sort();
        assert_eq!(recipients(&app, &en).await, expected, "{audience}");
    }
    for (socket, text) in [
        (&mut tr_socket, "Bu gece bakım var (free)."),
        (&mut en_socket, "Maintenance tonight (free)."),
        (&mut premium_socket, "Bu gece bakım var (premium)."),
    ] {
        let frame = socket.next_where(|f| matches!(f, ServerFrame::Notification { .. })).await.unwrap();
        let ServerFrame::Notification { notification } = frame else { unreachable!() };
        assert_eq!((notification.text.as_str(), notification.kind.as_str()), (text, "system"), "live, first");
    }
    let audited = app
        .count(format!(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'notification.broadcast' AND actor_id = {}",
            admin.id
        ))
        .await;
    assert_eq!(audited, 4);
}

/// The users a broadcast was stored for, by its English text, in id order.
async fn recipients(app: &TestApp, en: &str) -> Vec<UserId> {
    let sql =
        format!("SELECT user_id FROM notifications WHERE template = 'broadcast' AND message = '{en}' ORDER BY user_id");
    app.integers(sql).await.into_iter().map(UserId).collect()
}
