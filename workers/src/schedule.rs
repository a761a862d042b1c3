//! Running the jobs: one apalis cron worker per job, each under its own supervisor, with retries (exponential
//! backoff), metrics and a graceful stop. A failing job is logged and counted; it never takes the server down,
//! and a worker that dies (its storage failed, its registration was refused) is started again after a backoff.
//!
//! Worker names are unique per process and per restart ([`instance_id`]): apalis's SQL storages refuse to
//! register a name whose last heartbeat is younger than 30 s, so fixed names made a node restarted within 30 s
//! of its last run (a deploy) lose every worker, and a `tanis worker` beside `tanis serve` lose half of them.

use std::future::Future;
use std::str::FromStr;
use std::time::Instant;

use apalis::layers::retry::RetryPolicy;
use apalis::prelude::*;
use apalis_cron::{CronScheduler, Tick};
use chrono_tz::Tz;
use tokio_util::sync::CancellationToken;
use tower::retry::backoff::{ExponentialBackoffMaker, MakeBackoff};
use tracing::Instrument;

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
    Push,
    Purge,
}

impl Job {
    pub const ALL: [Job; 8] = [
        Job::Claims,
        Job::AutoBan,
        Job::Referrals,
        Job::Expiry,
        Job::QuotaReset,
        Job::Subscriptions,
        Job::Push,
        Job::Purge,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Job::Claims => "claims",
            Job::AutoBan => "auto_ban",
            Job::Referrals => "referrals",
            Job::Expiry => "expiry",
            Job::QuotaReset => "quota_reset",
            Job::Subscriptions => "subscriptions",
            Job::Push => "push",
            Job::Purge => "purge",
        }
    }

    /// Cron (with seconds), read in the quota time zone: every minute, except the reset at local midnight and the
    /// hourly purge.
    pub fn cron(self) -> &'static str {
        match self {
            Job::QuotaReset => "0 0 0 * * *",
            // A grace period is counted in days: an hour late is nothing, and each run reads the due accounts.
            Job::Purge => "0 30 * * * *",
            // Pushes wait at most a few seconds.
            Job::Push => "*/3 * * * * *",
            _ => "0 * * * * *",
        }
    }

    /// How often the job is meant to succeed: what `/healthz/jobs` measures a stall against.
    pub fn period(self) -> chrono::TimeDelta {
        match self {
            Job::QuotaReset => chrono::TimeDelta::days(1),
            Job::Purge => chrono::TimeDelta::hours(1),
            _ => chrono::TimeDelta::minutes(1),
        }
    }

    /// Whether the job is stalled at `now`: more than its period plus `grace` without a success, counted from
    /// its last success or, when it never succeeded, from when a process first scheduled it (so a fresh install
    /// is healthy until its jobs are due). A job no process ever scheduled is stalled: on a deployment where
    /// nothing runs the jobs at all, that is exactly what an operator must be told.
    pub fn stalled(
        self,
        last_success: Option<chrono::DateTime<chrono::Utc>>,
        scheduled_since: Option<chrono::DateTime<chrono::Utc>>,
        now: chrono::DateTime<chrono::Utc>,
        grace: chrono::TimeDelta,
    ) -> bool {
        last_success.or(scheduled_since).is_none_or(|at| now - at > self.period() + grace)
    }

    /// Runs the job once, now, and records the outcome where every node can read it (`JobStore::record_run`).
    /// In a span named for the job, so that what the run logs (a store's warning too) says which job it was.
    pub async fn run<S: JobStore, L: LiveEffects>(self, ctx: &Context<S, L>) -> Result<(), JobError> {
        async {
            let result = self.run_unrecorded(ctx).await;
            let error = result.as_ref().err().map(|e| e.to_string());
            if let Err(e) = ctx.store.record_run(self.name(), error.as_deref(), ctx.now()).await {
                tracing::warn!(job = self.name(), error = %e, "could not record the job's outcome");
            }
            result
        }
        .instrument(tracing::info_span!("job", name = self.name()))
        .await
    }

    async fn run_unrecorded<S: JobStore, L: LiveEffects>(self, ctx: &Context<S, L>) -> Result<(), JobError> {
        observe(self, async {
            match self {
                Job::Claims => crate::claims::run(ctx).await,
                Job::AutoBan => crate::moderation::run(ctx).await,
                Job::Referrals => crate::referrals::run(ctx).await,
                Job::Expiry => crate::expiry::run(ctx).await,
                Job::QuotaReset => crate::quotas::run(ctx).await,
                Job::Subscriptions => crate::subscriptions::run(ctx).await,
                Job::Push => crate::push::run(ctx).await,
                Job::Purge => crate::purge::run(ctx).await,
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

/// Builds the worker of one job over its storage backend: its cron schedule piped into the storage, retried
/// with exponential backoff, under a name no other process or earlier run uses.
macro_rules! worker {
    ($name:expr, $assignment:expr, $backend:expr) => {{
        let backoff = ExponentialBackoffMaker::default().make_backoff();
        WorkerBuilder::new($name)
            .backend($backend)
            .retry(RetryPolicy::retries(3).with_backoff(backoff))
            .data($assignment.clone())
            .build(on_tick::<S, L>)
    }};
}

/// Runs every job on its schedule until `shutdown` is cancelled, then waits for running jobs to finish.
/// Jobs that act on time already passed (a reset missed while the server was down) run once at start.
///
/// The storage's tables must exist: the server applies apalis's migrations with its own, under one lock
/// ([`migrate`]), so that processes starting together never race on them.
pub async fn run<S: JobStore, L: LiveEffects>(
    ctx: Context<S, L>,
    storage: Storage,
    shutdown: CancellationToken,
) -> Result<(), JobError> {
    for job in Job::ALL {
        if let Err(e) = ctx.store.record_scheduled(job.name(), ctx.now()).await {
            tracing::warn!(job = job.name(), error = %e, "could not record that the job is scheduled");
        }
    }
    for job in [Job::QuotaReset, Job::Subscriptions, Job::Expiry] {
        let _ = job.run(&ctx).await;
    }
    let instance = instance_id();
    tracing::info!(instance, "starting the job workers");
    let mut supervisors = tokio::task::JoinSet::new();
    for job in Job::ALL {
        let (ctx, storage, instance, stop) = (ctx.clone(), storage.clone(), instance.clone(), shutdown.clone());
        let work = move |attempt: u32| {
            let name = format!("tanis-{}-{instance}-{attempt}", job.name());
            run_worker(job, name, ctx.clone(), storage.clone(), stop.clone())
        };
        supervisors.spawn(supervise(job, work, shutdown.clone()));
    }
    // Each supervisor returns once shutdown is cancelled and its worker has finished its running job.
    while supervisors.join_next().await.is_some() {}
    Ok(())
}

/// Runs one worker of `job` under `name` until `shutdown`; an error means the worker died.
async fn run_worker<S: JobStore, L: LiveEffects>(
    job: Job,
    name: String,
    ctx: Context<S, L>,
    storage: Storage,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    let zone = ctx.settings.timezone;
    let schedule = cron::Schedule::from_str(job.cron()).expect("static cron expressions parse");
    let cron = CronScheduler::new(schedule).with_timezone(zone);
    let assignment = Assignment { job, ctx };
    let (queue, every) = (storage.queue(job), storage.poll_interval);
    let stop = async move {
        shutdown.cancelled().await;
        Ok::<(), std::io::Error>(())
    };
    match storage.backend {
        Backend::Memory => worker!(name, assignment, cron).run_until(stop).await,
        Backend::Sqlite(pool) => {
            worker!(
                name,
                assignment,
                cron.pipe_to(sqlite_queue(&pool, &queue).poll_with_strategy(crate::poll::Every::new(every)))
            )
            .run_until(stop)
            .await
        }
        Backend::Postgres(pool) => {
            worker!(
                name,
                assignment,
                cron.pipe_to(postgres_queue(&pool, &queue).poll_with_strategy(crate::poll::Every::new(every)))
            )
            .run_until(stop)
            .await
        }
        Backend::Redis(conn) => {
            worker!(
                name,
                assignment,
                cron.pipe_to(redis_queue(&conn, &queue).poll_with_strategy(crate::poll::Every::new(every)))
            )
            .run_until(stop)
            .await
        }
    }
}

/// Keeps one job's worker alive: whenever it ends before `shutdown` (an error, or its stream ending), it is
/// started again after [`restart_delay`]. `work(attempt)` runs one incarnation; each gets a new attempt number
/// (and so a new worker name: the dead one's registration may still look alive to the storage for 30 s).
pub async fn supervise<F, Fut>(job: Job, mut work: F, shutdown: CancellationToken)
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<(), WorkerError>>,
{
    let mut attempt = 0;
    let mut failures_in_row = 0;
    loop {
        let started = tokio::time::Instant::now();
        let outcome = work(attempt).await;
        if shutdown.is_cancelled() {
            return;
        }
        // A worker that ran for a while before dying starts a new series of quick retries.
        if started.elapsed() >= STABLE_RUN {
            failures_in_row = 0;
        }
        let delay = restart_delay(failures_in_row);
        metrics::counter!("tanis_job_worker_restarts_total", "job" => job.name()).increment(1);
        match outcome {
            Err(e) => tracing::error!(job = job.name(), error = %e, ?delay, "job worker died; restarting it"),
            Ok(()) => tracing::error!(job = job.name(), ?delay, "job worker stopped by itself; restarting it"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = shutdown.cancelled() => return,
        }
        failures_in_row += 1;
        attempt += 1;
    }
}

/// A worker that ran this long before it died is not failing in a loop: its next restart is quick again.
const STABLE_RUN: std::time::Duration = std::time::Duration::from_secs(300);

/// The wait before restarting a worker after `failures_in_row` consecutive quick deaths: 1 s, doubling, at most
/// one minute (one tick of the minutely jobs).
pub fn restart_delay(failures_in_row: u32) -> std::time::Duration {
    std::time::Duration::from_secs(1u64 << failures_in_row.min(6)).min(std::time::Duration::from_secs(60))
}

/// This process's part of every worker name: unique across processes (the pid), across restarts of a process
/// that always gets the same pid (pid 1 in a container: the start time) and within a process (a counter).
pub fn instance_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}-{:x}-{n}", std::process::id(), started.as_micros())
}

/// Applies apalis's migrations for the storage in `backend` (the server calls this under its migration lock).
pub async fn migrate(backend: &Backend) -> Result<(), JobError> {
    match backend {
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn restarts_back_off_from_one_second_to_one_minute() {
        let delays: Vec<u64> = (0..9).map(|n| restart_delay(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
    }

    #[test]
    fn worker_names_never_repeat_within_a_process() {
        assert_ne!(instance_id(), instance_id());
    }

    #[test]
    fn a_job_is_stalled_past_its_period_and_grace_or_when_it_never_succeeded() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z").unwrap().to_utc();
        let grace = chrono::TimeDelta::minutes(4);
        let (due, overdue) = (now - chrono::TimeDelta::minutes(5), now - chrono::TimeDelta::seconds(301));
        assert!(Job::Claims.stalled(None, None, now, grace), "never scheduled anywhere");
        assert!(!Job::Claims.stalled(Some(due), None, now, grace));
        assert!(Job::Claims.stalled(Some(overdue), None, now, grace));
        // Never succeeded: measured from the first scheduling; a later success wins over it.
        assert!(!Job::Claims.stalled(None, Some(due), now, grace));
        assert!(Job::Claims.stalled(None, Some(overdue), now, grace));
        assert!(!Job::Claims.stalled(Some(due), Some(overdue), now, grace));
        assert!(!Job::QuotaReset.stalled(Some(now - chrono::TimeDelta::hours(24)), None, now, grace));
        assert!(Job::QuotaReset.stalled(Some(now - chrono::TimeDelta::hours(25)), None, now, grace));
    }

    /// A worker that keeps dying is restarted with growing waits, and a stop ends the supervision.
    #[tokio::test(start_paused = true)]
    async fn a_dead_worker_is_restarted_after_a_growing_backoff_until_shutdown() {
        let shutdown = CancellationToken::new();
        let starts: Arc<Mutex<Vec<(u32, tokio::time::Instant)>>> = Arc::default();
        let (log, stop) = (starts.clone(), shutdown.clone());
        let work = move |attempt: u32| {
            log.lock().unwrap().push((attempt, tokio::time::Instant::now()));
            let stop = stop.clone();
            async move {
                match attempt {
                    // The fourth incarnation lives until shutdown, like a healthy worker.
                    3 => {
                        stop.cancelled().await;
                        Ok(())
                    }
                    _ => Err(WorkerError::PanicError(format!("registration refused ({attempt})"))),
                }
            }
        };
        let origin = tokio::time::Instant::now();
        let supervisor = tokio::spawn(supervise(Job::Claims, work, shutdown.clone()));
        while starts.lock().unwrap().len() < 4 {
            tokio::task::yield_now().await;
            tokio::time::advance(std::time::Duration::from_millis(100)).await;
        }
        shutdown.cancel();
        supervisor.await.unwrap();
        let starts = starts.lock().unwrap().clone();
        let waits: Vec<u64> = starts.iter().map(|(_, at)| (*at - origin).as_millis() as u64 / 100).collect();
        assert_eq!(starts.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [0, 1, 2, 3], "new attempt numbers");
        assert_eq!(waits, [0, 10, 30, 70], "restarted after 1 s, 2 s, 4 s (in tenths of a second)");
    }
}
