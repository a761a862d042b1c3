//! Persistence. One [`Store`] with two backends, SQLite and PostgreSQL, that share their SQL: every
//! query is written once with `$n` placeholders (both dialects accept them) and [`on_read_pool!`] expands it
//! for each backend's [`Reader`] ([`on_write_pool!`] for code that writes: on SQLite one connection does all
//! writing, and a `Reader` cannot write: see `reads`).
//! Where the dialects differ, the difference is spelled out at that query.
//!
//! The store owns rows and transactions; it does not decide policy (throttling, token reuse, tags):
//! `accounts` does that over what the store returns. Nor does it render text or read configuration: a
//! notification arrives rendered ([`NewNotification`], from `crate::notices`), a push too ([`QueuedPush`], from
//! `crate::push`), and what statements of reasons cite is handed over at start ([`Citations`]).
//!
//! Layout: one file per table or concern of queries (bans, appeals, the report queue, claims and the other jobs'
//! queries in `jobs.rs`…); `batch/` is the group commit's batch (one file per dialect); `sqlite/` is the SQLite
//! engine beneath the SQLite backend (WAL VFS, page cache, busy handler, checkpoints, raw statements). PostgreSQL
//! needs no machinery of its own beyond its pool, opened in [`Store::connect`].

mod ads;
mod age_assurance;
mod appeals;
mod bans;
mod batch;
mod blocks;
mod consents;
mod contacts;
mod dashboard;
mod declarations;
mod deletion;
pub mod export;
mod fail_points;
mod job_queue;
mod job_runs;
mod jobs;
mod login_attempts;
mod logins;
mod matches;
mod messages;
mod migrate;
mod models;
mod notifications;
mod partitions;
mod phone_codes;
mod phones;
mod purge;
mod push;
mod reads;
mod reports;
mod seed;
mod sqlite;
mod statements;
mod subscriptions;
mod system_logs;
mod tokens;
mod transparency;
mod trust;
mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, SqlitePool};

pub use ads::{AdChange, AdRow, Click};
pub use age_assurance::{AssuranceRow, Decision, NewAssurance, ProviderCall};
pub use appeals::{AppealRow, Decided};
pub use bans::{BanRow, Lift, NewBan};
#[cfg(test)]
pub(crate) use batch::refusals;
pub use batch::{
    Asked, Batch, BatchWriter, CreateMatchError, Delivered, Lease, MatchEnd, Matched, NewMatch, NewMessage, NodeFence,
    Opened, Opening, PG_WRITE_TIMEOUT, Receipt, Refusal, Refused, WriteOutcome, Written,
};
pub use consents::Consent;
pub use contacts::{ContactKeyChange, ContactRow, Keep};
pub use dashboard::{Daily, DailySeries, OpenByReason, OpenReports};
pub use declarations::{DeclarationCleared, DeclarationFiled, DeclarationStanding, NewDeclarationReport};
pub use deletion::Deleted;
pub use fail_points::FailPoints;
pub use job_runs::JobRunRow;
pub use jobs::{ClaimRow, ClaimVerdict, ExpiredMatchRow, OwnClaim, PendingReferral};
pub use login_attempts::LoginAttempt;
pub use logins::LoginRow;
pub(crate) use sqlite::heap_bytes as sqlite_heap_bytes;
pub use transparency::{PeriodCounts, WAITS_SAMPLE};

pub use blocks::BlockRow;
pub use matches::{CreatedMatch, MatchRow, MatchedUser};
pub use messages::MessageRow;
pub use models::{NewRefreshToken, NewUser, Referrer, RefreshTokenRow, UserRow};
pub use notifications::{Audience, NewNotification, NotificationRow, Reached};
pub use partitions::Rotated;
pub use phone_codes::{CodeRow, NewCodeRequest, RecentRequests, Recorded};
pub use phones::{PhoneColumn, Reseal, StoredPhone};
pub use purge::Purged;
pub use push::{PushRow, QueuedPush};
pub(crate) use reads::id_list;
pub use reads::{Read, Reader, Select, select};
pub use reports::calls::{CallLimits, CallRow, NewCall, SealedSnapshot, SnapshotSignal};
pub use reports::evidence::EvidenceRow;
pub use reports::queue::{QueuedReport, Resolved};
pub use reports::{Filed, NewReport};
pub use seed::seed_phone;
pub use sqlite::backup::copy_into as copy_sqlite_into;
pub use statements::{Citations, CitedGround, StatementPage, StatementRow};
pub use subscriptions::{PlanChange, PlanOutcome, PlanRow, PlanSource, PremiumUnits};
pub use system_logs::{AuditQuery, ModerationCounts, SystemLogRow};
pub use tokens::Rotation;

/// Runs `$body` with `$pool` bound to the [`Reader`] of whichever backend `$store` uses.
macro_rules! on_read_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { read: $pool, .. } => $body,
            $crate::store::Backend::Postgres { read: $pool, .. } => $body,
        }
    };
}
pub(crate) use on_read_pool;

/// Like [`on_read_pool!`], for code that writes, with `$pool` bound to the concrete sqlx pool. On SQLite that is a pool of ONE connection: SQLite allows one
/// writer at a time anyway, so writers now wait in the pool's fair async queue instead of sleeping in
/// SQLite's busy handler, and the one connection keeps its page cache warm (in WAL mode a connection drops its
/// whole cache whenever another connection has written; hopping across eight connections made every group-commit
/// batch re-read its pages: BENCHMARKS.md).
macro_rules! on_write_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.backend {
            $crate::store::Backend::Sqlite { write: $pool, .. } => $body,
            $crate::store::Backend::Postgres { write: $pool, .. } => $body,
        }
    };
}
pub(crate) use on_write_pool;

/// Begins a transaction that will write. SQLite gets `BEGIN IMMEDIATE` so that two writers queue on
/// the busy timeout instead of one failing at its first write with SQLITE_BUSY.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = sqlx::Sqlite;
    fn begin_write(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send {
        self.begin_with("BEGIN IMMEDIATE")
    }
}

impl BeginWrite for PgPool {
    type Db = sqlx::Postgres;
    fn begin_write(&self) -> impl Future<Output = Result<sqlx::Transaction<'static, Self::Db>, sqlx::Error>> + Send {
        self.begin()
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Backend {
    /// Readers share `read`; everything that writes goes through `write`, a single connection.
    Sqlite { read: Reader<sqlx::Sqlite>, write: SqlitePool },
    /// One pool; `read` is its read-only view.
    Postgres { read: Reader<sqlx::Postgres>, write: PgPool },
}

/// The database, cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) backend: Backend,
    /// Test-only crash injection inside transactions; see [`FailPoints`] (empty without the `fail-points` feature).
    pub fail_points: std::sync::Arc<FailPoints>,
    /// What statements of reasons cite (grounds, redress), set once at start ([`Store::with_citations`]); until
    /// then none, and a statement cites its reason code alone.
    pub(crate) citations: std::sync::Arc<Citations>,
    /// Which day's content partition exists under its name (PostgreSQL's batch; see [`partitions::NamedDays`]).
    pub(crate) named_days: std::sync::Arc<partitions::NamedDays>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the caller knows which one it risked.
    #[error("unique constraint violated")]
    Conflict,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The job queue's own migrations failed.
    #[error("job queue migrations: {0}")]
    Jobs(tanis_workers::JobError),
    /// A matchmaker whose lease was taken over tried to write: its epoch is below the fence.
    #[error("fenced off: a newer matchmaker holds the lease")]
    Fenced,
    /// The migration lock could not be taken.
    #[error("migration lock: {0}")]
    Lock(std::io::Error),
    /// A fail point armed by a test fired (only with the `fail-points` feature).
    #[cfg(feature = "fail-points")]
    #[error("injected failure at {0}")]
    Injected(&'static str),
}

impl StoreError {
    /// Maps a unique violation to [`StoreError::Conflict`] and leaves every other error as it is.
    pub(crate) fn from_write(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            _ => StoreError::Database(err),
        }
    }
}

/// Which backend a store runs on; tests and metrics use it as a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl Store {
    /// Opens the database named by `url` (`sqlite:…` or `postgres://…`). A SQLite file is created
    /// when missing; nothing is migrated here (see [`Store::migrate`]).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let backend = if url.starts_with("sqlite:") {
            sqlite::connect(url).await?
        } else {
            let options = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Backend::Postgres { read: Reader::new(pool.clone()), write: pool }
        };
        Ok(Self {
            backend,
            fail_points: Default::default(),
            citations: Default::default(),
            named_days: Default::default(),
        })
    }

    /// The job queue's storage in this same database.
    pub fn job_storage(&self) -> tanis_workers::schedule::Backend {
        match &self.backend {
            // The job queue writes (pushes, locks, heartbeats): it shares the one write connection.
            Backend::Sqlite { write: pool, .. } => tanis_workers::schedule::Backend::Sqlite(pool.clone()),
            Backend::Postgres { write: pool, .. } => tanis_workers::schedule::Backend::Postgres(pool.clone()),
        }
    }

    pub fn kind(&self) -> BackendKind {
        match self.backend {
            Backend::Sqlite { .. } => BackendKind::Sqlite,
            Backend::Postgres { .. } => BackendKind::Postgres,
        }
    }

    /// Answers whether the database takes a query right now (for `/readyz`).
    pub async fn ping(&self) -> Result<(), StoreError> {
        on_read_pool!(self, |pool| pool.scalars::<i32>(select!("SELECT 1")).one().await)?;
        Ok(())
    }

    pub async fn close(&self) {
        on_read_pool!(self, |pool| pool.close().await);
        on_write_pool!(self, |pool| pool.close().await)
    }
}
