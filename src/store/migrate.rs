//! Applying the schema once, safely, when several processes start together (a deploy that starts every node at
//! once, or `tanis worker` beside `tanis serve`). Both migrators — ours and the job queue's (apalis) — run under
//! ONE lock held across both: without it two processes both saw a migration as missing and both applied it
//! (`UNIQUE constraint failed: _sqlx_migrations.version`, `duplicate column name`).
//!
//! - PostgreSQL: a session advisory lock of our own on one connection (sqlx's migrator takes its own advisory
//!   lock per run, with a different key, so the two never wait for each other).
//! - SQLite: an exclusive `flock` on a file beside the database; SQLite's own locks are per transaction, and a
//!   migrator runs several.
//!
//! The process that waited finds every migration applied and goes on.

use std::path::PathBuf;

use sqlx::Connection;

use super::{Backend, Store, StoreError};

/// Our advisory lock key: "tanis_mi" as bytes, distinct from the key sqlx derives from the database name.
const PG_LOCK_KEY: i64 = 0x7461_6e69_735f_6d69;

impl Store {
    /// Applies the migrations of this backend's dialect (embedded in the binary) and the job queue's, under a
    /// lock shared with every other process on this database. `ignore_missing`: the job queue's migrations are
    /// recorded in the same table on SQLite and are not ours to know.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite { write: pool, .. } => {
                let _lock = lock_sqlite(pool.connect_options().get_filename()).await?;
                let mut migrator = sqlx::migrate!("./migrations/sqlite");
                migrator.set_ignore_missing(true);
                migrator.run(pool).await?;
                tanis_workers::schedule::migrate(&self.job_storage()).await.map_err(StoreError::Jobs)?;
            }
            Backend::Postgres { write: pool, .. } => {
                let mut lock = pool.acquire().await?.detach();
                sqlx::query("SELECT pg_advisory_lock($1)").bind(PG_LOCK_KEY).execute(&mut lock).await?;
                let migrated = async {
                    let mut migrator = sqlx::migrate!("./migrations/postgres");
                    migrator.set_ignore_missing(true);
                    migrator.run(pool).await?;
                    tanis_workers::schedule::migrate(&self.job_storage()).await.map_err(StoreError::Jobs)
                }
                .await;
                // Closing the session releases the lock even if the unlock is never sent.
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)").bind(PG_LOCK_KEY).execute(&mut lock).await;
                let _ = lock.close().await;
                migrated?;
            }
        }
        Ok(())
    }
}

/// Takes the exclusive lock on `<database file>.migrate-lock`, held until the returned file is dropped (or the
/// process dies). `None` for an in-memory database, which belongs to this process alone. Opening a fresh
/// database takes it too: two processes switching a new file to WAL at once made one fail with
/// `database is locked` before any busy handler could run.
pub(super) async fn lock_sqlite(database: &std::path::Path) -> Result<Option<std::fs::File>, StoreError> {
    let Some(name) = database.file_name().and_then(|n| n.to_str()).filter(|n| !n.is_empty() && *n != ":memory:") else {
        return Ok(None);
    };
    lock_file(database.with_file_name(format!("{name}.migrate-lock"))).await.map(Some)
}

/// Waits (on the blocking pool) for the exclusive lock on `path`; dropping the file releases it, and so does
/// the process dying.
async fn lock_file(path: PathBuf) -> Result<std::fs::File, StoreError> {
    let locked = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| StoreError::Lock(std::io::Error::other(e)))?;
    locked.map_err(StoreError::Lock)
}
