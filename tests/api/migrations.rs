//! Upgrades: data written under an older schema comes through the newer migrations whole. Each test builds the
//! older schema with the migrations up to a version, writes through it, then lets `Store::migrate` finish.

use std::path::Path;

use sqlx::Connection;
use sqlx::migrate::Migrator;
use tanis::store::{Store, WriteOutcome};

use crate::helpers::{Backend, fresh_database_url, new_match, new_message, new_user, start_time};
use crate::on_both_stores;

on_both_stores!(messages_and_their_logs_survive_the_move_to_keys_by_match_and_seq);

/// Applies our migrations up to `version` (inclusive) to the database at `url`.
async fn migrate_up_to(backend: Backend, url: &str, version: i64) {
    let dir = match backend {
        Backend::Sqlite => "migrations/sqlite",
        Backend::Postgres => "migrations/postgres",
    };
    let mut old = Migrator::new(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).await.unwrap();
    old.migrations = old.migrations.iter().filter(|m| m.version <= version).cloned().collect::<Vec<_>>().into();
    match backend {
        Backend::Sqlite => old.run(&mut sqlx::SqliteConnection::connect(url).await.unwrap()).await.unwrap(),
        Backend::Postgres => old.run(&mut sqlx::PgConnection::connect(url).await.unwrap()).await.unwrap(),
    }
}

async fn messages_and_their_logs_survive_the_move_to_keys_by_match_and_seq(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database_url(backend, dir.path()).await;
    // Connecting creates the SQLite file; the schema is the one before 0007 (surrogate ids, rowid tables).
    let store = Store::connect(&url).await.unwrap();
    migrate_up_to(backend, &url, 6).await;
    let (a, b) = (
        store.insert_user(&new_user("+905551110001", "ayse", "1234", "codeayse")).await.unwrap().id,
        store.insert_user(&new_user("+905551110002", "burak", "1234", "codeburak")).await.unwrap().id,
    );
    let now = start_time();
    let pair = new_match(a, b, "text", now);
    let m = store.create_matches(&[pair], None).await.unwrap()[0].as_ref().unwrap().row.id;
    let sent = [new_message(m, a, b, "a1"), new_message(m, b, a, "b1"), new_message(m, a, b, "a2")];
    let stored = store.insert_messages(&sent, now).await.unwrap();
    assert!(stored.iter().all(|o| matches!(o, WriteOutcome::Stored { .. })), "{stored:?}");

    store.migrate().await.unwrap();

    let rows = store.messages_after(m, 0, 10).await.unwrap();
    let kept: Vec<(i64, i64, String)> = rows.iter().map(|r| (r.seq, r.sender_id, r.content.clone())).collect();
    let expected: Vec<(i64, i64, String)> =
        sent.iter().zip(1..).map(|(m, seq)| (seq, m.sender_id, m.content.clone())).collect();
    assert_eq!(kept, expected, "every message, its seq, sender and ciphertext");
    // The keys work on the moved rows: a repeat gets its old seq, a new message the next one (the last seq is read
    // from the moved logs).
    let again = store.insert_messages(&[new_message(m, a, b, "a1"), new_message(m, b, a, "b2")], now).await.unwrap();
    assert!(
        matches!(again[..], [WriteOutcome::Duplicate { seq: 1, .. }, WriteOutcome::Stored { seq: 4, .. }]),
        "{again:?}"
    );
    let purged = store.delete_messages_before(now + chrono::TimeDelta::seconds(1), 2).await.unwrap();
    assert_eq!(purged, 2, "the purge deletes by the new key, oldest first");
    assert_eq!(store.messages_after(m, 0, 10).await.unwrap().len(), 2);
}
