//! SQLite's WAL written in large writes instead of two per page, and its checkpoints' writes paced: a VFS over
//! the platform's default one.
//!
//! SQLite appends each frame to the WAL with two `pwrite`s, its 24-byte header and its page, and syncs at commit.
//! At one message in flight `pwrite` was 13–20 % of the server's samples (BENCHMARKS.md, issue 31, rounds 7 and 8),
//! and a `pwrite` costs about the same system call whether it carries 24 bytes or 128 KiB: at 60 frames a commit,
//! `fsync` included, 6.2 µs of CPU per frame written as SQLite writes them against 3.1 gathered
//! (`bench/wal-writes.c`). Files opened through this VFS pass every call to the default VFS, except that a WAL
//! file's appends are gathered in memory and written [`GATHER_LIMIT`] bytes at a time, before anything can need
//! them in the file: before the WAL is synced, read, truncated or measured, before a write elsewhere in it (SQLite
//! rewriting a frame of the transaction), before a file control, and when the file closes.
//!
//! Why this keeps every promise SQLite makes: frames become visible to other connections only when SQLite
//! publishes them in the WAL index, and with `synchronous = FULL` it syncs the WAL before it publishes a commit,
//! so the sync writes them first. Frames of a transaction not yet committed are read back only by the connection
//! writing them, through `xRead`, which writes them first. A crash loses what was gathered, which is what it
//! loses without this VFS before the sync. With `synchronous = NORMAL` SQLite would publish a commit without
//! syncing, and readers could be told of frames still held here: so [`check_synchronous`] refuses every
//! connection of the store that does not sync each commit.
//!
//! A database file's writes (in WAL mode, a checkpoint copying pages back) are pushed to the disk every
//! [`PUSH_AFTER`] bytes and waited for, on the checkpointing thread (the writer's own when it checkpoints itself,
//! `checkpoint.rs`). Left to the kernel, a checkpoint's thousands of pages all went to the disk at its final
//! sync (10 ms under load), and a commit's sync of the WAL meanwhile waited behind them: the open loop's tail
//! (BENCHMARKS.md, issue 31, round 10). Pacing changes when the pages are written, not what SQLite syncs: the
//! checkpoint still syncs the file before it counts the pages as copied.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr::{self, null, null_mut};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicPtr, Ordering};

use libsqlite3_sys as ffi;
use sqlx::SqliteConnection;

/// The name connections open it by (`SqliteConnectOptions::vfs`).
pub(super) const NAME: &str = "tanis-wal";
const NAME_C: &CStr = c"tanis-wal";

/// The most bytes written at once: the unix VFS writes at most 128 KiB - 1 in one call (`seekAndWriteFd` masks
/// the length with `0x1ffff`, and a write of exactly 128 KiB would write nothing and fail as `SQLITE_FULL`). That
/// is 31 frames of 4 KiB pages in one `pwrite`, against 62 the way SQLite writes them.
const GATHER_LIMIT: usize = 0x1ffff;

/// The VFS this one passes its calls to.
static DEFAULT: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(null_mut());

/// Registers the VFS once per process (SQLite keeps it until the process ends); later calls return the first
/// outcome.
pub(super) fn register() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            // SAFETY: `sqlite3_vfs_find` initialises SQLite if needed and returns a VFS that lives as long as the
            // process. The copy made here is leaked, as SQLite requires of a registered VFS; it keeps the default
            // VFS's `pAppData` and every function but `xOpen`, and those functions take the VFS only to read
            // fields the copy shares.
            unsafe {
                let default = ffi::sqlite3_vfs_find(null());
                if default.is_null() {
                    return Err("SQLite has no default VFS".to_owned());
                }
                DEFAULT.store(default, Ordering::Release);
                let mut vfs = ptr::read(default);
                vfs.szOsFile = c_int::try_from(INNER_AT + (*default).szOsFile as usize).expect("a file's size");
                vfs.zName = NAME_C.as_ptr();
                vfs.xOpen = Some(open);
                vfs.pNext = null_mut();
                match ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 0) {
                    ffi::SQLITE_OK => Ok(()),
                    rc => Err(format!("registering the {NAME} VFS: SQLite error {rc}")),
                }
            }
        })
        .clone()
}

/// Refuses a connection that would publish commits without syncing the WAL (see the module's comment). Run on
/// every connection of the store as it opens.
pub(super) async fn check_synchronous(conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
    // 2 is FULL, 3 EXTRA: both sync the WAL at every commit.
    let level: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await?;
    if level < 2 {
        return Err(sqlx::Error::Configuration(
            format!("the {NAME} VFS needs synchronous = FULL or EXTRA, the connection runs level {level}").into(),
        ));
    }
    Ok(())
}

/// A file of this VFS as SQLite allocates it (`szOsFile` bytes): SQLite's header, then the default VFS's own
/// file at [`INNER_AT`].
#[repr(C)]
struct File {
    /// SQLite reads the methods from here.
    base: ffi::sqlite3_file,
    /// A WAL file's appends not yet written; `None` for every other file.
    gathered: Option<Box<Gathered>>,
    /// A database file's writes not yet pushed to the disk; `None` for every other file.
    pushing: Option<Box<Pushing>>,
}

/// Where the default VFS's file starts inside ours: past our header, at an 8-byte boundary as SQLite's own
/// allocations are.
const INNER_AT: usize = size_of::<File>().next_multiple_of(8);

/// Contiguous bytes waiting to be written at `start`.
#[derive(Default)]
struct Gathered {
    start: i64,
    bytes: Vec<u8>,
}

impl Gathered {
    /// Writes what is gathered through `inner`. Whether it succeeds or not nothing stays gathered: a failed write
    /// fails SQLite's transaction, which writes those frames again if it is retried.
    unsafe fn flush(&mut self, inner: *mut ffi::sqlite3_file) -> c_int {
        if self.bytes.is_empty() {
            return ffi::SQLITE_OK;
        }
        let Ok(amount) = c_int::try_from(self.bytes.len()) else {
            self.bytes.clear();
            return ffi::SQLITE_IOERR_WRITE;
        };
        // SAFETY: `inner` is an open file of the default VFS (the caller's contract).
        let rc =
            unsafe { methods(inner).xWrite.expect("xWrite")(inner, self.bytes.as_ptr().cast(), amount, self.start) };
        self.bytes.clear();
        rc
    }
}

/// Bytes written to a database file after which they are pushed to the disk and waited for, as PostgreSQL's
/// `checkpoint_flush_after` does (256 KiB on Linux).
const PUSH_AFTER: usize = 256 * 1024;

/// A database file's writes since they were last pushed. In WAL mode only a checkpoint writes the database file,
/// thousands of pages at once; left to the kernel, they all reach the disk at the checkpoint's final sync, and
/// each commit's sync of the WAL meanwhile waits behind them.
struct Pushing {
    /// The same file opened again, for `sync_file_range`: SQLite's descriptor is the default VFS's.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    file: std::fs::File,
    unpushed: usize,
}

impl Pushing {
    /// Counts `written` bytes, and once [`PUSH_AFTER`] have gathered writes them out and waits for them, so that
    /// no more than that is ever queued before the disk ahead of a commit's sync.
    fn wrote(&mut self, written: usize) {
        self.unpushed += written;
        if self.unpushed < PUSH_AFTER {
            return;
        }
        self.unpushed = 0;
        #[cfg(test)]
        PUSHES.fetch_add(1, Ordering::Relaxed);
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let flags =
                libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
            // SAFETY: a descriptor this struct owns; offset 0 and length 0 mean the whole file. A failure is left to
            // the sync SQLite makes at the checkpoint's end, which reports the file's write errors: this only
            // paces the writes.
            unsafe { libc::sync_file_range(self.file.as_raw_fd(), 0, 0, flags) };
        }
    }
}

/// How many times a database file's writes were pushed, in the whole test process.
#[cfg(test)]
static PUSHES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The default VFS's file inside ours.
unsafe fn inner(file: *mut ffi::sqlite3_file) -> *mut ffi::sqlite3_file {
    // SAFETY: SQLite gives every method the `szOsFile` bytes our `xOpen` was given.
    unsafe { file.cast::<u8>().add(INNER_AT).cast() }
}

/// The methods of an open file of the default VFS.
unsafe fn methods<'a>(inner: *mut ffi::sqlite3_file) -> &'a ffi::sqlite3_io_methods {
    // SAFETY: set by the default VFS's `xOpen` when it succeeded; SQLite calls no method of a file that failed
    // to open.
    unsafe { &*(*inner).pMethods }
}

/// Writes what `file` has gathered, if it is a WAL file of ours.
unsafe fn flush(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: `file` is one of ours, opened by `open`.
    unsafe {
        match (*file.cast::<File>()).gathered.as_mut() {
            Some(gathered) => gathered.flush(inner(file)),
            None => ffi::SQLITE_OK,
        }
    }
}

unsafe extern "C" fn open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    // SAFETY: `file` is `szOsFile` bytes (ours plus the default VFS's); `register` set `DEFAULT` before SQLite
    // could open anything through this VFS.
    unsafe {
        ptr::write(
            file.cast::<File>(),
            File { base: ffi::sqlite3_file { pMethods: null() }, gathered: None, pushing: None },
        );
        let default = DEFAULT.load(Ordering::Acquire);
        let rc = (*default).xOpen.expect("xOpen")(default, name, inner(file), flags, out_flags);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        if flags & ffi::SQLITE_OPEN_WAL != 0 {
            (*file.cast::<File>()).gathered = Some(Box::default());
        }
        // Without its second descriptor a database file is written as SQLite writes it, unpaced.
        if flags & ffi::SQLITE_OPEN_MAIN_DB != 0
            && !name.is_null()
            && let Ok(path) = CStr::from_ptr(name).to_str()
            && let Ok(again) = std::fs::File::open(path)
        {
            (*file.cast::<File>()).pushing = Some(Box::new(Pushing { file: again, unpushed: 0 }));
        }
        // SQLite uses the methods of a version only if the file says it has them (WAL needs version 2's shm).
        let version = methods(inner(file)).iVersion.clamp(1, 3);
        (*file).pMethods = &METHODS[version as usize - 1];
        rc
    }
}

/// Our methods, by the version the default VFS's file has.
static METHODS: [ffi::sqlite3_io_methods; 3] = [with_version(1), with_version(2), with_version(3)];

const fn with_version(version: c_int) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        iVersion: version,
        xClose: Some(close),
        xRead: Some(read),
        xWrite: Some(write),
        xTruncate: Some(truncate),
        xSync: Some(sync),
        xFileSize: Some(file_size),
        xLock: Some(lock),
        xUnlock: Some(unlock),
        xCheckReservedLock: Some(check_reserved_lock),
        xFileControl: Some(file_control),
        xSectorSize: Some(sector_size),
        xDeviceCharacteristics: Some(device_characteristics),
        xShmMap: Some(shm_map),
        xShmLock: Some(shm_lock),
        xShmBarrier: Some(shm_barrier),
        xShmUnmap: Some(shm_unmap),
        xFetch: Some(fetch),
        xUnfetch: Some(unfetch),
    }
}

/// Calls the default VFS's method `$method` on `$file`'s inner file, after writing what it gathered when
/// `flush` says so; a failed write is the call's answer.
macro_rules! pass {
    (flush, $file:ident, $method:ident $(, $arg:expr)*) => {{
        // SAFETY: SQLite calls our methods only on files `open` opened.
        let rc = unsafe { flush($file) };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        pass!($file, $method $(, $arg)*)
    }};
    ($file:ident, $method:ident $(, $arg:expr)*) => {{
        // SAFETY: as above; SQLite calls a method only if our version has it, which the inner file's has too.
        unsafe {
            let inner = inner($file);
            methods(inner).$method.expect(stringify!($method))(inner $(, $arg)*)
        }
    }};
}

unsafe extern "C" fn close(file: *mut ffi::sqlite3_file) -> c_int {
    // SAFETY: SQLite calls our methods only on files `open` opened, and none after this one.
    let flushed = unsafe { flush(file) };
    let rc = pass!(file, xClose);
    // SAFETY: as above; the header was written by `open` and is not read again.
    unsafe {
        drop((*file.cast::<File>()).gathered.take());
        drop((*file.cast::<File>()).pushing.take());
    }
    if flushed != ffi::SQLITE_OK { flushed } else { rc }
}

unsafe extern "C" fn read(file: *mut ffi::sqlite3_file, buf: *mut c_void, amount: c_int, offset: i64) -> c_int {
    pass!(flush, file, xRead, buf, amount, offset)
}

unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, buf: *const c_void, amount: c_int, offset: i64) -> c_int {
    // SAFETY: SQLite calls our methods only on files `open` opened.
    let Some(gathered) = (unsafe { (*file.cast::<File>()).gathered.as_mut() }) else {
        let rc = pass!(file, xWrite, buf, amount, offset);
        // SAFETY: as above.
        if rc == ffi::SQLITE_OK
            && let Some(pushing) = unsafe { (*file.cast::<File>()).pushing.as_mut() }
        {
            pushing.wrote(usize::try_from(amount).unwrap_or(0));
        }
        return rc;
    };
    let len = usize::try_from(amount).unwrap_or(0);
    let follows = offset == gathered.start + gathered.bytes.len() as i64;
    if !gathered.bytes.is_empty() && (!follows || gathered.bytes.len() + len > GATHER_LIMIT) {
        // SAFETY: as above.
        let rc = unsafe { gathered.flush(inner(file)) };
        if rc != ffi::SQLITE_OK {
            return rc;
        }
    }
    if len > GATHER_LIMIT {
        return pass!(file, xWrite, buf, amount, offset);
    }
    if gathered.bytes.is_empty() {
        gathered.start = offset;
    }
    // SAFETY: SQLite passes `amount` readable bytes at `buf`.
    gathered.bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) });
    ffi::SQLITE_OK
}

unsafe extern "C" fn truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    pass!(flush, file, xTruncate, size)
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    pass!(flush, file, xSync, flags)
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    pass!(flush, file, xFileSize, size)
}

unsafe extern "C" fn lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass!(file, xLock, level)
}

unsafe extern "C" fn unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    pass!(file, xUnlock, level)
}

unsafe extern "C" fn check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    pass!(file, xCheckReservedLock, out)
}

unsafe extern "C" fn file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    pass!(flush, file, xFileControl, op, arg)
}

unsafe extern "C" fn sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    pass!(file, xSectorSize)
}

unsafe extern "C" fn device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    pass!(file, xDeviceCharacteristics)
}

unsafe extern "C" fn shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    pass!(file, xShmMap, region, size, extend, out)
}

unsafe extern "C" fn shm_lock(file: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    pass!(file, xShmLock, offset, n, flags)
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    pass!(file, xShmBarrier)
}

unsafe extern "C" fn shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    pass!(file, xShmUnmap, delete)
}

unsafe extern "C" fn fetch(file: *mut ffi::sqlite3_file, offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int {
    pass!(flush, file, xFetch, offset, amount, out)
}

unsafe extern "C" fn unfetch(file: *mut ffi::sqlite3_file, offset: i64, page: *mut c_void) -> c_int {
    pass!(file, xUnfetch, offset, page)
}

#[cfg(test)]
#[path = "wal_vfs_tests.rs"]
mod tests;
