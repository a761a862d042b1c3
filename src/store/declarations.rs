//! "Not as declared" reports (docs/admin.md "Declarations"): filing one with its refund, the facts the trust rules
//! decide a suspension on, and the suspension and its clearance, each with its statement of reasons, notification and
//! audit row in one transaction. The rules are in [`crate::domain::declarations`]; nothing here decides.
//!
//! What this module must not store: a gender, a wish, anyone's words. A report is who, whom, which match, the hashed
//! address range and whether it refunded.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;
use tanis_proto::MatchKind;

use super::notifications::insert_notification;
use super::statements::{build, insert_statement};
use super::system_logs::insert_system_log;
use super::{BeginWrite, NewNotification, Store, StoreError, on_read_pool, on_write_pool, select};
use crate::domain::declarations::{self, Policy, RefundFacts};
use crate::domain::trust::{Account, Report};
use crate::domain::{AuditAction, MatchId, UserId};

/// A report to file.
#[derive(Debug, Clone)]
pub struct NewDeclarationReport<'a> {
    pub reporter_id: UserId,
    pub reported_id: UserId,
    pub match_id: MatchId,
    /// The match's kind: the unit a refund gives back.
    pub kind: MatchKind,
    /// The keyed hash of the reporter's address range, when known.
    pub network: Option<&'a [u8]>,
    pub policy: Policy,
    /// The reporter's notification of a refund.
    pub refund_notice: &'a NewNotification,
    pub now: DateTime<Utc>,
}

/// What filing a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclarationFiled {
    /// Stored; `refunded`: the reporter got their unit back.
    New { refunded: bool },
    /// The reporter had reported this match already: nothing changed.
    Repeat,
}

/// What clearing a suspension did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclarationCleared {
    Cleared,
    /// The user's declaration was not suspended.
    NotSuspended,
    NoSuchUser,
}

/// A user's declaration as moderators see it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeclarationStanding {
    pub suspended_at: Option<DateTime<Utc>>,
    pub cleared_at: Option<DateTime<Utc>>,
    /// Distinct reporters since the last clearance (every one, counting or not).
    pub reporters_since_clearance: i64,
}

/// One report about a user with its reporter's facts, as read.
#[derive(sqlx::FromRow)]
struct FactRow {
    reporter_id: UserId,
    reporter_created_at: DateTime<Utc>,
    reporter_verified: bool,
    reporter_banned: bool,
    reporter_network: Option<Vec<u8>>,
}

impl Store {
    /// Files the reporter's report of the match, once per match, refunding their unit for it when the rules say
    /// so ([`declarations::refunds`]) to the balance it came from (the opening's mark says which), with the
    /// refund's notification; all in one transaction.
    pub async fn file_declaration_report(&self, r: &NewDeclarationReport<'_>) -> Result<DeclarationFiled, StoreError> {
        let refund = |from_bonus: bool| match (r.kind, from_bonus) {
            (MatchKind::Video, true) => "UPDATE users SET bonus_video_balance = bonus_video_balance + 1 WHERE id = $1",
            (MatchKind::Video, false) => "UPDATE users SET daily_video_balance = daily_video_balance + 1 WHERE id = $1",
            (MatchKind::Text, true) => "UPDATE users SET bonus_chat_balance = bonus_chat_balance + 1 WHERE id = $1",
            (MatchKind::Text, false) => "UPDATE users SET daily_chat_balance = daily_chat_balance + 1 WHERE id = $1",
        };
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            // The reporter's row first: on PostgreSQL it holds their concurrent reports and claims back until this
            // one commits (filing a claim takes the same row: `file_claim`), so the day's count below sees every
            // refund and the claim check sees a claim sent at the same moment (SQLite's writer is one already).
            sqlx::query("UPDATE users SET bonus_chat_balance = bonus_chat_balance WHERE id = $1")
                .bind(r.reporter_id)
                .execute(&mut *tx)
                .await?;
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO declaration_reports (reporter_id, reported_id, match_id, reporter_network, refunded, \
                 created_at) VALUES ($1, $2, $3, $4, FALSE, $5) ON CONFLICT (match_id, reporter_id) DO NOTHING \
                 RETURNING id",
            )
            .bind(r.reporter_id)
            .bind(r.reported_id)
            .bind(r.match_id)
            .bind(r.network)
            .bind(r.now)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(id) = id else {
                tx.commit().await?;
                return Ok(DeclarationFiled::Repeat);
            };
            let claimed: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM claims WHERE match_id = $1 AND user_id = $2")
                .bind(r.match_id)
                .bind(r.reporter_id)
                .fetch_one(&mut *tx)
                .await?;
            let refunded_in_last_day: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM declaration_reports WHERE reporter_id = $1 AND refunded = TRUE \
                 AND created_at > $2",
            )
            .bind(r.reporter_id)
            .bind(r.now - TimeDelta::days(1))
            .fetch_one(&mut *tx)
            .await?;
            // The opening's mark of a match from the reporter's filtered find, while it stands, and whether they are
            // premium now.
            let marked: Option<(bool, bool)> = sqlx::query_as(
                "SELECT m.paid_from_bonus, u.is_premium FROM refund_marks m JOIN users u ON u.id = m.user_id \
                 WHERE m.match_id = $1 AND m.user_id = $2 AND m.refundable_until > $3",
            )
            .bind(r.match_id)
            .bind(r.reporter_id)
            .bind(r.now)
            .fetch_optional(&mut *tx)
            .await?;
            let facts = RefundFacts {
                filtered_in_window: marked.is_some(),
                premium: marked.is_some_and(|(_, premium)| premium),
                claimed_the_match: claimed > 0,
                refunded_in_last_day: refunded_in_last_day as u32,
            };
            let refunded = declarations::refunds(&facts, &r.policy);
            if let Some((from_bonus, _)) = marked.filter(|_| refunded) {
                sqlx::query("UPDATE declaration_reports SET refunded = TRUE WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(refund(from_bonus)).bind(r.reporter_id).execute(&mut *tx).await?;
                sqlx::query("DELETE FROM refund_marks WHERE match_id = $1 AND user_id = $2")
                    .bind(r.match_id)
                    .bind(r.reporter_id)
                    .execute(&mut *tx)
                    .await?;
                insert_notification!(&mut *tx, r.reporter_id, r.refund_notice, r.now).await?;
            }
            tx.commit().await?;
            Ok(DeclarationFiled::New { refunded })
        })
    }

    /// Deletes at most `limit` refund marks whose window closed before `now` (the expiry job); returns how many.
    pub async fn delete_refund_marks_before(&self, now: DateTime<Utc>, limit: i64) -> Result<u64, StoreError> {
        let query = "DELETE FROM refund_marks WHERE (match_id, user_id) IN (SELECT match_id, user_id FROM refund_marks \
                     WHERE refundable_until <= $1 ORDER BY refundable_until LIMIT $2)";
        Ok(on_write_pool!(self, |pool| sqlx::query(query)
            .bind(now)
            .bind(limit)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// The reports about `user_id` since a moderator last cleared their declaration, one per reporter (their
    /// first), with what the trust rules need of each reporter.
    pub async fn declaration_reports_about(&self, user_id: UserId) -> Result<Vec<Report>, StoreError> {
        let query = select!(
            "SELECT d.reporter_id, p.created_at AS reporter_created_at, \
             CASE WHEN p.phone_verified_at IS NULL THEN FALSE ELSE TRUE END AS reporter_verified, \
             p.is_banned AS reporter_banned, d.reporter_network \
             FROM declaration_reports d JOIN users u ON u.id = d.reported_id JOIN users p ON p.id = d.reporter_id \
             WHERE d.reported_id = $1 AND (u.gender_cleared_at IS NULL OR d.created_at > u.gender_cleared_at) \
             ORDER BY d.id"
        );
        let rows: Vec<FactRow> = on_read_pool!(self, |pool| pool.rows(query).bind(user_id).all().await)?;
        let mut seen = std::collections::HashSet::new();
        Ok(rows
            .into_iter()
            .filter(|r| seen.insert(r.reporter_id))
            .map(|r| Report {
                reporter: Account {
                    created_at: r.reporter_created_at,
                    phone_verified: r.reporter_verified,
                    banned: r.reporter_banned,
                },
                network: r.reporter_network,
                has_evidence: false,
                open: true,
                child_safety: false,
            })
            .collect())
    }

    /// Stops the use of the user's declaration in filtered matching (the trust rules decided it: `reporters`
    /// counted, `threshold` needed), with its statement of reasons, the user's notification and the audit row.
    /// False when it was suspended already.
    pub async fn suspend_declaration(
        &self,
        user_id: UserId,
        (reporters, threshold): (i64, i64),
        notice: &NewNotification,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let first: Option<DateTime<Utc>> = sqlx::query_scalar(
                "SELECT MIN(d.created_at) FROM declaration_reports d JOIN users u ON u.id = d.reported_id \
                 WHERE d.reported_id = $1 AND (u.gender_cleared_at IS NULL OR d.created_at > u.gender_cleared_at)",
            )
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            let suspended =
                sqlx::query("UPDATE users SET gender_suspended_at = $2 WHERE id = $1 AND gender_suspended_at IS NULL")
                    .bind(user_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if suspended > 0 {
                let statement = build::declaration_suspended(
                    &self.citations,
                    user_id,
                    (reporters, threshold),
                    first.unwrap_or(now),
                    now,
                );
                insert_statement!(&mut *tx, &statement).await?;
                insert_notification!(&mut *tx, user_id, notice, now).await?;
                let details = json!({ "reporters": reporters, "threshold": threshold });
                insert_system_log!(&mut *tx, AuditAction::UserDeclarationSuspended, Some(user_id), &details, now)
                    .await?;
            }
            tx.commit().await?;
            Ok(suspended > 0)
        })
    }

    /// A moderator's clearance of a suspended declaration: used again, and the reports until now no longer count;
    /// with its statement, the user's notification and the audit row naming the moderator.
    pub async fn clear_declaration(
        &self,
        user_id: UserId,
        moderator: UserId,
        notice: &NewNotification,
        now: DateTime<Utc>,
    ) -> Result<DeclarationCleared, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let suspended_at: Option<Option<DateTime<Utc>>> =
                sqlx::query_scalar("SELECT gender_suspended_at FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let suspended_at = match suspended_at {
                None => return Ok(DeclarationCleared::NoSuchUser),
                Some(None) => return Ok(DeclarationCleared::NotSuspended),
                Some(Some(at)) => at,
            };
            sqlx::query("UPDATE users SET gender_suspended_at = NULL, gender_cleared_at = $2 WHERE id = $1")
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let statement = build::declaration_cleared(&self.citations, user_id, suspended_at, now);
            insert_statement!(&mut *tx, &statement).await?;
            insert_notification!(&mut *tx, user_id, notice, now).await?;
            let details = json!({ "suspended_at": suspended_at });
            let action = AuditAction::UserDeclarationCleared;
            insert_system_log!(&mut *tx, action, Some(user_id), &details, now, actor = Some(moderator)).await?;
            tx.commit().await?;
            Ok(DeclarationCleared::Cleared)
        })
    }

    /// The user's declaration as moderators see it; `None`: no such user.
    pub async fn declaration_standing(&self, user_id: UserId) -> Result<Option<DeclarationStanding>, StoreError> {
        let query = select!(
            "SELECT u.gender_suspended_at AS suspended_at, u.gender_cleared_at AS cleared_at, \
             (SELECT COUNT(DISTINCT d.reporter_id) FROM declaration_reports d WHERE d.reported_id = u.id \
              AND (u.gender_cleared_at IS NULL OR d.created_at > u.gender_cleared_at)) AS reporters_since_clearance \
             FROM users u WHERE u.id = $1"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).optional().await)?)
    }
}
