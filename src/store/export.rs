//! The reads behind a user's data export (`GET /v1/me/export`, KVKK's right of access): one function per
//! section, each the rows that name the user, newest first and at most `limit` of them.
//!
//! What this module must not return: another person's phone number or account id. Where a row names someone
//! else (a match's peer, a block, a report), the query joins their account and returns only their handle as it
//! is now (`alias#tag`), or `NULL` once no such account exists. Message content is never read (it is
//! end-to-end ciphertext and deleted after 24 h): matches carry counts from `message_logs` only.
//!
//! The rows derive `Serialize` and `ToSchema` because the export is their only reader and shows them as they are.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tanis_proto::MatchKind;
use utoipa::ToSchema;

use super::{NotificationRow, Store, StoreError, on_read_pool, select};
use crate::domain::{
    AppealStatus, BanReason, ClaimStatus, CodePurpose, EndCause, LoginOutcome, MatchId, MatchStatus, ReportResolution,
    UserId,
};
use crate::phones::PhoneLookup;

/// A sign-in (a refresh-token family) with where it came from.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedSession {
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub user_agent: Option<String>,
    pub ip: Option<String>,
    /// Signed out: logout, revocation, password change or ban.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A contact conversation one of the user's sessions took over (`contact.key`): which, and when; never the key.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedContactKey {
    #[schema(value_type = i64)]
    pub match_id: MatchId,
    pub published_at: DateTime<Utc>,
}

/// One attempt to sign in to the account, or with its phone number.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedLoginAttempt {
    pub created_at: DateTime<Utc>,
    pub ip: String,
    pub user_agent: Option<String>,
    /// `success`, `bad_credentials`, `throttled` or `banned`.
    #[schema(value_type = String)]
    pub outcome: LoginOutcome,
}

/// A one-time code asked for on the account (phone verification, phone change, password reset): when, from
/// where and what became of it; never the code, and not the number it went to (a change's new number is the
/// profile's phone once it was confirmed).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedPhoneCode {
    /// `verify`, `change` or `reset`.
    #[schema(value_type = String)]
    pub purpose: CodePurpose,
    /// `sent`, `failed`, `refused` (the resend limits) or `not_sent`.
    pub outcome: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Guesses spent on it.
    pub attempts: i32,
    /// When it was used.
    pub consumed_at: Option<DateTime<Utc>>,
    pub ip: String,
    pub user_agent: Option<String>,
}

/// A match as metadata: never its messages, and the peer only by handle.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedMatch {
    #[schema(value_type = i64)]
    pub id: MatchId,
    /// `text` or `video`.
    #[schema(value_type = String)]
    pub kind: MatchKind,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `active`, `expired`, `cancelled` or `completed`.
    #[schema(value_type = String)]
    pub status: MatchStatus,
    pub ended_at: Option<DateTime<Utc>>,
    #[schema(value_type = Option<String>)]
    pub end_reason: Option<EndCause>,
    pub call_connected_at: Option<DateTime<Utc>>,
    pub call_ended_at: Option<DateTime<Utc>>,
    /// When this user proposed to keep in touch; when both had (the match ended and became the two's contact
    /// conversation); when that conversation was ended (null while it lasts).
    pub keep_proposed_at: Option<DateTime<Utc>>,
    pub kept_at: Option<DateTime<Utc>>,
    pub contact_ended_at: Option<DateTime<Utc>>,
    /// The other person's handle (`alias#tag`) as it is now; null when their account no longer exists.
    pub peer: Option<String>,
    /// Messages this user sent in the match (counted from metadata; the content is never kept past 24 h).
    pub messages_sent: i64,
    pub messages_received: i64,
}

/// A refund claim the user filed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedClaim {
    pub id: i64,
    #[schema(value_type = i64)]
    pub match_id: MatchId,
    pub filed_at: DateTime<Utc>,
    /// `pending`, `approved` or `rejected`.
    #[schema(value_type = String)]
    pub status: ClaimStatus,
    pub processed_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

/// A report the user filed; the reported person only by handle. The moderator's resolution note is theirs.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedReport {
    pub reported: Option<String>,
    #[schema(value_type = Option<i64>)]
    pub match_id: Option<MatchId>,
    pub reason: String,
    pub details: Option<String>,
    pub created_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `dismissed` or `actioned`, once resolved; `null` while open, also when new evidence reopened it.
    #[schema(value_type = Option<String>)]
    pub resolution: Option<ReportResolution>,
}

/// Someone the user blocks, by handle.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedBlock {
    pub blocked: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedSubscription {
    pub plan_name: String,
    pub start_date: DateTime<Utc>,
    pub end_date: DateTime<Utc>,
    pub is_active: bool,
    pub cancelled_at: Option<DateTime<Utc>>,
}

/// A device registered for push, with its whole token: the caller masks it before it leaves.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeviceRow {
    pub platform: String,
    pub push_token: String,
    pub locale: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

/// A ban of the user; never the moderator's private note nor who banned them.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedBan {
    pub id: i64,
    #[schema(value_type = String)]
    pub reason_code: BanReason,
    pub created_at: DateTime<Utc>,
    pub ends_at: Option<DateTime<Utc>>,
    pub lifted_at: Option<DateTime<Utc>>,
    pub lift_reason: Option<String>,
}

/// An appeal against one of the bans; the decision note is the one the user was shown.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, Serialize, ToSchema)]
pub struct ExportedAppeal {
    pub ban_id: i64,
    pub text: String,
    pub created_at: DateTime<Utc>,
    /// `pending`, `accepted` or `rejected`.
    #[schema(value_type = String)]
    pub status: AppealStatus,
    pub decided_at: Option<DateTime<Utc>>,
    pub decision_note: Option<String>,
}

impl Store {
    pub async fn export_sessions(&self, user_id: UserId, limit: i64) -> Result<Vec<ExportedSession>, StoreError> {
        let query = select!(
            "SELECT created_at, last_used_at, expires_at, user_agent, ip, revoked_at FROM logins \
             WHERE user_id = $1 ORDER BY created_at DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    pub async fn export_contact_keys(
        &self,
        user_id: UserId,
        limit: i64,
    ) -> Result<Vec<ExportedContactKey>, StoreError> {
        let query = select!(
            "SELECT match_id, published_at FROM contact_keys WHERE user_id = $1 ORDER BY published_at DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    /// Attempts on the account: those that name it (made with whichever phone it had then: the phone can change),
    /// and those with its current phone (`phone`, when it opened) that name no account, such as throttled ones.
    /// An attempt naming another account is never theirs, even with this number: it may have been someone
    /// else's before.
    pub async fn export_login_attempts(
        &self,
        user_id: UserId,
        phone: Option<&PhoneLookup>,
        limit: i64,
    ) -> Result<Vec<ExportedLoginAttempt>, StoreError> {
        let query = select!(
            "SELECT created_at, ip, user_agent, outcome FROM login_attempts \
             WHERE user_id = $1 OR (user_id IS NULL AND phone_index IN ($2, $3)) \
             ORDER BY created_at DESC, id DESC LIMIT $4"
        );
        // No index matches an empty one: without the phone, only the attempts that name the account.
        let [current, previous] = phone.map_or([&[][..], &[][..]], PhoneLookup::indexes);
        Ok(on_read_pool!(self, |pool| pool
            .rows(query)
            .bind(user_id)
            .bind(current)
            .bind(previous)
            .bind(limit)
            .all()
            .await)?)
    }

    /// The codes asked for on the account, newest first. A reset asked for the number before the account had it
    /// names no account and is not listed: the number may have been someone else's then.
    pub async fn export_phone_codes(&self, user_id: UserId, limit: i64) -> Result<Vec<ExportedPhoneCode>, StoreError> {
        let query = select!(
            "SELECT purpose, outcome, created_at, expires_at, attempts, consumed_at, ip, user_agent FROM phone_codes \
             WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    pub async fn export_matches(&self, user_id: UserId, limit: i64) -> Result<Vec<ExportedMatch>, StoreError> {
        let query = select!(
            "SELECT m.id, m.type AS kind, m.created_at, m.expired_at AS expires_at, m.status, m.ended_at, m.end_reason, \
                    m.call_connected_at, m.call_ended_at, \
                    CASE WHEN m.user1_id = $1 THEN m.user1_keep_at ELSE m.user2_keep_at END AS keep_proposed_at, \
                    CASE WHEN m.end_reason = 'kept' THEN m.ended_at END AS kept_at, m.contact_ended_at, p.alias || '#' || p.tag AS peer, \
                    (SELECT COUNT(*) FROM message_logs l WHERE l.match_id = m.id AND l.sender_id = $1) AS messages_sent, \
                    (SELECT COUNT(*) FROM message_logs l WHERE l.match_id = m.id AND l.receiver_id = $1) AS messages_received \
             FROM matches m \
             LEFT JOIN users p ON p.id = CASE WHEN m.user1_id = $1 THEN m.user2_id ELSE m.user1_id END \
             WHERE m.user1_id = $1 OR m.user2_id = $1 ORDER BY m.id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    pub async fn export_claims(&self, user_id: UserId, limit: i64) -> Result<Vec<ExportedClaim>, StoreError> {
        let query = select!(
            // Through the user's matches: `claims` has no index that leads with `user_id`.
            "SELECT c.id, c.match_id, c.claim_time AS filed_at, c.status, c.processed_at, c.reason \
             FROM matches m JOIN claims c ON c.match_id = m.id AND c.user_id = $1 \
             WHERE m.user1_id = $1 OR m.user2_id = $1 ORDER BY c.id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    /// The reports the user filed, newest first; their "not as declared" ones among them (reason
    /// `not_as_declared`, no details, never resolved: nobody decides on one).
    pub async fn export_reports(&self, user_id: UserId, limit: i64) -> Result<Vec<ExportedReport>, StoreError> {
        let query = select!(
            "SELECT p.alias || '#' || p.tag AS reported, r.match_id AS match_id, r.reason AS reason, \
                    r.details AS details, r.created_at AS created_at, r.resolved_at AS resolved_at, CASE WHEN r.resolved_at IS NULL THEN NULL ELSE r.resolution END AS resolution \
             FROM reports r LEFT JOIN users p ON p.id = r.reported_id WHERE r.reporter_id = $1 \
             UNION ALL \
             SELECT p.alias || '#' || p.tag, d.match_id, 'not_as_declared', NULL, d.created_at, NULL, NULL \
             FROM declaration_reports d LEFT JOIN users p ON p.id = d.reported_id WHERE d.reporter_id = $1 \
             ORDER BY created_at DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    pub async fn export_blocks(&self, user_id: UserId, limit: i64) -> Result<Vec<ExportedBlock>, StoreError> {
        let query = select!(
            "SELECT p.alias || '#' || p.tag AS blocked, b.created_at \
             FROM blocks b LEFT JOIN users p ON p.id = b.blocked_id \
             WHERE b.blocker_id = $1 ORDER BY b.id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    pub async fn export_notifications(&self, user_id: UserId, limit: i64) -> Result<Vec<NotificationRow>, StoreError> {
        let query = select!(
            "SELECT id, user_id, type AS kind, message, template, params, created_at, read FROM notifications \
             WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    pub async fn export_subscriptions(
        &self,
        user_id: UserId,
        limit: i64,
    ) -> Result<Vec<ExportedSubscription>, StoreError> {
        let query = select!(
            "SELECT plan_name, start_date, end_date, is_active, cancelled_at FROM subscriptions \
             WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    pub async fn export_devices(&self, user_id: UserId, limit: i64) -> Result<Vec<DeviceRow>, StoreError> {
        let query = select!(
            "SELECT platform, push_token, locale, created_at, last_seen_at FROM devices \
             WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    pub async fn export_bans(&self, user_id: UserId, limit: i64) -> Result<Vec<ExportedBan>, StoreError> {
        let query = select!(
            "SELECT id, reason_code, created_at, ends_at, lifted_at, lift_reason FROM bans \
             WHERE user_id = $1 ORDER BY id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }

    pub async fn export_appeals(&self, user_id: UserId, limit: i64) -> Result<Vec<ExportedAppeal>, StoreError> {
        let query = select!(
            // Through the user's bans: `appeals` has no index on `user_id`.
            "SELECT a.ban_id, a.text, a.created_at, a.status, a.decided_at, a.decision_note \
             FROM bans b JOIN appeals a ON a.ban_id = b.id WHERE b.user_id = $1 ORDER BY a.id DESC LIMIT $2"
        );
        Ok(on_read_pool!(self, |pool| pool.rows(query).bind(user_id).bind(limit).all().await)?)
    }
}
