//! `GET /v1/admin/statements`: the operator's export of statements of reasons as JSON Lines (src/statements.rs
//! shapes each line as the EU DSA Transparency Database's statement). Admins only: it is the operator's reporting
//! duty, not a moderator's tool. Each export is audited.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::Admin;
use crate::api::AppState;
use crate::api::error::{ApiError, AppQuery, ErrorBody, ErrorCode};
use crate::statements::{TransparencyLine, day_range};

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

/// The instants of the UTC days `from` to `to` (both `YYYY-MM-DD`, `to` included), or `400 invalid_parameter`; the
/// transparency report's period too.
pub(super) fn bounds(from: &str, to: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    day(from).zip(day(to)).and_then(|(from, to)| day_range(from, to)).ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            "from and to must be dates (YYYY-MM-DD), from not after to, at most 366 days apart",
        )
    })
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
    let range = bounds(&range.from, &range.to)?;
    let mut body = Vec::new();
    let now = state.accounts.now();
    crate::statements::export(&state.store, &state.config.moderation, range, Some(admin), now, &mut body)
        .await
        .map_err(ApiError::internal)?;
    Ok(([(CONTENT_TYPE, "application/x-ndjson")], body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_must_name_two_real_days() {
        assert!(bounds("2026-11-01", "2026-11-30").is_ok());
        for (from, to) in [("2026-02-30", "2026-03-01"), ("yesterday", "2026-11-01"), ("2026-11-02", "2026-11-01")] {
            assert!(bounds(from, to).is_err(), "{from}..{to}");
        }
    }
}
