//! Statements run directly on the SQLite write connection's handle, from the calling thread.
//!
//! sqlx runs every SQLite statement on the connection's own thread: each statement is a round trip (a channel
//! send, a futex wake, a wait), and values travel as owned copies. For the group-commit batch, hundreds of rows a
//! commit, that meant either one round trip per row or packing the rows into JSON for SQLite to unpack again;
//! the JSON functions, the round trips and the wake-ups were a third of the SQLite thread's time (perf,
//! BENCHMARKS.md). Here the caller locks the connection once ([`sqlx::SqliteConnection::lock_handle`]), and
//! prepares, binds and steps on its own thread; borrowed values are bound in place (`SQLITE_STATIC`), since every
//! statement is reset before the borrow ends.
//!
//! All `unsafe` of the store's statements lives in this file (the two callbacks SQLite calls, the busy handler and the
//! WAL hook, keep theirs in `busy.rs` and `checkpoint.rs`; the VFS keeps its own in `wal_vfs.rs`). A statement
//! is finalized when dropped, before the lock on the connection is released, unless it is kept in the caller's
//! [`Kept`]: the group commit keeps its dozen statements prepared from one batch to the next (parsing and planning them
//! anew was 8.8 % of the server's samples under a light relay load, where most batches carry one write, and 4.6 % under
//! matching; perf, BENCHMARKS.md). SQLite will not close a connection that still has statements (sqlx panics then), so
//! whoever keeps them finalizes them while the connection is open ([`Kept::finalize`]), and the write pool never
//! retires its connection on its own.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::ptr::{NonNull, null_mut};

use libsqlite3_sys as ffi;

use crate::domain::{MatchId, Seq, UserId};

/// A value bound to a statement parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Value<'a> {
    Int(i64),
    Text(&'a str),
    Blob(&'a [u8]),
    Null,
}

impl<'a> From<i64> for Value<'a> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl<'a> From<UserId> for Value<'a> {
    fn from(v: UserId) -> Self {
        Value::Int(v.0)
    }
}

impl<'a> From<MatchId> for Value<'a> {
    fn from(v: MatchId) -> Self {
        Value::Int(v.0)
    }
}

impl<'a> From<Seq> for Value<'a> {
    fn from(v: Seq) -> Self {
        Value::Int(v.0)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<Option<i64>> for Value<'a> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Value::Null, Value::Int)
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Value::Null, Value::Text)
    }
}

/// A refusal or failure reported by SQLite, as sqlx reports its own (sqlx turns any `DatabaseError` into
/// `sqlx::Error::Database`): a constraint becomes the matching
/// [`sqlx::error::ErrorKind`], so callers tell a refused value from a lost database the same way for both paths.
#[derive(Debug, thiserror::Error)]
#[error("(code: {code}) {message}")]
pub(crate) struct Failure {
    /// The extended result code.
    code: c_int,
    message: String,
}

impl Failure {
    /// A failure decided here rather than by SQLite: the store found what cannot be (`SQLITE_INTERNAL`).
    pub(crate) fn internal(message: String) -> Self {
        Failure { code: ffi::SQLITE_INTERNAL, message }
    }
}

impl sqlx::error::DatabaseError for Failure {
    fn message(&self) -> &str {
        &self.message
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.code.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use sqlx::error::ErrorKind;
        match self.code {
            ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => ErrorKind::UniqueViolation,
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorKind::ForeignKeyViolation,
            ffi::SQLITE_CONSTRAINT_NOTNULL => ErrorKind::NotNullViolation,
            ffi::SQLITE_CONSTRAINT_CHECK => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

/// Statements kept prepared on one connection between its locks, by their text.
#[derive(Default)]
pub(crate) struct Kept {
    /// The connection they were prepared on.
    db: Option<NonNull<ffi::sqlite3>>,
    by_sql: HashMap<&'static str, NonNull<ffi::sqlite3_stmt>>,
}

// SAFETY: the statements are only used, and finalized, through a `Db`, i.e. on whichever thread holds the
// connection's lock at the time; SQLite's multi-thread mode allows that as long as no two threads use the
// connection at once, which the lock ensures.
unsafe impl Send for Kept {}

impl Kept {
    /// How many statements are kept.
    pub(crate) fn len(&self) -> usize {
        self.by_sql.len()
    }

    /// Finalizes every kept statement; `db` must be the connection they were prepared on, locked.
    pub(crate) fn finalize(&mut self, db: &Db<'_>) {
        if self.db.is_some_and(|kept_on| kept_on != db.raw) {
            // Never happens while the write pool keeps its one connection (no idle timeout, no lifetime). If it
            // did, the other connection could not have closed (SQLite refuses while statements remain): they
            // are left to it rather than finalized without its lock.
            tracing::error!(statements = self.by_sql.len(), "kept SQLite statements belong to another connection");
        } else {
            for (_, stmt) in self.by_sql.drain() {
                // SAFETY: prepared on this connection, which is locked for us; reset after every use, never
                // borrowed past the `Db` that handed it out.
                unsafe { ffi::sqlite3_finalize(stmt.as_ptr()) };
            }
        }
        self.by_sql.clear();
        self.db = None;
    }
}

/// The write connection, borrowed while its sqlx lock is held.
pub(crate) struct Db<'lock> {
    raw: NonNull<ffi::sqlite3>,
    /// Where prepared statements are kept across locks; `None`: each is finalized when dropped.
    kept: Option<RefCell<&'lock mut Kept>>,
    _lock: PhantomData<&'lock mut ()>,
}

impl<'lock> Db<'lock> {
    /// Wraps the handle of a locked sqlx connection; valid for as long as that lock is.
    pub(crate) fn new(handle: &'lock mut sqlx::sqlite::LockedSqliteHandle<'_>) -> Self {
        Db { raw: handle.as_raw_handle(), kept: None, _lock: PhantomData }
    }

    /// As [`Db::new`], preparing each statement once into `kept` and reusing it under later locks of the same
    /// connection.
    pub(crate) fn keeping(handle: &'lock mut sqlx::sqlite::LockedSqliteHandle<'_>, kept: &'lock mut Kept) -> Self {
        let raw = handle.as_raw_handle();
        let mut db = Db { raw, kept: None, _lock: PhantomData };
        if kept.db != Some(raw) {
            kept.finalize(&db);
            kept.db = Some(raw);
        }
        db.kept = Some(RefCell::new(kept));
        db
    }

    fn failure(&self) -> Failure {
        failure(self.raw)
    }

    /// Runs a statement that takes no parameters and returns no rows (`BEGIN IMMEDIATE`, `COMMIT`).
    pub(crate) fn exec(&self, sql: &'static CStr) -> Result<(), Failure> {
        let sql = sql.to_str().expect("statement text is UTF-8");
        self.prepare(sql)?.execute(&[])
    }

    /// The rowid of the last row inserted (an `INTEGER PRIMARY KEY` is the rowid).
    pub(crate) fn last_insert_rowid(&self) -> i64 {
        // SAFETY: as in `failure`.
        unsafe { ffi::sqlite3_last_insert_rowid(self.raw.as_ptr()) }
    }

    /// Rows changed by the last `INSERT`, `UPDATE` or `DELETE`.
    pub(crate) fn changes(&self) -> i64 {
        // SAFETY: as in `failure`.
        unsafe { ffi::sqlite3_changes64(self.raw.as_ptr()) }
    }

    /// Runs `work` in a write transaction (`BEGIN IMMEDIATE`): committed when it returns `Ok(Ok(_))`, rolled
    /// back when it returns `Ok(Err(_))` (a refusal decided in Rust) or fails.
    pub(crate) fn transaction<T, R, E: From<Failure>>(
        &self,
        work: impl FnOnce(&Db<'lock>) -> Result<Result<T, R>, E>,
    ) -> Result<Result<T, R>, E> {
        self.exec(c"BEGIN IMMEDIATE")?;
        let done = work(self).and_then(|decided| match decided {
            Ok(value) => Ok(self.exec(c"COMMIT").map(|()| Ok(value))?),
            refused => Ok(refused),
        });
        if !matches!(done, Ok(Ok(_))) && self.in_transaction() {
            let _ = self.exec(c"ROLLBACK");
        }
        done
    }

    /// How many statements are prepared on the connection (sqlx's own included).
    #[cfg(test)]
    pub(crate) fn statements(&self) -> usize {
        let mut count = 0;
        // SAFETY: as in `failure`; the list is only walked, never changed, while the lock is held.
        unsafe {
            let mut stmt = ffi::sqlite3_next_stmt(self.raw.as_ptr(), null_mut());
            while !stmt.is_null() {
                count += 1;
                stmt = ffi::sqlite3_next_stmt(self.raw.as_ptr(), stmt);
            }
        }
        count
    }

    /// Whether a transaction is open (`BEGIN` ran and neither `COMMIT` nor `ROLLBACK` has).
    pub(crate) fn in_transaction(&self) -> bool {
        // SAFETY: as in `failure`.
        unsafe { ffi::sqlite3_get_autocommit(self.raw.as_ptr()) == 0 }
    }

    /// A statement for `sql`: the kept one when this `Db` keeps statements and has prepared it before. A kept
    /// statement is shared by every `Stmt` of its text, so its `each` must not be re-entered from its own rows.
    pub(crate) fn prepare(&self, sql: &'static str) -> Result<Stmt<'_>, Failure> {
        let Some(kept) = &self.kept else {
            return Ok(Stmt { raw: self.prepare_new(sql, 0)?, db: self.raw, kept: false, _db: PhantomData });
        };
        let mut kept = kept.borrow_mut();
        let raw = match kept.by_sql.get(sql) {
            Some(raw) => *raw,
            None => {
                let raw = self.prepare_new(sql, ffi::SQLITE_PREPARE_PERSISTENT)?;
                kept.by_sql.insert(sql, raw);
                raw
            }
        };
        Ok(Stmt { raw, db: self.raw, kept: true, _db: PhantomData })
    }

    fn prepare_new(&self, sql: &str, flags: u32) -> Result<NonNull<ffi::sqlite3_stmt>, Failure> {
        let mut raw = null_mut();
        let len = c_int::try_from(sql.len()).expect("statement text fits an int");
        // SAFETY: `sql` is valid for `len` bytes (it need not be NUL-terminated when the length is given).
        let rc = unsafe {
            ffi::sqlite3_prepare_v3(self.raw.as_ptr(), sql.as_ptr().cast(), len, flags, &mut raw, null_mut())
        };
        match NonNull::new(raw) {
            Some(raw) if rc == ffi::SQLITE_OK => Ok(raw),
            Some(raw) => {
                let failure = self.failure();
                // SAFETY: a statement SQLite handed out with an error is still ours to finalize, once.
                unsafe { ffi::sqlite3_finalize(raw.as_ptr()) };
                Err(failure)
            }
            None => Err(self.failure()),
        }
    }
}

/// The connection's last error; `db` must be open and locked for the caller.
fn failure(db: NonNull<ffi::sqlite3>) -> Failure {
    // SAFETY: errmsg is a NUL-terminated string owned by SQLite, copied out before any other call on the connection.
    unsafe {
        let code = ffi::sqlite3_extended_errcode(db.as_ptr());
        let message = CStr::from_ptr(ffi::sqlite3_errmsg(db.as_ptr())).to_string_lossy().into_owned();
        Failure { code, message }
    }
}

/// A prepared statement, finalized when dropped unless its `Db` keeps it.
pub(crate) struct Stmt<'db> {
    raw: NonNull<ffi::sqlite3_stmt>,
    /// The connection, locked for as long as the `Db` this statement borrows.
    db: NonNull<ffi::sqlite3>,
    kept: bool,
    _db: PhantomData<&'db ()>,
}

/// The current row of a stepping statement.
pub(crate) struct Row<'s> {
    raw: NonNull<ffi::sqlite3_stmt>,
    _stmt: PhantomData<&'s ()>,
}

/// Text timestamps exactly as sqlx writes `DateTime<Utc>` on SQLite, so that comparisons between rows written by
/// either path (the purge's `created_at < ?`) stay ordered.
pub(crate) fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

impl Row<'_> {
    pub(crate) fn int(&self, column: c_int) -> i64 {
        // SAFETY: the statement has a current row for as long as this borrow.
        unsafe { ffi::sqlite3_column_int64(self.raw.as_ptr(), column) }
    }

    pub(crate) fn text(&self, column: c_int) -> String {
        // SAFETY: as in `int`; the pointer is valid for `len` bytes until the next step, and copied before.
        unsafe {
            let text = ffi::sqlite3_column_text(self.raw.as_ptr(), column);
            let len = ffi::sqlite3_column_bytes(self.raw.as_ptr(), column) as usize;
            if text.is_null() {
                return String::new();
            }
            String::from_utf8_lossy(std::slice::from_raw_parts(text, len)).into_owned()
        }
    }
}

impl Stmt<'_> {
    /// Binds `params` (left to right, from `?1`), steps to the end and resets, handing each row to `row`.
    pub(crate) fn each(&mut self, params: &[Value<'_>], mut row: impl FnMut(&Row<'_>)) -> Result<(), Failure> {
        let result = self.bind(params).and_then(|()| {
            loop {
                // SAFETY: a prepared statement with every parameter bound; borrowed text outlives this call.
                match unsafe { ffi::sqlite3_step(self.raw.as_ptr()) } {
                    ffi::SQLITE_ROW => row(&Row { raw: self.raw, _stmt: PhantomData }),
                    ffi::SQLITE_DONE => return Ok(()),
                    _ => return Err(failure(self.db)),
                }
            }
        });
        // SAFETY: resetting and unbinding before return ends every use of the borrowed values.
        unsafe {
            ffi::sqlite3_reset(self.raw.as_ptr());
            ffi::sqlite3_clear_bindings(self.raw.as_ptr());
        }
        result
    }

    /// Runs the statement for its effect.
    pub(crate) fn execute(&mut self, params: &[Value<'_>]) -> Result<(), Failure> {
        self.each(params, |_| {})
    }

    fn bind(&mut self, params: &[Value<'_>]) -> Result<(), Failure> {
        for (i, value) in params.iter().enumerate() {
            let at = i as c_int + 1;
            let stmt = self.raw.as_ptr();
            // SAFETY: `at` is within the statement's parameters (SQLite checks and answers SQLITE_RANGE).
            // SQLITE_STATIC: the text is borrowed for the whole `each` call, which unbinds before it returns.
            let rc = unsafe {
                match value {
                    Value::Int(v) => ffi::sqlite3_bind_int64(stmt, at, *v),
                    Value::Null => ffi::sqlite3_bind_null(stmt, at),
                    Value::Blob(b) => {
                        ffi::sqlite3_bind_blob64(stmt, at, b.as_ptr().cast(), b.len() as u64, ffi::SQLITE_STATIC())
                    }
                    Value::Text(s) => ffi::sqlite3_bind_text64(
                        stmt,
                        at,
                        s.as_ptr().cast(),
                        s.len() as u64,
                        ffi::SQLITE_STATIC(),
                        ffi::SQLITE_UTF8 as u8,
                    ),
                }
            };
            if rc != ffi::SQLITE_OK {
                return Err(failure(self.db));
            }
        }
        Ok(())
    }
}

impl Drop for Stmt<'_> {
    fn drop(&mut self) {
        if self.kept {
            return; // reset at the end of every `each`; finalized by its `Kept`
        }
        // SAFETY: finalized once, here; no row borrows outlive the statement.
        unsafe {
            ffi::sqlite3_finalize(self.raw.as_ptr());
        }
    }
}

impl From<Failure> for crate::store::StoreError {
    fn from(f: Failure) -> Self {
        crate::store::StoreError::Database(f.into())
    }
}
