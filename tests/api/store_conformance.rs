//! The two stores must agree: same schema, same answers to the same calls. The scenario runs on a
//! fresh SQLite file and a fresh PostgreSQL database and the results are compared value by value.

use chrono::TimeDelta;
use sqlx::{AssertSqlSafe, Connection};
use tanis::domain::{BanReason, LoginOutcome, Phone, UserId};
use tanis::notices::Notice;
use tanis::store::{LoginAttempt, NewBan, NewRefreshToken, Referrer, Rotation, Store, StoreError};

use crate::helpers::{Backend, fresh_database_url, new_user, spawn_app, start_time, test_phones};
use crate::on_both_stores;

on_both_stores!(
    unique_rules_come_back_as_conflicts_and_store_nothing,
    rotation_consumes_a_token_once,
    foreign_keys_are_enforced,
    failures_come_back_newest_first_within_the_window_and_limit,
    text_outside_a_stored_vocabulary_is_a_store_error_and_never_a_panic,
);

async fn open(backend: Backend, dir: &std::path::Path) -> (Store, String) {
    let url = fresh_database_url(backend, dir).await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    (store, url)
}

fn token(user_id: UserId, family: &str, hash: u8) -> NewRefreshToken {
    NewRefreshToken {
        user_id,
        family_id: family.into(),
        token_hash: vec![hash; 32],
        expires_at: start_time() + TimeDelta::days(30),
        user_agent: Some("test".into()),
    }
}

/// Everything observable after a fixed sequence of store calls, as text to compare.
async fn scenario(store: &Store) -> Vec<String> {
    let t0 = start_time();
    let mut seen = Vec::new();
    let inviter = store.insert_user(&new_user("+905320000001", "Davetci", "0001", "AAAA2222")).await.unwrap();
    seen.push(format!("{inviter:?}"));
    let referrer = store.referrer_by_code("AAAA2222").await.unwrap().unwrap();
    assert_eq!(referrer.id, inviter.id);
    assert_eq!(test_phones().open(referrer.phone.ciphertext()).unwrap(), phone("+905320000001"));
    let mut invited = new_user("+905320000002", "davetli", "0002", "BBBB3333");
    invited.referrer = Some(referrer);
    let invited = store.insert_user(&invited).await.unwrap();
    seen.push(format!("{invited:?}"));

    store.update_alias(invited.id, "YeniAd", "yeniad", "0420", t0 + TimeDelta::seconds(1)).await.unwrap();
    store.update_location(invited.id, Some((41.0082, 28.9784)), t0 + TimeDelta::seconds(2)).await.unwrap();
    store
        .ban_user(
            &NewBan::permanent(
                inviter.id,
                BanReason::Spam,
                &serde_json::json!({ "test": true }),
                t0 + TimeDelta::seconds(3),
            ),
            &Notice::Banned { reason_code: BanReason::Spam, ends_at: None }.to_row(),
        )
        .await
        .unwrap();
    seen.push(format!("{:?}", store.user_by_id(invited.id).await.unwrap()));
    seen.push(format!("{:?}", store.user_by_phone(&lookup("+905320000001")).await.unwrap()));
    seen.push(format!("{:?}", store.tags_in_use("yeniad").await.unwrap()));

    store.insert_refresh_token(&token(invited.id, "fam", 1), t0).await.unwrap();
    let row = store.refresh_token_by_hash(&[1; 32]).await.unwrap().unwrap();
    seen.push(format!("{:?}", store.rotate_refresh_token(row.id, &token(invited.id, "fam", 2), t0).await.unwrap()));
    seen.push(format!("{:?}", store.refresh_token_by_hash(&[1; 32]).await.unwrap()));
    seen.push(format!("{:?}", store.revoke_token_family("fam", t0).await.unwrap()));

    let typed = test_phones().seal(&phone("+905320000002"));
    for (i, outcome) in
        [LoginOutcome::BadCredentials, LoginOutcome::Success, LoginOutcome::BadCredentials].into_iter().enumerate()
    {
        let attempt = LoginAttempt {
            phone: &typed,
            user_id: Some(invited.id),
            ip: "203.0.113.1",
            user_agent: None,
            outcome,
            now: t0 + TimeDelta::seconds(i as i64),
        };
        store.record_login_attempt(&attempt).await.unwrap();
    }
    seen.push(format!(
        "{:?}",
        store.recent_failures_for_phone(&lookup("+905320000002"), t0 - TimeDelta::hours(1), 10).await.unwrap()
    ));
    seen.push(format!("{:?}", store.system_logs_for_user(inviter.id, 10).await.unwrap()));
    seen
}

fn phone(number: &str) -> Phone {
    Phone::parse(number).unwrap()
}

fn lookup(number: &str) -> tanis::phones::PhoneLookup {
    test_phones().lookup(&phone(number))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_stores_give_identical_results_for_the_same_calls() {
    let dir = tempfile::tempdir().unwrap();
    let (sqlite, _) = open(Backend::Sqlite, dir.path()).await;
    let (postgres, _) = open(Backend::Postgres, dir.path()).await;
    let (a, b) = (scenario(&sqlite).await, scenario(&postgres).await);
    for (step, (on_sqlite, on_postgres)) in a.iter().zip(&b).enumerate() {
        assert_eq!(on_sqlite, on_postgres, "step {step} differs between SQLite and PostgreSQL");
    }
    assert_eq!(a.len(), b.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_migrations_define_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (_, sqlite_url) = open(Backend::Sqlite, dir.path()).await;
    let (_, postgres_url) = open(Backend::Postgres, dir.path()).await;

    let mut sqlite = sqlx::SqliteConnection::connect(&sqlite_url).await.unwrap();
    // `Jobs` and `Workers` are the job queue's (apalis), in schema `apalis` on PostgreSQL. SQLite's `messages` and
    // `message_logs` are views of one row per message, `message_rows` (0029), compared with the views below.
    let mut on_sqlite: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%' \
         AND m.name NOT IN ('Jobs', 'Workers', 'message_rows')",
    )
    .fetch_all(&mut sqlite)
    .await
    .unwrap();
    let mut message_rows: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info('message_rows')").fetch_all(&mut sqlite).await.unwrap();
    let mut both_views: Vec<String> = on_sqlite
        .iter()
        .filter(|(table, column)| {
            // The view's `created_at` is the row's `sent_at`.
            (table == "messages" && column != "created_at") || table == "message_logs"
        })
        .map(|(_, column)| column.clone())
        .collect();
    both_views.sort();
    both_views.dedup();
    message_rows.sort();
    assert_eq!(message_rows, both_views, "one row per message holds exactly the two views' columns");
    let mut postgres = sqlx::PgConnection::connect(&postgres_url).await.unwrap();
    let mut on_postgres: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(
        "SELECT table_name::text, column_name::text FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'"
            .to_owned(),
    ))
    .fetch_all(&mut postgres)
    .await
    .unwrap();
    on_sqlite.sort();
    on_postgres.sort();
    assert_eq!(on_sqlite, on_postgres);
    // Ids are i64 in Rust: an INT4 id column on PostgreSQL would fail to decode at run time.
    let narrow_ids: Vec<(String, String)> = sqlx::query_as(AssertSqlSafe(
        "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = 'public' \
         AND (column_name = 'id' OR column_name LIKE '%\\_id') AND column_name <> 'family_id' \
         AND column_name <> 'client_msg_id' AND data_type <> 'bigint'"
            .to_owned(),
    ))
    .fetch_all(&mut postgres)
    .await
    .unwrap();
    assert_eq!(narrow_ids, Vec::<(String, String)>::new(), "every id column is BIGINT");
    for table in [
        "users",
        "subscriptions",
        "matches",
        "messages",
        "message_logs",
        "claims",
        "blocks",
        "reports",
        "ads",
        "notifications",
        "referrals",
        "system_logs",
        "refresh_tokens",
        "logins",
        "login_attempts",
        "devices",
    ] {
        assert!(on_sqlite.iter().any(|(t, _)| t == table), "table {table} exists");
    }
}

async fn unique_rules_come_back_as_conflicts_and_store_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(backend, dir.path()).await;
    store.insert_user(&new_user("+905320000001", "kedi", "0001", "AAAA2222")).await.unwrap();

    let same_phone = store.insert_user(&new_user("+905320000001", "baska", "0002", "BBBB3333")).await;
    assert!(matches!(same_phone, Err(StoreError::Conflict)), "{same_phone:?}");
    let same_handle = store.insert_user(&new_user("+905320000002", "KEDI", "0001", "CCCC4444")).await;
    assert!(matches!(same_handle, Err(StoreError::Conflict)), "alias#tag is unique whatever the case");
    // A referral row that fails rolls back the user it belonged to.
    let mut twice = new_user("+905320000004", "dort", "0004", "EEEE6666");
    twice.referrer = Some(Referrer { id: UserId(1), phone: test_phones().seal(&phone("+905320000004")) });
    assert!(store.insert_user(&twice).await.is_err(), "self-referral violates the referral check");
    assert!(!store.phone_exists(&lookup("+905320000004")).await.unwrap(), "nothing of it was stored");
}

async fn rotation_consumes_a_token_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(backend, dir.path()).await;
    let user = store.insert_user(&new_user("+905320000001", "kedi", "0001", "AAAA2222")).await.unwrap();
    store.insert_refresh_token(&token(user.id, "fam", 1), start_time()).await.unwrap();
    let row = store.refresh_token_by_hash(&[1; 32]).await.unwrap().unwrap();

    let first = store.rotate_refresh_token(row.id, &token(user.id, "fam", 2), start_time()).await.unwrap();
    let second = store.rotate_refresh_token(row.id, &token(user.id, "fam", 3), start_time()).await.unwrap();
    assert_eq!((first, second), (Rotation::Rotated, Rotation::AlreadyConsumed));
    assert!(store.refresh_token_by_hash(&[3; 32]).await.unwrap().is_none(), "a refused rotation stores no successor");
}

async fn foreign_keys_are_enforced(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(backend, dir.path()).await;
    assert!(store.insert_refresh_token(&token(UserId(999), "fam", 1), start_time()).await.is_err());
}

/// A row whose text no vocabulary holds (a newer server's, a hand edit) in a column without a CHECK: reading it is
/// a store error, never a panic.
async fn text_outside_a_stored_vocabulary_is_a_store_error_and_never_a_panic(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.user("kedi").await;
    let at = "'2026-11-21T10:00:00Z'";
    app.execute(format!(
        "INSERT INTO system_logs (action, user_id, details, created_at) VALUES ('user.teleported', {}, '{{}}', {at})",
        user.id
    ))
    .await;
    let logs = app.store.system_logs_for_user(user.id, 10).await;
    assert!(matches!(logs, Err(StoreError::Database(_))), "{logs:?}");

    app.execute(format!("INSERT INTO bans (user_id, reason_code, created_at) VALUES ({}, 'rudeness', {at})", user.id))
        .await;
    let bans = app.store.bans_of(user.id).await;
    assert!(matches!(bans, Err(StoreError::Database(_))), "{bans:?}");
}

async fn failures_come_back_newest_first_within_the_window_and_limit(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open(backend, dir.path()).await;
    let t0 = start_time();
    let typed = test_phones().seal(&phone("+905320000009"));
    for minute in 0..6 {
        let attempt = LoginAttempt {
            phone: &typed,
            user_id: None,
            ip: "203.0.113.1",
            user_agent: None,
            outcome: LoginOutcome::BadCredentials,
            now: t0 + TimeDelta::minutes(minute),
        };
        store.record_login_attempt(&attempt).await.unwrap();
    }
    let since = t0 + TimeDelta::minutes(1);
    let phone = store.recent_failures_for_phone(&lookup("+905320000009"), since, 3).await.unwrap();
    let minutes = |v: &[chrono::DateTime<chrono::Utc>]| v.iter().map(|t| (*t - t0).num_minutes()).collect::<Vec<_>>();
    assert_eq!(minutes(&phone), [5, 4, 3]);
    let ip = store.recent_failures_for_ip("203.0.113.1", since, 10).await.unwrap();
    assert_eq!(minutes(&ip), [5, 4, 3, 2], "the window start itself is outside");
}
