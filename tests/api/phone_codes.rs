//! Phone verification and phone change by one-time code (issue 15, point 1), against a local stand-in of the
//! Twilio Messages API (twilio.rs) that checks every request as Twilio would and hands the test the code: codes verify once, wrong guesses are
//! counted and end a code, old codes expire or are superseded, resends are limited per phone and per address,
//! and a provider failure leaves no usable code behind. Password reset is in password_reset.rs.

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, new_phone, tokens};
use crate::on_both_stores;
use crate::twilio::{code_in, spawn_with_sms};

on_both_stores!(
    registration_sends_a_code_that_verifies_the_phone_once,
    a_wrong_code_says_how_many_attempts_are_left_and_the_fifth_ends_the_code,
    concurrent_guesses_spend_at_most_five_attempts,
    an_expired_superseded_used_or_never_requested_code_is_refused_without_spending_a_guess,
    codes_to_one_phone_wait_a_minute_between_them_and_are_limited_per_hour,
    codes_are_limited_per_client_address_and_refused_requests_are_recorded,
    a_failing_provider_leaves_no_usable_code_and_does_not_undo_a_registration,
    a_phone_change_needs_the_password_and_a_free_number_and_moves_the_login,
    the_log_sender_writes_the_code_and_never_the_phone,
);

/// A registered account as these tests hold it.
pub(crate) struct Account {
    pub phone: String,
    pub access: String,
    pub refresh: String,
}

pub(crate) async fn account(app: &TestApp, alias: &str) -> Account {
    let phone = new_phone();
    let (access, refresh) = tokens(&app.register(&phone, alias).await);
    Account { phone, access, refresh }
}

pub(crate) async fn request_verification(app: &TestApp, access: &str) -> reqwest::Response {
    app.post("/v1/me/phone/verification").bearer_auth(access).send().await.unwrap()
}

pub(crate) async fn verify(app: &TestApp, access: &str, code: &str) -> reqwest::Response {
    app.post("/v1/me/phone/verify").bearer_auth(access).json(&json!({ "code": code })).send().await.unwrap()
}

async fn request_change(app: &TestApp, access: &str, phone: &str, password: &str) -> reqwest::Response {
    let body = json!({ "phone": phone, "password": password });
    app.post("/v1/me/phone/change").bearer_auth(access).json(&body).send().await.unwrap()
}

async fn confirm_change(app: &TestApp, access: &str, code: &str) -> reqwest::Response {
    app.post("/v1/me/phone/change/verify").bearer_auth(access).json(&json!({ "code": code })).send().await.unwrap()
}

/// A code that is not `code` (the next one round).
pub(crate) fn other_than(code: &str) -> String {
    format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000)
}

/// `Retry-After` of a response, in seconds.
pub(crate) fn retry_after(response: &reqwest::Response) -> i64 {
    response.headers()["retry-after"].to_str().unwrap().parse().unwrap()
}

async fn phone_verified(app: &TestApp, access: &str) -> bool {
    let me: Value = app.get_me(access).await.json().await.unwrap();
    me["phone_verified"].as_bool().expect("GET /v1/me says phone_verified")
}

/// Guesses spent on the user's newest code of `purpose`.
pub(crate) async fn attempts(app: &TestApp, phone: &str, purpose: &str) -> i64 {
    let id = app.user_id(phone).await;
    app.count(format!(
        "SELECT CAST(attempts AS BIGINT) FROM phone_codes WHERE user_id = {id} AND purpose = '{purpose}' ORDER BY id DESC LIMIT 1"
    ))
    .await
}

async fn registration_sends_a_code_that_verifies_the_phone_once(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let user = account(&app, "kediadam").await;

    let messages = twilio.messages();
    assert_eq!(messages.len(), 1, "one code, to the new phone: {messages:?}");
    assert_eq!(messages[0].to, user.phone);
    let code = code_in(&messages[0].body);
    assert_eq!(messages[0].body, format!("tanis doğrulama kodunuz: {code}. Kod 5 dakika geçerlidir."));
    assert!(!phone_verified(&app, &user.access).await, "not before the code comes back");

    let verified = verify(&app, &user.access, &code).await;
    assert_eq!(verified.status(), StatusCode::OK);
    let me: Value = verified.json().await.unwrap();
    assert_eq!(me["phone_verified"], true, "{me}");
    assert!(phone_verified(&app, &user.access).await);

    assert_error(verify(&app, &user.access, &code).await, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;
    let again = request_verification(&app, &user.access).await;
    assert_error(again, StatusCode::CONFLICT, "phone_already_verified").await;
    let id = app.user_id(&user.phone).await;
    let audit =
        app.count(format!("SELECT COUNT(*) FROM system_logs WHERE action = 'phone.verified' AND user_id = {id}"));
    assert_eq!(audit.await, 1);
    let national = &user.phone[3..];
    let leaked = app.count(format!("SELECT COUNT(*) FROM system_logs WHERE details LIKE '%{national}%'")).await;
    assert_eq!(leaked, 0, "the audit holds no phone");

    // An English account gets its code in English.
    let english = account(&app, "catperson").await;
    assert_eq!(app.patch_me(&english.access, &json!({ "locale": "en" })).await.status(), StatusCode::OK);
    app.clock.advance(TimeDelta::seconds(60));
    assert_eq!(request_verification(&app, &english.access).await.status(), StatusCode::ACCEPTED);
    let messages = twilio.messages();
    let code = twilio.code_to(&english.phone);
    assert_eq!(messages.last().unwrap().body, format!("Your tanis code is {code}. It expires in 5 minutes."));
}

async fn a_wrong_code_says_how_many_attempts_are_left_and_the_fifth_ends_the_code(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let user = account(&app, "kediadam").await;
    let code = twilio.code_to(&user.phone);
    let wrong = other_than(&code);

    for left in [4, 3, 2, 1] {
        let message =
            assert_error(verify(&app, &user.access, &wrong).await, StatusCode::UNPROCESSABLE_ENTITY, "wrong_code")
                .await;
        assert!(message.contains(&format!("{left} attempt")), "{message}");
    }
    let fifth = verify(&app, &user.access, &wrong).await;
    assert_error(fifth, StatusCode::TOO_MANY_REQUESTS, "too_many_code_attempts").await;
    let right_too_late = verify(&app, &user.access, &code).await;
    assert_error(right_too_late, StatusCode::TOO_MANY_REQUESTS, "too_many_code_attempts").await;
    assert_eq!(attempts(&app, &user.phone, "verify").await, 5, "a dead code takes no more guesses");
    assert!(!phone_verified(&app, &user.access).await);

    // Not six digits: refused as a request, no guess spent (on a fresh code).
    app.clock.advance(TimeDelta::seconds(60));
    assert_eq!(request_verification(&app, &user.access).await.status(), StatusCode::ACCEPTED);
    for bad in ["12345", "abcdef", "1234567"] {
        assert_error(verify(&app, &user.access, bad).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;
    }
    assert_eq!(attempts(&app, &user.phone, "verify").await, 0);
    let code = twilio.code_to(&user.phone);
    assert_eq!(verify(&app, &user.access, &format!(" {code} ")).await.status(), StatusCode::OK);
}

async fn concurrent_guesses_spend_at_most_five_attempts(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let user = account(&app, "kediadam").await;
    let code = twilio.code_to(&user.phone);
    // Twelve different wrong guesses at once: each spends a guess in one statement that refuses the sixth.
    let guesses = (1..=12).map(|n| format!("{:06}", (code.parse::<u32>().unwrap() + n) % 1_000_000));
    let answers = futures_util::future::join_all(guesses.map(|guess| {
        let (app, access) = (&app, &user.access);
        async move {
            let response = verify(app, access, &guess).await;
            let body: Value = response.json().await.unwrap();
            body["error"]["code"].as_str().unwrap().to_owned()
        }
    }))
    .await;
    let count = |code: &str| answers.iter().filter(|a| *a == code).count();
    assert_eq!((count("wrong_code"), count("too_many_code_attempts")), (4, 8), "{answers:?}");
    assert_eq!(attempts(&app, &user.phone, "verify").await, 5);
    let right = verify(&app, &user.access, &code).await;
    assert_error(right, StatusCode::TOO_MANY_REQUESTS, "too_many_code_attempts").await;
}

async fn an_expired_superseded_used_or_never_requested_code_is_refused_without_spending_a_guess(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let user = account(&app, "kediadam").await;
    let first = twilio.code_to(&user.phone);
    app.clock.advance(TimeDelta::seconds(60));
    assert_eq!(request_verification(&app, &user.access).await.status(), StatusCode::ACCEPTED);
    let second = twilio.code_to(&user.phone);
    assert_ne!(first, second);

    let superseded = verify(&app, &user.access, &first).await;
    assert_error(superseded, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;
    assert_eq!(attempts(&app, &user.phone, "verify").await, 0, "an old code is not a guess at the new one");

    // Five minutes and it is gone; a guess at an expired code spends nothing either.
    app.clock.advance(TimeDelta::minutes(5));
    assert_error(verify(&app, &user.access, &second).await, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;
    assert_error(
        verify(&app, &user.access, &other_than(&second)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "code_expired",
    )
    .await;
    assert_eq!(attempts(&app, &user.phone, "verify").await, 0);

    // A phone change was never asked for: no change code works.
    let never = confirm_change(&app, &user.access, &second).await;
    assert_error(never, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;

    // Just inside the five minutes, a fresh code works, once.
    assert_eq!(request_verification(&app, &user.access).await.status(), StatusCode::ACCEPTED);
    let third = twilio.code_to(&user.phone);
    app.clock.advance(TimeDelta::minutes(5) - TimeDelta::seconds(1));
    assert_eq!(verify(&app, &user.access, &third).await.status(), StatusCode::OK);
    assert_error(verify(&app, &user.access, &third).await, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;
}

async fn codes_to_one_phone_wait_a_minute_between_them_and_are_limited_per_hour(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |c| c.sms.max_per_phone_per_hour = 3).await;
    let user = account(&app, "kediadam").await;

    app.clock.advance(TimeDelta::seconds(20));
    let too_soon = request_verification(&app, &user.access).await;
    assert_eq!(retry_after(&too_soon), 40, "a minute after the registration's code");
    assert_error(too_soon, StatusCode::TOO_MANY_REQUESTS, "too_many_codes").await;

    app.clock.advance(TimeDelta::seconds(40));
    let sent = request_verification(&app, &user.access).await;
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let body: Value = sent.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "expires_at": app.now() + TimeDelta::minutes(5), "resend_after": app.now() + TimeDelta::seconds(60) })
    );
    app.clock.advance(TimeDelta::seconds(60));
    assert_eq!(request_verification(&app, &user.access).await.status(), StatusCode::ACCEPTED);

    // Three in the hour: the fourth waits until the first (the registration's, 2 minutes ago) is an hour old.
    app.clock.advance(TimeDelta::seconds(60));
    let fourth = request_verification(&app, &user.access).await;
    assert_eq!(retry_after(&fourth), 3600 - 180);
    assert_error(fourth, StatusCode::TOO_MANY_REQUESTS, "too_many_codes").await;
    assert_eq!(twilio.sent_to(&user.phone), 3, "refused requests send nothing");
    // The last code sent still works.
    assert_eq!(verify(&app, &user.access, &twilio.code_to(&user.phone)).await.status(), StatusCode::OK);
}

async fn codes_are_limited_per_client_address_and_refused_requests_are_recorded(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |c| c.sms.max_per_ip_per_hour = 3).await;
    let reset = |phone: String, ip: &'static str| {
        let request = app.post("/v1/auth/password-reset").header("x-forwarded-for", ip);
        request.header("user-agent", "probe/1.0").json(&json!({ "phone": phone })).send()
    };
    // Different phones, no account behind any of them: each is recorded and counted all the same.
    for _ in 0..3 {
        assert_eq!(reset(new_phone(), "203.0.113.9").await.unwrap().status(), StatusCode::ACCEPTED);
    }
    let refused = reset(new_phone(), "203.0.113.9").await.unwrap();
    assert_eq!(retry_after(&refused), 3600);
    assert_error(refused, StatusCode::TOO_MANY_REQUESTS, "too_many_codes").await;
    assert_eq!(reset(new_phone(), "198.51.100.1").await.unwrap().status(), StatusCode::ACCEPTED, "another address");
    assert!(twilio.messages().is_empty(), "no account, no SMS");

    let recorded = |sql: &str| app.count(format!("SELECT COUNT(*) FROM phone_codes WHERE {sql}"));
    assert_eq!(recorded("ip = '203.0.113.9' AND user_agent = 'probe/1.0' AND user_id IS NULL").await, 4);
    assert_eq!(recorded("outcome = 'refused' AND code_hash IS NULL").await, 1);
    assert_eq!(recorded("outcome = 'not_sent' AND code_hash IS NULL AND purpose = 'reset'").await, 4);

    // An hour after the first, the address may ask again.
    app.clock.advance(TimeDelta::hours(1));
    assert_eq!(reset(new_phone(), "203.0.113.9").await.unwrap().status(), StatusCode::ACCEPTED);
}

async fn a_failing_provider_leaves_no_usable_code_and_does_not_undo_a_registration(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    twilio.answer_next(2, 500);
    let user = account(&app, "kediadam").await;
    assert_eq!(twilio.sent_to(&user.phone), 1, "registration tried");
    assert!(!phone_verified(&app, &user.access).await, "registered, unverified");

    // At once (a failed send holds no request off): the provider fails again.
    let failed = request_verification(&app, &user.access).await;
    assert_error(failed, StatusCode::SERVICE_UNAVAILABLE, "sms_unavailable").await;
    let undelivered = twilio.code_to(&user.phone);
    let refused = verify(&app, &user.access, &undelivered).await;
    assert_error(refused, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;
    let id = app.user_id(&user.phone).await;
    let failed_rows =
        app.count(format!("SELECT COUNT(*) FROM phone_codes WHERE user_id = {id} AND outcome = 'failed'"));
    assert_eq!(failed_rows.await, 2);
    assert!(!phone_verified(&app, &user.access).await);

    // The provider is back: a new code goes out and works.
    assert_eq!(request_verification(&app, &user.access).await.status(), StatusCode::ACCEPTED);
    assert_eq!(verify(&app, &user.access, &twilio.code_to(&user.phone)).await.status(), StatusCode::OK);
}

async fn a_phone_change_needs_the_password_and_a_free_number_and_moves_the_login(backend: Backend) {
    let (app, twilio) = spawn_with_sms(backend, |_| {}).await;
    let user = account(&app, "kediadam").await;
    let other = account(&app, "kopek").await;
    let new = new_phone();

    let wrong = request_change(&app, &user.access, &new, "yanlis-parola").await;
    assert_error(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let taken = request_change(&app, &user.access, &other.phone, PASSWORD).await;
    assert_error(taken, StatusCode::CONFLICT, "phone_taken").await;
    let same = request_change(&app, &user.access, &format!("0{}", &user.phone[3..]), PASSWORD).await;
    assert_error(same, StatusCode::UNPROCESSABLE_ENTITY, "same_phone").await;
    let invalid = request_change(&app, &user.access, "12345", PASSWORD).await;
    assert_error(invalid, StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone").await;
    assert_eq!(twilio.sent_to(&new) + twilio.sent_to(&other.phone), 1, "only the other's registration code");

    let asked = request_change(&app, &user.access, &new, PASSWORD).await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    assert_eq!(twilio.sent_to(&new), 1, "the code goes to the new phone");
    let code = twilio.code_to(&new);
    // The registration's verification code is no phone-change code.
    let verify_code = verify(&app, &user.access, &code).await;
    assert_error(verify_code, StatusCode::UNPROCESSABLE_ENTITY, "wrong_code").await;
    let confirmed = confirm_change(&app, &user.access, &code).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let me: Value = confirmed.json().await.unwrap();
    assert_eq!(me["phone_verified"], true, "the new phone proved itself");

    assert_eq!(app.login(&new, PASSWORD).await.status(), StatusCode::OK);
    assert_error(app.login(&user.phone, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let replayed = confirm_change(&app, &user.access, &code).await;
    assert_error(replayed, StatusCode::UNPROCESSABLE_ENTITY, "code_expired").await;
    let id = app.user_id(&new).await;
    assert_eq!(
        app.count(format!("SELECT COUNT(*) FROM system_logs WHERE action = 'phone.changed' AND user_id = {id}")).await,
        1
    );
    // The old number is free again: someone can register it.
    app.register(&user.phone, "yenisahip").await;

    // A number taken between the code and its confirmation is refused then, and nothing changes.
    let (second_new, other_access) = (new_phone(), other.access.clone());
    app.clock.advance(TimeDelta::seconds(60));
    assert_eq!(request_change(&app, &other_access, &second_new, PASSWORD).await.status(), StatusCode::ACCEPTED);
    let late = twilio.code_to(&second_new);
    app.register(&second_new, "hizli").await;
    assert_error(confirm_change(&app, &other_access, &late).await, StatusCode::CONFLICT, "phone_taken").await;
    assert_eq!(app.login(&other.phone, PASSWORD).await.status(), StatusCode::OK, "the account keeps its number");
}

async fn the_log_sender_writes_the_code_and_never_the_phone(backend: Backend) {
    use crate::binary::{log_lines, tanis, wait_until_listening};
    let dir = tempfile::tempdir().unwrap();
    let mut command = tanis(dir.path());
    command.arg("serve");
    if backend == Backend::Postgres {
        command.env("TANIS_DATABASE_URL", crate::helpers::fresh_database_url(backend, dir.path()).await);
    }
    let mut server = crate::binary::secrets_for(backend, &mut command).spawn().unwrap();
    let mut logs = log_lines(&mut server);
    let address = wait_until_listening(&mut logs, &mut Vec::new()).await;
    let client = reqwest::Client::new();
    let phone = new_phone();
    let body = crate::helpers::registration(&phone, "kediadam");
    let registered = client.post(format!("http://{address}/v1/auth/register")).json(&body).send().await.unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let access = tokens(&registered.json().await.unwrap()).0;

    let line = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            let line = logs.recv().await.expect("the server runs");
            assert!(!line.contains(&phone[1..]) && !line.contains(&phone[3..]), "a phone number in the log: {line}");
            if line.contains("one-time code") {
                return line;
            }
        }
    })
    .await
    .expect("the code is logged");
    assert!(line.contains("purpose=\"verify\"") || line.contains("purpose=verify"), "{line}");
    assert!(line.contains("user_id=1"), "{line}");
    assert!(line.contains(&format!("phone_ends_with=\"{}\"", &phone[phone.len() - 2..])), "{line}");
    let code = line.split("code=").nth(1).unwrap().split(|c: char| !c.is_ascii_digit() && c != '"').next().unwrap();
    let code = code.trim_matches('"').to_owned();
    let verified = client
        .post(format!("http://{address}/v1/me/phone/verify"))
        .bearer_auth(&access)
        .json(&json!({ "code": code }))
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), StatusCode::OK, "the logged code is the code: {line}");
    server.kill().await.unwrap();
}
