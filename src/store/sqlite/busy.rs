//! SQLite's wait for the write lock, made short.
//!
//! SQLite has one writer at a time. When a connection finds the lock taken it calls its busy handler, and the
//! default one (installed by `busy_timeout`) sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries. Inside one
//! process the lock is usually held for well under a millisecond (a group-commit batch, a matchmaker batch, one
//! `UPDATE`), so every collision cost at least ten times what it waited for: the matching benchmark spent most
//! of its time-to-match asleep. This handler retries after 20 µs, backing off to 1 ms, and gives up after the
//! same total as before (`SQLITE_BUSY` then reaches the caller as an error). Each sqlx connection has its own
//! thread, so the sleep never blocks the async runtime.

use std::os::raw::{c_int, c_void};
use std::time::Duration;

use sqlx::SqliteConnection;

/// Total time a statement waits for the lock before failing with `SQLITE_BUSY`.
pub const BUSY_LIMIT: Duration = Duration::from_secs(10);

/// How long to sleep before retry number `count` (0-based).
fn backoff(count: c_int) -> Duration {
    // 20 µs for the first 50 tries (1 ms in all), then doubling up to 1 ms.
    let micros = if count < 50 { 20 } else { (20u64 << ((count - 50) / 10).min(6) as u32).min(1000) };
    Duration::from_micros(micros)
}

/// How many retries fit in [`BUSY_LIMIT`].
fn max_retries() -> c_int {
    let (mut total, mut count) = (Duration::ZERO, 0);
    while total < BUSY_LIMIT {
        total += backoff(count);
        count += 1;
    }
    count
}

extern "C" fn busy_handler(_: *mut c_void, count: c_int) -> c_int {
    static MAX: std::sync::OnceLock<c_int> = std::sync::OnceLock::new();
    if count >= *MAX.get_or_init(max_retries) {
        return 0; // give up: the statement fails with SQLITE_BUSY
    }
    std::thread::sleep(backoff(count));
    1
}

/// Installs the handler on a fresh connection (pool `after_connect`).
pub async fn install(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = conn.lock_handle().await?;
    // SAFETY: the handle is a live sqlite3 connection, locked for us while `handle` lives; the callback is a
    // plain function that uses no user data (null), as sqlite3_busy_handler allows.
    let rc = unsafe {
        libsqlite3_sys::sqlite3_busy_handler(handle.as_raw_handle().as_ptr(), Some(busy_handler), std::ptr::null_mut())
    };
    if rc != libsqlite3_sys::SQLITE_OK {
        return Err(sqlx::Error::Protocol(format!("sqlite3_busy_handler failed with {rc}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_starts_short_grows_to_a_millisecond_and_the_retries_add_up_to_the_limit() {
        assert_eq!(backoff(0), Duration::from_micros(20));
        assert_eq!(backoff(49), Duration::from_micros(20));
        assert!(backoff(60) > backoff(50));
        assert_eq!(backoff(10_000), Duration::from_millis(1));
        let total: Duration = (0..max_retries()).map(backoff).sum();
        assert!(total >= BUSY_LIMIT && total < BUSY_LIMIT + Duration::from_millis(2), "{total:?}");
    }
}
