//! The purge of deleted accounts (issue 15, point 5; src/store/purge.rs): past the grace period nothing in any
//! column of any table leads back to the person — not their id, phone (in clear, sealed or as its blind index),
//! alias, handle, user agent or address — while the metadata kept for abuse statistics and for the other side
//! survives under a tombstone; a second run changes nothing, and a run cut short leaves the account whole.

use std::time::Duration;

use chrono::TimeDelta;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::Connection;
use tanis::domain::{MatchId, Phone, UserId};
use tanis::notices::Locale;
use tanis_proto::{ClientFrame, MatchKind, ReportReason, ServerFrame};
use tanis_workers::schedule::Job;

use crate::deletion::{Account, account, delete_me, deleted};
use crate::helpers::{
    Backend, PASSWORD, TestApp, TestUser, assert_error, eventually, new_phone, registration, spawn_app, spawn_app_with,
};
use crate::on_both_stores;

on_both_stores!(
    the_purge_leaves_nothing_that_leads_back_to_the_person_and_keeps_the_others_records,
    a_banned_accounts_purge_keeps_only_its_phones_blind_index_until_the_ban_is_lifted,
    a_purge_cut_short_leaves_the_account_whole_and_the_next_run_finishes_it,
);

/// Every column of every table with its values (`phones::every_column`), for this app's database.
async fn every_column(app: &TestApp) -> Vec<(String, Vec<Vec<u8>>)> {
    let columns = crate::phones::every_column(app.backend, &app.database_url).await;
    assert!(columns.len() > 100, "every column of every table: {}", columns.len());
    columns
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// `place: what` for every column holding one of `needles` (named by `what`) in any value.
fn hits(columns: &[(String, Vec<Vec<u8>>)], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut found = Vec::new();
    for (place, values) in columns {
        for (what, needle) in needles {
            if values.iter().any(|v| contains(v, needle)) {
                found.push(format!("{place}: {what}"));
            }
        }
    }
    found
}

/// Every column that refers to an account (a foreign key to `users`, and the message tables' two), and `users.id`.
async fn account_columns(app: &TestApp) -> Vec<(String, String)> {
    let sql = match app.backend {
        Backend::Sqlite => {
            "SELECT m.name, f.\"from\" FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table' AND f.\"table\" = 'users'"
        }
        Backend::Postgres => {
            "SELECT cl.relname::text, att.attname::text FROM pg_constraint con \
             JOIN pg_class cl ON cl.oid = con.conrelid \
             JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = ANY (con.conkey) \
             WHERE con.contype = 'f' AND con.confrelid = 'users'::regclass"
        }
    };
    let mut columns: Vec<(String, String)> = match app.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&app.database_url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&app.database_url).await.unwrap();
            sqlx::query_as(sql).fetch_all(&mut conn).await.unwrap()
        }
    };
    columns.push(("users".into(), "id".into()));
    // Columns that name an account with no foreign key of their own: a message's sender and receiver are its
    // match's users (migration 0027 dropped the message tables' keys).
    for table in ["messages", "message_logs"] {
        for column in ["sender_id", "receiver_id"] {
            columns.push((table.into(), column.into()));
        }
    }
    columns.sort();
    columns.dedup();
    for expected in [("matches", "user1_id"), ("system_logs", "actor_id"), ("bans", "banned_by"), ("logins", "user_id")]
    {
        assert!(columns.iter().any(|(t, c)| (t.as_str(), c.as_str()) == expected), "{expected:?} in {columns:?}");
    }
    columns
}

/// `table.column` for every account column with a row naming `user_id`.
async fn naming(app: &TestApp, user_id: UserId) -> Vec<String> {
    let mut found = Vec::new();
    for (table, column) in account_columns(app).await {
        let rows = app.count(format!("SELECT COUNT(*) FROM \"{table}\" WHERE \"{column}\" = {user_id}")).await;
        if rows > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

/// Audit details that name `user_id` under a key that names an account.
async fn audit_details_naming(app: &TestApp, user_id: UserId) -> Vec<String> {
    fn names(value: &Value, user_id: UserId) -> bool {
        match value {
            Value::Object(map) => map.iter().any(|(key, inner)| {
                (["moderator", "user_id", "actor_id"].contains(&key.as_str()) && inner.as_i64() == Some(user_id.get()))
                    || names(inner, user_id)
            }),
            Value::Array(items) => items.iter().any(|item| names(item, user_id)),
            _ => false,
        }
    }
    let column = every_column(app).await.into_iter().find(|(place, _)| place.ends_with("system_logs.details"));
    let details = column.expect("system_logs.details").1;
    details
        .into_iter()
        .map(|d| String::from_utf8(d).unwrap())
        .filter(|d| serde_json::from_str::<Value>(d).is_ok_and(|v| names(&v, user_id)))
        .collect()
}

/// What identifies `who`, as the scan looks for it: the phone in every clear form, sealed and as its blind
/// index, and the alias and handle.
async fn identifiers(app: &TestApp, who: &Account) -> Vec<(String, Vec<u8>)> {
    let phone = &who.phone;
    let mut needles: Vec<(String, Vec<u8>)> = [phone.clone(), phone[1..].to_owned(), phone[3..].to_owned()]
        .into_iter()
        .map(|form| (format!("phone {form}"), form.into_bytes()))
        .collect();
    let [index, _] = app.lookup(phone).indexes().map(<[u8]>::to_vec);
    needles.push(("the phone's blind index".into(), index));
    let sealed = app.store.sealed_phone(who.user.id).await.unwrap().expect("a sealed phone");
    needles.push(("the sealed phone".into(), sealed));
    let alias = who.user.handle.split('#').next().unwrap().to_owned();
    needles.push((format!("alias {alias}"), alias.into_bytes()));
    needles.push((format!("handle {}", who.user.handle), who.user.handle.clone().into_bytes()));
    needles
}

/// A phone code row for the phone (the verification table of migration 0017), as the code flow would write it.
async fn phone_code(app: &TestApp, user_id: Option<UserId>, phone: &str, ip: &str, user_agent: &str) {
    let sealed = app.phones.seal(&Phone::parse(phone).unwrap());
    let sql = "INSERT INTO phone_codes (purpose, user_id, phone_sealed, phone_index, outcome, created_at, expires_at, \
               ip, user_agent) VALUES ('verify', $1, $2, $3, 'refused', $4, $4, $5, $6)";
    macro_rules! insert {
        ($conn:expr) => {
            sqlx::query(sql)
                .bind(user_id)
                .bind(sealed.ciphertext())
                .bind(sealed.index().as_bytes())
                .bind(app.now())
                .bind(ip)
                .bind(user_agent)
                .execute(&mut $conn)
                .await
                .map(|_| ())
                .unwrap()
        };
    }
    match app.backend {
        Backend::Sqlite => insert!(sqlx::SqliteConnection::connect(&app.database_url).await.unwrap()),
        Backend::Postgres => insert!(sqlx::PgConnection::connect(&app.database_url).await.unwrap()),
    }
}

async fn sign_in_from(app: &TestApp, phone: &str, password: &str, ip: &str, user_agent: &str) -> StatusCode {
    let body = json!({ "phone": phone, "password": password });
    let request = app.post("/v1/auth/login").header("x-forwarded-for", ip).header("user-agent", user_agent);
    request.json(&body).send().await.unwrap().status()
}

async fn referral_code(app: &TestApp, access: &str) -> String {
    let me: Value = app.get_me(access).await.json().await.unwrap();
    me["referral_code"].as_str().unwrap().to_owned()
}

async fn purge_everything_due(app: &TestApp) {
    app.clock.advance(TimeDelta::days(app.config.auth.deletion_grace_days.into()) + TimeDelta::minutes(1));
    app.run_job(Job::Purge).await.unwrap();
}

async fn the_purge_leaves_nothing_that_leads_back_to_the_person_and_keeps_the_others_records(backend: Backend) {
    // An age assurance provider (a stand-in of Yoti's API): her assurance goes with her.
    let yoti = crate::yoti::Yoti::start().await;
    let age = yoti.config(tanis::domain::RequiredFor::None);
    let app = spawn_app_with(backend, move |c| c.age_assurance = age).await;
    let (ip, agent) = ("203.0.113.77", "zeytin-phone/7.1 (Pixel 8)");
    let burak = account(&app, "burak").await;
    // Ayşe is invited by Burak and invites Carol: both referral rows name her phone.
    let phone = new_phone();
    let mut body = registration(&phone, "zeytinyagli");
    body["referral_code"] = referral_code(&app, &burak.user.access).await.into();
    assert_eq!(app.register_body(&body).await.status(), StatusCode::CREATED);
    let ayse = {
        let response = app.login(&phone, PASSWORD).await;
        let session: Value = response.json().await.unwrap();
        let user = TestUser::signed_in(app.user_id(&phone).await, &phone, &session);
        Account { phone: phone.clone(), user }
    };
    let mut carol_body = registration(&new_phone(), "carol");
    carol_body["referral_code"] = referral_code(&app, &ayse.user.access).await.into();
    assert_eq!(app.register_body(&carol_body).await.status(), StatusCode::CREATED);
    let carol = account(&app, "carol").await;
    let dave = account(&app, "dave").await;

    // Where she signed in from, with what, and a wrong password: sessions and login attempts.
    assert_eq!(sign_in_from(&app, &phone, "not-my-password", ip, agent).await, StatusCode::UNAUTHORIZED);
    assert_eq!(sign_in_from(&app, &phone, PASSWORD, ip, agent).await, StatusCode::OK);
    phone_code(&app, Some(ayse.user.id), &phone, ip, agent).await;
    phone_code(&app, None, &phone, ip, agent).await;
    // Her age assured by the provider: its answer and its reference are kept beside her account.
    let started = app.post("/v1/me/age-assurance").bearer_auth(&ayse.user.access).send().await.unwrap();
    assert_eq!(started.status(), StatusCode::CREATED);
    let age_reference = started.json::<Value>().await.unwrap()["reference"].as_str().unwrap().to_owned();
    yoti.finish(&age_reference, "COMPLETE", Some(18), Some("DOC_SCAN"));
    let checked = app.post("/v1/me/age-assurance/check").bearer_auth(&ayse.user.access).send().await.unwrap();
    assert_eq!(checked.json::<Value>().await.unwrap()["assured"], true);

    // A chat with Burak both ways, a claim, a report each way.
    let (mut sa, mut chat_a, mut sb, mut chat_b) = app.pair(&ayse.user, &burak.user, MatchKind::Text).await;
    let match_id = chat_a.info.match_id;
    sa.send(&chat_a.message("merhaba")).await.unwrap();
    sb.send(&chat_b.message("selam")).await.unwrap();
    let stored = format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {match_id}");
    eventually(Duration::from_secs(20), "both messages stored", || async { app.count(stored.clone()).await == 2 })
        .await;
    answered(&mut sa, ClientFrame::Claim { id: Some("claim".into()), match_id }).await;
    answered(&mut sa, report(match_id, "zeytinyagli yazdı bunu")).await;
    answered(&mut sb, report(match_id, "kaba")).await;
    let from =
        format!("SELECT COUNT(*) FROM reports WHERE reporter_id = {} AND reporter_network IS NOT NULL", ayse.user.id);
    assert_eq!(app.count(from).await, 1, "her report keeps her address range, hashed");
    let now = app.now();
    drop((sa, sb));

    // Blocks both ways, a device with a waiting push, a notification, an ad view, a paid subscription.
    app.store.block(ayse.user.id, dave.user.id, now).await.unwrap();
    app.store.block(carol.user.id, ayse.user.id, now).await.unwrap();
    app.store.upsert_device(ayse.user.id, "fcm-token-of-ayse", "android", Locale::Tr, now).await.unwrap();
    app.execute(format!(
        "INSERT INTO push_outbox (device_id, payload, not_before, created_at) \
         SELECT id, '{{}}', '{0}', '{0}' FROM devices WHERE user_id = {1}; \
         INSERT INTO notifications (user_id, message, type, created_at) VALUES ({1}, 'hoş geldin', 'system', '{0}'); \
         INSERT INTO ads (title, content, created_at) VALUES ('reklam', 'içerik', '{0}')",
        now.to_rfc3339(),
        ayse.user.id
    ))
    .await;
    let ad_id = app.count("SELECT MAX(id) FROM ads").await;
    app.store.record_ad_view(ad_id, ayse.user.id, now).await.unwrap();
    app.subscribe(ayse.user.id, now + TimeDelta::days(365)).await;

    // As a moderator she banned Dave and turned down his appeal: her id is in bans, appeals and audit details.
    assert!(
        app.store.set_role(ayse.user.id, tanis::domain::Role::Moderator, now).await.unwrap(),
        "as `tanis set-role` does"
    );
    app.ban_with(&ayse.user, dave.user.id, json!({ "reason": "spam", "note": "by ayse" })).await;
    let appeal = json!({ "phone": dave.phone, "password": PASSWORD, "text": "haksızlık" });
    assert_eq!(app.post_json("/v1/ban/appeal", &appeal).await.status(), StatusCode::CREATED);
    let (_, appeals) = app.get_json("/v1/admin/appeals", &ayse.user.access).await;
    let decide = format!("/v1/admin/appeals/{}/decision", appeals["appeals"][0]["id"]);
    let rejection = json!({ "decision": "reject", "note": "hayır" });
    let decided = app.post(&decide).bearer_auth(&ayse.user.access).json(&rejection).send().await.unwrap();
    assert_eq!(decided.status(), StatusCode::NO_CONTENT);

    let needles = {
        let mut needles = identifiers(&app, &ayse).await;
        needles.push((format!("user agent {agent}"), agent.as_bytes().to_vec()));
        needles.push((format!("address {ip}"), ip.as_bytes().to_vec()));
        needles.push(("her age assurance's reference".into(), age_reference.as_bytes().to_vec()));
        needles
    };
    let before = hits(&every_column(&app).await, &needles);
    let places = ["users.phone_index", "referrals.inviter_phone_index", "login_attempts.ip", "logins.user_agent"];
    for place in places.into_iter().chain(["age_assurances.reference"]) {
        assert!(before.iter().any(|hit| hit.contains(place)), "the arrangement puts something at {place}: {before:#?}");
    }
    let logs_before = app.count(format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {match_id}")).await;

    deleted(delete_me(&app, &ayse.user.access, PASSWORD).await).await;
    purge_everything_due(&app).await;

    // Nothing leads back to her.
    let columns = every_column(&app).await;
    assert_eq!(hits(&columns, &needles), Vec::<String>::new(), "identifiers left after the purge");
    assert_eq!(naming(&app, ayse.user.id).await, Vec::<String>::new(), "account columns naming the old id");
    assert_eq!(audit_details_naming(&app, ayse.user.id).await, Vec::<String>::new());

    // The others' records stand, under a tombstone.
    let tombstone = UserId(app.count("SELECT id FROM users WHERE purged_at IS NOT NULL").await);
    assert_eq!(
        app.count(format!(
            "SELECT COUNT(*) FROM users WHERE id = {tombstone} AND alias = 'deleted' AND phone_sealed IS NULL \
             AND phone_index IS NULL AND password_hash = '!' AND birth_year IS NULL AND location_lat IS NULL"
        ))
        .await,
        1
    );
    assert!(tombstone > dave.user.id, "a fresh id, never the old one");
    assert_eq!(app.store.sealed_phone(tombstone).await.unwrap(), None, "no phone to show an admin");
    let kept = [
        format!("SELECT COUNT(*) FROM matches WHERE id = {match_id} AND {tombstone} IN (user1_id, user2_id)"),
        format!(
            "SELECT COUNT(*) FROM message_logs WHERE match_id = {match_id} AND sender_id = {tombstone} AND device_info IS NULL"
        ),
        format!("SELECT COUNT(*) FROM claims WHERE match_id = {match_id} AND user_id = {tombstone}"),
        format!("SELECT COUNT(*) FROM reports WHERE reporter_id = {} AND reported_id = {tombstone}", burak.user.id),
        // Her words and where she reported from (the hash of her address range) are gone with her.
        format!(
            "SELECT COUNT(*) FROM reports WHERE reporter_id = {tombstone} AND details IS NULL AND reporter_network IS NULL"
        ),
        format!("SELECT COUNT(*) FROM bans WHERE banned_by = {tombstone}"),
        format!("SELECT COUNT(*) FROM appeals WHERE decided_by = {tombstone}"),
        "SELECT COUNT(*) FROM billing_events WHERE user_id IS NULL".to_owned(),
    ];
    for sql in kept {
        assert_eq!(app.count(sql.clone()).await, 1, "{sql}");
    }
    assert_eq!(app.count(format!("SELECT COUNT(*) FROM message_logs WHERE match_id = {match_id}")).await, logs_before);
    assert_eq!(app.count(format!("SELECT COUNT(*) FROM messages WHERE match_id = {match_id}")).await, 0);
    assert!(app.count(format!("SELECT COUNT(*) FROM system_logs WHERE actor_id = {tombstone}")).await >= 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM referrals").await, 0, "both referral rows named her phone");
    assert_eq!(app.count("SELECT COUNT(*) FROM push_outbox").await, 0);
    let handle: String = {
        let tag = app.count(format!("SELECT CAST(tag AS BIGINT) FROM users WHERE id = {tombstone}")).await;
        format!("deleted#{tag:04}")
    };

    // Burak's export still lists the match and his report, the other side by the tombstone's handle. (A month on,
    // the sessions of Burak and Carol have lapsed unused: their apps sign in again.)
    let (_, doc) = app.get_json("/v1/me/export", &app.sign_in(&burak.user).await).await;
    assert_eq!(doc["matches"][0]["id"], match_id.get());
    assert_eq!(doc["matches"][0]["peer"], handle.as_str());
    assert_eq!(doc["reports"][0]["reported"], handle.as_str());
    // Carol, whom she invited, keeps her account; her block of Ayşe is gone with Ayşe.
    assert_eq!(app.get_me(&app.sign_in(&carol.user).await).await.status(), StatusCode::OK);
    assert_eq!(app.count(format!("SELECT COUNT(*) FROM blocks WHERE blocker_id = {}", carol.user.id)).await, 0);

    // A second run finds nothing to do and changes nothing (the sign-ins above wrote their sessions before it).
    let columns = every_column(&app).await;
    app.run_job(Job::Purge).await.unwrap();
    assert_eq!(every_column(&app).await, columns, "a second run is a no-op");
    assert_error(app.login(&phone, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

async fn a_banned_accounts_purge_keeps_only_its_phones_blind_index_until_the_ban_is_lifted(backend: Backend) {
    let app = spawn_app(backend).await;
    let ayse = account(&app, "zeytinyagli").await;
    let moderator = app.staff("bekci", "moderator").await;
    app.ban(&moderator, ayse.user.id, "spam").await;
    let needles = identifiers(&app, &ayse).await;
    let body = json!({ "phone": ayse.phone, "password": PASSWORD });
    deleted(app.post_json("/v1/ban/deletion", &body).await).await;
    purge_everything_due(&app).await;

    let found = hits(&every_column(&app).await, &needles);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(found[0].ends_with("banned_phones.phone_index: the phone's blind index"), "{found:#?}");
    assert_eq!(app.count("SELECT COUNT(*) FROM banned_phones WHERE ends_at IS NULL").await, 1, "until lifted");
    assert_eq!(naming(&app, ayse.user.id).await, Vec::<String>::new());
    // The ban record stays with the tombstone, still running.
    let tombstone = app.count("SELECT id FROM users WHERE purged_at IS NOT NULL").await;
    assert_eq!(
        app.count(format!("SELECT COUNT(*) FROM bans WHERE user_id = {tombstone} AND lifted_at IS NULL")).await,
        1
    );

    let again = app.register_body(&registration(&ayse.phone, "zeytinyagli")).await;
    let message = assert_error(again, StatusCode::FORBIDDEN, "account_banned").await;
    assert!(message.ends_with("until lifted"), "{message}");
    app.clock.advance(TimeDelta::days(3650));
    app.run_job(Job::Purge).await.unwrap();
    assert_eq!(app.count("SELECT COUNT(*) FROM banned_phones").await, 1, "a ban until lifted never ends by itself");
}

async fn a_purge_cut_short_leaves_the_account_whole_and_the_next_run_finishes_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let ayse = account(&app, "ayse").await;
    deleted(delete_me(&app, &ayse.user.access, PASSWORD).await).await;
    let columns = every_column(&app).await;
    app.clock.advance(TimeDelta::days(31));
    app.store.fail_points.arm("purge.before_delete");
    assert!(app.run_job(Job::Purge).await.is_err(), "the armed run fails");
    let unchanged: Vec<_> =
        every_column(&app).await.into_iter().filter(|(place, _)| !place.contains("job_runs.")).collect();
    let expected: Vec<_> = columns.into_iter().filter(|(place, _)| !place.contains("job_runs.")).collect();
    assert_eq!(unchanged, expected, "nothing of the cut-short purge stays");

    app.run_job(Job::Purge).await.unwrap();
    assert_eq!(app.count(format!("SELECT COUNT(*) FROM users WHERE id = {}", ayse.user.id)).await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM users WHERE purged_at IS NOT NULL").await, 1);
    assert_eq!(naming(&app, ayse.user.id).await, Vec::<String>::new());
}

/// A harassment report on the peer of `match_id`, with `details`.
fn report(match_id: MatchId, details: &str) -> ClientFrame {
    let (id, reason_code) = (Some("report".into()), ReportReason::Harassment);
    ClientFrame::Report { id, match_id, reason_code, details: Some(details.into()), evidence: Vec::new() }
}

/// Sends `frame` and waits for its `ok`.
async fn answered(socket: &mut tanis_client::Connection, frame: ClientFrame) {
    socket.send(&frame).await.unwrap();
    let ok = ServerFrame::Ok { id: frame.id().map(str::to_owned) };
    socket.next_where(|f| *f == ok).await.unwrap();
}
