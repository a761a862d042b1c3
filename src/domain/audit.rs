//! The audit trail's vocabulary: what a `system_logs` row records (its `action`). Every writer passes an
//! [`AuditAction`]; moderators filter the trail by its text (`GET /v1/admin/audit?action=`, docs/admin.md).

use super::stored_text;

stored_text! {
    /// What one `system_logs` row records, stored in its `action` column as `area.event`. The column has no
    /// CHECK: this list is the vocabulary, and a row whose text is not in it fails to decode.
    pub enum AuditAction {
        /// An account asked to be deleted (after the grace period the purge job deletes it).
        AccountDeletionRequested = "account.deletion_requested",
        /// Signing in again during the grace period undid a deletion request.
        AccountDeletionCancelled = "account.deletion_cancelled",
        /// The purge job deleted an account; its row is about the tombstone.
        AccountPurged = "account.purged",
        AdCreated = "ad.created",
        AdUpdated = "ad.updated",
        /// An admin saw a user's phone number.
        AdminPhoneViewed = "admin.phone_viewed",
        /// Staff saw a call report's snapshot.
        AdminSnapshotViewed = "admin.snapshot_viewed",
        AppealFiled = "appeal.filed",
        AppealDecided = "appeal.decided",
        AuthPasswordChanged = "auth.password_changed",
        AuthPasswordReset = "auth.password_reset",
        /// A rotated refresh token came back: its login was revoked.
        AuthRefreshTokenReused = "auth.refresh_token_reused",
        ClaimDecided = "claim.decided",
        /// A run of the claims job (its counts).
        JobClaims = "job.claims",
        /// A run of the expiry job.
        JobExpiry = "job.expiry",
        /// A run of the purge job.
        JobPurge = "job.purge",
        /// A run of the daily quota reset.
        JobQuotaReset = "job.quota_reset",
        /// A run of the subscriptions job.
        JobSubscriptions = "job.subscriptions",
        /// An admin's broadcast.
        NotificationBroadcast = "notification.broadcast",
        PhoneVerified = "phone.verified",
        PhoneChanged = "phone.changed",
        /// A push given up after its last attempt.
        PushDropped = "push.dropped",
        ReferralRewarded = "referral.rewarded",
        ReportResolved = "report.resolved",
        /// New evidence reopened a report a moderator had decided (its reporter revealed more messages).
        ReportReopened = "report.reopened",
        /// An admin exported statements of reasons (`GET /v1/admin/statements`).
        StatementsExported = "statements.exported",
        /// The billing provider's event changed a subscription.
        SubscriptionBilling = "subscription.billing",
        /// An admin granted or ended premium.
        SubscriptionChanged = "subscription.changed",
        UserRegistered = "user.registered",
        UserBanned = "user.banned",
        UserUnbanned = "user.unbanned",
        UserReportsCleared = "user.reports_cleared",
        /// The automatic ban put the user up for human review instead of banning them (a burst of reports:
        /// docs/admin.md "Trust").
        UserReviewRequested = "user.review_requested",
        UserRoleChanged = "user.role_changed",
        /// Enough counting reporters said "not as declared": the declared gender is not used for filtered
        /// matching (docs/admin.md "Declarations").
        UserDeclarationSuspended = "user.declaration_suspended",
        /// A moderator cleared that suspension.
        UserDeclarationCleared = "user.declaration_cleared",
        /// A child-safety report from a counting reporter held the user's video matching (docs/admin.md "Child
        /// safety first").
        UserVideoHeld = "user.video_held",
        /// A moderator's decision on the last open child-safety report about the user ended the hold.
        UserVideoHoldLifted = "user.video_hold_lifted",
        /// Read only: a moderator's ban as the first day's servers recorded it (before the ban and its
        /// `user.banned` row committed together, 2026-11-22). No migration rewrote those rows; nothing writes it.
        LegacyModeratorBan = "moderator.ban",
        /// Read only: a moderator's unban from the same days; nothing writes it.
        LegacyModeratorUnban = "moderator.unban",
        /// Read only: the automatic ban from the same days (now a `user.banned` row naming the job); nothing
        /// writes it.
        LegacyJobAutoBan = "job.auto_ban",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::assert_stored_as;

    #[test]
    fn an_audit_action_is_stored_as_its_area_and_event() {
        let allowed = [
            "account.deletion_requested",
            "account.deletion_cancelled",
            "account.purged",
            "ad.created",
            "ad.updated",
            "admin.phone_viewed",
            "admin.snapshot_viewed",
            "appeal.filed",
            "appeal.decided",
            "auth.password_changed",
            "auth.password_reset",
            "auth.refresh_token_reused",
            "claim.decided",
            "job.claims",
            "job.expiry",
            "job.purge",
            "job.quota_reset",
            "job.subscriptions",
            "notification.broadcast",
            "phone.verified",
            "phone.changed",
            "push.dropped",
            "referral.rewarded",
            "report.resolved",
            "report.reopened",
            "statements.exported",
            "subscription.billing",
            "subscription.changed",
            "user.registered",
            "user.banned",
            "user.unbanned",
            "user.reports_cleared",
            "user.review_requested",
            "user.role_changed",
            "user.declaration_suspended",
            "user.declaration_cleared",
            "user.video_held",
            "user.video_hold_lifted",
            "moderator.ban",
            "moderator.unban",
            "job.auto_ban",
        ];
        assert_stored_as(AuditAction::ALL, &allowed, AuditAction::as_str, AuditAction::parse);
    }

    #[test]
    fn every_action_docs_admin_md_names_is_one() {
        let doc = include_str!("../../docs/admin.md");
        let row = doc.lines().find(|l| l.starts_with("| `action` |")).expect("the audit filter's row");
        let named: Vec<&str> = row.split('`').skip(3).step_by(2).collect();
        assert!(named.len() >= 9, "{named:?}");
        for action in named {
            assert!(AuditAction::parse(action).is_some(), "{action}");
        }
    }
}
