//! `GET /v1/admin/transparency`: the counts of a period for the operator's transparency report (docs/admin.md
//! "Transparency report"), in the order of the DSA's transparency reporting templates (Implementing Regulation (EU)
//! 2024/2835): notices received by reason and lane, what was decided (by moderators, by the automatic ban), how long
//! decisions took (median and 90th percentile), and complaints (appeals) with the decisions they reversed. As JSON or
//! CSV. Counts and durations only, nothing that names anyone; admins only, as the statements' export.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Admin;
use crate::api::AppState;
use crate::api::error::{ApiError, AppJson, AppQuery, ErrorBody, ErrorCode};
use crate::domain::Lane;
use crate::store::{PeriodCounts, WAITS_SAMPLE};

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Period {
    /// First day (UTC) counted, `YYYY-MM-DD`.
    #[param(example = "2026-07-01", pattern = r"^\d{4}-\d{2}-\d{2}$")]
    from: String,
    /// Last day (UTC) counted, `YYYY-MM-DD`; at most 366 days after `from`.
    #[param(example = "2026-12-31", pattern = r"^\d{4}-\d{2}-\d{2}$")]
    to: String,
    /// `json` (default) or `csv` (`section,key,value` rows).
    #[param(example = "csv")]
    format: Option<String>,
}

/// The period's counts.
#[derive(Serialize, ToSchema)]
pub struct TransparencyReport {
    /// The period: `from` is its first instant, `to` the instant after its last day (exclusive).
    period: Bounds,
    notices: Notices,
    decisions: Decisions,
    time_to_decision: TimeToDecision,
    appeals: Appeals,
}

#[derive(Serialize, ToSchema)]
pub struct Bounds {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// Reports filed in the period (the DSA's notices, Art. 16).
#[derive(Serialize, ToSchema)]
pub struct Notices {
    total: i64,
    /// By the reason the reporter chose (`spam`, `harassment`, `nudity`, `hate`, `scam`, `underage`, `child_sexual_abuse`, `other`,
    /// `not_as_declared`).
    by_reason: BTreeMap<String, i64>,
    /// By lane: `child_safety`, `standard`.
    by_lane: BTreeMap<&'static str, i64>,
}

/// What was decided in the period.
#[derive(Serialize, ToSchema)]
pub struct Decisions {
    /// Reports resolved by a moderator: `actioned`, `dismissed`.
    by_moderators: BTreeMap<String, i64>,
    /// Bans by a moderator.
    moderator_bans: i64,
    /// Bans by the automatic ban (ten distinct reporters who count: docs/admin.md "Trust"): automated decisions.
    automated_bans: i64,
    /// Users the automatic ban sent to human review instead of banning them (a burst of reporters).
    automated_reviews: i64,
}

/// Seconds from a report's filing to a moderator's decision, over the reports decided in the period (the newest
/// 200 000 when there were more: `sampled`).
#[derive(Serialize, ToSchema)]
pub struct TimeToDecision {
    decided: usize,
    sampled: bool,
    median_secs: Option<f64>,
    p90_secs: Option<f64>,
    /// The same by lane.
    by_lane: BTreeMap<&'static str, Percentiles>,
}

#[derive(Serialize, ToSchema)]
pub struct Percentiles {
    decided: usize,
    median_secs: Option<f64>,
    p90_secs: Option<f64>,
}

/// Complaints against bans (Art. 20): filed in the period, decided in it, and of those the decisions reversed.
#[derive(Serialize, ToSchema)]
pub struct Appeals {
    filed: i64,
    decided: i64,
    reversed: i64,
}

/// The period's transparency counts (notices, decisions, time to decision, appeals), as JSON or CSV. Admins only.
#[utoipa::path(get, path = "/v1/admin/transparency", tag = "admin", security(("bearer" = [])), params(Period),
    responses((status = 200, description = "the counts; `format=csv`: the same as `section,key,value` rows",
               content((TransparencyReport = "application/json"), (String = "text/csv"))),
              (status = 400, description = "invalid_parameter", body = ErrorBody),
              (status = 403, description = "forbidden: admins only", body = ErrorBody)))]
pub(super) async fn report(
    State(state): State<AppState>,
    _: Admin,
    AppQuery(period): AppQuery<Period>,
) -> Result<Response, ApiError> {
    let (from, to) = super::statements::bounds(&period.from, &period.to)?;
    let csv = match period.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::new(ErrorCode::InvalidParameter, "format must be json or csv")),
    };
    let counts = state.store.period_counts(from, to).await.map_err(ApiError::internal)?;
    let report = TransparencyReport::of(from, to, counts);
    if !csv {
        return Ok(AppJson(report).into_response());
    }
    let name = format!("attachment; filename=\"tanis-transparency-{}-{}.csv\"", period.from, period.to);
    Ok(([(CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (CONTENT_DISPOSITION, name)], report.csv())
        .into_response())
}

impl TransparencyReport {
    fn of(from: DateTime<Utc>, to: DateTime<Utc>, c: PeriodCounts) -> Self {
        let mut by_lane: BTreeMap<&'static str, i64> = Lane::ALL.iter().map(|l| (l.as_str(), 0)).collect();
        for (reason, n) in &c.notices {
            *by_lane.entry(Lane::of(reason).as_str()).or_default() += n;
        }
        let all: Vec<f64> = c.waits.iter().map(|(_, secs)| *secs).collect();
        let lanes = Lane::ALL.iter().map(|lane| {
            let of_lane: Vec<f64> = c.waits.iter().filter(|(r, _)| Lane::of(r) == *lane).map(|(_, s)| *s).collect();
            (lane.as_str(), Percentiles::of(of_lane))
        });
        let overall = Percentiles::of(all);
        TransparencyReport {
            period: Bounds { from, to },
            notices: Notices {
                total: c.notices.iter().map(|(_, n)| n).sum(),
                by_reason: c.notices.into_iter().collect(),
                by_lane,
            },
            decisions: Decisions {
                by_moderators: c.resolutions.into_iter().collect(),
                moderator_bans: c.moderator_bans,
                automated_bans: c.automated_bans,
                automated_reviews: c.reviews,
            },
            time_to_decision: TimeToDecision {
                decided: overall.decided,
                sampled: overall.decided as i64 >= WAITS_SAMPLE,
                median_secs: overall.median_secs,
                p90_secs: overall.p90_secs,
                by_lane: lanes.collect(),
            },
            appeals: Appeals { filed: c.appeals, decided: c.appeals_decided, reversed: c.reversed },
        }
    }

    /// `section,key,value` rows, a header first; durations in seconds, an empty value where there is none.
    fn csv(&self) -> String {
        let mut rows = vec!["section,key,value".to_owned()];
        let mut row = |section: &str, key: &str, value: String| rows.push(format!("{section},{key},{value}"));
        row("period", "from", self.period.from.to_rfc3339());
        row("period", "to", self.period.to.to_rfc3339());
        row("notices", "total", self.notices.total.to_string());
        for (reason, n) in &self.notices.by_reason {
            row("notices_by_reason", reason, n.to_string());
        }
        for (lane, n) in &self.notices.by_lane {
            row("notices_by_lane", lane, n.to_string());
        }
        for (resolution, n) in &self.decisions.by_moderators {
            row("decisions_by_moderators", resolution, n.to_string());
        }
        row("decisions", "moderator_bans", self.decisions.moderator_bans.to_string());
        row("decisions", "automated_bans", self.decisions.automated_bans.to_string());
        row("decisions", "automated_reviews", self.decisions.automated_reviews.to_string());
        let secs = |v: Option<f64>| v.map(|s| format!("{s:.0}")).unwrap_or_default();
        let t = &self.time_to_decision;
        row("time_to_decision", "decided", t.decided.to_string());
        row("time_to_decision", "sampled", t.sampled.to_string());
        row("time_to_decision", "median_secs", secs(t.median_secs));
        row("time_to_decision", "p90_secs", secs(t.p90_secs));
        for (lane, p) in &t.by_lane {
            row("time_to_decision", &format!("{lane}_decided"), p.decided.to_string());
            row("time_to_decision", &format!("{lane}_median_secs"), secs(p.median_secs));
            row("time_to_decision", &format!("{lane}_p90_secs"), secs(p.p90_secs));
        }
        row("appeals", "filed", self.appeals.filed.to_string());
        row("appeals", "decided", self.appeals.decided.to_string());
        row("appeals", "reversed", self.appeals.reversed.to_string());
        rows.join("\n") + "\n"
    }
}

impl Percentiles {
    /// The median and the 90th percentile (nearest rank) of `waits`.
    fn of(mut waits: Vec<f64>) -> Self {
        waits.sort_by(f64::total_cmp);
        let rank = |q: f64| {
            let n = waits.len();
            (n > 0).then(|| waits[((q * n as f64).ceil() as usize).clamp(1, n) - 1])
        };
        Percentiles { decided: waits.len(), median_secs: rank(0.5), p90_secs: rank(0.9) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank_and_none_of_nothing() {
        let p = Percentiles::of(vec![50.0, 10.0, 40.0, 20.0, 30.0, 60.0, 70.0, 80.0, 90.0, 100.0]);
        assert_eq!((p.decided, p.median_secs, p.p90_secs), (10, Some(50.0), Some(90.0)));
        let one = Percentiles::of(vec![7.0]);
        assert_eq!((one.median_secs, one.p90_secs), (Some(7.0), Some(7.0)));
        let none = Percentiles::of(Vec::new());
        assert_eq!((none.decided, none.median_secs, none.p90_secs), (0, None, None));
    }
}
