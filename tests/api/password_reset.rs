//! Password reset by a code to the verified phone (issue 15, point 2): the request tells nobody whether a phone
//! has an account, the confirmation replaces the password and signs out every session (refresh tokens, access
//! tokens, sockets), a code works once, and a new password that cannot be set spends no guess.

use chrono::TimeDelta;
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use tanis_client::Connection;
use tanis_proto::CloseCode;

use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, new_phone, tokens};
use crate::on_both_stores;
use crate::phone_codes::{Account, account, attempts, other_than, verify};
use crate::twilio::{Twilio, spawn_with_sms};

on_both_stores!(
    an_unknown_or_unverified_phone_gets_the_same_answer_and_no_sms,
    a_reset_signs_out_every_session_and_only_the_new_password_signs_in,
    a_replayed_wrong_or_expired_reset_code_is_refused,
    a_new_password_that_cannot_be_set_spends_no_guess,
    a_banned_account_may_reset_its_password_and_stays_banned,
    a_provider_failure_answers_a_reset_as_usual_and_leaves_no_usable_code,
);

const NEW_PASSWORD: &str = "yeni-parola-2027";

async fn ask(app: &TestApp, phone: &str) -> Response {
    app.post_json("/v1/auth/password-reset", &json!({ "phone": phone })).await
}

async fn confirm(app: &TestApp, phone: &str, code: &str, new_password: &str) -> Response {
    let body = json!({ "phone": phone, "code": code, "new_password": new_password });
    app.post_json("/v1/auth/password-reset/confirm", &body).await
}

/// An account whose phone is verified (registration's code used), its registration session still live.
async fn verified_account(app: &TestApp, twilio: &Twilio, alias: &str) -> Account {
    let user = account(app, alias).await;
    assert_eq!(verify(app, &user.access, &twilio.code_to(&user.phone)).await.status(), StatusCode::OK);
    user
}

/// Asks for a reset of `phone` (a minute after anything before, so no earlier code holds it off) and returns
/// the code the stand-in received.
async fn reset_code(app: &TestApp, twilio: &Twilio, phone: &str) -> String {
    app.clock.advance(TimeDelta::seconds(60));
    assert_eq!(ask(app, phone).await.status(), StatusCode::ACCEPTED);
    twilio.code_to(phone)
}

async fn an_unknown_or_unverified_phone_gets_the_same_answer_and_no_sms(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let unverified = account(&app, "kediadam").await;
    let verified = verified_account(&app, &twilio, "kopek").await;
    let sent_before = twilio.messages().len();

    let mut answers = Vec::new();
    for phone in [new_phone(), unverified.phone.clone(), verified.phone.clone()] {
        app.clock.advance(TimeDelta::seconds(60));
        let response = ask(&app, &phone).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED);
        let body: Value = response.json().await.unwrap();
        // The same fields, the same times relative to the request.
        let seconds_to = |field: &str| {
            let at: chrono::DateTime<chrono::Utc> = body[field].as_str().unwrap().parse().unwrap();
            (at - app.now()).num_seconds()
        };
        answers.push(json!({
            "expires_in": seconds_to("expires_at"),
            "resend_in": seconds_to("resend_after"),
            "fields": body.as_object().unwrap().keys().cloned().collect::<Vec<_>>(),
        }));
        // The limits hold for every phone alike, with or without an account.
        let again = ask(&app, &phone).await;
        assert_eq!(again.headers()["retry-after"], "60");
        assert_error(again, StatusCode::TOO_MANY_REQUESTS, "too_many_codes").await;
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    let messages = twilio.messages();
    assert_eq!(messages.len(), sent_before + 1, "only the verified phone gets a code: {messages:?}");
    assert_eq!(messages.last().unwrap().to, verified.phone);
    let not_sent = app.count("SELECT COUNT(*) FROM phone_codes WHERE purpose = 'reset' AND outcome = 'not_sent'");
    assert_eq!(not_sent.await, 2, "both recorded, without a code");
    assert_error(ask(&app, "12345").await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone").await;
}

async fn a_reset_signs_out_every_session_and_only_the_new_password_signs_in(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let user = verified_account(&app, &twilio, "kediadam").await;
    let (laptop_access, laptop_refresh) = tokens(&app.login(&user.phone, PASSWORD).await.json().await.unwrap());
    let mut socket = Connection::connect(&app.ws_url(), &user.access).await.expect("the socket opens").0;
    let mut laptop_socket = Connection::connect(&app.ws_url(), &laptop_access).await.expect("the socket opens").0;

    let code = reset_code(&app, &twilio, &user.phone).await;
    assert_eq!(confirm(&app, &user.phone, &code, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);

    let signed_out = Some(CloseCode::InvalidToken.code());
    assert_eq!(socket.closed().await, signed_out);
    assert_eq!(laptop_socket.closed().await, signed_out);
    for (access, refresh) in [(&user.access, &user.refresh), (&laptop_access, &laptop_refresh)] {
        assert_error(app.refresh(refresh).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
        assert_error(app.get_me(access).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    assert_error(app.login(&user.phone, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let session: Value = app.login(&user.phone, NEW_PASSWORD).await.json().await.unwrap();
    let (access, _) = tokens(&session);
    assert_eq!(app.get_me(&access).await.status(), StatusCode::OK);

    let id = app.user_id(&user.phone).await;
    let audit = app.count(format!(
        "SELECT COUNT(*) FROM system_logs WHERE action = 'auth.password_reset' AND user_id = {id} \
         AND details NOT LIKE '%{}%'",
        &user.phone[3..]
    ));
    assert_eq!(audit.await, 1, "audited, without the phone");
}

async fn a_replayed_wrong_or_expired_reset_code_is_refused(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let user = verified_account(&app, &twilio, "kediadam").await;
    let code = reset_code(&app, &twilio, &user.phone).await;

    let wrong = confirm(&app, &user.phone, &other_than(&code), NEW_PASSWORD).await;
    let message = assert_error(wrong, StatusCode::UNPROCESSABLE_ENTITY, "wrong_code").await;
    assert!(message.contains("4 attempt"), "{message}");
    // The code belongs to its phone: another account's phone with it is no match.
    let other = verified_account(&app, &twilio, "kopek").await;
    let elsewhere = confirm(&app, &other.phone, &code, NEW_PASSWORD).await;
    assert_error(elsewhere, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;

    assert_eq!(confirm(&app, &user.phone, &code, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    let replayed = confirm(&app, &user.phone, &code, "baska-bir-parola-9").await;
    assert_error(replayed, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;
    assert_eq!(app.login(&user.phone, NEW_PASSWORD).await.status(), StatusCode::OK, "the replay changed nothing");

    let late = reset_code(&app, &twilio, &user.phone).await;
    app.clock.advance(TimeDelta::minutes(5));
    assert_error(confirm(&app, &user.phone, &late, PASSWORD).await, StatusCode::UNPROCESSABLE_ENTITY, "code_expired")
        .await;
    let unknown = confirm(&app, &new_phone(), &late, PASSWORD).await;
    assert_error(unknown, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;
    assert_eq!(app.login(&user.phone, NEW_PASSWORD).await.status(), StatusCode::OK);
}

async fn a_new_password_that_cannot_be_set_spends_no_guess(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let user = verified_account(&app, &twilio, "kediadam").await;
    let code = reset_code(&app, &twilio, &user.phone).await;

    assert_error(confirm(&app, &user.phone, &code, "kisa").await, StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
        .await;
    assert_error(
        confirm(&app, &user.phone, &code, "password").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "weak_password",
    )
    .await;
    let long = "ş".repeat(40);
    assert_error(confirm(&app, &user.phone, &code, &long).await, StatusCode::UNPROCESSABLE_ENTITY, "password_too_long")
        .await;
    assert_eq!(attempts(&app, &user.phone, "reset").await, 0, "no guess spent");
    assert_eq!(app.login(&user.phone, PASSWORD).await.status(), StatusCode::OK, "the password is unchanged");

    assert_eq!(confirm(&app, &user.phone, &code, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
}

async fn a_banned_account_may_reset_its_password_and_stays_banned(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let user = verified_account(&app, &twilio, "kediadam").await;
    let id = app.user_id(&user.phone).await;
    let moderator = app.staff("bekci", "moderator").await;
    app.ban(&moderator, id, "spam").await;

    let code = reset_code(&app, &twilio, &user.phone).await;
    assert_eq!(confirm(&app, &user.phone, &code, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
    let message =
        assert_error(app.login(&user.phone, NEW_PASSWORD).await, StatusCode::FORBIDDEN, "account_banned").await;
    assert!(message.contains("spam"), "{message}");
}

async fn a_provider_failure_answers_a_reset_as_usual_and_leaves_no_usable_code(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let user = verified_account(&app, &twilio, "kediadam").await;
    twilio.answer_next(1, 500);
    // 503 here would tell that the phone has an account: the answer is the usual one.
    let undelivered = reset_code(&app, &twilio, &user.phone).await;
    let refused = confirm(&app, &user.phone, &undelivered, NEW_PASSWORD).await;
    assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;
    let id = app.user_id(&user.phone).await;
    let failed = app.count(format!("SELECT COUNT(*) FROM phone_codes WHERE user_id = {id} AND outcome = 'failed'"));
    assert_eq!(failed.await, 1);

    // Asked again at once (a failed send holds nothing off), the code arrives and works.
    assert_eq!(ask(&app, &user.phone).await.status(), StatusCode::ACCEPTED);
    let code = twilio.code_to(&user.phone);
    assert_eq!(confirm(&app, &user.phone, &code, NEW_PASSWORD).await.status(), StatusCode::NO_CONTENT);
}
