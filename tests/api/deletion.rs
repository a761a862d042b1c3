//! Account deletion (issue 15, point 5): asked for with the password, it ends every session, the match and the
//! queue at once; signing in within the grace period undoes it; a banned account can delete too, and its ban
//! outlives it. What the purge leaves behind: tests/api/purge.rs.

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tanis::domain::UserId;
use tanis_client::{Connection, TokenIn};
use tanis_proto::{ClientFrame, CloseCode, EndReason, ErrorCode, MatchKind, ServerFrame};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, PASSWORD, TestApp, TestUser, assert_error, new_phone, registration, spawn_app, tokens};
use crate::on_both_stores;

on_both_stores!(
    a_wrong_password_deletes_nothing_and_wrong_passwords_are_throttled_like_logins,
    deleting_closes_every_socket_ends_the_match_and_refuses_every_token,
    signing_in_within_the_grace_period_undoes_the_deletion_and_the_account_is_never_purged,
    a_banned_account_deletes_with_its_phone_and_its_ban_outlives_it_until_it_ends,
    an_export_follows_the_deletion_its_undo_and_the_purge,
    undoing_a_deletion_restores_the_account_but_not_the_contacts_it_ended_and_the_answer_says_so,
);

/// A registered account as these tests hold it (its refresh token is the user's: `user.refresh_token()`).
pub(crate) struct Account {
    pub phone: String,
    pub user: TestUser,
}

pub(crate) async fn account(app: &TestApp, alias: &str) -> Account {
    let phone = new_phone();
    let session = app.register(&phone, alias).await;
    Account { user: TestUser::signed_in(app.user_id(&phone).await, &phone, &session), phone }
}

pub(crate) async fn delete_me(app: &TestApp, access: &str, password: &str) -> Response {
    let body = json!({ "password": password });
    app.client.delete(app.url("/v1/me")).bearer_auth(access).json(&body).send().await.unwrap()
}

async fn delete_banned(app: &TestApp, phone: &str, password: &str) -> Response {
    app.post_json("/v1/ban/deletion", &json!({ "phone": phone, "password": password })).await
}

/// Deletes the account and returns `purge_after`; panics unless it is 202, naming the date and the contacts ended.
pub(crate) async fn deleted(response: Response) -> DateTime<Utc> {
    deleted_with_contacts(response).await.0
}

/// As [`deleted`], with `contacts_ended` too.
async fn deleted_with_contacts(response: Response) -> (DateTime<Utc>, u64) {
    assert_eq!(response.status(), StatusCode::ACCEPTED, "{}", response.text().await.unwrap());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body.as_object().unwrap().len(), 2, "only purge_after and contacts_ended: {body}");
    (body["purge_after"].as_str().unwrap().parse().unwrap(), body["contacts_ended"].as_u64().unwrap())
}

async fn pending_deletions(app: &TestApp, user_id: UserId) -> i64 {
    app.count(format!("SELECT COUNT(*) FROM users WHERE id = {user_id} AND deleted_at IS NOT NULL")).await
}

async fn audited(app: &TestApp, action: &str, user_id: UserId) -> i64 {
    app.count(format!("SELECT COUNT(*) FROM system_logs WHERE action = '{action}' AND user_id = {user_id}")).await
}

/// The grace period, and a minute more.
fn past_grace(app: &TestApp) -> TimeDelta {
    TimeDelta::days(app.config.auth.deletion_grace_days.into()) + TimeDelta::minutes(1)
}

async fn export(app: &TestApp, access: &str) -> Response {
    app.client.get(app.url("/v1/me/export")).bearer_auth(access).send().await.unwrap()
}

async fn a_wrong_password_deletes_nothing_and_wrong_passwords_are_throttled_like_logins(backend: Backend) {
    let app = spawn_app(backend).await;
    let ayse = account(&app, "ayse").await;
    for _ in 0..app.config.auth.max_failures_per_phone {
        assert_error(
            delete_me(&app, &ayse.user.access, "not-my-password").await,
            StatusCode::FORBIDDEN,
            "wrong_password",
        )
        .await;
    }
    assert_eq!(pending_deletions(&app, ayse.user.id).await, 0);
    assert_eq!(app.get_me(&ayse.user.access).await.status(), StatusCode::OK, "the session goes on");

    let locked = delete_me(&app, &ayse.user.access, PASSWORD).await;
    assert!(locked.headers().contains_key("retry-after"));
    assert_error(locked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    // The same count as the login's: the phone is locked there too.
    assert_error(app.login(&ayse.phone, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    assert_eq!(pending_deletions(&app, ayse.user.id).await, 0);

    app.clock.advance(TimeDelta::seconds(app.config.auth.login_window_secs as i64));
    let response = app.login(&ayse.phone, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "unlocked once the window has passed");
    let (access, _) = tokens(&response.json::<Value>().await.unwrap());
    let long = "x".repeat(73);
    assert_error(delete_me(&app, &access, &long).await, StatusCode::FORBIDDEN, "wrong_password").await;
    let no_password = app.client.delete(app.url("/v1/me")).bearer_auth(&access).json(&json!({}));
    assert_error(no_password.send().await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    assert_error(delete_me(&app, "not-a-token", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(pending_deletions(&app, ayse.user.id).await, 0);
    assert_eq!(audited(&app, "account.deletion_requested", ayse.user.id).await, 0);
}

async fn deleting_closes_every_socket_ends_the_match_and_refuses_every_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let ayse = account(&app, "ayse").await;
    let burak = account(&app, "burak").await;
    // One socket from the pair (a refreshed token of the registration's session) and one with the registration's
    // own token.
    let (mut sa, chat_a, mut sb, _chat_b) = app.pair(&ayse.user, &burak.user, MatchKind::Text).await;
    let (mut signed_in, _) = Connection::connect(&app.ws_url(), &ayse.user.access).await.unwrap();
    let match_id = chat_a.info.match_id;

    let purge_after = deleted(delete_me(&app, &ayse.user.access, PASSWORD).await).await;
    assert_eq!(purge_after, app.now() + TimeDelta::days(30), "the default grace period");

    let invalid_token = Some(CloseCode::InvalidToken.code());
    assert_eq!(signed_in.closed().await, invalid_token, "the session's socket closes with 4001");
    assert_eq!(sa.closed().await, invalid_token, "and so does every other socket of the account");
    let ended = sb.next_where(|f| matches!(f, ServerFrame::MatchEnded { .. })).await.unwrap();
    assert_eq!(ended, ServerFrame::MatchEnded { id: None, match_id, reason: EndReason::PeerLeft });
    let status = app.count(format!("SELECT COUNT(*) FROM matches WHERE id = {match_id} AND status <> 'active'"));
    assert_eq!(status.await, 1, "the match is over in the store");

    assert_error(app.refresh(&ayse.user.refresh_token().await).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_error(app.get_me(&ayse.user.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let mut again = Connection::open(&app.ws_url(), Some(&ayse.user.access), TokenIn::Header).await.unwrap();
    assert_eq!(again.closed().await, invalid_token, "a new socket with the old token is closed before hello");
    let unbound = app.forged_token(&ayse.user);
    let mut again = Connection::open(&app.ws_url(), Some(&unbound), TokenIn::Header).await.unwrap();
    assert_eq!(again.closed().await, invalid_token, "so is one forged now for the signed-out session");
    let bearer = app.client.get(app.url("/v1/me/sessions")).bearer_auth(&unbound).send().await.unwrap();
    assert_error(bearer, StatusCode::UNAUTHORIZED, "invalid_token").await;

    // The other side goes on: matched again with someone else.
    let carol = account(&app, "carol").await;
    let (_sb, chat_b, _sc, _chat_c) = app.pair(&burak.user, &carol.user, MatchKind::Text).await;
    assert_ne!(chat_b.info.match_id, match_id);
    assert_eq!(pending_deletions(&app, ayse.user.id).await, 1);
    assert_eq!(audited(&app, "account.deletion_requested", ayse.user.id).await, 1);
    let details = app.count(format!(
        "SELECT COUNT(*) FROM system_logs WHERE action = 'account.deletion_requested' AND details LIKE '%{}%'",
        &ayse.phone[3..]
    ));
    assert_eq!(details.await, 0, "no phone number in the audit row");
}

async fn signing_in_within_the_grace_period_undoes_the_deletion_and_the_account_is_never_purged(backend: Backend) {
    let app = spawn_app(backend).await;
    let ayse = account(&app, "ayse").await;
    let before: Value = app.get_me(&ayse.user.access).await.json().await.unwrap();
    deleted(delete_me(&app, &ayse.user.access, PASSWORD).await).await;
    app.clock.advance(TimeDelta::days(29));

    let response = app.login(&ayse.phone, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    // Her app holds the new session.
    let user = TestUser::signed_in(ayse.user.id, &ayse.phone, &response.json::<Value>().await.unwrap());
    assert_eq!(pending_deletions(&app, ayse.user.id).await, 0);
    assert_eq!(audited(&app, "account.deletion_cancelled", ayse.user.id).await, 1);
    let after: Value = app.get_me(&user.access).await.json().await.unwrap();
    assert_eq!(after, before, "nothing in the profile says it was ever deleted");

    // Matched again, and untouched by a purge run after the first request's grace period.
    let burak = account(&app, "burak").await;
    let (_sa, chat_a, _sb, _chat_b) = app.pair(&user, &burak.user, MatchKind::Text).await;
    assert!(chat_a.info.match_id.get() > 0);
    app.clock.advance(past_grace(&app));
    app.run_job(Job::Purge).await.unwrap();
    assert_eq!(app.count(format!("SELECT COUNT(*) FROM users WHERE id = {}", ayse.user.id)).await, 1);
    let response = app.login(&ayse.phone, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "not purged");
    let (access, _) = tokens(&response.json::<Value>().await.unwrap());
    // A second deletion starts a grace period of its own.
    let purge_after = deleted(delete_me(&app, &access, PASSWORD).await).await;
    assert_eq!(purge_after, app.now() + TimeDelta::days(30));
}

async fn a_banned_account_deletes_with_its_phone_and_its_ban_outlives_it_until_it_ends(backend: Backend) {
    let app = spawn_app(backend).await;
    let ayse = account(&app, "ayse").await;
    let burak = account(&app, "burak").await;
    assert_error(delete_banned(&app, &burak.phone, PASSWORD).await, StatusCode::CONFLICT, "not_banned").await;
    let ends_at = app.now() + TimeDelta::days(60);
    let moderator = app.staff("bekci", "moderator").await;
    app.ban_with(&moderator, ayse.user.id, json!({ "reason": "spam", "duration_hours": 60 * 24 })).await;
    assert_error(delete_me(&app, &ayse.user.access, PASSWORD).await, StatusCode::FORBIDDEN, "account_banned").await;

    let wrong = delete_banned(&app, &ayse.phone, "not-my-password").await;
    assert_error(wrong, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(pending_deletions(&app, ayse.user.id).await, 0);
    let purge_after = deleted(delete_banned(&app, &ayse.phone, PASSWORD).await).await;
    assert_eq!(purge_after, app.now() + TimeDelta::days(30));
    assert_eq!(deleted(delete_banned(&app, &ayse.phone, PASSWORD).await).await, purge_after, "asking again keeps it");

    // A banned account's sign-in is refused as before, and undoes nothing.
    assert_error(app.login(&ayse.phone, PASSWORD).await, StatusCode::FORBIDDEN, "account_banned").await;
    assert_eq!(pending_deletions(&app, ayse.user.id).await, 1);

    app.clock.advance(past_grace(&app));
    app.run_job(Job::Purge).await.unwrap();
    assert_error(app.login(&ayse.phone, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let status = app.post_json("/v1/ban/status", &json!({ "phone": ayse.phone, "password": PASSWORD })).await;
    assert_error(status, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(app.count("SELECT COUNT(*) FROM banned_phones").await, 1);

    // While the ban runs, the phone cannot come back as a new account.
    let again = app.register_body(&registration(&ayse.phone, "ayse")).await;
    let message = assert_error(again, StatusCode::FORBIDDEN, "account_banned").await;
    assert!(message.contains(&ends_at.to_rfc3339()), "{message}");
    // Nor as another account's new number (a month later: a fresh sign-in).
    let signed_in = app.login(&burak.phone, PASSWORD).await;
    assert_eq!(signed_in.status(), StatusCode::OK);
    let (burak_access, _) = tokens(&signed_in.json().await.unwrap());
    let change = app
        .post("/v1/me/phone/change")
        .bearer_auth(&burak_access)
        .json(&json!({ "phone": ayse.phone, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_error(change, StatusCode::FORBIDDEN, "account_banned").await;

    app.clock.advance(ends_at - app.now() + TimeDelta::minutes(1));
    app.run_job(Job::Purge).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM banned_phones").await, 0, "forgotten once the ban is over");
    app.register(&ayse.phone, "ayse").await;
}

async fn an_export_follows_the_deletion_its_undo_and_the_purge(backend: Backend) {
    let app = spawn_app(backend).await;
    let ayse = account(&app, "ayse").await;
    assert_eq!(export(&app, &ayse.user.access).await.status(), StatusCode::OK);
    deleted(delete_me(&app, &ayse.user.access, PASSWORD).await).await;
    app.clock.advance(TimeDelta::minutes(2));
    assert_error(export(&app, &ayse.user.access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let response = app.login(&ayse.phone, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let (access, _) = tokens(&response.json::<Value>().await.unwrap());
    let response = export(&app, &access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let doc: Value = response.json().await.unwrap();
    assert_eq!(doc["profile"]["phone"], ayse.phone.as_str());

    deleted(delete_me(&app, &access, PASSWORD).await).await;
    let unbound = app.forged_token(&ayse.user);
    assert_error(export(&app, &unbound).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    app.clock.advance(past_grace(&app));
    app.run_job(Job::Purge).await.unwrap();
    // Even a token forged now for the old id (its session is long signed out) finds nobody.
    let unbound = app.forged_token(&ayse.user);
    assert_error(export(&app, &unbound).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_error(app.login(&ayse.phone, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

/// Undoing a deletion by signing in restores the account, not the contact conversations the deletion ended (the
/// other side was told they ended): the deletion's answer says how many ended, the API's description and the web
/// client's form say before the user confirms that an undo will not bring them back (docs/privacy.md).
async fn undoing_a_deletion_restores_the_account_but_not_the_contacts_it_ended_and_the_answer_says_so(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let ayse = account(&app, "ayse").await;
    let burak = app.user("burak").await;
    let (_sa, chat_a, mut sb, _chat_b) = crate::contacts::contacts(&app, &ayse.user, &burak).await;
    let match_id = chat_a.info.match_id;

    let (_, contacts_ended) = deleted_with_contacts(delete_me(&app, &ayse.user.access, PASSWORD).await).await;
    assert_eq!(contacts_ended, 1, "the answer names the contact it ended");
    let ended = sb.next_where(|f| matches!(f, ServerFrame::ContactEnded { .. })).await.unwrap();
    assert_eq!(ended, ServerFrame::ContactEnded { match_id });

    let response = app.login(&ayse.phone, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK, "the sign-in undoes the deletion");
    let session = response.json::<Value>().await.unwrap();
    assert_eq!(pending_deletions(&app, ayse.user.id).await, 0);
    let ayse_now = TestUser::signed_in(ayse.user.id, &ayse.phone, &session);
    assert!(crate::contacts::listed(&app, &ayse_now).await.is_empty(), "the contact stays ended for her");
    assert!(crate::contacts::listed(&app, &burak).await.is_empty(), "and for him");
    let (mut again, _) = Connection::connect(&app.ws_url(), &ayse_now.access).await.unwrap();
    again.send(&ClientFrame::Typing { id: Some("t".into()), match_id }).await.unwrap();
    let answer = again.next_where(|f| matches!(f, ServerFrame::Ok { .. } | ServerFrame::Error { .. })).await;
    assert!(matches!(answer.unwrap(), ServerFrame::Error { code: ErrorCode::NotInMatch, .. }));

    // The API's own description of the deletion says so, for clients to tell the user before they confirm.
    let document: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let operation = &document["paths"]["/v1/me"]["delete"];
    let described =
        [&operation["summary"], &operation["description"]].map(|t| t.as_str().unwrap_or_default()).join(" ");
    let described = described.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(described.contains("does not bring the contacts back"), "{described}");
}
