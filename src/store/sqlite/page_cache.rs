//! SQLite's own page cache, with its end-of-transaction truncation skipped when no page lies past the file's end.
//!
//! At the end of every write transaction SQLite's pager drops the cached pages past the database file's end
//! (`xTruncate`). Its page cache (`pcache1`) remembers only the highest key it has seen, and when that is far
//! past the end it scans its whole hash table. Every transaction that splits a B-tree page makes it so:
//! `balance_nonroot` re-keys a page to the lock page's number (the page at 1 GiB, which no database stores) as a
//! scratch slot while it puts the split's pages in order, then re-keys it back. A file under 1 GiB then has its
//! whole cache (8 192 buckets at 32 MiB) scanned at every commit for nothing: 2.3–3.2 % of the server's samples at
//! one message in flight (BENCHMARKS.md, issue 31, rounds 6, 10 and 11).
//!
//! This wraps the default page cache, passing every call through, and counts for each cache the highest key a page
//! was created or re-keyed to since its last truncation, the scratch slot apart, and how many pages sit in the
//! scratch slot. A truncation that can find nothing (no page in the slot, none at or past the limit) is skipped;
//! every other one is passed on. Pages are keyed only by `xFetch` and `xRekey`, both seen here, so the count can
//! only be too high, which costs a scan, never too low, which would leave a stale page in the cache.

use std::ffi::{c_int, c_uint};
use std::sync::OnceLock;
#[cfg(test)]
use std::sync::atomic::{AtomicU64, Ordering};

use libsqlite3_sys as ffi;

/// SQLite's lock page lies at this byte offset in every database file (`PENDING_BYTE`, 1 GiB).
const PENDING_BYTE: c_uint = 0x4000_0000;

/// The default page cache's methods, as SQLite had them before [`install`].
static DEFAULT: OnceLock<Methods> = OnceLock::new();

struct Methods(ffi::sqlite3_pcache_methods2);

// SAFETY: function pointers, and the default cache's `pArg`, which only SQLite reads (pcache1's is null); set once
// before SQLite initialises, then only read.
unsafe impl Send for Methods {}
// SAFETY: as for `Send`.
unsafe impl Sync for Methods {}

/// Truncations skipped, in tests.
#[cfg(test)]
static SKIPPED: AtomicU64 = AtomicU64::new(0);

/// Installs the wrapper once per process. It must come before SQLite initialises (before any connection opens or
/// any VFS is looked up); `false` when it came too late, and connections then use SQLite's cache unwrapped.
pub(super) fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let mut default = ffi::sqlite3_pcache_methods2 {
            iVersion: 0,
            pArg: std::ptr::null_mut(),
            xInit: None,
            xShutdown: None,
            xCreate: None,
            xCachesize: None,
            xPagecount: None,
            xFetch: None,
            xUnpin: None,
            xRekey: None,
            xTruncate: None,
            xDestroy: None,
            xShrink: None,
        };
        // SAFETY: SQLITE_CONFIG_GETPCACHE2 copies the current methods into `default`; SQLITE_CONFIG_PCACHE2 copies
        // ours (SQLite keeps the copy), and refuses with SQLITE_MISUSE once SQLite has initialised.
        unsafe {
            if ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, &raw mut default) != ffi::SQLITE_OK {
                return false;
            }
            let _ = DEFAULT.set(Methods(default));
            let wrapped = ffi::sqlite3_pcache_methods2 {
                xCreate: Some(create),
                xCachesize: Some(cachesize),
                xPagecount: Some(pagecount),
                xFetch: Some(fetch),
                xUnpin: Some(unpin),
                xRekey: Some(rekey),
                xTruncate: Some(truncate),
                xDestroy: Some(destroy),
                xShrink: Some(shrink),
                ..default
            };
            ffi::sqlite3_config(ffi::SQLITE_CONFIG_PCACHE2, &raw const wrapped) == ffi::SQLITE_OK
        }
    })
}

/// One pager's cache. SQLite calls a cache's methods from one connection at a time, so nothing here needs a lock.
struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    keys: Keys,
}

/// What a cache knows of its pages' keys: enough to tell a truncation that can find nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Keys {
    /// The lock page's number at the cache's page size: `balance_nonroot`'s scratch slot.
    scratch: c_uint,
    /// The highest key given to a page since the last truncation, except to the scratch slot by a re-key.
    highest: c_uint,
    /// Pages re-keyed into the scratch slot and not yet out of it.
    in_scratch: u32,
}

impl Keys {
    fn new(page_size: c_int) -> Self {
        let page_size = c_uint::try_from(page_size).unwrap_or(1).max(1);
        Keys { scratch: PENDING_BYTE / page_size + 1, highest: 0, in_scratch: 0 }
    }

    /// A fetch returned a page with `key`. A fetch at the scratch slot's number is not a re-key: it counts as any
    /// key, so no truncation is skipped past it.
    fn fetched(&mut self, key: c_uint) {
        self.highest = self.highest.max(key);
    }

    fn rekeyed(&mut self, old: c_uint, new: c_uint) {
        if old == self.scratch {
            self.in_scratch = self.in_scratch.saturating_sub(1);
        }
        if new == self.scratch {
            self.in_scratch += 1;
        } else {
            self.highest = self.highest.max(new);
        }
    }

    /// Whether truncating at `limit` (dropping every page keyed `limit` or more) could find a page.
    fn could_drop(&self, limit: c_uint) -> bool {
        self.in_scratch > 0 || self.highest >= limit
    }

    /// The cache was truncated at `limit`.
    fn truncated(&mut self, limit: c_uint) {
        self.highest = self.highest.min(limit.saturating_sub(1));
        if self.scratch >= limit {
            self.in_scratch = 0;
        }
    }
}

fn methods() -> &'static ffi::sqlite3_pcache_methods2 {
    &DEFAULT.get().expect("the wrapper is installed only after the default methods are kept").0
}

/// # Safety
/// `p` is a cache [`create`] returned and [`destroy`] has not freed.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a mut Cache {
    // SAFETY: as the caller promises; SQLite never calls one cache from two threads at once.
    unsafe { &mut *p.cast::<Cache>() }
}

unsafe extern "C" fn create(page_size: c_int, extra: c_int, purgeable: c_int) -> *mut ffi::sqlite3_pcache {
    // SAFETY: SQLite's arguments, passed on.
    let inner = unsafe { methods().xCreate.expect("xCreate")(page_size, extra, purgeable) };
    if inner.is_null() {
        return inner;
    }
    Box::into_raw(Box::new(Cache { inner, keys: Keys::new(page_size) })).cast()
}

unsafe extern "C" fn fetch(p: *mut ffi::sqlite3_pcache, key: c_uint, create: c_int) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: a live cache (SQLite's contract); its inner cache takes the same call.
    unsafe {
        let cache = cache(p);
        let page = methods().xFetch.expect("xFetch")(cache.inner, key, create);
        if !page.is_null() {
            cache.keys.fetched(key);
        }
        page
    }
}

unsafe extern "C" fn rekey(p: *mut ffi::sqlite3_pcache, page: *mut ffi::sqlite3_pcache_page, old: c_uint, new: c_uint) {
    // SAFETY: as `fetch`.
    unsafe {
        let cache = cache(p);
        methods().xRekey.expect("xRekey")(cache.inner, page, old, new);
        cache.keys.rekeyed(old, new);
    }
}

unsafe extern "C" fn truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as `fetch`.
    unsafe {
        let cache = cache(p);
        if !cache.keys.could_drop(limit) {
            #[cfg(test)]
            SKIPPED.fetch_add(1, Ordering::Relaxed);
            return;
        }
        methods().xTruncate.expect("xTruncate")(cache.inner, limit);
        cache.keys.truncated(limit);
    }
}

unsafe extern "C" fn destroy(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: as `fetch`; SQLite calls nothing of this cache afterwards, so its box is freed here.
    unsafe {
        let cache = Box::from_raw(p.cast::<Cache>());
        methods().xDestroy.expect("xDestroy")(cache.inner);
    }
}

unsafe extern "C" fn cachesize(p: *mut ffi::sqlite3_pcache, pages: c_int) {
    // SAFETY: as `fetch`.
    unsafe { methods().xCachesize.expect("xCachesize")(cache(p).inner, pages) }
}

unsafe extern "C" fn pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as `fetch`.
    unsafe { methods().xPagecount.expect("xPagecount")(cache(p).inner) }
}

unsafe extern "C" fn unpin(p: *mut ffi::sqlite3_pcache, page: *mut ffi::sqlite3_pcache_page, discard: c_int) {
    // SAFETY: as `fetch`.
    unsafe { methods().xUnpin.expect("xUnpin")(cache(p).inner, page, discard) }
}

unsafe extern "C" fn shrink(p: *mut ffi::sqlite3_pcache) {
    // SAFETY: as `fetch`.
    unsafe { methods().xShrink.expect("xShrink")(cache(p).inner) }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

    use super::*;

    #[test]
    fn a_truncation_is_skipped_only_when_no_page_can_lie_at_or_past_its_limit() {
        let mut keys = Keys::new(4096);
        assert_eq!(keys.scratch, 262_145, "the lock page of a 4 KiB-page file");
        for key in [1, 7, 40] {
            keys.fetched(key);
        }
        assert!(!keys.could_drop(41) && keys.could_drop(40), "a page keyed 40 is past a file of 39 pages");

        // balance_nonroot's swap: a page to the scratch slot, the other into its place, the first into the other's.
        keys.rekeyed(12, keys.scratch);
        assert!(keys.could_drop(41), "a page sits in the scratch slot");
        keys.rekeyed(40, 12);
        keys.rekeyed(keys.scratch, 40);
        assert!(!keys.could_drop(41), "the slot is empty again and no page past 40");

        // A transaction grows the file to 45 pages, then rolls back to 40: its pages must go.
        keys.fetched(45);
        assert!(keys.could_drop(41));
        keys.truncated(41);
        assert!(!keys.could_drop(41));

        // A page left in the slot when the cache is truncated below it is dropped with the rest.
        keys.rekeyed(3, keys.scratch);
        keys.truncated(41);
        assert_eq!(keys.in_scratch, 0);
        // Fetched (not re-keyed) at the slot's number: an ordinary key, never skipped past.
        keys.fetched(keys.scratch);
        assert!(keys.could_drop(keys.scratch));
    }

    #[tokio::test]
    async fn commits_that_split_pages_skip_the_scan_and_what_a_rollback_grew_is_still_dropped() {
        // It must come before SQLite initialises in this process: nextest gives every test a process of its own;
        // `cargo test` runs them together, where another test may have initialised SQLite first.
        if !install() {
            assert!(std::env::var_os("NEXTEST").is_none(), "installed in a process of its own");
            eprintln!("SQLite was initialised by another test in this process: nothing to check");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let options = SqliteConnectOptions::new()
            .filename(dir.path().join("t.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(options).await.unwrap();
        sqlx::query("CREATE TABLE t (k INTEGER, v BLOB)").execute(&pool).await.unwrap();
        sqlx::query("CREATE INDEX t_k ON t (k)").execute(&pool).await.unwrap();

        // Keys in random order split index pages in the middle of the tree: balance_nonroot, with its swaps.
        // `n` counts 1 to ?1 (this SQLite has no generate_series).
        macro_rules! counted {
            ($sql:literal) => {
                concat!(
                    "WITH RECURSIVE n(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM n WHERE value < ?1) ",
                    $sql
                )
            };
        }
        let before = SKIPPED.load(Ordering::Relaxed);
        for _ in 0..20 {
            sqlx::query(counted!("INSERT INTO t SELECT abs(random()) % 1000000, randomblob(200) FROM n"))
                .bind(200)
                .execute(&pool)
                .await
                .unwrap();
        }
        let skipped = SKIPPED.load(Ordering::Relaxed) - before;
        assert!(skipped >= 20, "{skipped} truncations skipped in 20 commits");

        // A transaction that grows the file and rolls back: its pages past the file's end are dropped, and the
        // next transaction that grows the file again reads what it writes, not what the rollback left.
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(counted!("INSERT INTO t SELECT 2000000 + value, zeroblob(3000) FROM n"))
            .bind(500)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        sqlx::query(counted!("INSERT INTO t SELECT 3000000 + value, randomblob(3000) FROM n"))
            .bind(500)
            .execute(&pool)
            .await
            .unwrap();
        let (rows, rolled_back): (i64, i64) =
            sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE k BETWEEN 2000000 AND 2999999) FROM t")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!((rows, rolled_back), (20 * 200 + 500, 0));
        let check: String = sqlx::query_scalar("PRAGMA integrity_check").fetch_one(&pool).await.unwrap();
        assert_eq!(check, "ok");
        pool.close().await;
    }
}
