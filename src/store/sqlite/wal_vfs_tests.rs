//! The tests of `store::sqlite::wal_vfs`, in a file of their own so that the module reads alone.

use std::path::Path;

use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::*;
use crate::store::{Backend, Store};

/// Options for a file of `dir` opened through this VFS, as the store opens its own; the WAL is never
/// checkpointed, so every commit stays in it.
fn through_this_vfs(dir: &Path) -> SqliteConnectOptions {
    register().unwrap();
    SqliteConnectOptions::new()
        .filename(dir.join("t.db"))
        .create_if_missing(true)
        .vfs(NAME)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .pragma("wal_autocheckpoint", "0")
}

/// The one writing connection of a file opened with `options`, and the table `insert` fills.
async fn writer_of_table(options: &SqliteConnectOptions) -> SqlitePool {
    let write = SqlitePoolOptions::new().max_connections(1).connect_with(options.clone()).await.unwrap();
    sqlx::query("CREATE TABLE t (round INTEGER, i INTEGER, body BLOB, PRIMARY KEY (round, i))")
        .execute(&write)
        .await
        .unwrap();
    write
}

/// Rows of `len` bytes each, different in every row and every round.
async fn insert(pool: &SqlitePool, round: i64, rows: i64, len: i64) {
    let mut tx = pool.begin().await.unwrap();
    for i in 0..rows {
        sqlx::query("INSERT INTO t (round, i, body) VALUES (?1, ?2, randomblob(?3))")
            .bind(round)
            .bind(i)
            .bind(len)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// (rows, bytes, the order-independent checksum of every body) as `pool` sees the table.
async fn contents(pool: &SqlitePool) -> (i64, i64, String) {
    sqlx::query_as(
        "SELECT count(*), sum(length(body)), \
         (SELECT group_concat(hex(substr(body, 1, 4)), '') FROM (SELECT body FROM t ORDER BY round, i)) FROM t",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_store_opens_its_sqlite_file_through_this_vfs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("tanis.db").display())).await.unwrap();
    let Backend::Sqlite { write, .. } = &store.backend else { unreachable!("a SQLite store") };
    let mut conn = write.acquire().await.unwrap();
    let mut handle = conn.lock_handle().await.unwrap();
    let mut vfs: *mut ffi::sqlite3_vfs = null_mut();
    // SAFETY: a live connection, locked for us; SQLite writes the pager's VFS into `vfs`, which lives as long
    // as the process.
    let name = unsafe {
        let rc = ffi::sqlite3_file_control(
            handle.as_raw_handle().as_ptr(),
            c"main".as_ptr(),
            ffi::SQLITE_FCNTL_VFS_POINTER,
            (&raw mut vfs).cast(),
        );
        assert_eq!(rc, ffi::SQLITE_OK);
        CStr::from_ptr((*vfs).zName).to_str().unwrap().to_owned()
    };
    assert_eq!(name, NAME);
    drop(handle);
    drop(conn);
    store.close().await;
}

#[tokio::test]
async fn what_a_crash_leaves_after_commits_larger_than_one_write_is_whole_for_plain_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let options = through_this_vfs(dir.path());
    let write = writer_of_table(&options).await;
    // 300 KiB, 600 KiB and 1.2 MiB commits: several gathered writes each, none of them a whole 128 KiB.
    for (round, rows) in [(1, 100), (2, 200), (3, 400)] {
        insert(&write, round, rows, 3000).await;
    }
    // A small cache spills mid-transaction, and pages spilled and changed again are rewritten where their
    // frames lie (SQLite's `iReCksum`), which are then read back for their checksums at commit.
    sqlx::query("PRAGMA cache_size = 10").execute(&write).await.unwrap();
    let mut tx = write.begin().await.unwrap();
    for pass in 0..3 {
        sqlx::query("UPDATE t SET body = randomblob(length(body)) WHERE (i + ?1) % 3 = 0")
            .bind(pass)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    // The files as a kill -9 would leave them right after that commit (the WAL never checkpointed), before the
    // writer does anything else; opened by SQLite's own VFS.
    let copy = tempfile::tempdir().unwrap();
    for file in ["t.db", "t.db-wal"] {
        std::fs::copy(dir.path().join(file), copy.path().join(file)).unwrap();
    }
    let written = contents(&write).await;
    assert_eq!((written.0, written.1), (700, 700 * 3000));
    let read = SqlitePoolOptions::new().connect_with(options.pragma("query_only", "ON")).await.unwrap();
    assert_eq!(contents(&read).await, written, "another connection reads every commit");
    let plain = SqlitePool::connect_with(
        SqliteConnectOptions::new().filename(copy.path().join("t.db")).journal_mode(SqliteJournalMode::Wal),
    )
    .await
    .unwrap();
    assert_eq!(contents(&plain).await, written, "recovered from the WAL whole, the last commit included");
    let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&plain).await.unwrap();
    assert_eq!(check, "ok");
    for pool in [plain, read, write] {
        pool.close().await;
    }
}

#[tokio::test]
async fn a_checkpoint_pushes_its_writes_to_the_disk_as_it_goes_and_copies_every_page() {
    let dir = tempfile::tempdir().unwrap();
    let options = through_this_vfs(dir.path());
    let write = writer_of_table(&options).await;
    // About 3 MiB of pages in the WAL, none of them in the database file yet.
    insert(&write, 1, 1000, 3000).await;
    let written = contents(&write).await;

    // Other tests push too: at least the pushes of this checkpoint happen while it runs.
    let before = PUSHES.load(Ordering::Relaxed);
    let (busy, frames, copied): (i64, i64, i64) =
        sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&write).await.unwrap();
    assert_eq!((busy, copied), (0, frames), "every frame copied back");
    let pushed = PUSHES.load(Ordering::Relaxed) - before;
    let at_least = u64::try_from(frames).unwrap() * 4096 / PUSH_AFTER as u64 / 2;
    assert!(at_least >= 4, "{frames} frames: too few to count pushes by");
    assert!(pushed >= at_least, "{frames} frames copied in {pushed} pushes, fewer than {at_least}");

    // The database file alone holds every row: a copy of it without the WAL, taken before anything else
    // writes it, reads them all.
    let copy = tempfile::tempdir().unwrap();
    std::fs::copy(dir.path().join("t.db"), copy.path().join("t.db")).unwrap();
    write.close().await;
    let plain = SqlitePool::connect_with(SqliteConnectOptions::new().filename(copy.path().join("t.db"))).await.unwrap();
    assert_eq!(contents(&plain).await, written);
    plain.close().await;
}

#[tokio::test]
async fn a_connection_that_would_not_sync_every_commit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let options = through_this_vfs(dir.path());
    for (synchronous, refused) in
        [(SqliteSynchronous::Normal, true), (SqliteSynchronous::Full, false), (SqliteSynchronous::Extra, false)]
    {
        let mut conn = SqliteConnection::connect_with(&options.clone().synchronous(synchronous)).await.unwrap();
        assert_eq!(check_synchronous(&mut conn).await.is_err(), refused, "{synchronous:?}");
    }
}
