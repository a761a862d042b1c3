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

/// Runs every job on its schedule until `shutdown` is cancelled, then waits for running jobs to finish.
/// Jobs that act on time already passed (a reset missed while the server was down) run once at start.
pub async fn run<S: JobStore, L: LiveEffects>(ctx: Context<S, L>, shutdown: CancellationToken) -> Result<(), JobError> {
    for job in [Job::QuotaReset, Job::Subscriptions, Job::Expiry] {
        let _ = job.run(&ctx).await;
    }
    let zone = ctx.settings.timezone;
    let mut monitor = Monitor::new();
    for job in Job::ALL {
        let assignment = Assignment { job, ctx: ctx.clone() };
        monitor = monitor.register(move |_| {
            let schedule = cron::Schedule::from_str(job.cron()).expect("static cron expressions parse");
            let backoff = ExponentialBackoffMaker::default().make_backoff();
            WorkerBuilder::new(format!("tanis-{}", job.name()))
                .backend(CronScheduler::new(schedule).with_timezone(zone))
                .retry(RetryPolicy::retries(3).with_backoff(backoff))
                .data(assignment.clone())
                .build(on_tick::<S, L>)
        });
    }
    monitor
        .run_with_signal(async move {
            shutdown.cancelled().await;
            Ok(())
        })
        .await?;
    Ok(())
}
