//! tanis background jobs. Everything that happens on a clock or after the fact: deciding claims, banning
//! users with too many reports, granting referral rewards, deleting message content after 24 h (and franking
//! commitments once the report window is over), expiring matches, resetting daily quotas, following
//! subscriptions and purging deleted accounts.
//!
//! This crate does not depend on the server (Cargo forbids the cycle, and the rules read better alone): it
//! states what it needs as the [`JobStore`] and [`LiveEffects`] traits, which the server implements over its
//! database and WebSocket hub. Each job is a plain async function over those traits (tests call them
//! directly with an injected time); [`schedule`] runs them on apalis cron workers.
//!
//! Layout: [`claims`] (verdict + job), [`moderation`] (auto-ban), [`referrals`], [`expiry`] (message content
//! and matches), [`quotas`] (daily reset), [`subscriptions`], [`push`] (sending queued pushes), [`purge`]
//! (deleted accounts past their grace period), [`schedule`] (apalis wiring and metrics).

pub mod claims;
pub mod expiry;
pub mod moderation;
pub mod poll;
pub mod purge;
pub mod push;
pub mod quotas;
pub mod referrals;
pub mod schedule;
pub mod subscriptions;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tanis_proto::UserId;

/// An error from the server side of a job; the job fails, is retried, and is counted.
pub type JobError = Box<dyn std::error::Error + Send + Sync>;

/// What a job records in `system_logs` ([`JobStore::log`]). The server maps each to its audit vocabulary, which
/// decides the text stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    /// A claims run that decided some claims (how many approved and rejected).
    ClaimsRun,
    /// An expiry run that deleted message content or expired matches, or in which a step failed.
    ExpiryRun,
    /// A purge run that purged accounts or forgot kept phones.
    PurgeRun,
    /// The daily quota reset, when it reset someone.
    QuotaReset,
    /// A subscriptions run that changed something.
    SubscriptionsRun,
    /// A push given up after its last attempt.
    PushDropped,
}

/// What the jobs read and write. Every method that changes state is one transaction and idempotent.
pub trait JobStore: Send + Sync + 'static {
    /// Pending claims with the facts their verdict needs, oldest first.
    fn pending_claims(&self, limit: i64) -> impl Future<Output = Result<Vec<claims::ClaimFacts>, JobError>> + Send;
    /// Records the verdict and, when approved, refunds one bonus unit and notifies the claimant — all in one
    /// transaction that only applies while the claim is still pending. False: it was already decided.
    fn decide_claim(
        &self,
        decision: &claims::Decision,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, JobError>> + Send;
    /// Users not banned and not under an open review whose reports since their last clearance (dismissed ones
    /// left out) reach `threshold` distinct reporters as the server's trust rules count them at `now`, each with
    /// what to do.
    fn auto_ban_decisions(
        &self,
        threshold: u32,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<(UserId, moderation::Decision)>, JobError>> + Send;
    /// Puts the user up for human review instead of banning them (`why`), with its audit row, in one
    /// transaction. False: banned meanwhile, or a review is open already.
    fn request_review(
        &self,
        user_id: UserId,
        why: &'static str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, JobError>> + Send;
    /// Users whose temporary ban has run out by `now`, at most `limit`.
    fn expired_bans(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<UserId>, JobError>> + Send;
    /// Lifts the user's ban as expired, notifying them, with its audit row. False: no longer banned.
    fn lift_expired_ban(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, JobError>> + Send;
    /// Referrals not yet rewarded whose invited account is not banned and has a verified phone, at most `limit`.
    fn pending_referrals(
        &self,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<referrals::ReferralFacts>, JobError>> + Send;
    /// Grants the rewards once (`reward_given`), with notifications. False: already given.
    fn grant_referral(
        &self,
        grant: &referrals::Grant,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, JobError>> + Send;
    /// Deletes the content of at most `limit` messages created before `cutoff`; returns how many. Where content is
    /// partitioned (PostgreSQL), none: it goes with [`JobStore::rotate_partitions`].
    fn delete_messages_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<u64, JobError>> + Send;
    /// Deletes the metadata (logs) of at most `limit` messages sent before `cutoff`, keeping each open
    /// conversation's highest seq; returns how many. Where metadata is partitioned (PostgreSQL), none: it goes
    /// with [`JobStore::rotate_partitions`].
    fn delete_logs_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<u64, JobError>> + Send;
    /// Where messages are partitioned by time (PostgreSQL): makes the partitions ahead and drops the content
    /// partitions all sent before `content_cutoff` and the metadata partitions all sent before `log_cutoff`.
    fn rotate_partitions(
        &self,
        now: DateTime<Utc>,
        content_cutoff: DateTime<Utc>,
        log_cutoff: DateTime<Utc>,
    ) -> impl Future<Output = Result<expiry::Rotated, JobError>> + Send;
    /// Clears the franking commitment of at most `limit` messages sent before `cutoff` (out of the report window:
    /// no reveal of them is accepted any more); returns how many.
    fn clear_commitments_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<u64, JobError>> + Send;
    /// Deletes at most `limit` pieces of report evidence (revealed messages, then call report snapshots) kept
    /// since before `cutoff`; returns how many.
    fn delete_evidence_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<u64, JobError>> + Send;
    /// Deletes at most `limit` refund marks of filtered matches whose refund window closed before `now`; returns
    /// how many.
    fn delete_refund_marks_before(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<u64, JobError>> + Send;
    /// Deletes at most `limit` of the job queue's runs that finished before `cutoff` (apalis keeps every one);
    /// returns how many.
    fn delete_finished_runs_before(
        &self,
        cutoff: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<u64, JobError>> + Send;
    /// Marks at most `limit` active matches past their expiry `expired`; returns them.
    fn expire_matches(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<expiry::ExpiredMatch>, JobError>> + Send;
    /// Resets daily balances of every user not yet reset on `day`; bonus units stay. Returns how many.
    fn reset_daily_quotas(
        &self,
        day: NaiveDate,
        amounts: &quotas::Amounts,
    ) -> impl Future<Output = Result<u64, JobError>> + Send;
    /// Deactivates subscriptions past their end and makes `is_premium` follow the active ones.
    fn refresh_subscriptions(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<subscriptions::Changes, JobError>> + Send;
    /// Records the outcome of one run of `job` (`error` is `None` for a success) where every node can read it:
    /// `/healthz/jobs` reports a job with no recent success as stalled, whichever process runs the jobs.
    fn record_run(
        &self,
        job: &'static str,
        error: Option<&str>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
    /// Records that a process has scheduled `job`, unless one did before: a job that never succeeded is
    /// stalled only once its period has passed since then.
    fn record_scheduled(
        &self,
        job: &'static str,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
    /// Pushes due by `now`, oldest first, at most `limit`.
    fn due_pushes(
        &self,
        now: DateTime<Utc>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<push::Pending>, JobError>> + Send;
    /// The push is done with (sent, or given up).
    fn push_done(&self, id: i64) -> impl Future<Output = Result<(), JobError>> + Send;
    /// The push is tried again at `not_before`.
    fn push_later(&self, id: i64, not_before: DateTime<Utc>) -> impl Future<Output = Result<(), JobError>> + Send;
    /// Forgets a device whose token the push service no longer knows (and its waiting pushes).
    fn forget_device(&self, device_id: i64) -> impl Future<Output = Result<(), JobError>> + Send;
    /// Accounts whose deletion's grace period is over at `now`, by id after `after`, at most `limit`.
    fn accounts_to_purge(
        &self,
        now: DateTime<Utc>,
        after: UserId,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<UserId>, JobError>> + Send;
    /// Purges the account: everything personal removed, the metadata kept for statistics re-keyed to a fresh
    /// tombstone, a running ban's phone kept as a blind index; one transaction. `None`: not due any more (a
    /// login undid the deletion, or it is purged already).
    fn purge_account(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<purge::Purged>, JobError>> + Send;
    /// Forgets the kept phones of purged accounts whose ban has ended by `now`; returns how many.
    fn forget_ended_phone_bans(&self, now: DateTime<Utc>) -> impl Future<Output = Result<u64, JobError>> + Send;
    /// Appends to `system_logs`.
    fn log(
        &self,
        action: JobAction,
        user_id: Option<UserId>,
        details: serde_json::Value,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<(), JobError>> + Send;
}

/// What the jobs need from live connections (the hub).
pub trait LiveEffects: Send + Sync + 'static {
    /// Bans the user: stored with its reason and its audit row naming `by` (one transaction), queue entry and
    /// match ended, sockets closed, notified.
    fn ban(
        &self,
        user_id: UserId,
        reason: &str,
        by: serde_json::Value,
    ) -> impl Future<Output = Result<bool, JobError>> + Send;
    /// Tells the two users of an expired match that it is over.
    fn match_expired(&self, expired: &expiry::ExpiredMatch);
    /// Delivers, live, the notifications these users received from a run that started at `since` (and queues
    /// pushes for those without an open socket).
    fn notified(&self, users: &[UserId], since: DateTime<Utc>) -> impl Future<Output = Result<(), JobError>> + Send;
    /// How to send a push, when push is configured.
    fn push_sender(&self) -> Option<push::SendPush>;
    /// What is known of these users' standing changed behind the nodes' backs (premium, here): every node drops
    /// the standing it cached beside their sockets.
    fn standing_changed(&self, users: &[UserId]);
}

/// The jobs' settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Distinct reporters that ban a user automatically.
    pub report_threshold: u32,
    /// Bonus text matches the invited user receives.
    pub referral_invited_bonus: i32,
    /// Bonus text matches the inviter receives (0: none).
    pub referral_inviter_bonus: i32,
    /// Message content older than this is deleted.
    pub message_retention: chrono::TimeDelta,
    /// A report's verified evidence (revealed messages) verified longer ago than this is deleted.
    pub evidence_retention: chrono::TimeDelta,
    /// Message metadata sent longer ago than this is deleted.
    pub message_log_retention: chrono::TimeDelta,
    /// The report window: a message sent longer ago than this can no longer be revealed, and its franking
    /// commitment is cleared.
    pub report_window: chrono::TimeDelta,
    pub quota_amounts: quotas::Amounts,
    pub timezone: chrono_tz::Tz,
}

/// Everything a job runs with, cheap to clone into every worker.
pub struct Context<S, L> {
    pub store: Arc<S>,
    pub live: Arc<L>,
    /// The injected time source (the server's clock), so tests never wait.
    pub now: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    pub settings: Settings,
    /// How the push job sends; `None` when push is not configured.
    pub push: Option<push::SendPush>,
}

impl<S, L> Clone for Context<S, L> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            live: self.live.clone(),
            now: self.now.clone(),
            settings: self.settings.clone(),
            push: self.push.clone(),
        }
    }
}

impl<S, L> Context<S, L> {
    pub fn now(&self) -> DateTime<Utc> {
        (self.now)()
    }
}
