//! Background jobs survive restarts: a node restarted within seconds of its last run (a deploy), and a
//! `tanis worker` beside `tanis serve` on one database, still run every job; and the job queue's finished runs,
//! which apalis keeps, are deleted by the expiry.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tanis::clock::ManualClock;
use tanis::config::Config;
use tanis::domain::AuditAction;
use tanis::startup::Application;
use tanis::store::{AuditQuery, Store};
use tanis_workers::schedule::Job;

use crate::helpers::{Backend, eventually, fresh_database_url, start_time};
use crate::on_both_stores;

on_both_stores!(
    a_node_restarted_twice_in_quick_succession_still_runs_its_jobs,
    the_expiry_deletes_the_job_queues_runs_finished_over_a_day_ago,
);

/// When `job` last succeeded, as recorded by whichever process ran it.
pub async fn last_success(store: &Store, job: Job) -> Option<DateTime<Utc>> {
    let runs = store.job_runs().await.unwrap();
    runs.into_iter().find(|r| r.job == job.name()).and_then(|r| r.last_success_at)
}

async fn jobs_config(backend: Backend, dir: &std::path::Path) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("data"),
        database_url: Some(fresh_database_url(backend, dir).await),
        ..Config::default()
    };
    config.auth.bcrypt_cost = 4;
    config.video.turn_listen = "127.0.0.1:0".parse().unwrap();
    config.jobs.enabled = true;
    config.jobs.poll_interval_ms = 100;
    config.jobs.queue_namespace = format!("test-{}", uuid::Uuid::new_v4().simple());
    crate::helpers::fill_shared_secrets(&mut config);
    config
}

/// Starts the app at `now` (its manual clock), queues one auto-ban run and waits until this very app's worker
/// ran it: the run is recorded at this app's clock time, which no other start uses.
async fn start_and_run_a_job(
    config: &Config,
    now: DateTime<Utc>,
) -> (Store, tokio_util::sync::CancellationToken, tokio::task::JoinHandle<std::io::Result<()>>) {
    let app = Application::build_with_clock(config.clone(), ManualClock::new(now)).await.expect("the app builds");
    let (store, token) = (app.store(), app.shutdown_token());
    let server = tokio::spawn(app.run_until_stopped());
    let storage = tanis::jobs::storage(&store, config).await.unwrap();
    storage.run_now(Job::AutoBan, now).await.unwrap();
    eventually(Duration::from_secs(20), "this start's auto-ban worker ran", || async {
        last_success(&store, Job::AutoBan).await == Some(now)
    })
    .await;
    (store, token, server)
}

async fn a_node_restarted_twice_in_quick_succession_still_runs_its_jobs(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = jobs_config(backend, dir.path()).await;
    // Three starts within seconds: each worker's registration is fresh when the next start registers its own
    // (apalis refuses a name whose heartbeat is younger than 30 s).
    for start in 0..3 {
        let now = start_time() + TimeDelta::hours(start);
        let (_, token, server) = start_and_run_a_job(&config, now).await;
        token.cancel();
        tokio::time::timeout(Duration::from_secs(20), server).await.expect("stops").unwrap().unwrap();
    }
}

/// apalis keeps every run it finished, a row each; the expiry deletes those that finished over a day before its
/// `now`. apalis stamps them with the database's clock, so here the app's clock runs two days ahead of it, while the
/// runs are queued at the database's present (a run queued at a later time waits for it).
async fn the_expiry_deletes_the_job_queues_runs_finished_over_a_day_ago(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let config = jobs_config(backend, dir.path()).await;
    // Whole seconds: the store keeps microseconds.
    let now = DateTime::from_timestamp((Utc::now() + TimeDelta::days(2)).timestamp(), 0).unwrap();
    let app = Application::build_with_clock(config.clone(), ManualClock::new(now)).await.expect("the app builds");
    let (store, token) = (app.store(), app.shutdown_token());
    let server = tokio::spawn(app.run_until_stopped());
    let storage = tanis::jobs::storage(&store, &config).await.unwrap();
    storage.run_now(Job::AutoBan, Utc::now()).await.unwrap();
    eventually(Duration::from_secs(20), "the auto-ban ran", || async {
        last_success(&store, Job::AutoBan).await == Some(now)
    })
    .await;
    // The run is marked finished just after it recorded its success: expiry runs until one deleted it.
    eventually(Duration::from_secs(20), "an expiry run deleted a finished run", || {
        let (store, storage) = (&store, &storage);
        async move {
            storage.run_now(Job::Expiry, Utc::now()).await.unwrap();
            let query = AuditQuery {
                actor: None,
                target: None,
                action: Some(AuditAction::JobExpiry),
                since: None,
                until: None,
                before: None,
                limit: 100,
            };
            let entries = store.audit_log(&query).await.unwrap();
            entries.iter().any(|e| {
                let details: serde_json::Value = serde_json::from_str(&e.details).unwrap();
                details["finished_runs_deleted"].as_u64().unwrap_or(0) > 0
            })
        }
    })
    .await;
    token.cancel();
    tokio::time::timeout(Duration::from_secs(20), server).await.expect("stops").unwrap().unwrap();
}
