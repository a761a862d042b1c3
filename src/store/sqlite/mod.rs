//! The SQLite engine under the store: how tanis opens a SQLite file and the machinery that makes one writer fast
//! and durable. The queries know none of it; they run on the pools [`connect`] returns.
//!
//! - `wal_vfs.rs`: a VFS that writes the WAL in large writes and paces checkpoints' writes to the database file.
//! - `page_cache.rs`: SQLite's page cache, with the end-of-transaction scan skipped when it can find nothing.
//! - `busy.rs`: a busy handler that retries the write lock after microseconds, not milliseconds.
//! - `checkpoint.rs`: WAL checkpoints run from a read connection, off the writer's thread.
//! - `write_hold.rs`: logs whoever held the one write connection too long.
//! - `raw.rs`: statements stepped on the write connection's handle, for the group commit (`store/batch/sqlite.rs`).
//!
//! All the store's `unsafe` lives here.

pub mod backup;
mod busy;
mod checkpoint;
mod page_cache;
pub(crate) mod raw;
mod wal_vfs;
mod write_hold;

use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Backend, Reader, StoreError, migrate};

/// Bytes SQLite holds on the heap in this process: every connection's page cache (up to `cache_size`, 32 MiB, each),
/// prepared statements and schemas; 0 on PostgreSQL. The `tanis_sqlite_heap_bytes` gauge: a node's memory grows
/// by this much while the caches fill, and then stops (BENCHMARKS.md, Soak).
pub(crate) fn heap_bytes() -> i64 {
    // SAFETY: reads SQLite's process-wide memory counter, which it keeps under its own mutex; callable at any time
    // from any thread, before or after SQLite is initialised.
    unsafe { libsqlite3_sys::sqlite3_memory_used() }
}

/// Opens the SQLite file named by `url` (created when missing) with the engine's pieces installed: one write
/// connection, eight `query_only` readers, checkpoints off the writer.
pub(super) async fn connect(url: &str) -> Result<Backend, StoreError> {
    // Before anything initialises SQLite, which registering the VFS does.
    if !page_cache::install() {
        tracing::warn!("SQLite initialised before tanis could wrap its page cache: commits scan it whole");
    }
    wal_vfs::register().map_err(|e| StoreError::Database(sqlx::Error::Configuration(e.into())))?;
    let options = SqliteConnectOptions::from_str(url)?
        // The WAL written in large writes instead of two per page (wal_vfs.rs); it relies on FULL below.
        .vfs(wal_vfs::NAME)
        .create_if_missing(true)
        .foreign_keys(true)
        // WAL lets readers run beside the writer. FULL syncs each commit to disk, so a message
        // acknowledged after its commit survives power loss, not only a crash.
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(busy::BUSY_LIMIT) // replaced by a finer handler after connecting
        // Measured on the relay (BENCHMARKS.md): multi-row inserts keep a statement journal, which
        // by default is a temporary FILE (10 % of the writer's time); the default 2 MiB page cache
        // spilled to the WAL mid-transaction (32 MiB is a ceiling per connection, not an allocation).
        .pragma("temp_store", "memory")
        .pragma("cache_size", "-32768");
    // Held while the file is created and switched to WAL (see `migrate::lock_sqlite`).
    let _lock = migrate::lock_sqlite(options.get_filename()).await?;
    // Everything that writes goes through the one write connection (see `on_write_pool!`); the read
    // connections are `query_only`, so a write sent to them by mistake fails at once, in every test that
    // reaches it, instead of quietly competing for SQLite's one write lock.
    // Never retired on a timer: the group commit keeps statements prepared on it (`BatchWriter`), and
    // SQLite refuses to close a connection that has some. Its checkpoints run on a read connection.
    // Neither pool pings a connection as it is handed out (sqlx's default): a SQLite connection is a
    // thread of this process, not a socket that can go stale, and each ping was a round trip to that
    // thread, two wake-ups for every group-commit batch and every read (BENCHMARKS.md, issue 31, round 9).
    let checkpoints = checkpoint::Checkpoints::new();
    let holds = write_hold::WriteHolds::new(write_hold::HOLD_WARNING);
    let write = holds
        .hook(SqlitePoolOptions::new())
        .max_connections(1)
        .test_before_acquire(false)
        .idle_timeout(None)
        .max_lifetime(None)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                wal_vfs::check_synchronous(conn).await?;
                busy::install(conn).await?;
                checkpoints.install(conn).await
            })
        })
        .connect_with(options.clone())
        .await?;
    let read = SqlitePoolOptions::new()
        .max_connections(8)
        .test_before_acquire(false)
        .after_connect(|conn, _| {
            Box::pin(async move {
                wal_vfs::check_synchronous(conn).await?;
                busy::install(conn).await
            })
        })
        .connect_with(options.pragma("query_only", "ON"))
        .await?;
    checkpoints.spawn(read.clone());
    Ok(Backend::Sqlite { read: Reader::new(read), write })
}
