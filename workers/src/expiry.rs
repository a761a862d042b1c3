//! Expiry: message content older than the retention (24 h) is deleted — on PostgreSQL a day's partition at a time
//! once the day's last possible message is that old, on SQLite in small batches, each its own short transaction,
//! so no long lock — while `message_logs` keep the metadata for its own retention (two years; a month's partition
//! at a time on PostgreSQL); the franking commitments of messages older than the report window (30 days) are
//! cleared likewise, so that no copy of the database proves who wrote what for longer than a report could use it;
//! reports' verified evidence older than its retention (90 days) is deleted; matches past `expired_at` become
//! `expired` and their users are told. Each of these is a step of its own: one failing never keeps the others
//! from running ([`run`]).

use std::future::Future;

use chrono::{DateTime, Utc};
use serde_json::json;
use tanis_proto::{MatchId, UserId};

use crate::{Context, JobAction, JobError, JobStore, LiveEffects};

/// Rows per delete transaction.
pub const BATCH: i64 = 500;

/// How long the job queue's finished runs are kept (for an operator looking into a failure): a day.
pub const FINISHED_RUNS_KEPT: chrono::TimeDelta = chrono::TimeDelta::days(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredMatch {
    pub match_id: MatchId,
    pub user1_id: UserId,
    pub user2_id: UserId,
}

/// Partitions dropped whole by one run, by name (PostgreSQL; none on SQLite).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rotated {
    pub content: Vec<String>,
    pub logs: Vec<String>,
}

/// Runs every step, each on its own: a step that fails (a partition rotation that could not have its lock in
/// time, a database error in a delete) is logged at error level with its name and counted in
/// `tanis_expiry_step_failures_total{step}`, and the steps after it run all the same — content must not outlive
/// its promise because an unrelated step failed. The run then fails, naming the steps, so that the job's own
/// accounting (`tanis_jobs_total{outcome="failed"}`, `/healthz/jobs`) sees it; the next run (a minute on) is the
/// retry, and every step is idempotent.
pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let now = ctx.now();
    let cutoff = now - ctx.settings.message_retention;
    let log_cutoff = now - ctx.settings.message_log_retention;
    let mut failed = Failures::default();
    let rotated = failed.step("rotate_partitions", ctx.store.rotate_partitions(now, cutoff, log_cutoff)).await;
    let rotated = rotated.unwrap_or_default();
    let deleted = failed
        .step("delete_messages", in_batches(|| ctx.store.delete_messages_before(cutoff, BATCH)))
        .await
        .unwrap_or(0);
    let logs_deleted =
        failed.step("delete_logs", in_batches(|| ctx.store.delete_logs_before(log_cutoff, BATCH))).await.unwrap_or(0);
    // Out of the report window a commitment serves nothing: the hub refuses to verify a reveal against it.
    let window_start = now - ctx.settings.report_window;
    let unfranked = failed
        .step("clear_commitments", in_batches(|| ctx.store.clear_commitments_before(window_start, BATCH)))
        .await
        .unwrap_or(0);
    // A report's evidence goes with the report's retention: revealed text, kept only as long as moderation needs it.
    let evidence_cutoff = now - ctx.settings.evidence_retention;
    let evidence_deleted = failed
        .step("delete_evidence", in_batches(|| ctx.store.delete_evidence_before(evidence_cutoff, BATCH)))
        .await
        .unwrap_or(0);
    // A filtered match's refund mark says its user asked with `seeking`: kept only while it can refund.
    let marks_deleted = failed
        .step("delete_refund_marks", in_batches(|| ctx.store.delete_refund_marks_before(now, BATCH)))
        .await
        .unwrap_or(0);
    let expired = failed.step("expire_matches", expire_matches(ctx, now)).await.unwrap_or(0);
    // The job queue's finished runs: apalis keeps every one (a row per run, tens of thousands a day).
    let runs_cutoff = now - FINISHED_RUNS_KEPT;
    let runs_deleted = failed
        .step("delete_finished_runs", in_batches(|| ctx.store.delete_finished_runs_before(runs_cutoff, BATCH)))
        .await
        .unwrap_or(0);
    let dropped = rotated.content.len() + rotated.logs.len();
    let changed = deleted
        + logs_deleted
        + unfranked
        + evidence_deleted
        + marks_deleted
        + runs_deleted
        + (expired + dropped) as u64;
    if changed > 0 || !failed.0.is_empty() {
        let details = json!({
            "messages_deleted": deleted,
            "logs_deleted": logs_deleted,
            "content_partitions_dropped": rotated.content,
            "log_partitions_dropped": rotated.logs,
            "commitments_cleared": unfranked,
            "evidence_deleted": evidence_deleted,
            "refund_marks_deleted": marks_deleted,
            "matches_expired": expired,
            "finished_runs_deleted": runs_deleted,
            "failed_steps": failed.0.iter().map(|(step, _)| *step).collect::<Vec<_>>(),
        });
        failed.step("log", ctx.store.log(JobAction::ExpiryRun, None, details, now)).await;
    }
    failed.into_result()
}

/// Marks the matches past their expiry `expired`, a batch at a time, telling their users; how many.
async fn expire_matches<S: JobStore, L: LiveEffects>(
    ctx: &Context<S, L>,
    now: DateTime<Utc>,
) -> Result<usize, JobError> {
    let mut expired = 0;
    loop {
        let batch = ctx.store.expire_matches(now, BATCH).await?;
        for m in &batch {
            ctx.live.match_expired(m);
        }
        expired += batch.len();
        if batch.len() < BATCH as usize {
            return Ok(expired);
        }
    }
}

/// The steps of one run that failed, by name, with their errors.
#[derive(Default)]
struct Failures(Vec<(&'static str, JobError)>);

impl Failures {
    /// Runs one step: its result, or, when it fails, `None` with the failure logged, counted and kept.
    async fn step<T>(&mut self, step: &'static str, work: impl Future<Output = Result<T, JobError>>) -> Option<T> {
        match work.await {
            Ok(value) => Some(value),
            Err(e) => {
                metrics::counter!("tanis_expiry_step_failures_total", "step" => step).increment(1);
                tracing::error!(step, error = %e, "expiry step failed; the other steps ran, the next run retries it");
                self.0.push((step, e));
                None
            }
        }
    }

    /// Ok when every step succeeded; otherwise one error naming each failed step and why.
    fn into_result(self) -> Result<(), JobError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let steps: Vec<String> = self.0.iter().map(|(step, e)| format!("{step}: {e}")).collect();
        Err(format!("expiry steps failed (the others ran): {}", steps.join("; ")).into())
    }
}

/// Runs `delete` (at most [`BATCH`] rows, each its own transaction) until a batch comes back short; how many in all.
async fn in_batches<F, Fut>(mut delete: F) -> Result<u64, JobError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, JobError>>,
{
    let mut deleted = 0;
    loop {
        let n = delete().await?;
        deleted += n;
        if n < BATCH as u64 {
            return Ok(deleted);
        }
    }
}
