//! The hold on a user's video matching while a child-safety report about them waits for a moderator (docs/admin.md
//! "Child safety first"): its start here, after a report the trust rules count ([`crate::domain::trust::holds_video`]
//! decides, [`crate::reports`] asks), and its end with the moderator's decision on the last such report
//! ([`Store::resolve_report`], src/store/reports/queue.rs). Each step writes its statement of reasons, the user's
//! notification and an audit row in one transaction.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::{AuditAction, Lane, UserId};
use crate::store::notifications::insert_notification;
use crate::store::statements::{build, insert_statement};
use crate::store::system_logs::insert_system_log;
use crate::store::{BeginWrite, NewNotification, Store, StoreError, on_write_pool};

/// The reasons of the child-safety lane ([`Lane::CHILD_SAFETY_REASONS`]) as an SQL list, for `reason IN (…)`; a
/// literal, so `concat!` builds whole `&'static str` queries from it (a unit test holds it to the lane's list).
macro_rules! child_safety_in {
    () => {
        "('underage', 'child_sexual_abuse')"
    };
}
pub(super) use child_safety_in;

/// The newest open child-safety report about a user: what a hold's statement cites.
#[derive(sqlx::FromRow)]
struct HeldOn {
    id: i64,
    reason: String,
    created_at: DateTime<Utc>,
}

impl Store {
    /// Holds the user's video matching, citing their newest open child-safety report, with its statement, the
    /// user's notification and the audit row. False when there is no such report, or the hold is on already.
    pub async fn hold_video(
        &self,
        user_id: UserId,
        notice: &NewNotification,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const NEWEST: &str = concat!(
            "SELECT id, reason, created_at FROM reports WHERE reported_id = $1 AND resolved_at IS NULL AND reason IN ",
            child_safety_in!(),
            " ORDER BY id DESC LIMIT 1"
        );
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // The user's row first: a moderator's decision on their last open report takes it too
            // (`resolve_report`), so a hold is never put on after that decision with nothing left to decide.
            sqlx::query("UPDATE users SET video_held_at = video_held_at WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let report: Option<HeldOn> = sqlx::query_as(NEWEST).bind(user_id).fetch_optional(&mut *tx).await?;
            let Some(report) = report else { return Ok(false) };
            debug_assert_eq!(Lane::of(&report.reason), Lane::ChildSafety);
            let held = sqlx::query("UPDATE users SET video_held_at = $2 WHERE id = $1 AND video_held_at IS NULL")
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if held > 0 {
                let cited = (report.id, report.reason.as_str(), report.created_at);
                insert_statement!(&mut *tx, &build::video_held(&self.citations, user_id, cited, now)).await?;
                insert_notification!(&mut *tx, user_id, notice, now).await?;
                let details = json!({ "report_id": report.id, "reason": report.reason });
                insert_system_log!(&mut *tx, AuditAction::UserVideoHeld, Some(user_id), &details, now).await?;
            }
            tx.commit().await?;
            Ok(held > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::Lane;

    #[test]
    fn the_sql_list_is_the_child_safety_lanes_reasons() {
        let listed: Vec<String> = Lane::CHILD_SAFETY_REASONS.iter().map(|r| format!("'{r}'")).collect();
        assert_eq!(child_safety_in!(), format!("({})", listed.join(", ")));
    }
}
