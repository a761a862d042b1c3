//! Operations endpoints: liveness, readiness and Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use tanis_workers::schedule::Job;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ErrorBody, ErrorCode};
use crate::domain::Lane;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(job_health))
        .routes(routes!(metrics))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// How long readiness waits for the database. A load balancer reads a slow answer as a timeout, not as "take me
/// out": without this bound a black-holed database made `/readyz` wait for the pool's 10 s acquire timeout (or,
/// on a connection already open, for TCP to give up).
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// The process can serve: its database answers within a second.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = String), (status = 503, description = "unavailable", body = ErrorBody)))]
async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiError> {
    // A draining node (stopping: a rolling update) takes nothing new; the load balancer moves on.
    if state.hub.is_draining() {
        return Err(ApiError::new(ErrorCode::Unavailable, "this node is stopping"));
    }
    // The second is the server's clock's, so a test moves it instead of waiting a second and racing it.
    let failure = tokio::select! {
        pinged = state.store.ping() => match pinged {
            Ok(()) => return Ok("ready"),
            Err(e) => e.to_string(),
        },
        () = state.accounts.clock().sleep(READINESS_TIMEOUT) => format!("no answer within {READINESS_TIMEOUT:?}"),
    };
    tracing::warn!(error = %failure, "readiness check failed");
    Err(ApiError::new(ErrorCode::Unavailable, "the database is not reachable"))
}

/// One background job's health, as `/healthz/jobs` reports it.
#[derive(Serialize, ToSchema)]
struct JobHealth {
    job: &'static str,
    /// No success within its period plus `jobs.stall_grace_secs`, counted from the last success or, if there
    /// was none, from `scheduled_since`; always when no process ever scheduled the job.
    stalled: bool,
    /// When a process (a node with jobs on, or `tanis worker`) first scheduled the job.
    scheduled_since: Option<DateTime<Utc>>,
    last_success_at: Option<DateTime<Utc>>,
    last_failure_at: Option<DateTime<Utc>>,
    /// Failures since the last success.
    failures_in_row: i32,
}

/// The background jobs' health, read from the database: whichever process runs the jobs (this node, another,
/// or `tanis worker`) records each run there, so every node can answer. 503 `jobs_stalled` when any job is
/// stalled — point an alert at it, not a load balancer: stalled jobs do not stop this node from serving.
#[utoipa::path(get, path = "/healthz/jobs", tag = "operations",
    responses((status = 200, body = [JobHealth]), (status = 503, description = "unavailable, jobs_stalled", body = ErrorBody)))]
async fn job_health(State(state): State<AppState>) -> Result<Json<Vec<JobHealth>>, ApiError> {
    let health = jobs_health(&state).await?;
    match health.iter().filter(|j| j.stalled).map(|j| j.job).collect::<Vec<_>>() {
        stalled if stalled.is_empty() => Ok(Json(health)),
        stalled => Err(ApiError::new(ErrorCode::JobsStalled, format!("stalled: {}", stalled.join(", ")))),
    }
}

async fn jobs_health(state: &AppState) -> Result<Vec<JobHealth>, ApiError> {
    let rows = match tokio::time::timeout(READINESS_TIMEOUT, state.store.job_runs()).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => return Err(ApiError::new(ErrorCode::Unavailable, "the database is not reachable").log(e)),
        Err(_) => return Err(ApiError::new(ErrorCode::Unavailable, "the database is not reachable")),
    };
    let (now, grace) = (state.accounts.now(), TimeDelta::seconds(state.config.jobs.stall_grace_secs as i64));
    Ok(Job::ALL
        .iter()
        .map(|job| {
            let row = rows.iter().find(|r| r.job == job.name());
            let (last_success_at, scheduled_since) =
                (row.and_then(|r| r.last_success_at), row.and_then(|r| r.scheduled_since));
            JobHealth {
                job: job.name(),
                stalled: job.stalled(last_success_at, scheduled_since, now, grace),
                scheduled_since,
                last_success_at,
                last_failure_at: row.and_then(|r| r.last_failure_at),
                failures_in_row: row.map_or(0, |r| r.failures_in_row),
            }
        })
        .collect())
}

/// Prometheus text format. When `metrics_token` is configured it must be sent as a bearer token.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, body = String), (status = 401, body = ErrorBody)))]
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Result<String, ApiError> {
    if let Some(expected) = &state.config.metrics_token {
        let presented =
            headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), expected.as_bytes())) {
            return Err(ApiError::new(ErrorCode::InvalidToken, "metrics need the configured bearer token"));
        }
    }
    // The jobs may run in another process (`tanis worker` has no HTTP listener): their last success is read
    // from the database, so every node exports the cluster's answer.
    if let Ok(health) = jobs_health(&state).await {
        for job in health {
            let at = job.last_success_at.map_or(0.0, |t| t.timestamp() as f64);
            metrics::gauge!("tanis_job_last_success_timestamp", "job" => job.job).set(at);
        }
    }
    export_reports(&state).await;
    if let Some(turn) = state.hub.turn_stats() {
        export_turn(turn);
    }
    export_runtime(&state);
    Ok(state.metrics.render())
}

/// The report lanes' backlog (docs/admin.md, "Child safety first"), read from the database at scrape time like the
/// jobs' successes, so every node exports the cluster's answer: the open reports of each lane, and how long the
/// oldest has waited (0 when none), which deploy/prometheus/alerts.yml alerts on. A scrape while the database does
/// not answer leaves the last figures.
async fn export_reports(state: &AppState) {
    let Ok(open) = state.store.open_reports_by_reason().await else { return };
    let now = state.accounts.now();
    for lane in Lane::ALL {
        let of_lane = || open.iter().filter(move |r| Lane::of(&r.reason) == lane);
        let count: i64 = of_lane().map(|r| r.count).sum();
        let oldest = of_lane().filter_map(|r| r.oldest_at).min();
        let waited = oldest.map_or(0.0, |at| (now - at).num_milliseconds().max(0) as f64 / 1000.0);
        metrics::gauge!("tanis_reports_open", "lane" => lane.as_str()).set(count as f64);
        metrics::gauge!("tanis_reports_oldest_open_seconds", "lane" => lane.as_str()).set(waited);
    }
}

/// The embedded TURN server's counters, read at scrape time like the job gauges: the relay's data path only
/// bumps atomics, so a scrape costs it nothing. `absolute` keeps a counter from ever going down.
fn export_turn(turn: tanis_signaling::TurnStats) {
    metrics::gauge!("tanis_turn_allocations").set(turn.allocations_active as f64);
    for (name, value) in [
        ("tanis_turn_allocations_total", turn.allocations_total),
        ("tanis_turn_allocations_failed_total", turn.allocations_failed),
        ("tanis_turn_permissions_total", turn.permissions_total),
        ("tanis_turn_channel_binds_total", turn.channel_binds_total),
        ("tanis_turn_packets_relayed_total", turn.packets_relayed),
        ("tanis_turn_bytes_relayed_total", turn.bytes_relayed),
        ("tanis_turn_packets_dropped_total", turn.packets_dropped),
    ] {
        metrics::counter!(name).absolute(value);
    }
}

/// Gauges a soak watches for growth (BENCHMARKS.md, Soak), read at scrape time like the TURN counters: the
/// runtime's live tasks (a task leaked per socket or per match shows here before it shows in memory), the
/// writes waiting for the group commit, and SQLite's heap (its page caches filling are most of a SQLite node's
/// growth in memory, up to a ceiling). The matchmaker's queue is set by the matchmaker itself (it owns it).
fn export_runtime(state: &AppState) {
    let tasks = tokio::runtime::Handle::current().metrics().num_alive_tasks();
    metrics::gauge!("tanis_runtime_alive_tasks").set(tasks as f64);
    metrics::gauge!("tanis_group_commit_queue").set(state.hub.commit_queue() as f64);
    metrics::gauge!("tanis_sqlite_heap_bytes").set(crate::store::sqlite_heap_bytes() as f64);
}

/// Compares without stopping at the first difference, so response time does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
