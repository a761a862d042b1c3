//! A user's trust standing as their page shows it (docs/admin.md "Trust"): what the trust rules make of the account
//! today, and the one signal about them as a reporter, their unconfirmed snapshot reports.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::reports::{SIGNAL_WINDOW, SnapshotReports};
use crate::api::AppState;
use crate::api::error::ApiError;
use crate::domain::trust::{self, Account};
use crate::moderation;
use crate::store::UserRow;

/// What the trust rules make of an account now.
#[derive(Serialize, ToSchema)]
pub struct TrustStanding {
    phone_verified: bool,
    /// Younger than `trust.new_account_hours`.
    new_account: bool,
    /// Held to the lower find and skip rates of new or unverified accounts.
    limited: bool,
    /// Why the automatic ban asked a moderator instead of banning (`burst_created`, `burst_network`); null when no
    /// review is open.
    #[schema(example = "burst_created")]
    review: Option<String>,
    /// Matched only with others in quarantine: enough open reports from counting reporters outside any burst.
    quarantined: bool,
    /// As a reporter: their snapshot call reports of the last 30 days, and how many were dismissed.
    snapshot_reports: SnapshotReports,
}

pub(super) async fn of(state: &AppState, row: &UserRow, now: DateTime<Utc>) -> Result<TrustStanding, ApiError> {
    let rules = moderation::trust_rules(&state.config.trust, state.config.jobs.report_threshold);
    let account =
        Account { created_at: row.created_at, phone_verified: row.phone_verified_at.is_some(), banned: row.is_banned };
    let reports = state.store.trust_reports(row.id).await.map_err(ApiError::internal)?;
    let review = state.store.open_reviews(&[row.id]).await.map_err(ApiError::internal)?.pop().map(|(_, why)| why);
    let signal = state.store.snapshot_signal(row.id, now - SIGNAL_WINDOW).await.map_err(ApiError::internal)?;
    Ok(TrustStanding {
        phone_verified: account.phone_verified,
        new_account: now - account.created_at < rules.new_account,
        limited: trust::limits(&account, now, &rules).finds_per_minute.is_some(),
        review,
        quarantined: trust::quarantined(&reports, now, &rules),
        snapshot_reports: signal.into(),
    })
}
