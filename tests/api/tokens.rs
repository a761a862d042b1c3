use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, assert_error, new_phone, spawn_app, tokens};
use crate::on_both_stores;

on_both_stores!(
    a_refresh_rotates_the_pair_and_the_old_refresh_token_stops_working,
    presenting_a_rotated_token_again_revokes_the_whole_family,
    reuse_revokes_only_the_family_it_belongs_to,
    two_simultaneous_refreshes_with_one_token_rotate_once,
    an_expired_refresh_token_is_refused,
    logout_revokes_the_login_and_unknown_tokens_are_refused,
    access_tokens_expire_and_forged_or_missing_ones_are_refused,
    a_correctly_signed_token_of_no_session_is_refused_on_rest_and_websocket,
    a_refreshed_access_token_carries_the_role_the_account_has_now,
);

/// The `role` claim of an access token the server issued.
fn role_of(access_token: &str) -> String {
    use base64::Engine;
    let payload = access_token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["role"].as_str().expect("every token names its role").to_owned()
}

/// A moderator's app refreshes its token as anyone's does and gets the role the account has now (the tests' sockets
/// and requests use such tokens: a moderator's carries `moderator`, never a `user` token signed beside the server).
async fn a_refreshed_access_token_carries_the_role_the_account_has_now(backend: Backend) {
    let app = spawn_app(backend).await;
    let (moderator, user) = (app.staff("nobetci", "moderator").await, app.user("sade").await);
    assert_eq!(role_of(&moderator.access), "user", "registered before the role was given");
    assert_eq!(role_of(&app.access_token(&moderator).await), "moderator");
    assert_eq!(role_of(&app.access_token(&user).await), "user");
    // The refreshed tokens open sockets, rotating the session each time.
    app.socket(&moderator).await;
    app.socket(&moderator).await;
}

/// A token signed with the server's own key but naming no session (`sid`) — a kind no user holds and no sign-out
/// reaches — opens nothing: 401 on REST, 4001 before `hello` on the WebSocket.
async fn a_correctly_signed_token_of_no_session_is_refused_on_rest_and_websocket(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("oturumsuz").await;
    let now = app.now().timestamp();
    let claims = serde_json::json!({
        "sub": user.id.to_string(), "role": "user", "iat": now, "exp": now + 600, "jti": "no-session",
    });
    let sessionless = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(&app.jwt_secret()),
    )
    .unwrap();
    assert_error(app.get_me(&sessionless).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let url = app.ws_url();
    let mut socket =
        tanis_client::Connection::open(&url, Some(&sessionless), tanis_client::TokenIn::Header).await.unwrap();
    assert_eq!(socket.closed().await, Some(tanis_proto::CloseCode::InvalidToken.code()));
    // The same user's own token, of the session registration opened, works at both doors.
    assert_eq!(app.get_me(&user.access).await.status(), StatusCode::OK);
    app.socket(&user).await;
}

async fn a_refresh_rotates_the_pair_and_the_old_refresh_token_stops_working(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, first) = tokens(&app.register(&new_phone(), "kediadam").await);

    let response = app.refresh(&first).await;
    assert_eq!(response.status(), StatusCode::OK);
    let pair: Value = response.json().await.unwrap();
    let (access, second) = tokens(&pair);
    assert_ne!(first, second);
    assert_eq!(app.get_me(&access).await.status(), StatusCode::OK);
    assert_eq!(app.refresh(&second).await.status(), StatusCode::OK, "the new token rotates in turn");
    // The token itself is never stored, only its hash.
    assert_eq!(app.count(&format!("SELECT COUNT(*) FROM refresh_tokens WHERE token_hash = '{first}'")).await, 0);
}

async fn presenting_a_rotated_token_again_revokes_the_whole_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    let (_, stolen) = tokens(&app.register(&phone, "kediadam").await);
    let (_, current) = tokens(&app.refresh(&stolen).await.json::<Value>().await.unwrap());

    assert_error(app.refresh(&stolen).await, StatusCode::UNAUTHORIZED, "token_reused").await;
    assert_error(app.refresh(&current).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let id = app.user_id(&phone).await;
    let logged = app
        .count(&format!(
            "SELECT COUNT(*) FROM system_logs WHERE action = 'auth.refresh_token_reused' AND user_id = {id}"
        ))
        .await;
    assert_eq!(logged, 1);
}

async fn reuse_revokes_only_the_family_it_belongs_to(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    app.register(&phone, "kediadam").await;
    let (_, phone_a) = tokens(&app.login(&phone, PASSWORD).await.json::<Value>().await.unwrap());
    let (_, tablet) = tokens(&app.login(&phone, PASSWORD).await.json::<Value>().await.unwrap());

    app.refresh(&phone_a).await;
    assert_error(app.refresh(&phone_a).await, StatusCode::UNAUTHORIZED, "token_reused").await;
    assert_eq!(app.refresh(&tablet).await.status(), StatusCode::OK, "the other login is untouched");
}

async fn two_simultaneous_refreshes_with_one_token_rotate_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = tokens(&app.register(&new_phone(), "kediadam").await);

    // Both requests read the token as unused before either rotates it: the race the conditional update decides.
    app.store.fail_points.meet("refresh.before_rotate", 2);
    let (a, b) = tokio::join!(app.refresh(&token), app.refresh(&token));
    let mut statuses = [a.status(), b.status()];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::UNAUTHORIZED]);
    let rotated = app.count("SELECT COUNT(*) FROM refresh_tokens WHERE used_at IS NOT NULL").await;
    assert_eq!(rotated, 1);
}

async fn an_expired_refresh_token_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = tokens(&app.register(&new_phone(), "kediadam").await);
    app.clock.advance(TimeDelta::seconds(app.config.auth.refresh_token_ttl_secs as i64));
    assert_error(app.refresh(&token).await, StatusCode::UNAUTHORIZED, "token_expired").await;
}

async fn logout_revokes_the_login_and_unknown_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, token) = tokens(&app.register(&new_phone(), "kediadam").await);
    assert_eq!(app.logout(&token).await.status(), StatusCode::NO_CONTENT);
    assert_error(app.refresh(&token).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_error(app.logout("not-a-token").await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_error(app.refresh("not-a-token").await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

async fn access_tokens_expire_and_forged_or_missing_ones_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let (access, _) = tokens(&app.register(&new_phone(), "kediadam").await);

    let forged = tanis::auth::JwtKeys::new(b"someone-elses-secret-someone-elses", TimeDelta::minutes(15))
        .issue_for_login(
            tanis::domain::UserId(1),
            tanis::domain::Role::Admin,
            tanis::auth::LoginId::generate(),
            app.now(),
        )
        .0;
    assert_error(app.get_me(&forged).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_error(app.get_me("garbage").await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let no_header = app.client.get(app.url("/v1/me")).send().await.unwrap();
    assert_error(no_header, StatusCode::UNAUTHORIZED, "missing_token").await;
    let basic = app.client.get(app.url("/v1/me")).basic_auth("a", Some("b")).send().await.unwrap();
    assert_error(basic, StatusCode::UNAUTHORIZED, "missing_token").await;

    app.clock.advance(TimeDelta::minutes(14));
    assert_eq!(app.get_me(&access).await.status(), StatusCode::OK);
    app.clock.advance(TimeDelta::minutes(1));
    assert_error(app.get_me(&access).await, StatusCode::UNAUTHORIZED, "token_expired").await;
}
