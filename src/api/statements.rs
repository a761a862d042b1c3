//! A statement of reasons as the user it concerns sees it: in `POST /v1/ban/status` (the current ban's) and in
//! the data export (every one). docs/admin.md "Statements of reasons" explains the fields.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::StatementRow;

/// The clause of the operator's terms a decision relied on.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroundView {
    /// The ban reason code it belongs to (docs/admin.md).
    #[schema(example = "harassment")]
    key: String,
    #[schema(example = "4.2")]
    clause: String,
    text: String,
    /// Where the clause is published.
    url: String,
    /// Set when the conduct is also illegal: the law relied on.
    law: Option<String>,
}

/// A moderation decision's statement of reasons.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementView {
    /// `ban`, `temporary_ban`, `ban_lifted`, `report_dismissed`, `report_actioned`, `appeal_accepted` or
    /// `appeal_rejected`.
    #[schema(example = "temporary_ban")]
    decision: String,
    /// What the decision relied on, generated from counts and codes (never anyone's words or identity).
    facts: String,
    ground: GroundView,
    /// The DSA Transparency Database category (`STATEMENT_CATEGORY_…`).
    category: String,
    /// `notice` (people's reports, or the user's appeal) or `voluntary` (the service's own initiative).
    source: String,
    /// Whether automated means detected what the decision is about.
    automated_detection: bool,
    /// `fully` (a job decided), `partially` or `not` (a moderator decided).
    automated_decision: String,
    /// When the decision took effect, and when a temporary ban ends.
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
    /// How to contest it; absent when nothing is restricted.
    redress: Option<String>,
}

impl From<StatementRow> for StatementView {
    fn from(row: StatementRow) -> Self {
        StatementView {
            decision: row.decision.as_str().to_owned(),
            facts: row.facts,
            ground: GroundView {
                key: row.ground_key.as_str().to_owned(),
                clause: row.ground_clause,
                text: row.ground_text,
                url: row.ground_url,
                law: row.ground_law,
            },
            category: row.category.as_str().to_owned(),
            source: row.source.as_str().to_owned(),
            automated_detection: row.automated_detection,
            automated_decision: row.automated_decision.as_str().to_owned(),
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            redress: row.redress,
        }
    }
}
