//! The report queue: reported users with open reports, those with verified evidence first, then the most distinct
//! reporters, each with the reasons, times and matches of the reports and the messages the reporter revealed and
//! the server verified (no other message content: it is end-to-end encrypted); and resolving a report.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Staff;
use crate::api::AppState;
use crate::api::error::{ApiError, AppJson, AppPath, AppQuery, ErrorBody, ErrorCode};
use crate::domain::{Lane, MatchId, ModeratorNote, ReportResolution, Seq, UserId, handle};
use crate::notices::Notice;
use crate::store::{CallRow, EvidenceRow, QueuedReport, Resolved, SnapshotSignal};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct QueuePage {
    /// Reported users per page, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Users to skip: the previous page's `next_offset`.
    #[param(minimum = 0, maximum = 100000)]
    offset: Option<i64>,
    /// Of each user's open reports, how many the page holds, 1 to 50 (default 50): those with verified evidence
    /// first, then the oldest. `open_reports` counts them all.
    #[param(minimum = 1, maximum = 50)]
    reports_per_user: Option<i64>,
}

/// One open report.
#[derive(Serialize, ToSchema)]
pub struct OpenReport {
    id: i64,
    #[schema(value_type = i64)]
    reporter_id: UserId,
    #[schema(example = "kopek#1234")]
    reporter: String,
    /// The match the report came from.
    #[schema(value_type = Option<i64>)]
    match_id: Option<MatchId>,
    #[schema(example = "harassment")]
    reason: String,
    /// The reporter's own words, if any.
    details: Option<String>,
    created_at: DateTime<Utc>,
    /// Messages the reported user sent the reporter, revealed by the reporter and verified against the
    /// commitment bound when each was sent (docs/protocol.md, section 9, "Franking"); empty for a bare claim.
    evidence: Vec<Evidence>,
    /// Set when the report had been decided and new evidence reopened it: the decision it had (`dismissed` or
    /// `actioned`), which still stands for the automatic ban and quarantine until you decide again.
    #[schema(example = "dismissed")]
    previous_resolution: Option<String>,
    /// A report from a video call (`POST /v1/reports/call`): what the reporter's device had. Null for a chat report.
    call: Option<CallPart>,
    /// The reporter's snapshot call reports of the last 30 days, and how many of those were dismissed: many filed
    /// and mostly dismissed is a signal about the reporter.
    reporter_snapshot_reports: SnapshotReports,
}

/// Snapshot call reports someone filed (the reports they attached a snapshot to) and how many were dismissed.
#[derive(Serialize, ToSchema, Clone, Copy)]
pub struct SnapshotReports {
    filed: i64,
    dismissed: i64,
}

impl From<SnapshotSignal> for SnapshotReports {
    fn from(s: SnapshotSignal) -> Self {
        SnapshotReports { filed: s.filed, dismissed: s.dismissed }
    }
}

/// How far back a reporter's snapshot reports are counted.
pub(super) const SIGNAL_WINDOW: TimeDelta = TimeDelta::days(30);

/// What a call report carries. Never verifiable: the server does not see calls, so the verdict is what the
/// reporter's app said and the snapshot any image it sent. It adds no weight toward the automatic ban.
#[derive(Serialize, ToSchema)]
pub struct CallPart {
    /// The reporter's classifier when they reported, if their app runs one.
    verdict: Option<CallVerdict>,
    /// Present while a snapshot is held (evidence retention): `GET /v1/admin/reports/{id}/snapshot`, audited.
    snapshot: Option<SnapshotInfo>,
    /// Always false: not franked video.
    verifiable: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CallVerdict {
    label: String,
    score: f64,
}

#[derive(Serialize, ToSchema)]
pub struct SnapshotInfo {
    #[schema(example = "image/jpeg")]
    content_type: String,
    bytes: i32,
}

impl From<CallRow> for CallPart {
    fn from(c: CallRow) -> Self {
        let verdict = c.verdict_label.zip(c.verdict_score).map(|(label, score)| CallVerdict { label, score });
        let snapshot =
            c.snapshot_type.zip(c.snapshot_bytes).map(|(content_type, bytes)| SnapshotInfo { content_type, bytes });
        CallPart { verdict, snapshot, verifiable: false }
    }
}

/// A revealed message, verified: the reported user sent exactly this text to the reporter in that match.
#[derive(Serialize, ToSchema, Clone)]
pub struct Evidence {
    #[schema(value_type = i64)]
    match_id: MatchId,
    #[schema(value_type = i64)]
    seq: Seq,
    /// When the server stored it, as bound at send time.
    sent_at: DateTime<Utc>,
    /// Exactly the text the sender committed to: a leading U+FEFF, a U+0000 (`\u0000`) or any control character
    /// included.
    text: String,
    /// Always `verified`: a reveal that does not verify is refused, never stored.
    #[schema(example = "verified")]
    verdict: &'static str,
    verified_at: DateTime<Utc>,
}

/// A reported user and their open reports.
#[derive(Serialize, ToSchema)]
pub struct ReportedUser {
    #[schema(value_type = i64)]
    user_id: UserId,
    #[schema(example = "kediadam#9021")]
    handle: String,
    banned: bool,
    /// Distinct people with an open report about them.
    reporters: i64,
    /// How many open reports there are about them; `reports` holds the first `reports_per_user` of them (evidence
    /// first, then the oldest): deciding those brings up the next.
    open_reports: i64,
    /// Of their open reports, those with verified evidence. Users with more come first: evidence shows who wrote
    /// what, for you to judge; it does not count toward the automatic ban.
    with_evidence: i64,
    /// Set when the automatic ban put them up for review instead of banning them, until a moderator resolves
    /// one of their reports or clears them: `burst_created` (the reporters' accounts were created close
    /// together) or `burst_network` (they reported from one address range). docs/admin.md "Trust".
    #[schema(example = "burst_created")]
    review: Option<String>,
    reports: Vec<OpenReport>,
}

#[derive(Serialize, ToSchema)]
pub struct ReportQueue {
    /// The child-safety lane (docs/admin.md, "Child safety first"), on the first page only (`offset` 0; empty on
    /// the next): the users with open reports that a child may be at risk (`underage`, `child_sexual_abuse`), the longest waiting first,
    /// at most 20, each with those reports alone. They are in `users` too, in their place there.
    child_safety: Vec<ReportedUser>,
    users: Vec<ReportedUser>,
    /// Pass as `offset` for the next page; absent on the last page.
    next_offset: Option<i64>,
}

/// How many of a user's open reports a page of the queue holds at most, and by default (`reports_per_user`;
/// `ReportedUser::open_reports` counts them all): an account everyone reports has thousands open.
const REPORTS_PER_USER: i64 = 50;

/// The report queue: on its first page the child-safety lane (reports that a child may be at risk, the longest
/// waiting first); then users with open reports, those with the most reports carrying verified evidence first, then
/// the most distinct reporters.
#[utoipa::path(get, path = "/v1/admin/reports", tag = "admin", security(("bearer" = [])), params(QueuePage),
    responses((status = 200, body = ReportQueue), (status = 400, description = "invalid_parameter", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody)))]
pub(super) async fn queue(
    State(state): State<AppState>,
    _: Staff,
    AppQuery(page): AppQuery<QueuePage>,
) -> Result<AppJson<ReportQueue>, ApiError> {
    let limit = page.limit.unwrap_or(20);
    let offset = page.offset.unwrap_or(0);
    let per_user = page.reports_per_user.unwrap_or(REPORTS_PER_USER);
    if !(1..=100).contains(&limit) || !(0..=100_000).contains(&offset) || !(1..=REPORTS_PER_USER).contains(&per_user) {
        return Err(ApiError::new(
            ErrorCode::InvalidParameter,
            "limit must be 1 to 100, offset 0 to 100000 and reports_per_user 1 to 50",
        ));
    }
    let rows = state.store.report_queue(limit, offset, per_user).await.map_err(ApiError::internal)?;
    let mut lane = Vec::new();
    if offset == 0 {
        for reason in Lane::CHILD_SAFETY_REASONS {
            let rows = state.store.child_safety_queue(reason, LANE_USERS, per_user).await;
            lane.extend(rows.map_err(ApiError::internal)?);
        }
    }
    // What the page shows beside its reports, read at once (a page can hold thousands of reports: one statement
    // each, on connections of their own).
    let ids: Vec<i64> = rows.iter().chain(&lane).map(|r| r.id).collect::<BTreeSet<_>>().into_iter().collect();
    let reporters: BTreeSet<UserId> = rows.iter().chain(&lane).map(|r| r.reporter_id).collect();
    let reporters: Vec<UserId> = reporters.into_iter().collect();
    let reported: BTreeSet<UserId> = rows.iter().chain(&lane).map(|r| r.reported_id).collect();
    let reported: Vec<UserId> = reported.into_iter().collect();
    let since = state.accounts.now() - SIGNAL_WINDOW;
    let (evidence, calls, signals, reviews) = tokio::try_join!(
        state.store.evidence_of(&ids),
        state.store.calls_of(&ids),
        state.store.snapshot_signals(&reporters, since),
        state.store.open_reviews(&reported),
    )
    .map_err(ApiError::internal)?;
    let signals: BTreeMap<UserId, SnapshotSignal> = signals.into_iter().collect();
    let read = PageReads::new(evidence, calls, signals);
    let (mut child_safety, mut users) = (group(lane, &read), group(rows, &read));
    for (user_id, why) in reviews {
        for user in child_safety.iter_mut().chain(users.iter_mut()).filter(|u| u.user_id == user_id) {
            user.review = Some(why.clone());
        }
    }
    let next_offset = (users.len() as i64 == limit).then_some(offset + limit);
    Ok(AppJson(ReportQueue { child_safety, users, next_offset }))
}

/// How many users the child-safety lane shows at most.
const LANE_USERS: i64 = 20;

/// What the page shows beside its reports, by report (a report of the child-safety lane is in both lists).
struct PageReads {
    /// Each report's evidence in the order read (by match and seq).
    evidence_of: HashMap<i64, Vec<Evidence>>,
    call_of: HashMap<i64, CallRow>,
    signals: BTreeMap<UserId, SnapshotSignal>,
}

impl PageReads {
    fn new(evidence: Vec<EvidenceRow>, calls: Vec<CallRow>, signals: BTreeMap<UserId, SnapshotSignal>) -> Self {
        let mut evidence_of: HashMap<i64, Vec<Evidence>> = HashMap::new();
        for e in evidence {
            evidence_of.entry(e.report_id).or_default().push(Evidence {
                match_id: e.match_id,
                seq: e.seq,
                sent_at: e.sent_at,
                // Verified UTF-8 when stored; JSON carries any of it, a U+0000 as `\u0000`.
                text: String::from_utf8_lossy(&e.plaintext).into_owned(),
                verdict: "verified",
                verified_at: e.verified_at,
            });
        }
        let call_of = calls.into_iter().map(|c| (c.report_id, c)).collect();
        PageReads { evidence_of, call_of, signals }
    }
}

/// Rows come ordered by user, then report: one entry per user, each report with its evidence.
fn group(rows: Vec<QueuedReport>, read: &PageReads) -> Vec<ReportedUser> {
    let mut users: Vec<ReportedUser> = Vec::new();
    for row in rows {
        if users.last().is_none_or(|u| u.user_id != row.reported_id) {
            users.push(ReportedUser {
                user_id: row.reported_id,
                handle: handle(&row.reported_alias, &row.reported_tag),
                banned: row.reported_banned,
                reporters: row.reporters,
                open_reports: row.open_reports,
                with_evidence: row.with_evidence,
                review: None,
                reports: Vec::new(),
            });
        }
        users.last_mut().expect("pushed above").reports.push(OpenReport {
            id: row.id,
            reporter_id: row.reporter_id,
            reporter: handle(&row.reporter_alias, &row.reporter_tag),
            match_id: row.match_id,
            reason: row.reason,
            details: row.details,
            created_at: row.created_at,
            evidence: read.evidence_of.get(&row.id).cloned().unwrap_or_default(),
            previous_resolution: row.previous_resolution.map(|r| r.as_str().to_owned()),
            call: read.call_of.get(&row.id).cloned().map(Into::into),
            reporter_snapshot_reports: read.signals.get(&row.reporter_id).copied().unwrap_or_default().into(),
        });
    }
    users
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Resolution {
    /// `dismissed` (the report no longer counts toward the automatic ban) or `actioned`.
    #[schema(example = "dismissed", pattern = "^(dismissed|actioned)$")]
    resolution: String,
    /// Why, for the audit trail: 1 to 1000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    note: String,
}

/// Resolve a report with a note.
#[utoipa::path(post, path = "/v1/admin/reports/{id}/resolve", tag = "admin", security(("bearer" = [])),
    request_body = Resolution, params(("id" = i64, Path, description = "the report's id")),
    responses((status = 204), (status = 422, description = "invalid_request", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody), (status = 404, description = "not_found", body = ErrorBody),
        (status = 409, description = "already_decided", body = ErrorBody)))]
pub(super) async fn resolve(
    State(state): State<AppState>,
    staff: Staff,
    AppPath(id): AppPath<i64>,
    AppJson(req): AppJson<Resolution>,
) -> Result<StatusCode, ApiError> {
    let moderator = staff.id;
    let Some(resolution) = ReportResolution::parse(&req.resolution) else {
        return Err(ApiError::new(ErrorCode::InvalidRequest, "resolution must be dismissed or actioned"));
    };
    let note = ModeratorNote::parse(&req.note)?;
    let now = state.accounts.now();
    let lift_notice = Notice::VideoHoldLifted {}.to_row();
    let resolved = state.store.resolve_report(id, resolution, note.as_str(), moderator, &lift_notice, now);
    match resolved.await.map_err(ApiError::internal)? {
        Resolved::Done { reported, reason, filed_at } => {
            // How long the lane's reports wait for a moderator (deploy/prometheus/, the report lanes' dashboard).
            let waited = (now - filed_at).num_milliseconds().max(0) as f64 / 1000.0;
            metrics::histogram!("tanis_report_decision_seconds", "lane" => Lane::of(&reason).as_str()).record(waited);
            // One open report fewer may end their quarantine or the hold on their video; it also ends an open
            // review (docs/admin.md "Trust").
            state.hub.standing_changed(reported);
            Ok(StatusCode::NO_CONTENT)
        }
        Resolved::NotFound => Err(ApiError::new(ErrorCode::NotFound, "no such report")),
        Resolved::AlreadyDecided => Err(ApiError::new(ErrorCode::AlreadyDecided, "the report is resolved already")),
    }
}
