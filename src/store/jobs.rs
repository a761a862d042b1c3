//! The queries background jobs run (tanis-workers' `JobStore`, implemented in `crate::jobs`). Each write is
//! one transaction and idempotent: a retried job never applies anything twice.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;
use tanis_proto::MatchKind;

use crate::domain::{AuditAction, ClaimStatus, MatchId, MatchStatus, UserId};

use super::notifications::insert_notification;
use super::system_logs::insert_system_log;
use super::{Backend, BeginWrite, NewNotification, Store, StoreError, on_read_pool, on_write_pool, select};

/// One pending claim with its facts, as read for the verdict.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ClaimRow {
    pub claim_id: i64,
    pub claimant_id: UserId,
    pub match_id: MatchId,
    pub kind: MatchKind,
    pub match_created_at: DateTime<Utc>,
    pub match_status: MatchStatus,
    pub call_connected_at: Option<DateTime<Utc>>,
    pub claimant_first_sent: Option<DateTime<Utc>>,
    pub peer_first_sent: Option<DateTime<Utc>>,
}

/// A claim as its owner sees it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OwnClaim {
    pub id: i64,
    pub match_id: MatchId,
    pub claim_time: DateTime<Utc>,
    pub status: ClaimStatus,
    pub processed_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PendingReferral {
    pub referral_id: i64,
    pub invited_id: UserId,
    pub inviter_id: Option<UserId>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ExpiredMatchRow {
    pub id: MatchId,
    pub user1_id: UserId,
    pub user2_id: UserId,
}

/// A verdict to store; an approval refunds one bonus unit of `kind`.
#[derive(Debug, Clone)]
pub struct ClaimVerdict<'a> {
    pub claim_id: i64,
    pub claimant_id: UserId,
    pub match_id: MatchId,
    pub kind: MatchKind,
    pub approved: bool,
    pub reason: &'a str,
    /// The claimant's notification, written with an approval (the caller renders it: `crate::notices`).
    pub notice: &'a NewNotification,
}

impl Store {
    /// Files a claim for `user_id` on `match_id` (the caller checked participation). Once per match and
    /// user, and not for a match whose unit the user's "not as declared" report refunded: either is
    /// [`StoreError::Conflict`]. The claimant's row is locked first, as filing that report locks it
    /// (`file_declaration_report`), so a claim and a report sent at once are decided one after the other and never
    /// both refund the match.
    pub async fn file_claim(
        &self,
        match_id: MatchId,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<OwnClaim, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("UPDATE users SET bonus_chat_balance = bonus_chat_balance WHERE id = $1")
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let refunded: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM declaration_reports WHERE match_id = $1 AND reporter_id = $2 AND refunded = TRUE",
            )
            .bind(match_id)
            .bind(user_id)
            .fetch_one(&mut *tx)
            .await?;
            if refunded > 0 {
                return Err(StoreError::Conflict);
            }
            let claim: OwnClaim = sqlx::query_as(
                "INSERT INTO claims (user_id, match_id, claim_time, status) VALUES ($1, $2, $3, 'pending') \
                 RETURNING id, match_id, claim_time, status, processed_at, reason",
            )
            .bind(user_id)
            .bind(match_id)
            .bind(now)
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_write)?;
            tx.commit().await?;
            Ok(claim)
        })
    }

    pub async fn claims_of(&self, user_id: UserId) -> Result<Vec<OwnClaim>, StoreError> {
        let query = select!(
            "SELECT id, match_id, claim_time, status, processed_at, reason FROM claims WHERE user_id = $1 ORDER BY id"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).all().await)?)
    }

    pub async fn pending_claims(&self, limit: i64) -> Result<Vec<ClaimRow>, StoreError> {
        let query = select!(
            "SELECT c.id AS claim_id, c.user_id AS claimant_id, c.match_id, m.type AS kind, \
                     m.created_at AS match_created_at, m.status AS match_status, m.call_connected_at, \
                     (SELECT MIN(l.sent_at) FROM message_logs l WHERE l.match_id = c.match_id AND l.sender_id = c.user_id) \
                       AS claimant_first_sent, \
                     (SELECT MIN(l.sent_at) FROM message_logs l WHERE l.match_id = c.match_id AND l.sender_id <> c.user_id) \
                       AS peer_first_sent \
                     FROM claims c JOIN matches m ON m.id = c.match_id WHERE c.status = 'pending' ORDER BY c.id LIMIT $1"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(limit).all().await)?)
    }

    /// Stores the verdict and, when approved, refunds one bonus unit and notifies — one transaction that only
    /// applies while the claim is pending. Returns false when it was already decided.
    pub async fn decide_claim(&self, v: &ClaimVerdict<'_>, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let refund = match v.kind {
            MatchKind::Video => "UPDATE users SET bonus_video_balance = bonus_video_balance + 1 WHERE id = $1",
            MatchKind::Text => "UPDATE users SET bonus_chat_balance = bonus_chat_balance + 1 WHERE id = $1",
        };
        let status = if v.approved { ClaimStatus::Approved } else { ClaimStatus::Rejected };
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let decided = sqlx::query(
                "UPDATE claims SET status = $2, processed_at = $3, reason = $4 WHERE id = $1 AND status = 'pending'",
            )
            .bind(v.claim_id)
            .bind(status)
            .bind(now)
            .bind(v.reason)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if decided == 0 {
                return Ok(false);
            }
            // A crash here (tests arm this point) rolls back the verdict with everything else.
            self.fail_points.check("claim.before_refund")?;
            if v.approved {
                sqlx::query(refund).bind(v.claimant_id).execute(&mut *tx).await?;
                insert_notification!(&mut *tx, v.claimant_id, v.notice, now).await?;
            }
            let details =
                json!({ "claim_id": v.claim_id, "match_id": v.match_id, "status": status, "reason": v.reason });
            insert_system_log!(&mut *tx, AuditAction::ClaimDecided, Some(v.claimant_id), &details, now).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Users not banned (nor tombstones of purged accounts) whose distinct reporters since their last clearance
    /// reach `threshold`; a report a moderator dismissed does not count.
    pub async fn users_over_report_threshold(&self, threshold: i64) -> Result<Vec<UserId>, StoreError> {
        let query = select!(
            "SELECT r.reported_id FROM reports r JOIN users u ON u.id = r.reported_id \
                     WHERE u.is_banned = FALSE AND u.purged_at IS NULL \
                     AND (u.ban_cleared_at IS NULL OR r.created_at > u.ban_cleared_at) \
                     AND (r.resolution IS NULL OR r.resolution <> 'dismissed') \
                     GROUP BY r.reported_id HAVING COUNT(DISTINCT r.reporter_id) >= $1"
        );
        Ok(on_read_pool!(self, |pool| pool.scalars(query).bind(threshold).all().await)?)
    }

    /// Referrals not yet rewarded whose invited user is not banned and has verified their phone (the reward waits
    /// for a real phone: workers/src/referrals.rs).
    pub async fn pending_referrals(&self, limit: i64) -> Result<Vec<PendingReferral>, StoreError> {
        let query = select!(
            "SELECT r.id AS referral_id, r.invited_id, r.inviter_id FROM referrals r JOIN users u ON u.id = r.invited_id \
             WHERE r.reward_given = FALSE AND u.is_banned = FALSE AND u.phone_verified_at IS NOT NULL \
             ORDER BY r.id LIMIT $1"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(limit).all().await)?)
    }

    /// Gives the referral rewards once: `(user, bonus text units, their notification)` for each rewarded side.
    pub async fn grant_referral(
        &self,
        referral_id: i64,
        rewards: &[(UserId, i32, NewNotification)],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let granted = sqlx::query(
                "UPDATE referrals SET reward_given = TRUE, rewarded_at = $2 WHERE id = $1 AND reward_given = FALSE",
            )
            .bind(referral_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if granted == 0 {
                return Ok(false);
            }
            for (user, units, notice) in rewards {
                sqlx::query("UPDATE users SET bonus_chat_balance = bonus_chat_balance + $2 WHERE id = $1")
                    .bind(user)
                    .bind(units)
                    .execute(&mut *tx)
                    .await?;
                insert_notification!(&mut *tx, *user, notice, now).await?;
                insert_system_log!(
                    &mut *tx,
                    AuditAction::ReferralRewarded,
                    Some(*user),
                    &json!({ "referral_id": referral_id, "units": units }),
                    now
                )
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Deletes the content of at most `limit` messages created before `cutoff` (their logs stay); returns how many.
    /// None on PostgreSQL, where content goes a day's partition at a time ([`Store::rotate_partitions`]).
    pub async fn delete_messages_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, StoreError> {
        self.fail_points.rendezvous("expiry.before_delete").await;
        let Backend::Sqlite { write: pool, .. } = &self.backend else {
            return Ok(0);
        };
        // `messages` is a view of the rows that have content (migrations/sqlite/0029): the content goes, the row
        // stays as the log.
        let query = "UPDATE message_rows SET client_msg_id = NULL, content = NULL, nonce = NULL WHERE rowid IN \
                     (SELECT rowid FROM message_rows WHERE content IS NOT NULL AND sent_at < $1 ORDER BY sent_at LIMIT $2)";
        Ok(sqlx::query(query).bind(cutoff).bind(limit).execute(pool).await?.rows_affected())
    }

    /// Deletes the metadata of at most `limit` messages sent before `cutoff`, oldest first, after keeping in
    /// `matches.seq_floor` the highest seq each still-open conversation loses; returns how many. None on
    /// PostgreSQL, where metadata goes a month's partition at a time ([`Store::rotate_partitions`]).
    pub async fn delete_logs_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, StoreError> {
        let Backend::Sqlite { write: pool, .. } = &self.backend else {
            return Ok(0);
        };
        // Rows are stored by arrival (0028), so the oldest are the first rowids: a run reads `limit` rows from the
        // front, not the table (no index by time covers rows whose content is gone).
        macro_rules! oldest {
            () => {
                "(SELECT rowid, match_id, seq FROM (SELECT rowid, match_id, seq, sent_at FROM message_rows \
                 ORDER BY rowid LIMIT $2) WHERE sent_at < $1)"
            };
        }
        let mut tx = pool.begin_write().await?;
        sqlx::query(concat!(
            "UPDATE matches SET seq_floor = d.seq FROM (SELECT match_id, MAX(seq) AS seq FROM ",
            oldest!(),
            " GROUP BY match_id) d WHERE matches.id = d.match_id \
             AND (matches.status = 'active' OR matches.kept_at IS NOT NULL) AND d.seq > matches.seq_floor"
        ))
        .bind(cutoff)
        .bind(limit)
        .execute(&mut *tx)
        .await?;
        let deleted =
            sqlx::query(concat!("DELETE FROM message_rows WHERE rowid IN (SELECT rowid FROM ", oldest!(), ")"))
                .bind(cutoff)
                .bind(limit)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(deleted)
    }

    /// Marks at most `limit` active matches whose time is up as expired and returns them.
    pub async fn expire_matches(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<ExpiredMatchRow>, StoreError> {
        let query = "UPDATE matches SET status = 'expired', ended_at = $1, end_reason = 'expired' WHERE id IN \
                     (SELECT id FROM matches WHERE status = 'active' AND expired_at <= $1 ORDER BY id LIMIT $2) \
                     RETURNING id, user1_id, user2_id";
        Ok(on_write_pool!(self, |pool| sqlx::query_as(query).bind(now).bind(limit).fetch_all(pool).await)?)
    }

    /// Sets daily balances to the free or premium amounts for every user not reset on `day` yet.
    pub async fn reset_daily_quotas(&self, day: NaiveDate, amounts: [i32; 4]) -> Result<u64, StoreError> {
        let [free_text, free_video, premium_text, premium_video] = amounts;
        let query = "UPDATE users SET \
                     daily_chat_balance = CASE WHEN is_premium THEN $1 ELSE $2 END, \
                     daily_video_balance = CASE WHEN is_premium THEN $3 ELSE $4 END, \
                     quota_reset_on = $5 WHERE quota_reset_on < $5";
        let day = day.to_string();
        Ok(on_write_pool!(self, |pool| sqlx::query(query)
            .bind(premium_text)
            .bind(free_text)
            .bind(premium_video)
            .bind(free_video)
            .bind(&day)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Deactivates ended subscriptions and makes `is_premium` follow the active ones, in one transaction.
    /// Returns (subscriptions deactivated, the users whose premium flag changed).
    pub async fn refresh_subscriptions(&self, now: DateTime<Utc>) -> Result<(u64, Vec<UserId>), StoreError> {
        on_write_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let deactivated =
                sqlx::query("UPDATE subscriptions SET is_active = FALSE WHERE is_active = TRUE AND end_date <= $1")
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            let changed: Vec<UserId> = sqlx::query_scalar(
                "UPDATE users SET is_premium = NOT is_premium WHERE is_premium <> EXISTS (SELECT 1 FROM subscriptions s \
                 WHERE s.user_id = users.id AND s.is_active = TRUE AND s.start_date <= $1 AND s.end_date > $1) \
                 RETURNING id",
            )
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok((deactivated, changed))
        })
    }
}
