//! The read side of the store, as its own type, so that the single-writer rule is checked by the compiler.
//!
//! On SQLite every write must go through the one write connection (`on_write_pool!`): a write sent to the read
//! pool competes for SQLite's one write lock and breaks the writer's batching. A [`Reader`] therefore offers
//! nothing that writes: no `execute`, no transaction, no access to the pool behind it, and it is not an sqlx
//! `Executor`; the statements it runs are [`Select`]s, whose text is checked while compiling to begin with
//! `SELECT`. (The read connections are also `query_only` on SQLite, which catches at run time what no type
//! can: a function such as `SELECT load_extension(…)`.)
//!
//! A read compiles:
//! ```
//! use tanis::store::{Reader, select};
//! async fn count(reader: &Reader<sqlx::Sqlite>) -> Result<i64, sqlx::Error> {
//!     reader.scalars(select!("SELECT COUNT(*) FROM users WHERE id > $1")).bind(0_i64).one().await
//! }
//! ```
//! A write on the reader does not: it is not an executor,
//! ```compile_fail,E0277
//! use tanis::store::Reader;
//! async fn write(reader: &Reader<sqlx::Sqlite>) {
//!     sqlx::query("DELETE FROM users").execute(reader).await.unwrap();
//! }
//! ```
//! it opens no transaction,
//! ```compile_fail,E0599
//! use tanis::store::Reader;
//! async fn write(reader: &Reader<sqlx::Sqlite>) {
//!     let _ = reader.begin().await;
//! }
//! ```
//! and a statement that is not a SELECT is refused while compiling.
//! ```compile_fail,E0080
//! use tanis::store::{Reader, select};
//! async fn write(reader: &Reader<sqlx::Sqlite>) -> Result<Vec<i64>, sqlx::Error> {
//!     reader.scalars(select!("DELETE FROM users RETURNING id")).all().await
//! }
//! ```

use sqlx::query::QueryAs;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

/// The text of a read-only statement; made by [`select!`], which checks it while compiling.
#[derive(Debug, Clone, Copy)]
pub struct Select(&'static str);

impl Select {
    /// Panics (at compile time, inside [`select!`]) unless `sql` begins with `SELECT`, ignoring leading
    /// whitespace and case. `WITH` is refused too: a common table expression may wrap a writing statement.
    pub const fn new(sql: &'static str) -> Self {
        let bytes = sql.as_bytes();
        let mut start = 0;
        while start < bytes.len() && bytes[start].is_ascii_whitespace() {
            start += 1;
        }
        let keyword = b"SELECT";
        assert!(bytes.len() > start + keyword.len(), "a read statement must begin with SELECT");
        let mut i = 0;
        while i < keyword.len() {
            assert!(bytes[start + i].to_ascii_uppercase() == keyword[i], "a read statement must begin with SELECT");
            i += 1;
        }
        assert!(!bytes[start + keyword.len()].is_ascii_alphanumeric(), "a read statement must begin with SELECT");
        Self(sql)
    }
}

/// A [`Select`] checked while compiling: `select!("SELECT …")`. The argument must be a constant
/// (a literal or `concat!` of literals).
#[macro_export]
macro_rules! select {
    // A const item, not an inline `const { }` block: an item is evaluated even in code that is never called
    // (an inline block only when its function is compiled to machine code).
    ($sql:expr) => {{
        const SELECT: $crate::store::Select = $crate::store::Select::new($sql);
        SELECT
    }};
}
pub use crate::select;

/// A list of ids as SQLite reads it in one parameter: a JSON array, unpacked by `IN (SELECT value FROM
/// json_each($1))` (PostgreSQL binds the slice itself, as a `BIGINT[]` for `= ANY($1)`). For reads keyed by a
/// page's worth of ids, which would otherwise be a statement per id.
pub(crate) fn id_list(ids: &[i64]) -> String {
    serde_json::to_string(ids).expect("a list of integers is JSON")
}

/// A pool that only reads. Cheap to clone.
#[derive(Debug)]
pub struct Reader<DB: Database>(Pool<DB>);

impl<DB: Database> Clone for Reader<DB> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<DB: Database> Reader<DB> {
    pub(super) fn new(pool: Pool<DB>) -> Self {
        Self(pool)
    }

    /// Rows mapped to `O` by its `FromRow`.
    pub fn rows<'q, O: for<'r> FromRow<'r, DB::Row>>(&self, select: Select) -> Read<'_, 'q, DB, O, O> {
        Read { pool: &self.0, query: sqlx::query_as(select.0), map: |row| row }
    }

    /// The first column of each row.
    pub fn scalars<'q, T>(&self, select: Select) -> Read<'_, 'q, DB, (T,), T>
    where
        (T,): for<'r> FromRow<'r, DB::Row>,
    {
        Read { pool: &self.0, query: sqlx::query_as(select.0), map: |(value,)| value }
    }

    pub(super) async fn close(&self) {
        self.0.close().await
    }
}

/// One read statement with its arguments, bound to the reader that will run it.
#[must_use = "a read does nothing until one of `all`, `one` or `optional` is awaited"]
pub struct Read<'p, 'q, DB: Database, R, O> {
    pool: &'p Pool<DB>,
    query: QueryAs<'q, DB, R, <DB as Database>::Arguments>,
    map: fn(R) -> O,
}

impl<'p, 'q, DB, R, O> Read<'p, 'q, DB, R, O>
where
    DB: Database,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    R: Send + Unpin + for<'r> FromRow<'r, DB::Row>,
{
    pub fn bind<T: 'q + Encode<'q, DB> + Type<DB>>(mut self, value: T) -> Self {
        self.query = self.query.bind(value);
        self
    }

    pub async fn all(self) -> Result<Vec<O>, sqlx::Error> {
        Ok(self.query.fetch_all(self.pool).await?.into_iter().map(self.map).collect())
    }

    pub async fn one(self) -> Result<O, sqlx::Error> {
        self.query.fetch_one(self.pool).await.map(self.map)
    }

    pub async fn optional(self) -> Result<Option<O>, sqlx::Error> {
        Ok(self.query.fetch_optional(self.pool).await?.map(self.map))
    }
}
