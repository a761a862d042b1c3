//! Phone numbers at rest (src/phones): sealed beside a blind index in every table, never in clear in the
//! database, its files or the log; keys that do not fit the rows stop the start; one account per number; the
//! plaintext of an older schema sealed at start; and key rotation with `tanis phones rotate-key`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use tanis::config::Config;
use tanis::domain::Phone;
use tanis::phones::{PhoneSecrets, PhoneVault, sealed_key_id};
use tanis::startup::Application;
use tanis::store::Store;

use crate::binary::{log_lines, secrets_for, tanis, wait_until_listening};
use crate::helpers::{
    Backend, PASSWORD, assert_error, fresh_database_url, new_phone, registration, spawn_app, spawn_app_with,
};
use crate::migrations::{migrate_up_to, old_id, old_user};
use crate::on_both_stores;

on_both_stores!(
    no_phone_number_is_stored_or_logged_in_clear,
    a_wrong_phone_key_stops_the_start_and_says_which,
    an_unknown_phone_finds_no_account_and_its_failures_still_count,
    one_phone_number_registers_once_even_when_requests_race,
    rotating_the_keys_reseals_every_phone_and_logins_keep_working,
    plaintext_phones_of_an_older_schema_are_sealed_at_start_and_nothing_is_left_in_clear,
);

/// A valid Turkish mobile number no other test uses, so whatever a scan finds is this test's.
fn unique_phone() -> String {
    format!("+90554{:07}", uuid::Uuid::new_v4().as_u128() % 10_000_000)
}

/// Every way a number could sit in clear: E.164, its digits without '+', and the national number.
fn clear_forms(phones: &[&String]) -> Vec<String> {
    phones.iter().flat_map(|p| [p.to_string(), p[1..].to_owned(), p[3..].to_owned()]).collect()
}

/// The test server's WAL is every row version of the whole run, hundreds of megabytes: a byte-by-byte window
/// comparison in a debug build took minutes, memchr's searcher takes well under a second.
fn contains(haystack: &[u8], needle: &str) -> bool {
    memchr::memmem::find(haystack, needle.as_bytes()).is_some()
}

/// `table.column: needle` for every value of every column of every table that contains a needle ([`every_column`]
/// reads raw bytes, so a number stored raw in a binary column is found too).
async fn scan_tables(backend: Backend, url: &str, needles: &[String]) -> Vec<String> {
    let columns = every_column(backend, url).await;
    assert!(columns.len() > 50, "every table: {columns:?}");
    let mut hits = Vec::new();
    for (place, values) in columns {
        for needle in needles {
            if values.iter().any(|v| contains(v, needle)) {
                hits.push(format!("{place}: {needle}"));
            }
        }
    }
    hits
}

/// Every column of every table, as `(place, values)`: `place` is `table.column` (`schema.table.column` on
/// PostgreSQL) and the values are the column's non-null values as bytes (PostgreSQL `bytea` as stored,
/// everything else as text; SQLite every value cast to a blob), sorted.
pub(crate) async fn every_column(backend: Backend, url: &str) -> Vec<(String, Vec<Vec<u8>>)> {
    let mut columns = Vec::new();
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            let names: Vec<(String, String)> = sqlx::query_as(
                "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for (table, column) in names {
                let sql = format!("SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\" WHERE \"{column}\" IS NOT NULL");
                let values = sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&mut conn).await.unwrap();
                columns.push((format!("{table}.{column}"), values));
            }
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let names: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT c.table_schema::text, c.table_name::text, c.column_name::text, c.data_type::text \
                 FROM information_schema.columns c JOIN information_schema.tables t \
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE' \
                 WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema')",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for (schema, table, column, kind) in names {
                let from = format!("FROM \"{schema}\".\"{table}\" WHERE \"{column}\" IS NOT NULL");
                let values: Vec<Vec<u8>> = if kind == "bytea" {
                    let sql = format!("SELECT \"{column}\" {from}");
                    sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&mut conn).await.unwrap()
                } else {
                    let sql = format!("SELECT \"{column}\"::text {from}");
                    let text: Vec<String> = sqlx::query_scalar(AssertSqlSafe(sql)).fetch_all(&mut conn).await.unwrap();
                    text.into_iter().map(String::into_bytes).collect()
                };
                columns.push((format!("{schema}.{table}.{column}"), values));
            }
        }
    }
    for (_, values) in &mut columns {
        values.sort();
    }
    columns.sort();
    columns
}

/// The SQLite database as its files hold it: the database, its write-ahead log and the shared memory file.
fn sqlite_files(url: &str) -> Vec<u8> {
    let path = url.trim_start_matches("sqlite://");
    let mut everything = Vec::new();
    for file in [path.to_owned(), format!("{path}-wal"), format!("{path}-shm")] {
        if std::path::Path::new(&file).exists() {
            everything.extend(std::fs::read(&file).unwrap_or_else(|e| panic!("reading {file}: {e}")));
        }
    }
    everything
}

/// Where PostgreSQL's write-ahead log is now: the name of its current segment file, for [`postgres_wal`] (empty
/// on SQLite, which has no such log to read back).
pub(crate) async fn wal_position(backend: Backend, url: &str) -> String {
    if backend == Backend::Sqlite {
        return String::new();
    }
    let mut pg = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query_scalar("SELECT pg_walfile_name(pg_current_wal_lsn())").fetch_one(&mut pg).await.unwrap()
}

/// PostgreSQL's write-ahead log from the segment `from` (`wal_position`) on, after a checkpoint (the test
/// server runs without synchronous commit): every row version written since, of every database of the test server.
/// The test server keeps a gigabyte of the log (`wal_keep_size` in scripts/test): without it, the checkpoints of
/// the tests running beside this one could recycle a segment written moments ago before it is read.
pub(crate) async fn postgres_wal(url: &str, from: &str) -> Vec<u8> {
    let mut pg = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query("CHECKPOINT").execute(&mut pg).await.unwrap();
    let (dir,): (String,) = sqlx::query_as("SHOW data_directory").fetch_one(&mut pg).await.unwrap();
    let mut wal = Vec::new();
    for entry in std::fs::read_dir(format!("{dir}/pg_wal")).unwrap() {
        let path = entry.unwrap().path();
        // Segment files are named by position (24 hex digits), so they sort in the log's order.
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let segment = name.len() == 24 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if path.is_file() && segment && name.as_str() >= from {
            wal.extend(std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display())));
        }
    }
    wal
}

/// Every sealed value of every phone column, as stored.
async fn sealed_values(backend: Backend, url: &str) -> Vec<Vec<u8>> {
    let sql = "SELECT phone_sealed FROM users UNION ALL SELECT inviter_phone_sealed FROM referrals \
               UNION ALL SELECT invited_phone_sealed FROM referrals UNION ALL SELECT phone_sealed FROM login_attempts \
               UNION ALL SELECT phone_sealed FROM phone_codes";
    match backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
    }
}

fn parsed(phone: &str) -> Phone {
    Phone::parse(phone).unwrap()
}

async fn no_phone_number_is_stored_or_logged_in_clear(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}", dir.path().join("tanis.db").display()),
        Backend::Postgres => fresh_database_url(backend, dir.path()).await,
    };
    let wal_from = wal_position(backend, &url).await;
    // The most talkative log there is: what it shows, any level shows.
    let mut serve = tanis(dir.path());
    serve.arg("serve").env("TANIS_DATABASE_URL", &url).env("TANIS_LOG", "trace");
    let mut server = secrets_for(backend, &mut serve).spawn().unwrap();
    let mut logs = log_lines(&mut server);
    let mut log = Vec::new();
    let address = wait_until_listening(&mut logs, &mut log).await;
    let client = reqwest::Client::new();
    let http = |path: &str| format!("http://{address}{path}");
    let (inviter, invited, admin, stranger) = (unique_phone(), unique_phone(), unique_phone(), unique_phone());

    let register = |body: Value| client.post(http("/v1/auth/register")).json(&body).send();
    let registered = register(registration(&inviter, "davetci")).await.unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED);
    let session: Value = registered.json().await.unwrap();
    let (code, handle) = (&session["user"]["referral_code"], session["user"]["handle"].as_str().unwrap());
    let mut invited_body = registration(&invited, "davetli");
    invited_body["referral_code"] = code.clone();
    let registered = register(invited_body).await.unwrap();
    assert_eq!(registered.status(), StatusCode::CREATED, "{}", registered.text().await.unwrap());
    assert_eq!(register(registration(&admin, "kaptan")).await.unwrap().status(), StatusCode::CREATED);

    let login = |phone: String, password: &str| {
        client.post(http("/v1/auth/login")).json(&json!({ "phone": phone, "password": password })).send()
    };
    assert_eq!(login(inviter.clone(), PASSWORD).await.unwrap().status(), StatusCode::OK);
    assert_eq!(login(format!("0{}", &invited[3..]), PASSWORD).await.unwrap().status(), StatusCode::OK);
    for _ in 0..2 {
        assert_eq!(login(inviter.clone(), "yanlis-parola").await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(login(stranger.clone(), PASSWORD).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    // One-time codes hold their phone too: registration sent each account one (the development sender logs it
    // with the last two digits at most), and a reset is recorded even for a phone no account has.
    let reset = client.post(http("/v1/auth/password-reset")).json(&json!({ "phone": stranger })).send();
    assert_eq!(reset.await.unwrap().status(), StatusCode::ACCEPTED);
    let sealed = sealed_values(backend, &url).await.len();
    assert_eq!(sealed, 3 + 2 + 5 + 4, "users, referral phones, login attempts and codes (3 sent, 1 reset), sealed");

    // The one place a number is shown: an admin's view, opened from its sealed form.
    let mut set_role = tanis(dir.path());
    set_role.args(["set-role", &admin, "admin"]).env("TANIS_DATABASE_URL", &url);
    let set_role = secrets_for(backend, &mut set_role).output();
    let set_role = set_role.await.unwrap();
    assert!(set_role.status.success(), "{}", String::from_utf8_lossy(&set_role.stderr));
    log.extend(String::from_utf8_lossy(&set_role.stderr).lines().map(str::to_owned));
    let admin_session: Value = login(admin.clone(), PASSWORD).await.unwrap().json().await.unwrap();
    let view = client
        .get(http(&format!("/v1/admin/users?handle={}&phone=true", handle.replace('#', "%23"))))
        .bearer_auth(admin_session["tokens"]["access_token"].as_str().unwrap())
        .send();
    let view: Value = view.await.unwrap().json().await.unwrap();
    assert_eq!(view["phone_number"], inviter.as_str(), "an admin sees the number: {view}");

    let pid = server.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    tokio::time::timeout(Duration::from_secs(15), server.wait()).await.expect("exits").unwrap();
    while let Some(line) = logs.recv().await {
        log.push(line);
    }

    let needles = clear_forms(&[&inviter, &invited, &admin, &stranger]);
    let control = "davetci".to_owned();
    let hits = scan_tables(backend, &url, std::slice::from_ref(&control)).await;
    assert!(hits.iter().any(|h| h.contains("users.alias")), "the scan sees stored text (control): {hits:?}");
    assert_eq!(scan_tables(backend, &url, &needles).await, Vec::<String>::new(), "a phone number in clear");
    let files = match backend {
        Backend::Sqlite => sqlite_files(&url),
        Backend::Postgres => postgres_wal(&url, &wal_from).await,
    };
    assert!(contains(&files, &control), "the file scan sees stored text (control)");
    for needle in &needles {
        assert!(!contains(&files, needle), "{needle} is in the database's files");
    }
    let all = log.join("\n");
    assert!(all.contains("tanis is listening") && all.contains("TRACE"), "the log was captured, verbose");
    for needle in &needles {
        let line = log.iter().find(|l| l.contains(needle.as_str()));
        assert!(line.is_none(), "{needle} was logged: {}", line.unwrap());
    }
}

async fn a_wrong_phone_key_stops_the_start_and_says_which(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = unique_phone();
    app.register(&phone, "kediadam").await;
    app.stop().await;
    // The keys the phones were sealed with: generated into the data directory on SQLite, configured on PostgreSQL
    // (which refuses generated secrets).
    let sealed_with = |configured: &Option<String>, file: &str| match configured {
        Some(key) => key.clone(),
        None => std::fs::read_to_string(app.config.data_dir.join(file)).unwrap().trim().to_owned(),
    };
    let refused = async |config: &Config| match Application::build(config.clone()).await {
        Ok(_) => panic!("started with keys that do not fit"),
        Err(e) => format!("{e:#}"),
    };

    let mut config = app.config.clone();
    config.phones.encryption_key = Some("not-the-key-these-phone-numbers-were-sealed-with".into());
    let error = refused(&config).await;
    let sealed_under = app.phones.key_id().to_string();
    assert!(error.contains("users.phone") && error.contains(&sealed_under), "{error}");
    assert!(error.contains("not configured") && error.contains("phones.encryption_key"), "{error}");

    config.phones.encryption_key = Some(sealed_with(&app.config.phones.encryption_key, "phone_encryption_key"));
    config.phones.index_key = Some("not-the-key-this-database-was-indexed-with".into());
    let error = refused(&config).await;
    assert!(error.contains("phones.index_key") && error.contains("could be found"), "{error}");

    // The original keys, configured: the server starts and finds the account.
    config.phones.index_key = Some(sealed_with(&app.config.phones.index_key, "phone_index_key"));
    let restarted = spawn_app_with(backend, |c| {
        c.database_url = Some(app.database_url.clone());
        c.phones = config.phones.clone();
    })
    .await;
    assert_eq!(restarted.login(&phone, PASSWORD).await.status(), StatusCode::OK);
}

async fn an_unknown_phone_finds_no_account_and_its_failures_still_count(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register(&new_phone(), "kediadam").await;
    let unknown = unique_phone();
    assert!(app.store.user_by_phone(&app.lookup(&unknown)).await.unwrap().is_none());
    assert!(!app.store.phone_exists(&app.lookup(&unknown)).await.unwrap());

    for _ in 0..app.config.auth.max_failures_per_phone {
        assert_error(app.login(&unknown, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // Another form of the same number has the same blind index, so it is locked as well.
    let national = format!("0{}", &unknown[3..]);
    assert_error(app.login(&national, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
    let attempts = i64::from(app.config.auth.max_failures_per_phone) + 1;
    assert_eq!(app.store.count_login_attempts(&app.lookup(&unknown)).await.unwrap(), attempts);
    // Each attempt holds the number sealed, and it opens to the number typed.
    let sealed = sealed_values(backend, &app.database_url).await;
    let opened: Vec<Phone> = sealed.iter().map(|s| app.phones.open(s).unwrap()).collect();
    let typed = opened.iter().filter(|p| **p == parsed(&unknown)).count();
    assert_eq!(typed as i64, attempts, "{} sealed values", sealed.len());
}

async fn one_phone_number_registers_once_even_when_requests_race(backend: Backend) {
    let app = spawn_app(backend).await;
    let phone = unique_phone();
    let forms =
        [phone.clone(), format!("0{}", &phone[3..]), format!("+90 {} {}", &phone[3..6], &phone[6..]), phone.clone()];
    let app = std::sync::Arc::new(app);
    let racers: Vec<_> = forms
        .into_iter()
        .enumerate()
        .map(|(i, form)| {
            let app = app.clone();
            tokio::spawn(async move { app.register_body(&registration(&form, &format!("yarisci{i}"))).await })
        })
        .collect();
    let (mut created, mut taken) = (0, 0);
    for racer in racers {
        let response = racer.await.unwrap();
        match response.status() {
            StatusCode::CREATED => created += 1,
            _ => {
                assert_error(response, StatusCode::CONFLICT, "phone_taken").await;
                taken += 1;
            }
        }
    }
    assert_eq!((created, taken), (1, 3), "one account, whichever request won");
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
    // And afterwards, of course.
    let again = app.register_body(&registration(&format!("0{}", &phone[3..]), "gecikmis")).await;
    assert_error(again, StatusCode::CONFLICT, "phone_taken").await;
}

const OLD_KEY: &str = "the-phone-encryption-key-before-the-rotation";
const OLD_INDEX: &str = "the-phone-index-key-before-the-rotation-0000";
const NEW_KEY: &str = "the-phone-encryption-key-after-the-rotation!";
const NEW_INDEX: &str = "the-phone-index-key-after-the-rotation-11111";

async fn rotating_the_keys_reseals_every_phone_and_logins_keep_working(backend: Backend) {
    let app = spawn_app_with(backend, |c| {
        c.phones.encryption_key = Some(OLD_KEY.into());
        c.phones.index_key = Some(OLD_INDEX.into());
    })
    .await;
    let (inviter, invited) = (unique_phone(), unique_phone());
    let session = app.register(&inviter, "davetci").await;
    let mut body = registration(&invited, "davetli");
    body["referral_code"] = session["user"]["referral_code"].clone();
    assert_eq!(app.register_body(&body).await.status(), StatusCode::CREATED);
    assert_error(app.login(&inviter, "yanlis-parola").await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    app.stop().await;

    // Both keys of each kind configured, the new ones current: what docs/operations.md has operators do.
    let cwd = tempfile::tempdir().unwrap();
    let rotate = || {
        let mut rotate = tanis(cwd.path());
        secrets_for(backend, &mut rotate)
            .args(["phones", "rotate-key"])
            .env("TANIS_DATABASE_URL", &app.database_url)
            .env("TANIS_DATA_DIR", &app.config.data_dir)
            .env("TANIS_PHONES__ENCRYPTION_KEY", NEW_KEY)
            .env("TANIS_PHONES__PREVIOUS_ENCRYPTION_KEYS", format!("[\"{OLD_KEY}\"]"))
            .env("TANIS_PHONES__INDEX_KEY", NEW_INDEX)
            .env("TANIS_PHONES__PREVIOUS_INDEX_KEY", OLD_INDEX)
            .output()
    };
    let first = rotate().await.unwrap();
    let log = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{log}");
    // Two users, the referral's two phones, one login attempt, the two registrations' verification codes.
    assert!(log.contains("examined=7 resealed=7"), "{log}");
    let again = rotate().await.unwrap();
    let log = String::from_utf8_lossy(&again.stderr);
    assert!(again.status.success() && log.contains("examined=7 resealed=0"), "a second run finds nothing: {log}");

    let new = PhoneVault::new(&PhoneSecrets {
        encryption: NEW_KEY.as_bytes(),
        previous_encryption: Vec::new(),
        index: NEW_INDEX.as_bytes(),
        previous_index: None,
    })
    .unwrap();
    let sealed = sealed_values(backend, &app.database_url).await;
    assert_eq!(sealed.len(), 7);
    assert!(sealed.iter().all(|s| sealed_key_id(s) == Some(new.key_id())), "everything under the new key");

    // The new keys alone are enough now: the old rows are found and opened, and uniqueness still holds.
    let rotated = spawn_app_with(backend, |c| {
        c.database_url = Some(app.database_url.clone());
        c.phones.encryption_key = Some(NEW_KEY.into());
        c.phones.index_key = Some(NEW_INDEX.into());
    })
    .await;
    assert_eq!(rotated.login(&inviter, PASSWORD).await.status(), StatusCode::OK);
    let twice = rotated.register_body(&registration(&invited, "baskasi")).await;
    assert_error(twice, StatusCode::CONFLICT, "phone_taken").await;
    assert_eq!(
        rotated.store.count_login_attempts(&rotated.lookup(&inviter)).await.unwrap(),
        2,
        "the failure from before the rotation is counted under the rebuilt index"
    );
    let inviter_id = rotated.user_id(&inviter).await;
    let opened = rotated.phones.open(&rotated.store.sealed_phone(inviter_id).await.unwrap().unwrap()).unwrap();
    assert_eq!(opened, parsed(&inviter));

    // And the old keys alone no longer fit.
    rotated.stop().await;
    let error = format!("{:#}", Application::build(app.config.clone()).await.err().expect("the old keys are refused"));
    assert!(error.contains("not configured") && error.contains(&new.key_id().to_string()), "{error}");
}

async fn plaintext_phones_of_an_older_schema_are_sealed_at_start_and_nothing_is_left_in_clear(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    // Connecting creates the SQLite file; the schema is the one before 0014, phones in clear.
    let old = Store::connect(&url).await.unwrap();
    migrate_up_to(backend, &url, 13).await;
    let (ayse, burak) = (unique_phone(), unique_phone());
    let a = old_user(backend, &url, &ayse, "ayse").await;
    let b = old_user(backend, &url, &burak, "burak").await;
    let at = "'2026-11-21T10:00:00Z'";
    old_id(
        backend,
        &url,
        &format!(
            "INSERT INTO referrals (inviter_phone, invited_phone, inviter_id, invited_id, created_at) \
             VALUES ('{ayse}', '{burak}', {a}, {b}, {at}) RETURNING id"
        ),
    )
    .await;
    old_id(
        backend,
        &url,
        &format!(
            "INSERT INTO login_attempts (phone_number, user_id, ip, outcome, created_at) \
             VALUES ('{ayse}', {a}, '203.0.113.1', 'bad_credentials', {at}) RETURNING id"
        ),
    )
    .await;
    old.close().await;
    let needles = clear_forms(&[&ayse, &burak]);
    let before = scan_tables(backend, &url, &needles).await;
    assert!(
        before.iter().any(|h| h.contains("login_attempts.phone_number")),
        "the scan finds them (control): {before:?}"
    );

    let config = Config { database_url: Some(url.clone()), data_dir: dir.path().join("data"), ..Config::default() };
    let vault = PhoneVault::load(&config.phones, &config.data_dir).unwrap();
    let store = tanis::startup::open_store(&config, Some(&vault)).await.unwrap();

    let found = store.user_by_phone(&vault.lookup(&parsed(&ayse))).await.unwrap().expect("found by its index");
    assert_eq!(found.id, a);
    let sealed_burak = store.sealed_phone(b).await.unwrap().unwrap();
    assert_eq!(vault.open(&sealed_burak).unwrap(), parsed(&burak));
    let count = async |sql: &str| old_id(backend, &url, sql).await;
    let linked = count(
        "SELECT COUNT(*) FROM referrals r JOIN users i ON i.id = r.inviter_id JOIN users v ON v.id = r.invited_id \
         WHERE r.inviter_phone_index = i.phone_index AND r.invited_phone_index = v.phone_index",
    );
    assert_eq!(linked.await, 1, "the referral's phones carry the users' indexes");
    let since = chrono::Utc::now() - chrono::TimeDelta::days(3650);
    assert_eq!(store.recent_failures_for_phone(&vault.lookup(&parsed(&ayse)), since, 10).await.unwrap().len(), 1);
    let legacy = "SELECT (SELECT COUNT(*) FROM users WHERE legacy_phone_number IS NOT NULL) \
                  + (SELECT COUNT(*) FROM referrals WHERE legacy_inviter_phone IS NOT NULL OR legacy_invited_phone IS NOT NULL) \
                  + (SELECT COUNT(*) FROM login_attempts WHERE legacy_phone_number IS NOT NULL)";
    assert_eq!(count(legacy).await, 0, "no plaintext column holds anything");

    assert_eq!(scan_tables(backend, &url, &needles).await, Vec::<String>::new(), "a phone number in clear");
    if backend == Backend::Sqlite {
        // The old rows' bytes are gone from the file as well, not merely unreferenced.
        let files = sqlite_files(&url);
        assert!(contains(&files, "burak"), "the file scan sees stored text (control)");
        for needle in &needles {
            assert!(!contains(&files, needle), "{needle} is still in the SQLite files");
        }
    }
    store.close().await;

    // Once: the next start has nothing to seal and leaves the sealed rows as they are.
    let store = tanis::startup::open_store(&config, Some(&vault)).await.unwrap();
    assert_eq!(store.sealed_phone(b).await.unwrap().unwrap(), sealed_burak);
    store.close().await;
}
