//! Running the jobs: one apalis cron worker per job under one monitor, with retries (exponential backoff),
//! metrics and a graceful stop. A failing job is logged and counted; it never takes the server down.

use std::future::Future;
use std::str::FromStr;
use std::time::Instant;

use apalis::layers::retry::RetryPolicy;
use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;
use tower::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};

use crate::{Context, JobError, JobStore, LiveEffects};

/// The jobs and when they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    Claims,
    AutoBan,
    Referrals,
    Expiry,
    QuotaReset,
    Subscriptions,
}

impl Job {
    pub const ALL: [Job; 6] =
        [Job::Claims, Job::AutoBan, Job::Referrals, Job::Expiry, Job::QuotaReset, Job::Subscriptions];

    pub fn name(self) -> &'static str {
        match self {
            Job::Claims => "claims",
            Job::AutoBan => "auto_ban",
            Job::Referrals => "referrals",
            Job::Expiry => "expiry",
            Job::QuotaReset => "quota_reset",
            Job::Subscriptions => "subscriptions",
        }
    }

    /// Cron (with seconds), read in the quota time zone: every minute, except the reset at local midnight.
    pub fn cron(self) -> &'static str {
        match self {
            Job::QuotaReset => "0 0 0 * * *",
            _ => "0 * * * * *",
        }
    }

    /// Runs the job once, now.
    pub async fn run<S: JobStore, L: LiveEffects>(self, ctx: &Context<S, L>) -> Result<(), JobError> {
        observe(self, async {
            match self {
                Job::Claims => crate::claims::run(ctx).await,
                Job::AutoBan => crate::moderation::run(ctx).await,
                Job::Referrals => crate::referrals::run(ctx).await,
                Job::Expiry => crate::expiry::run(ctx).await,
                Job::QuotaReset => crate::quotas::run(ctx).await,
                Job::Subscriptions => crate::subscriptions::run(ctx).await,
            }
        })
        .await
    }
}

/// Counts runs and failures and times each run.
async fn observe(job: Job, run: impl Future<Output = Result<(), JobError>>) -> Result<(), JobError> {
    let started = Instant::now();
    let result = run.await;
    let outcome = if result.is_ok() { "ok" } else { "failed" };
    metrics::counter!("tanis_jobs_total", "job" => job.name(), "outcome" => outcome).increment(1);
    metrics::histogram!("tanis_job_seconds", "job" => job.name()).record(started.elapsed().as_secs_f64());
    if let Err(e) = &result {
        tracing::warn!(job = job.name(), error = %e, "job failed; it will be retried");
    }
    result
}

/// What each worker carries: which job it runs, over which context.
struct Assignment<S, L> {
    job: Job,
    ctx: Context<S, L>,
}

impl<S, L> Clone for Assignment<S, L> {
    fn clone(&self) -> Self {
        Self { job: self.job, ctx: self.ctx.clone() }
    }
}

async fn on_tick<S: JobStore, L: LiveEffects>(
    _tick: Tick<Tz>,
    assignment: Data<Assignment<S, L>>,
) -> Result<(), BoxDynError> {
    assignment.job.run(&assignment.ctx).await.map_err(|e| -> BoxDynError { e })
}

/// Where job runs are queued. Each cron tick is written to the storage (one queue per job) and a worker takes
/// it from there, so a run is persisted before it executes and a crashed run is picked up again.
#[derive(Clone)]
pub struct Storage {
    pub backend: Backend,
    /// Prefix of every queue name, so several deployments (or test servers) can share one Redis.
    pub namespace: String,
    /// How often a worker looks for runs queued by another process or node (its own cron ticks wake it at
    /// once): without it a storage only wakes on its own pushes.
    pub poll_interval: std::time::Duration,
}

#[derive(Clone)]
pub enum Backend {
    /// In-process only: nothing survives a restart (a node without a database of its own for jobs).
    Memory,
    /// apalis-sqlite tables beside the application's, in the same file.
    Sqlite(apalis_sqlite::SqlitePool),
    /// apalis-postgres, in its own `apalis` schema of the application's database.
    Postgres(apalis_postgres::PgPool),
    /// apalis-redis, when Redis is configured.
    Redis(apalis_redis::ConnectionManager),
}

impl Storage {
    pub fn new(backend: Backend, namespace: impl Into<String>, poll_interval: std::time::Duration) -> Self {
        Self { backend, namespace: namespace.into(), poll_interval }
    }

    /// The storage queue of a job: one per job, so workers never take each other's ticks.
    pub fn queue(&self, job: Job) -> String {
        format!("{}.{}", self.namespace, job.name())
    }

    /// Creates the storage's tables. Only apalis's migrations run: its `setup` would also switch the shared
    /// SQLite connection to `synchronous = OFF`, which the message relay's durability cannot afford.
    /// `ignore_missing`: the application's own migrations share SQLite's migration table.
    pub async fn prepare(&self) -> Result<(), JobError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut migrator = apalis_sqlite::SqliteStorage::<()>::migrations();
                migrator.set_ignore_missing(true);
                migrator.run(pool).await?;
            }
            Backend::Postgres(pool) => {
                let mut migrator = apalis_postgres::PostgresStorage::<()>::migrations();
                migrator.set_ignore_missing(true);
                migrator.run(pool).await?;
            }
            Backend::Memory | Backend::Redis(_) => {}
        }
        Ok(())
    }

    /// Queues one run of `job` now, as if its schedule had ticked (operators and tests).
    pub async fn run_now(&self, job: Job, now: chrono::DateTime<chrono::Utc>) -> Result<(), JobError> {
        let tick = Tick::<Tz>::new(now.timestamp().max(0) as u64);
        let queue = self.queue(job);
        match &self.backend {
            Backend::Memory => return Err("in-memory jobs have no queue to push to".into()),
            Backend::Sqlite(pool) => sqlite_queue(pool, &queue).push(tick).await?,
            Backend::Postgres(pool) => postgres_queue(pool, &queue).push(tick).await?,
            Backend::Redis(conn) => redis_queue(conn, &queue).push(tick).await?,
        }
        Ok(())
    }
}

fn sqlite_queue(pool: &apalis_sqlite::SqlitePool, queue: &str) -> apalis_sqlite::SqliteStorage<Tick<Tz>> {
    apalis_sqlite::SqliteStorage::new(pool).with_config(apalis_sqlite::Config::default().queue(queue))
}

fn postgres_queue(pool: &apalis_postgres::PgPool, queue: &str) -> apalis_postgres::PostgresStorage<Tick<Tz>> {
    apalis_postgres::PostgresStorage::new(pool).with_config(apalis_postgres::Config::default().queue(queue))
}

fn redis_queue(conn: &apalis_redis::ConnectionManager, queue: &str) -> apalis_redis::RedisStorage<Tick<Tz>> {
    apalis_redis::RedisStorage::new(conn.clone()).with_config(apalis_redis::Config::default().queue(queue))
}

/// Registers one worker per job: its cron schedule piped into `storage`, retried with exponential backoff.
macro_rules! worker {
    ($job:expr, $assignment:expr, $backend:expr) => {{
        let backoff = ExponentialBackoffMaker::default().make_backoff();
        WorkerBuilder::new(format!("tanis-{}", $job.name()))
            .backend($backend)
            .retry(RetryPolicy::retries(3).with_backoff(backoff))
            .data($assignment.clone())
            .build(on_tick::<S, L>)
    }};
}

/// Runs every job on its schedule until `shutdown` is cancelled, then waits for running jobs to finish.
/// Jobs that act on time already passed (a reset missed while the server was down) run once at start.
pub async fn run<S: JobStore, L: LiveEffects>(
    ctx: Context<S, L>,
    storage: Storage,
    shutdown: CancellationToken,
) -> Result<(), JobError> {
    storage.prepare().await?;
    for job in [Job::QuotaReset, Job::Subscriptions, Job::Expiry] {
        let _ = job.run(&ctx).await;
    }
    let zone = ctx.settings.timezone;
    let cron = move |job: Job| {
        let schedule = cron::Schedule::from_str(job.cron()).expect("static cron expressions parse");
        CronScheduler::new(schedule).with_timezone(zone)
    };
    let mut monitor = Monitor::new();
    for job in Job::ALL {
        let assignment = Assignment { job, ctx: ctx.clone() };
        let (queue, every) = (storage.queue(job), storage.poll_interval);
        monitor = match storage.backend.clone() {
            Backend::Memory => monitor.register(move |_| worker!(job, assignment, cron(job))),
            Backend::Sqlite(pool) => monitor.register(move |_| {
                worker!(job, assignment, cron(job).pipe_to(sqlite_queue(&pool, &queue).poll_with_interval(every)))
            }),
            Backend::Postgres(pool) => monitor.register(move |_| {
                worker!(job, assignment, cron(job).pipe_to(postgres_queue(&pool, &queue).poll_with_interval(every)))
            }),
            Backend::Redis(conn) => monitor.register(move |_| {
                worker!(job, assignment, cron(job).pipe_to(redis_queue(&conn, &queue).poll_with_interval(every)))
            }),
        };
    }
    monitor
        .run_with_signal(async move {
            shutdown.cancelled().await;
            Ok(())
        })
        .await?;
    Ok(())
}
