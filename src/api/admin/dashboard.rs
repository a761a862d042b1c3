//! The dashboard an operator reads daily (docs/admin.md, "The console"): the report queue's size and age, how fast
//! moderators decide, automatic bans and reviews, appeals and overturns, and activity now. Everything is counted
//! from the database, so every node answers alike, except the sockets, which are this node's own.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Staff;
use crate::api::AppState;
use crate::api::error::{ApiError, AppJson, AppQuery, ErrorBody, ErrorCode};
use crate::domain::Lane;
use crate::store::{Daily, DailySeries};

/// The median is of the newest decisions, at most this many.
const DECISION_SAMPLE: i64 = 10_000;
/// "Now" is the last ten minutes.
const RECENT: TimeDelta = TimeDelta::minutes(10);

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Window {
    /// UTC days of daily figures, today included: 1 to 90 (default 14).
    #[param(minimum = 1, maximum = 90)]
    days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct Dashboard {
    generated_at: DateTime<Utc>,
    open_reports: OpenReportsView,
    /// Median seconds from a report's filing to its decision, over reports decided in the window (the newest
    /// 10 000); null when none was.
    median_decision_secs: Option<f64>,
    /// One entry per UTC day of the window, oldest first; the last is today.
    days: Vec<Day>,
    now: Now,
    /// What the node that answered asks an assured age for, and why video goes without one when the operator
    /// waived it (docs/operations.md, "Age assurance"): on the dashboard, read every day.
    age_assurance: AgeAssuranceSetting,
}

#[derive(Serialize, ToSchema)]
pub struct AgeAssuranceSetting {
    /// `none`, `video`, `gender_filter` or `everything`.
    #[schema(value_type = String, example = "video")]
    required_for: crate::domain::RequiredFor,
    /// `age_assurance.waiver`, when video goes without an assured age; null otherwise.
    video_waiver: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OpenReportsView {
    count: i64,
    oldest_at: Option<DateTime<Utc>>,
    /// By lane (docs/admin.md, "Child safety first"): `child_safety` first, then `standard`; each lane's open reports
    /// and when its oldest was filed.
    lanes: Vec<LaneView>,
    /// Open reports by age: `under_1h`, `under_24h`, `under_7d`, `older` (each bucket excludes the younger ones).
    ages: BTreeMap<&'static str, i64>,
}

#[derive(Serialize, ToSchema)]
pub struct LaneView {
    #[schema(example = "child_safety")]
    lane: &'static str,
    count: i64,
    oldest_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema, Default)]
pub struct Day {
    #[schema(example = "2026-11-27")]
    day: String,
    reports: i64,
    decisions: i64,
    /// Bans made by the automatic ban.
    auto_bans: i64,
    /// Users the automatic ban put up for review instead.
    reviews: i64,
    appeals: i64,
    /// Appeals accepted that day.
    overturned: i64,
    matches: i64,
    /// Video calls reported on or connected, by the day their match opened.
    calls: i64,
    calls_connected: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Now {
    /// Sockets open on the node that answered.
    live_sockets: usize,
    /// Over the last ten minutes, on every node.
    matches_per_minute: f64,
    messages_per_minute: f64,
    /// Of the video calls of matches opened in the last 24 hours, the share that connected; null when none.
    call_connect_rate: Option<f64>,
}

/// The dashboard's figures.
#[utoipa::path(get, path = "/v1/admin/dashboard", tag = "admin", security(("bearer" = [])), params(Window),
    responses((status = 200, body = Dashboard), (status = 400, description = "invalid_parameter", body = ErrorBody),
        (status = 403, description = "forbidden", body = ErrorBody)))]
pub(super) async fn dashboard(
    State(state): State<AppState>,
    _: Staff,
    AppQuery(window): AppQuery<Window>,
) -> Result<AppJson<Dashboard>, ApiError> {
    let days = window.days.unwrap_or(14);
    if !(1..=90).contains(&days) {
        return Err(ApiError::new(ErrorCode::InvalidParameter, "days must be 1 to 90"));
    }
    let now = state.accounts.now();
    let today = now.date_naive();
    let first_day = today - TimeDelta::days(days - 1);
    let since = first_day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
    let store = &state.store;
    let open = store.open_reports(now).await.map_err(ApiError::internal)?;
    let by_reason = store.open_reports_by_reason().await.map_err(ApiError::internal)?;
    let lanes = Lane::ALL
        .iter()
        .map(|lane| {
            let of_lane = || by_reason.iter().filter(|r| Lane::of(&r.reason) == *lane);
            let oldest_at = of_lane().filter_map(|r| r.oldest_at).min();
            LaneView { lane: lane.as_str(), count: of_lane().map(|r| r.count).sum(), oldest_at }
        })
        .collect();
    let mut waits = store.decision_waits(since, DECISION_SAMPLE).await.map_err(ApiError::internal)?;
    let series = store.daily_series(since).await.map_err(ApiError::internal)?;
    let (matches, messages) = store.recent_activity(now - RECENT).await.map_err(ApiError::internal)?;
    let (calls, connected) = store.call_outcomes(now - TimeDelta::days(1)).await.map_err(ApiError::internal)?;
    let per_minute = |n: i64| n as f64 / RECENT.num_minutes() as f64;
    Ok(AppJson(Dashboard {
        generated_at: now,
        open_reports: OpenReportsView {
            count: open.count,
            oldest_at: open.oldest_at,
            lanes,
            ages: BTreeMap::from([
                ("under_1h", open.under_1h),
                ("under_24h", open.under_24h - open.under_1h),
                ("under_7d", open.under_7d - open.under_24h),
                ("older", open.count - open.under_7d),
            ]),
        },
        median_decision_secs: median(&mut waits),
        days: by_day(first_day, days, series),
        now: Now {
            live_sockets: state.hub.connections(),
            matches_per_minute: per_minute(matches),
            messages_per_minute: per_minute(messages),
            call_connect_rate: (calls > 0).then(|| connected as f64 / calls as f64),
        },
        age_assurance: AgeAssuranceSetting {
            required_for: state.age.required_for(),
            video_waiver: state.age.video_waiver().map(str::to_owned),
        },
    }))
}

/// The median of `values` (the mean of the middle two for an even count); `None` for none.
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// Every day of the window with its counts, zero where a series has none.
fn by_day(first: chrono::NaiveDate, days: i64, s: DailySeries) -> Vec<Day> {
    let mut out: Vec<Day> = (0..days)
        .map(|i| Day { day: (first + TimeDelta::days(i)).format("%Y-%m-%d").to_string(), ..Day::default() })
        .collect();
    let mut put = |series: Daily, field: fn(&mut Day) -> &mut i64| {
        for (day, n) in series {
            if let Some(entry) = out.iter_mut().find(|d| d.day == day) {
                *field(entry) = n;
            }
        }
    };
    put(s.reports, |d| &mut d.reports);
    put(s.decisions, |d| &mut d.decisions);
    put(s.auto_bans, |d| &mut d.auto_bans);
    put(s.reviews, |d| &mut d.reviews);
    put(s.appeals, |d| &mut d.appeals);
    put(s.overturned, |d| &mut d.overturned);
    put(s.matches, |d| &mut d.matches);
    put(s.calls, |d| &mut d.calls);
    put(s.calls_connected, |d| &mut d.calls_connected);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_is_the_middle_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [5.0]), Some(5.0));
        assert_eq!(median(&mut [9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn every_day_of_the_window_is_listed_with_zeros_where_nothing_happened() {
        let first = chrono::NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let series = DailySeries {
            reports: vec![("2026-11-25".into(), 2), ("2026-11-27".into(), 1), ("2026-11-24".into(), 9)],
            auto_bans: vec![("2026-11-26".into(), 1)],
            ..DailySeries::default()
        };
        let days = by_day(first, 3, series);
        let got: Vec<_> = days.iter().map(|d| (d.day.as_str(), d.reports, d.auto_bans)).collect();
        assert_eq!(
            got,
            [("2026-11-25", 2, 0), ("2026-11-26", 0, 1), ("2026-11-27", 1, 0)],
            "a day before the window is not"
        );
    }
}
