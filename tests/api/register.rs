use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_error, new_phone, registration, spawn_app, start_time};
use crate::on_both_stores;

on_both_stores!(
    registering_returns_the_profile_tokens_and_a_four_digit_tag,
    the_password_is_stored_as_bcrypt_and_consent_with_its_time_and_version,
    national_and_international_forms_of_one_phone_are_one_account,
    every_invalid_field_is_refused_with_its_code_and_nothing_is_stored,
    people_with_the_same_alias_get_different_tags_whatever_its_case,
    a_crowded_alias_gets_its_last_free_tag_and_then_is_exhausted,
    a_referral_code_records_who_invited_whom_once,
    an_unknown_referral_code_is_refused_and_nothing_is_stored,
);

async fn registering_returns_the_profile_tokens_and_a_four_digit_tag(backend: Backend) {
    let app = spawn_app(backend).await;
    let session = app.register(&new_phone(), "kediadam").await;

    let user = &session["user"];
    let tag = user["tag"].as_str().unwrap();
    assert!(tag.len() == 4 && tag.chars().all(|c| c.is_ascii_digit()), "{tag}");
    assert_eq!(user["handle"], format!("kediadam#{tag}"));
    assert_eq!(user["balances"], json!({ "daily_text": 10, "daily_video": 3, "bonus_text": 0, "bonus_video": 0 }));
    assert_eq!(session["tokens"]["token_type"], "Bearer");
    // The new session works at once.
    let access = session["tokens"]["access_token"].as_str().unwrap();
    assert_eq!(app.get_me(access).await.status(), StatusCode::OK);
}

async fn the_password_is_stored_as_bcrypt_and_consent_with_its_time_and_version(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    app.register(&phone, "kediadam").await;

    let user = app.store.user_by_phone(&app.lookup(&phone)).await.unwrap().unwrap();
    assert!(user.password_hash.starts_with("$2"), "bcrypt hash");
    assert!(!user.password_hash.contains(PASSWORD));
    assert_eq!(user.privacy_consent_at, start_time());
    assert_eq!(user.privacy_notice_version, app.config.auth.privacy_notice_version);
    let logged = app
        .count(&format!("SELECT COUNT(*) FROM system_logs WHERE action = 'user.registered' AND user_id = {}", user.id))
        .await;
    assert_eq!(logged, 1);
}

async fn national_and_international_forms_of_one_phone_are_one_account(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register("0532 111 22 33", "kediadam").await;

    let again = app.register_body(&registration("+90 (532) 111-22-33", "baskaad")).await;
    assert_error(again, StatusCode::CONFLICT, "phone_taken").await;
    assert!(app.store.phone_exists(&app.lookup("+905321112233")).await.unwrap());
}

async fn every_invalid_field_is_refused_with_its_code_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    let with = |field: &str, value: Value| {
        let mut body = registration(&phone, "kediadam");
        body[field] = value;
        body
    };
    let cases = [
        (with("phone", json!("12345")), StatusCode::UNPROCESSABLE_ENTITY, "invalid_phone"),
        (with("password", json!("kisa123")), StatusCode::UNPROCESSABLE_ENTITY, "weak_password"),
        (with("password", json!("Password123")), StatusCode::UNPROCESSABLE_ENTITY, "weak_password"),
        (with("password", json!("ş".repeat(37))), StatusCode::UNPROCESSABLE_ENTITY, "password_too_long"),
        (with("alias", json!("ab")), StatusCode::UNPROCESSABLE_ENTITY, "invalid_alias"),
        (with("alias", json!("kedi adam")), StatusCode::UNPROCESSABLE_ENTITY, "invalid_alias"),
        (with("alias", json!("Admin_1")), StatusCode::UNPROCESSABLE_ENTITY, "reserved_alias"),
        (with("alias", json!("Tanış")), StatusCode::UNPROCESSABLE_ENTITY, "reserved_alias"),
        (with("alias", json!("\u{0430}dmin")), StatusCode::UNPROCESSABLE_ENTITY, "reserved_alias"),
        (with("alias", json!("Tanis_Destek")), StatusCode::UNPROCESSABLE_ENTITY, "reserved_alias"),
        (with("accept_privacy_notice", json!(false)), StatusCode::UNPROCESSABLE_ENTITY, "consent_required"),
        (with("referral_code", json!("NOSUCHCODE")), StatusCode::UNPROCESSABLE_ENTITY, "invalid_referral_code"),
        (with("phone", json!(5321234567u64)), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
        (with("unexpected", json!(1)), StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
    ];
    for (body, status, code) in cases {
        assert_error(app.register_body(&body).await, status, code).await;
    }
    let mut no_consent = registration(&phone, "kediadam");
    no_consent.as_object_mut().unwrap().remove("accept_privacy_notice");
    assert_error(app.register_body(&no_consent).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request").await;

    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM referrals").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM refresh_tokens").await, 0);
}

async fn people_with_the_same_alias_get_different_tags_whatever_its_case(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut handles = std::collections::HashSet::new();
    for alias in ["kediadam", "KediAdam", "KEDIADAM", "kediadam"] {
        let session = app.register(&new_phone(), alias).await;
        assert_eq!(session["user"]["alias"], alias);
        handles.insert(session["user"]["tag"].as_str().unwrap().to_owned());
    }
    assert_eq!(handles.len(), 4, "one tag per person under the case-insensitive alias: {handles:?}");
}

/// Fills tags 0000–9999 of `alias_key` except `free`, straight in the database (bcrypt-free). Their phones are
/// stand-in bytes, distinct per row for the unique blind index; nothing ever opens them.
async fn fill_tags(app: &TestApp, alias_key: &str, free: u32) {
    let (tag, text_time, sealed, index) = match app.backend {
        Backend::Sqlite => ("printf('%04d', i)", "'2026-11-21T09:00:00Z'", "randomblob(45)", "randomblob(32)"),
        Backend::Postgres => ("lpad(i::text, 4, '0')", "now()", "sha256(('s' || i)::bytea)", "sha256(i::text::bytea)"),
    };
    app.execute(format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 9999) \
         INSERT INTO users (phone_sealed, phone_index, password_hash, alias, alias_key, tag, referral_code, created_at, \
                            last_active, daily_chat_balance, daily_video_balance, privacy_consent_at, privacy_notice_version) \
         SELECT {sealed}, {index}, 'x', '{alias_key}', '{alias_key}', {tag}, 'SEED' || {tag}, {text_time}, {text_time}, \
                0, 0, {text_time}, 'v' FROM n WHERE i <> {free}"
    ))
    .await;
}

async fn a_crowded_alias_gets_its_last_free_tag_and_then_is_exhausted(backend: Backend) {
    let app = spawn_app(backend).await;
    fill_tags(&app, "kalabalik", 4242).await;

    let session = app.register(&new_phone(), "Kalabalik").await;
    assert_eq!(session["user"]["handle"], "Kalabalik#4242");

    let phone = new_phone();
    let refused = app.register_body(&registration(&phone, "kalabalik")).await;
    assert_error(refused, StatusCode::CONFLICT, "alias_exhausted").await;
    assert!(!app.store.phone_exists(&app.lookup(&phone)).await.unwrap());

    // Renaming into the exhausted alias is refused too, and the old name stays.
    let other = app.register(&new_phone(), "baskaad").await;
    let access = other["tokens"]["access_token"].as_str().unwrap();
    assert_error(app.patch_me(access, &json!({ "alias": "KALABALIK" })).await, StatusCode::CONFLICT, "alias_exhausted")
        .await;
    let me: Value = app.get_me(access).await.json().await.unwrap();
    assert_eq!(me["alias"], "baskaad");
}

async fn a_referral_code_records_who_invited_whom_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let inviter = app.register(&new_phone(), "davetci").await;
    let code = inviter["user"]["referral_code"].as_str().unwrap();
    assert_eq!(code.len(), 8);

    let invited_phone = new_phone();
    let mut body = registration(&invited_phone, "davetli");
    body["referral_code"] = json!(format!(" {} ", code.to_lowercase()));
    assert_eq!(app.register_body(&body).await.status(), StatusCode::CREATED);

    let invited = app.user_id(&invited_phone).await;
    let rows = app
        .count(&format!(
            "SELECT COUNT(*) FROM referrals r JOIN users i ON i.id = r.inviter_id JOIN users v ON v.id = r.invited_id \
             WHERE r.invited_id = {invited} AND i.referral_code = '{code}' AND r.reward_given = FALSE \
             AND r.inviter_phone_index = i.phone_index AND r.invited_phone_index = v.phone_index \
             AND r.inviter_phone_sealed IS NOT NULL AND r.invited_phone_sealed IS NOT NULL"
        ))
        .await;
    assert_eq!(rows, 1, "one pending referral, reward not yet given");
}

async fn an_unknown_referral_code_is_refused_and_nothing_is_stored(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = new_phone();
    let mut body = registration(&phone, "davetli");
    body["referral_code"] = json!("ZZZZ2222");
    assert_error(app.register_body(&body).await, StatusCode::UNPROCESSABLE_ENTITY, "invalid_referral_code").await;
    assert!(!app.store.phone_exists(&app.lookup(&phone)).await.unwrap());
}
