//! A consistent copy of a live database file (`tanis backup`, src/backup.rs): `VACUUM INTO` on a connection of its
//! own. It reads one snapshot, as any reader does in WAL mode, so the copy is the database as of one commit while
//! the server goes on writing (the writer never waits for it; a checkpoint cannot pass the snapshot meanwhile, so
//! the WAL grows for the copy's duration). The copy is compacted and synced before this returns.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{ConnectOptions, Connection};

use super::wal_vfs;
use crate::store::StoreError;

/// Copies the database at `url` into a new file `target` (which must not exist). The file is made here, empty and
/// owner-only (0600), before `VACUUM INTO` fills it (SQLite takes an empty file): the copy holds every account's rows,
/// and a file SQLite made would take the process's umask (0644 on most systems) and keep it wherever it is copied.
pub async fn copy_into(url: &str, target: &Path) -> Result<(), StoreError> {
    wal_vfs::register().map_err(|e| StoreError::Database(sqlx::Error::Configuration(e.into())))?;
    // The server's own settings for the file (its VFS, WAL, FULL), so this connection reads it as the server's do;
    // never created here: a backup of a database that does not exist is a mistake to report.
    let options = SqliteConnectOptions::from_str(url)?
        .vfs(wal_vfs::NAME)
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let mut connection = options.connect().await?;
    let target_text = target
        .to_str()
        .ok_or_else(|| StoreError::Database(sqlx::Error::Configuration("the backup's path is not UTF-8".into())))?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)
        .map_err(|e| StoreError::Database(e.into()))?;
    sqlx::query("VACUUM INTO ?").bind(target_text).execute(&mut connection).await?;
    connection.close().await?;
    std::fs::File::open(target).and_then(|file| file.sync_all()).map_err(|e| StoreError::Database(e.into()))?;
    Ok(())
}
