//! SQLite's WAL checkpoints, off the writer's thread.
//!
//! SQLite checkpoints in the connection that commits, right after the commit that takes the WAL past
//! `wal_autocheckpoint` pages: the group commit's thread copied thousands of pages back into the database file and
//! synced it while every write of the next batch waited, which was the open loop's 99th percentile (BENCHMARKS.md).
//! Here the write connection's WAL hook only signals, and a task checkpoints from a read connection (`PASSIVE`: it
//! copies what it can without waiting for the writer, and the writer never waits for it; `query_only` allows it).
//! SQLite restarts the WAL from its start at the writer's next transaction once every frame is copied. Should the
//! task fall far behind or be gone, the writer checkpoints itself past [`INLINE_FRAMES`], as SQLite would have.

use std::ffi::{c_char, c_int, c_void};
use std::ptr::null_mut;
use std::sync::atomic::{AtomicI32, Ordering};

use libsqlite3_sys as ffi;
use sqlx::{SqliteConnection, SqlitePool};
use tokio::sync::Notify;

/// WAL frames (pages) after which the task checkpoints: 64 MiB of 4 KiB pages. A group-commit batch dirties
/// hundreds of index pages, mostly the same ones again and again; SQLite's default, a checkpoint every 1 000 pages,
/// copied them back to the database every other batch.
const CHECKPOINT_FRAMES: c_int = 16_384;
/// WAL frames after which the writer checkpoints itself, as SQLite would have (four times the task's mark).
const INLINE_FRAMES: c_int = 65_536;

/// The write connection's signal to the checkpointing task.
pub(super) struct Checkpoints {
    wake: Notify,
    /// The WAL's length when the task was last woken; written only by the hook, on the writer's thread.
    woken_at: AtomicI32,
}

impl Checkpoints {
    /// A signal for one store. It is given to SQLite as the hook's argument and so lives as long as the process
    /// (a few bytes per store opened).
    pub(super) fn new() -> &'static Self {
        Box::leak(Box::new(Checkpoints { wake: Notify::new(), woken_at: AtomicI32::new(0) }))
    }

    /// Replaces the write connection's automatic checkpoint with this signal (pool `after_connect`).
    pub(super) async fn install(&'static self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        let mut handle = conn.lock_handle().await?;
        let arg = std::ptr::from_ref(self).cast_mut().cast::<c_void>();
        // SAFETY: the handle is a live connection, locked for us; `arg` is a `&'static Checkpoints`, valid for as
        // long as the connection can call the hook.
        unsafe { ffi::sqlite3_wal_hook(handle.as_raw_handle().as_ptr(), Some(on_commit), arg) };
        Ok(())
    }

    /// Checkpoints on `read` each time the writer signals, until the pool closes.
    pub(super) fn spawn(&'static self, read: SqlitePool) {
        tokio::spawn(async move {
            loop {
                self.wake.notified().await;
                if read.is_closed() {
                    return;
                }
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&read).await {
                    tracing::warn!(error = %e, "a WAL checkpoint failed; the writer checkpoints itself if it must");
                }
            }
        });
    }
}

/// SQLite's WAL hook: called on the writer's thread after each commit, with the WAL's length in frames.
extern "C" fn on_commit(arg: *mut c_void, db: *mut ffi::sqlite3, _db_name: *const c_char, frames: c_int) -> c_int {
    if frames >= INLINE_FRAMES {
        // SAFETY: SQLite calls the hook on the committing connection, outside any statement, where a checkpoint
        // may run (its own automatic checkpoint is this same call).
        unsafe {
            ffi::sqlite3_wal_checkpoint_v2(db, std::ptr::null(), ffi::SQLITE_CHECKPOINT_PASSIVE, null_mut(), null_mut())
        };
    } else {
        // SAFETY: `arg` is the `&'static Checkpoints` given to `sqlite3_wal_hook` in `install`.
        let checkpoints = unsafe { &*arg.cast::<Checkpoints>() };
        // Once per CHECKPOINT_FRAMES new frames, as SQLite's own checkpoint: woken on every commit past the mark,
        // the task copied the same pages again and again while the writer kept the WAL from restarting (+22 % CPU
        // per message at one in flight, BENCHMARKS.md).
        let woken_at = checkpoints.woken_at.load(Ordering::Relaxed);
        let woken_at = if frames < woken_at { 0 } else { woken_at }; // the WAL restarted from its start
        if frames >= woken_at + CHECKPOINT_FRAMES {
            checkpoints.woken_at.store(frames, Ordering::Relaxed);
            checkpoints.wake.notify_one();
        } else {
            checkpoints.woken_at.store(woken_at, Ordering::Relaxed);
        }
    }
    ffi::SQLITE_OK
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};

    use super::*;

    /// Calls the hook as SQLite would after a commit that left the WAL `frames` long; true if it woke the task.
    fn commit(checkpoints: &'static Checkpoints, frames: c_int) -> bool {
        let arg = std::ptr::from_ref(checkpoints).cast_mut().cast::<c_void>();
        assert!(frames < INLINE_FRAMES, "no connection here to checkpoint on");
        assert_eq!(on_commit(arg, null_mut(), std::ptr::null(), frames), ffi::SQLITE_OK);
        checkpoints.wake.notified().now_or_never().is_some()
    }

    #[test]
    fn the_task_is_woken_once_per_checkpoint_frames_of_new_wal_and_again_after_the_wal_restarts() {
        let checkpoints = Checkpoints::new();
        assert!(!commit(checkpoints, 10));
        assert!(!commit(checkpoints, CHECKPOINT_FRAMES - 1));
        assert!(commit(checkpoints, CHECKPOINT_FRAMES), "the mark");
        assert!(!commit(checkpoints, CHECKPOINT_FRAMES + 500), "not on every commit past it");
        assert!(!commit(checkpoints, 2 * CHECKPOINT_FRAMES - 1));
        assert!(commit(checkpoints, 2 * CHECKPOINT_FRAMES), "the WAL grew by another mark");
        assert!(!commit(checkpoints, 40), "restarted from its start");
        assert!(commit(checkpoints, CHECKPOINT_FRAMES + 40), "a mark past the restart");
    }

    #[tokio::test]
    async fn a_query_only_connection_may_checkpoint_the_wal() {
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("tanis.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let write = SqlitePool::connect_with(options.clone()).await.unwrap();
        sqlx::query("CREATE TABLE t (x)").execute(&write).await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)").execute(&write).await.unwrap();
        let read = SqlitePool::connect_with(options.pragma("query_only", "ON")).await.unwrap();

        assert!(sqlx::query("INSERT INTO t VALUES (2)").execute(&read).await.is_err(), "a reader cannot write");
        let (busy, frames, copied): (i64, i64, i64) =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&read).await.unwrap();
        assert_eq!((busy, copied), (0, frames), "every frame copied back");
        assert!(frames > 0);
    }
}
