//! The operator's export of statements of reasons (docs/admin.md "Statements of reasons"): each statement as one
//! JSON line shaped as the EU DSA Transparency Database's statement, for `GET /v1/admin/statements` and
//! `tanis statements export`. Both are audited (`statements.exported`).
//!
//! What a line must not carry: personal data. No user id, handle, phone, address or anyone's words: `puid` is the
//! statement's own id, and the facts are generated from counts and codes (src/domain/statements.rs).

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::config::ModerationConfig;
use crate::domain::{Automation, BanReason, Decision, Source, UserId};
use crate::store::{Citations, CitedGround, StatementRow, Store, StoreError};

/// What the store's statements cite, from `[moderation]`: every reason code's ground, resolved once at start (the
/// configuration does not change while the server runs), and the two redress texts.
pub fn citations(m: &ModerationConfig) -> Citations {
    let grounds = BanReason::ALL
        .iter()
        .map(|&code| {
            let g = m.ground(code);
            CitedGround { key: g.key, clause: g.clause, text: g.text, url: g.url, law: g.law }
        })
        .collect();
    Citations { grounds, appeal_instructions: m.appeal_instructions.clone(), final_redress: m.final_redress.clone() }
}

/// Longest range one export covers, in days: the API builds its answer in memory.
pub const MAX_DAYS: i64 = 366;
/// Statements read per query.
const PAGE: i64 = 1000;

/// One line of the export: a statement of reasons with the DSA Transparency Database's fields, plus `decision`
/// (tanis's own name for it). Only lines with `decision_account` or `decision_provision` set restrict anything; the
/// others (a lifted ban, a decided report or appeal, a cleared declaration) are for the operator's own transparency
/// report.
#[derive(Serialize, ToSchema)]
pub struct TransparencyLine {
    /// The statement's own id (never a user's).
    puid: String,
    #[schema(example = "temporary_ban")]
    decision: String,
    /// Always null: tanis restricts accounts, not single items.
    decision_visibility: Option<Vec<String>>,
    /// `DECISION_ACCOUNT_SUSPENDED` (a temporary ban) or `DECISION_ACCOUNT_TERMINATED` (until lifted); null
    /// when nothing was restricted.
    decision_account: Option<String>,
    /// `DECISION_PROVISION_PARTIAL_SUSPENSION` when the declared gender stopped being used for matching by gender
    /// (the rest of the service is untouched); otherwise null: a ban's account restriction says it all.
    decision_provision: Option<String>,
    account_type: String,
    /// `DECISION_GROUND_INCOMPATIBLE_CONTENT`, or `DECISION_GROUND_ILLEGAL_CONTENT` when the clause names a law.
    decision_ground: String,
    decision_ground_reference_url: String,
    illegal_content_legal_ground: Option<String>,
    illegal_content_explanation: Option<String>,
    incompatible_content_ground: Option<String>,
    incompatible_content_explanation: Option<String>,
    incompatible_content_illegal: Option<String>,
    content_type: Vec<String>,
    content_type_other: String,
    category: String,
    /// `YYYY-MM-DD`.
    content_date: String,
    application_date: String,
    end_date_account_restriction: Option<String>,
    decision_facts: String,
    /// `SOURCE_ARTICLE_16` (people's reports) or `SOURCE_VOLUNTARY`.
    source_type: String,
    /// `Yes` or `No`.
    automated_detection: String,
    /// `AUTOMATED_DECISION_FULLY`, `_PARTIALLY` or `AUTOMATED_DECISION_NOT_AUTOMATED`.
    automated_decision: String,
    territorial_scope: Vec<String>,
    /// Unknown: the conversations are end-to-end encrypted.
    content_language: Option<String>,
    platform_name: String,
}

impl TransparencyLine {
    pub fn new(row: StatementRow, m: &ModerationConfig) -> Self {
        let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
        let decision_account = match row.decision {
            Decision::TemporaryBan => Some("DECISION_ACCOUNT_SUSPENDED".to_owned()),
            Decision::Ban => Some("DECISION_ACCOUNT_TERMINATED".to_owned()),
            _ => None,
        };
        let ground = format!("Clause {} of the terms: {}", row.ground_clause, row.ground_text);
        let (decision_ground, illegal_ground, illegal_explanation, incompatible) = match row.ground_law {
            Some(law) => ("DECISION_GROUND_ILLEGAL_CONTENT", Some(law), Some(row.facts.clone()), None),
            None => ("DECISION_GROUND_INCOMPATIBLE_CONTENT", None, None, Some(ground)),
        };
        let incompatible_explanation = incompatible.as_ref().map(|_| row.facts.clone());
        let incompatible_illegal = incompatible.as_ref().map(|_| "No".to_owned());
        TransparencyLine {
            puid: format!("tanis-statement-{}", row.id),
            decision: row.decision.as_str().to_owned(),
            decision_visibility: None,
            decision_account,
            decision_provision: matches!(row.decision, Decision::DeclarationSuspended | Decision::VideoHeld)
                .then(|| "DECISION_PROVISION_PARTIAL_SUSPENSION".to_owned()),
            account_type: "ACCOUNT_TYPE_PRIVATE".into(),
            decision_ground: decision_ground.into(),
            decision_ground_reference_url: row.ground_url,
            illegal_content_legal_ground: illegal_ground,
            illegal_content_explanation: illegal_explanation,
            incompatible_content_ground: incompatible,
            incompatible_content_explanation: incompatible_explanation,
            incompatible_content_illegal: incompatible_illegal,
            content_type: vec!["CONTENT_TYPE_OTHER".into()],
            content_type_other: "Account in an anonymous one-to-one text and video chat".into(),
            category: row.category.as_str().to_owned(),
            content_date: day(row.content_date),
            application_date: day(row.starts_at),
            end_date_account_restriction: row.ends_at.filter(|_| row.decision.restricts()).map(day),
            decision_facts: row.facts,
            source_type: match row.source {
                Source::Notice => "SOURCE_ARTICLE_16",
                Source::Voluntary => "SOURCE_VOLUNTARY",
            }
            .into(),
            automated_detection: if row.automated_detection { "Yes" } else { "No" }.into(),
            automated_decision: match row.automated_decision {
                Automation::Fully => "AUTOMATED_DECISION_FULLY",
                Automation::Partially => "AUTOMATED_DECISION_PARTIALLY",
                Automation::Not => "AUTOMATED_DECISION_NOT_AUTOMATED",
            }
            .into(),
            territorial_scope: m.territorial_scope.clone(),
            content_language: None,
            platform_name: m.platform_name.clone(),
        }
    }
}

/// The instants of a range of whole UTC days, `from` and `to` included: `[from 00:00, the day after to 00:00)`.
/// `None` when `from` is after `to` or they are more than [`MAX_DAYS`] apart.
pub fn day_range(from: NaiveDate, to: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    if from > to || (to - from).num_days() > MAX_DAYS {
        return None;
    }
    let start = from.and_hms_opt(0, 0, 0)?.and_utc();
    let end = to.and_hms_opt(0, 0, 0)?.and_utc() + TimeDelta::days(1);
    Some((start, end))
}

/// Writes the statements of `[from, to)` to `out`, one JSON line each, oldest first, and audits the export
/// (`by`: the admin, or `None` from the command line). Returns how many lines were written.
pub async fn export(
    store: &Store,
    moderation: &ModerationConfig,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    by: Option<UserId>,
    now: DateTime<Utc>,
    out: &mut (impl std::io::Write + Send),
) -> Result<i64, ExportError> {
    let (mut after, mut lines) = (0, 0_i64);
    loop {
        let page = store.statements_between(from, to, after, PAGE).await?;
        for row in page.rows {
            serde_json::to_writer(&mut *out, &TransparencyLine::new(row, moderation))?;
            out.write_all(b"\n")?;
            lines += 1;
        }
        match page.next_after {
            Some(next) => after = next,
            None => break,
        }
    }
    let details =
        json!({ "from": from, "to": to, "statements": lines, "by": if by.is_some() { "api" } else { "cli" } });
    store.log_statements_export(by, &details, now).await?;
    Ok(lines)
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export: {0}")]
    Write(#[from] std::io::Error),
    #[error("writing the export: {0}")]
    Json(#[from] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn a_range_is_whole_utc_days_and_bad_ones_are_none() {
        let (start, end) = day_range(day("2026-11-01"), day("2026-11-01")).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-11-02T00:00:00+00:00");
        assert!(day_range(day("2025-11-01"), day("2026-11-02")).is_some(), "366 days apart");
        for (from, to) in [("2026-11-02", "2026-11-01"), ("2025-01-01", "2026-11-01")] {
            assert!(day_range(day(from), day(to)).is_none(), "{from}..{to}");
        }
    }
}
