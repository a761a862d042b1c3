//! `GET /v1/admin/statements`: the operator's export of statements of reasons as JSON Lines, one statement per
//! line, shaped as the EU DSA Transparency Database's statement (docs/admin.md "Statements of reasons"). Admins
//! only: it is the operator's reporting duty, not a moderator's tool. Each export is audited.
//!
//! What a line must not carry: personal data. No user id, handle, phone, address or anyone's words: `puid` is the
//! statement's own id, and the facts are generated from counts and codes (src/domain/statements.rs).

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use super::Admin;
use crate::api::AppState;
use crate::api::error::{ApiError, AppQuery, ErrorBody, ErrorCode};
use crate::config::ModerationConfig;
use crate::domain::{Automation, Decision, Source};
use crate::store::StatementRow;

/// Longest range one export covers: the answer is built in memory.
const MAX_DAYS: i64 = 366;
/// Statements read per query.
const PAGE: i64 = 1000;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Range {
    /// First day (UTC) whose statements are exported, `YYYY-MM-DD`.
    #[param(example = "2026-11-01", pattern = r"^\d{4}-\d{2}-\d{2}$")]
    from: String,
    /// Last day (UTC) included, `YYYY-MM-DD`; at most 366 days after `from`.
    #[param(example = "2026-11-30", pattern = r"^\d{4}-\d{2}-\d{2}$")]
    to: String,
}

/// One line of the export: a statement of reasons with the DSA Transparency Database's fields, plus `decision`
/// (tanis's own name for it). Only lines with `decision_account` set restrict anything; the others (a lifted ban,
/// a decided report or appeal) are for the operator's own transparency report.
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
    /// Always null: the account restriction says it all.
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
    fn new(row: StatementRow, m: &ModerationConfig) -> Self {
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
            decision_provision: None,
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

/// The range's bounds: `[from 00:00, the day after to 00:00)` in UTC.
fn bounds(range: &Range) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let bad = || {
        ApiError::new(
            ErrorCode::InvalidParameter,
            "from and to must be dates (YYYY-MM-DD), from not after to, at most 366 days apart",
        )
    };
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| bad());
    let (from, to) = (day(&range.from)?, day(&range.to)?);
    if from > to || (to - from).num_days() > MAX_DAYS {
        return Err(bad());
    }
    let start = from.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc();
    let end = to.and_hms_opt(0, 0, 0).ok_or_else(bad)?.and_utc() + TimeDelta::days(1);
    Ok((start, end))
}

/// Export the statements of reasons of a date range as JSON Lines (the DSA Transparency Database's fields, no
/// personal data). Admins only; audited.
#[utoipa::path(get, path = "/v1/admin/statements", tag = "admin", security(("bearer" = [])), params(Range),
    responses((status = 200, description = "one statement per line", body = TransparencyLine,
               content_type = "application/x-ndjson"),
              (status = 400, description = "invalid_parameter", body = ErrorBody),
              (status = 403, description = "forbidden: admins only", body = ErrorBody)))]
pub(super) async fn export(
    State(state): State<AppState>,
    Admin(admin): Admin,
    AppQuery(range): AppQuery<Range>,
) -> Result<impl IntoResponse, ApiError> {
    let (from, to) = bounds(&range)?;
    let moderation = &state.config.moderation;
    let mut body = String::new();
    let (mut after, mut lines) = (0, 0_i64);
    loop {
        let page = state.store.statements_between(from, to, after, PAGE).await.map_err(ApiError::internal)?;
        for row in page.rows {
            let line = serde_json::to_string(&TransparencyLine::new(row, moderation)).map_err(ApiError::internal)?;
            body.push_str(&line);
            body.push('\n');
            lines += 1;
        }
        match page.next_after {
            Some(next) => after = next,
            None => break,
        }
    }
    let details = json!({ "from": range.from, "to": range.to, "statements": lines });
    let now = state.accounts.now();
    state.store.log_statements_export(admin, &details, now).await.map_err(ApiError::internal)?;
    Ok(([(CONTENT_TYPE, "application/x-ndjson")], body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(from: &str, to: &str) -> Range {
        Range { from: from.into(), to: to.into() }
    }

    #[test]
    fn a_range_is_whole_utc_days_and_bad_ones_are_refused() {
        let (start, end) = bounds(&range("2026-11-01", "2026-11-01")).unwrap();
        assert_eq!(
            (start.to_rfc3339(), end.to_rfc3339()),
            ("2026-11-01T00:00:00+00:00".into(), "2026-11-02T00:00:00+00:00".into())
        );
        for (from, to) in [
            ("2026-11-02", "2026-11-01"),
            ("2026-13-01", "2026-12-01"),
            ("yesterday", "2026-11-01"),
            ("2025-01-01", "2026-11-01"),
        ] {
            assert!(bounds(&range(from, to)).is_err(), "{from}..{to}");
        }
    }
}
