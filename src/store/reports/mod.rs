//! Reports at rest, one room: filing one (here: the report, its verified evidence and its call part in one
//! transaction), the evidence ([`evidence`]), a call report's part ([`calls`]), and the queue moderators work
//! through ([`queue`]). What a report must be before it gets here is [`crate::reports`]'s.

pub(super) mod calls;
pub(super) mod evidence;
pub(super) mod holds;
pub(super) mod queue;

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use crate::domain::evidence::Verified;
use crate::domain::{AuditAction, MatchId, ReportResolution, UserId};
use crate::store::system_logs::insert_system_log;
use crate::store::{BeginWrite, Store, StoreError, on_write_pool};
use calls::NewCall;

#[derive(Debug, Clone)]
pub struct NewReport<'a> {
    pub reporter_id: UserId,
    pub reported_id: UserId,
    pub match_id: MatchId,
    pub reason: &'a str,
    pub details: Option<&'a str>,
    /// Revealed messages that passed verification (`crate::domain::evidence`), stored with the report.
    pub evidence: &'a [Verified],
    /// The keyed hash of the reporter's address range (src/domain/trust.rs), when their address is known.
    pub network: Option<&'a [u8]>,
    /// A report from a video call: its verdict and snapshot, and the limits on call reports.
    pub call: Option<NewCall<'a>>,
    pub now: DateTime<Utc>,
}

/// The reporter's earlier report about the same user, as a repeat finds it.
#[derive(sqlx::FromRow)]
struct FirstReport {
    id: i64,
    resolution: Option<ReportResolution>,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<UserId>,
}

/// What filing a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filed {
    /// A new report, with its evidence.
    New,
    /// The reporter had reported this user already: the report counts once; its evidence, if any, was added.
    Repeat,
    /// As [`Filed::Repeat`], to a report a moderator had decided: the new evidence reopened it (back in the
    /// queue, audited as `report.reopened`). Its decision stands for the automatic ban and quarantine until a
    /// moderator decides again.
    Reopened,
    /// A revealed message is already evidence of this reporter's report: nothing was stored.
    Replayed,
    /// A call report beyond the reporter's limits ([`NewCall::limits`]): nothing was stored.
    Limited,
}

impl Store {
    /// Stores a report with its verified evidence, in one transaction; a reporter counts once per reported user,
    /// so a repeat adds only its evidence. Evidence added to a decided report reopens it: a moderator reads it, as
    /// the reporter was told, and so does a call report's call part ([`NewCall`]). A message already evidence of the
    /// report, or a call report beyond the reporter's limits, stores nothing at all.
    pub async fn insert_report(&self, r: &NewReport<'_>) -> Result<Filed, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            if let Some(call) = &r.call {
                // The reporter's row, touched, orders their concurrent call reports (PostgreSQL's row lock; SQLite
                // has one writer): the counts below cannot be read by two at once.
                sqlx::query("UPDATE users SET last_active = last_active WHERE id = $1")
                    .bind(r.reporter_id)
                    .execute(&mut *tx)
                    .await?;
                let (recent, today): (i64, i64) = sqlx::query_as(
                    "SELECT COALESCE(SUM(CASE WHEN created_at > $2 THEN 1 ELSE 0 END), 0), COUNT(*)                      FROM report_calls WHERE reporter_id = $1 AND created_at > $3",
                )
                .bind(r.reporter_id)
                .bind(r.now - TimeDelta::minutes(10))
                .bind(r.now - TimeDelta::days(1))
                .fetch_one(&mut *tx)
                .await?;
                if recent >= call.limits.per_ten_minutes || today >= call.limits.per_day {
                    return Ok(Filed::Limited);
                }
            }
            let new: Option<i64> = sqlx::query_scalar(
                "INSERT INTO reports (reporter_id, reported_id, match_id, reason, details, created_at, reporter_network) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (reporter_id, reported_id) DO NOTHING RETURNING id",
            )
            .bind(r.reporter_id)
            .bind(r.reported_id)
            .bind(r.match_id)
            .bind(r.reason)
            .bind(r.details)
            .bind(r.now)
            .bind(r.network)
            .fetch_optional(&mut *tx)
            .await?;
            let (report_id, decided) = match new {
                Some(id) => (id, None),
                None if r.evidence.is_empty() && r.call.is_none() => return Ok(Filed::Repeat),
                None => {
                    let first: FirstReport = sqlx::query_as(
                        "SELECT id, resolution, resolved_at, resolved_by FROM reports \
                         WHERE reporter_id = $1 AND reported_id = $2",
                    )
                    .bind(r.reporter_id)
                    .bind(r.reported_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    (first.id, first.resolved_at.is_some().then_some(first))
                }
            };
            for e in r.evidence {
                let stored = sqlx::query(
                    "INSERT INTO report_evidence (report_id, match_id, seq, sent_at, plaintext, verdict, verified_at) \
                     VALUES ($1, $2, $3, $4, $5, 'verified', $6) ON CONFLICT (report_id, match_id, seq) DO NOTHING",
                )
                .bind(report_id)
                .bind(r.match_id)
                .bind(e.seq)
                .bind(e.sent_at)
                // Its bytes: PostgreSQL's text cannot hold the U+0000 a message may (migration 0030).
                .bind(e.text.as_bytes())
                .bind(r.now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if stored == 0 {
                    // Dropping the transaction rolls the report back too.
                    return Ok(Filed::Replayed);
                }
            }
            if let Some(call) = &r.call {
                let (label, score) = call.verdict.unzip();
                let snapshot = call.snapshot.as_ref();
                sqlx::query(
                    "INSERT INTO report_calls (report_id, reporter_id, verdict_label, verdict_score, snapshot_type, \
                     snapshot_sealed, snapshot_bytes, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(report_id)
                .bind(r.reporter_id)
                .bind(label)
                .bind(score)
                .bind(snapshot.map(|s| s.content_type))
                .bind(snapshot.map(|s| s.sealed))
                .bind(snapshot.map(|s| s.bytes))
                .bind(r.now)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(decided) = &decided {
                // Open again, keeping `resolution`: the decision stands (a dismissed report still does not count)
                // until a moderator decides again. Who decided, when and why stay in the audit trail.
                sqlx::query(
                    "UPDATE reports SET resolved_at = NULL, resolved_by = NULL, resolution_note = NULL WHERE id = $1",
                )
                .bind(report_id)
                .execute(&mut *tx)
                .await?;
                let details = json!({
                    "report_id": report_id,
                    "previous_resolution": decided.resolution,
                    "resolved_at": decided.resolved_at,
                    "resolved_by": decided.resolved_by,
                    "evidence": r.evidence.len(),
                    "call": r.call.is_some(),
                });
                insert_system_log!(&mut *tx, AuditAction::ReportReopened, Some(r.reported_id), &details, r.now).await?;
            }
            tx.commit().await?;
            Ok(match (new, decided) {
                (Some(_), _) => Filed::New,
                (None, Some(_)) => Filed::Reopened,
                (None, None) => Filed::Repeat,
            })
        })
    }
}
