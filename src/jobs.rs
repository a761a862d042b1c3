//! The server's side of the background jobs: tanis-workers states what it needs as traits, and this module
//! implements them over the [`Store`] and the [`Hub`] (or, in a separate `tanis worker` process, without a
//! hub: see [`Detached`]).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use tanis_proto::MatchKind;
use tanis_workers::claims::{ClaimFacts, Decision, Kind};
use tanis_workers::expiry::{ExpiredMatch, Rotated};
use tanis_workers::moderation::Decision as BanDecision;
use tanis_workers::quotas::Amounts;
use tanis_workers::referrals::{Grant, ReferralFacts};
use tanis_workers::subscriptions::Changes;
use tanis_workers::{Context, JobAction, JobError, JobStore, LiveEffects, Settings};

use crate::clock::SharedClock;
use crate::config::{Config, TrustConfig};
use crate::delivery::Delivery;
use crate::domain::trust::{self, AutoBan};
use crate::domain::{AuditAction, BanReason, EndCause, MatchStatus, UserId};
use crate::hub::Hub;
use crate::moderation::{self, Site};
use crate::notices::Notice;
use crate::store::{ClaimVerdict, Lift, NewBan, Store};

/// The store as the jobs see it, with the trust rules the automatic ban decides by.
pub struct JobsStore(pub Store, pub TrustConfig);

impl JobStore for JobsStore {
    async fn pending_claims(&self, limit: i64) -> Result<Vec<ClaimFacts>, JobError> {
        let rows = self.0.pending_claims(limit).await?;
        Ok(rows
            .into_iter()
            .map(|r| ClaimFacts {
                claim_id: r.claim_id,
                claimant_id: r.claimant_id,
                match_id: r.match_id,
                kind: match r.kind {
                    MatchKind::Text => Kind::Text,
                    MatchKind::Video => Kind::Video,
                },
                match_created_at: r.match_created_at,
                match_active: r.match_status == MatchStatus::Active,
                call_connected_at: r.call_connected_at,
                claimant_first_sent: r.claimant_first_sent,
                peer_first_sent: r.peer_first_sent,
            })
            .collect())
    }

    async fn decide_claim(&self, d: &Decision, now: DateTime<Utc>) -> Result<bool, JobError> {
        let kind = match d.kind {
            Kind::Text => MatchKind::Text,
            Kind::Video => MatchKind::Video,
        };
        let notice = Notice::ClaimApproved { kind }.to_row();
        let verdict = ClaimVerdict {
            claim_id: d.claim_id,
            claimant_id: d.claimant_id,
            match_id: d.match_id,
            kind,
            approved: d.approved,
            reason: d.reason,
            notice: &notice,
        };
        Ok(self.0.decide_claim(&verdict, now).await?)
    }

    async fn auto_ban_decisions(
        &self,
        threshold: u32,
        now: DateTime<Utc>,
    ) -> Result<Vec<(UserId, BanDecision)>, JobError> {
        let rules = moderation::trust_rules(&self.1, threshold);
        // Each counting reporter counts once: fewer distinct reporters than the threshold cannot reach it.
        let mut decisions = Vec::new();
        for user_id in self.0.auto_ban_candidates(threshold.max(1).into()).await? {
            let reports = self.0.trust_reports(user_id).await?;
            match trust::verdict(&reports, now, &rules) {
                AutoBan::Ban => {
                    let trust::Counted { reporters, with_evidence } = trust::counted(&reports, now, &rules);
                    decisions.push((user_id, BanDecision::Ban { reporters, with_evidence }))
                }
                AutoBan::Review(why) => decisions.push((user_id, BanDecision::Review(why.as_str()))),
                AutoBan::Wait => {}
            }
        }
        Ok(decisions)
    }

    async fn request_review(&self, user_id: UserId, why: &'static str, now: DateTime<Utc>) -> Result<bool, JobError> {
        Ok(self.0.request_review(user_id, why, now).await?)
    }

    async fn expired_bans(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<UserId>, JobError> {
        Ok(self.0.expired_bans(now, limit).await?)
    }

    async fn lift_expired_ban(&self, user_id: UserId, now: DateTime<Utc>) -> Result<bool, JobError> {
        Ok(self.0.unban_user(user_id, Lift::Expired, &Notice::BanExpired {}.to_row(), now).await?)
    }

    async fn pending_referrals(&self, limit: i64) -> Result<Vec<ReferralFacts>, JobError> {
        let rows = self.0.pending_referrals(limit).await?;
        Ok(rows
            .into_iter()
            .map(|r| ReferralFacts { referral_id: r.referral_id, invited_id: r.invited_id, inviter_id: r.inviter_id })
            .collect())
    }

    async fn grant_referral(&self, g: &Grant, now: DateTime<Utc>) -> Result<bool, JobError> {
        let rewards: Vec<_> = std::iter::once((g.invited_id, g.invited_bonus))
            .chain(g.inviter)
            .map(|(user, units)| (user, units, Notice::ReferralReward { units }.to_row()))
            .collect();
        Ok(self.0.grant_referral(g.referral_id, &rewards, now).await?)
    }

    async fn delete_messages_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, JobError> {
        Ok(self.0.delete_messages_before(cutoff, limit).await?)
    }

    async fn delete_logs_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, JobError> {
        Ok(self.0.delete_logs_before(cutoff, limit).await?)
    }

    async fn rotate_partitions(
        &self,
        now: DateTime<Utc>,
        content_cutoff: DateTime<Utc>,
        log_cutoff: DateTime<Utc>,
    ) -> Result<Rotated, JobError> {
        let dropped = self.0.rotate_partitions(now, content_cutoff, log_cutoff).await?;
        Ok(Rotated { content: dropped.content, logs: dropped.logs })
    }

    async fn clear_commitments_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, JobError> {
        Ok(self.0.clear_commitments_before(cutoff, limit).await?)
    }

    async fn delete_evidence_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, JobError> {
        // A call report's snapshot is evidence too: it goes by the same retention, after the revealed messages.
        let evidence = self.0.delete_evidence_before(cutoff, limit).await?;
        let left = limit - i64::try_from(evidence).unwrap_or(limit);
        let snapshots = if left > 0 { self.0.delete_snapshots_before(cutoff, left).await? } else { 0 };
        Ok(evidence + snapshots)
    }

    async fn delete_refund_marks_before(&self, now: DateTime<Utc>, limit: i64) -> Result<u64, JobError> {
        Ok(self.0.delete_refund_marks_before(now, limit).await?)
    }

    async fn delete_finished_runs_before(&self, cutoff: DateTime<Utc>, limit: i64) -> Result<u64, JobError> {
        Ok(self.0.delete_finished_runs_before(cutoff, limit).await?)
    }

    async fn expire_matches(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<ExpiredMatch>, JobError> {
        let rows = self.0.expire_matches(now, limit).await?;
        Ok(rows
            .into_iter()
            .map(|r| ExpiredMatch { match_id: r.id, user1_id: r.user1_id, user2_id: r.user2_id })
            .collect())
    }

    async fn reset_daily_quotas(&self, day: NaiveDate, a: &Amounts) -> Result<u64, JobError> {
        Ok(self.0.reset_daily_quotas(day, [a.free_text, a.free_video, a.premium_text, a.premium_video]).await?)
    }

    async fn refresh_subscriptions(&self, now: DateTime<Utc>) -> Result<Changes, JobError> {
        let (deactivated, premium_changed) = self.0.refresh_subscriptions(now).await?;
        Ok(Changes { deactivated, premium_changed })
    }

    async fn record_run(&self, job: &'static str, error: Option<&str>, now: DateTime<Utc>) -> Result<(), JobError> {
        Ok(self.0.record_job_run(job, error, now).await?)
    }

    async fn record_scheduled(&self, job: &'static str, now: DateTime<Utc>) -> Result<(), JobError> {
        Ok(self.0.record_job_scheduled(job, now).await?)
    }

    async fn due_pushes(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<tanis_workers::push::Pending>, JobError> {
        let rows = self.0.due_pushes(now, limit).await?;
        Ok(rows
            .into_iter()
            .map(|r| tanis_workers::push::Pending {
                id: r.id,
                device_id: r.device_id,
                token: r.push_token,
                payload: r.payload,
                attempts: r.attempts,
            })
            .collect())
    }

    async fn push_done(&self, id: i64) -> Result<(), JobError> {
        Ok(self.0.push_done(id).await?)
    }

    async fn push_later(&self, id: i64, not_before: DateTime<Utc>) -> Result<(), JobError> {
        Ok(self.0.push_later(id, not_before).await?)
    }

    async fn forget_device(&self, device_id: i64) -> Result<(), JobError> {
        Ok(self.0.forget_device(device_id).await?)
    }

    async fn accounts_to_purge(&self, now: DateTime<Utc>, after: UserId, limit: i64) -> Result<Vec<UserId>, JobError> {
        Ok(self.0.accounts_to_purge(now, after, limit).await?)
    }

    async fn purge_account(
        &self,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> Result<Option<tanis_workers::purge::Purged>, JobError> {
        let purged = self.0.purge_account(user_id, now).await?;
        Ok(purged.map(|p| tanis_workers::purge::Purged { phone_ban_kept: p.phone_ban_kept }))
    }

    async fn forget_ended_phone_bans(&self, now: DateTime<Utc>) -> Result<u64, JobError> {
        Ok(self.0.forget_ended_phone_bans(now).await?)
    }

    async fn log(
        &self,
        action: JobAction,
        user_id: Option<UserId>,
        details: serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<(), JobError> {
        Ok(self.0.log_event(audit_action(action), user_id, &details, now).await?)
    }
}

/// How the audit trail names what a job records.
fn audit_action(action: JobAction) -> AuditAction {
    match action {
        JobAction::ClaimsRun => AuditAction::JobClaims,
        JobAction::ExpiryRun => AuditAction::JobExpiry,
        JobAction::PurgeRun => AuditAction::JobPurge,
        JobAction::QuotaReset => AuditAction::JobQuotaReset,
        JobAction::SubscriptionsRun => AuditAction::JobSubscriptions,
        JobAction::PushDropped => AuditAction::PushDropped,
    }
}

/// The reason code a job bans with (`tanis_workers::moderation::REASON`), parsed where it enters the server.
fn ban_reason(code: &str) -> Result<BanReason, JobError> {
    BanReason::parse(code).ok_or_else(|| format!("a job banned with {code:?}, which is no ban reason code").into())
}

impl LiveEffects for Hub {
    async fn ban(&self, user_id: UserId, reason: &str, by: serde_json::Value) -> Result<bool, JobError> {
        let order = NewBan::permanent(user_id, ban_reason(reason)?, &by, self.now());
        Ok(moderation::ban(self.site(), &order).await?)
    }

    fn match_expired(&self, m: &ExpiredMatch) {
        let (one, other) = EndCause::Expired.told();
        // No count to wait for: messages were refused from `expires_at` on, long before the job ended it.
        self.delivery().tell_ended(m.match_id, &[(m.user1_id, one), (m.user2_id, other)], None);
    }

    async fn notified(&self, users: &[UserId], since: DateTime<Utc>) -> Result<(), JobError> {
        Ok(self.push_since(users, since).await?)
    }

    fn push_sender(&self) -> Option<tanis_workers::push::SendPush> {
        self.push_client().map(|client| crate::push::sender(client, self.clock()))
    }

    fn standing_changed(&self, users: &[UserId]) {
        users.iter().for_each(|&user| Hub::standing_changed(self, user));
    }
}

/// Live effects for a `tanis worker` process, which holds no sockets and no hub: bans and expiries reach the
/// users' sockets through delivery (with Redis, on whichever node they are).
pub struct Detached {
    pub store: Store,
    pub clock: SharedClock,
    pub delivery: Delivery,
    /// Push notifications, when configured.
    pub push: Option<std::sync::Arc<crate::push::FcmClient>>,
}

impl LiveEffects for Detached {
    async fn ban(&self, user_id: UserId, reason: &str, by: serde_json::Value) -> Result<bool, JobError> {
        let order = NewBan::permanent(user_id, ban_reason(reason)?, &by, self.clock.now());
        let site = Site { store: &self.store, delivery: &self.delivery, push: self.push.is_some(), queue: None };
        Ok(moderation::ban(site, &order).await?)
    }

    fn match_expired(&self, m: &ExpiredMatch) {
        let (one, other) = EndCause::Expired.told();
        let told = [(m.user1_id, one), (m.user2_id, other)];
        self.delivery.tell_ended(m.match_id, &told, None);
    }

    async fn notified(&self, users: &[UserId], since: DateTime<Utc>) -> Result<(), JobError> {
        Ok(crate::hub::push_since(&self.store, &self.delivery, users, since, self.push.is_some()).await?)
    }

    fn push_sender(&self) -> Option<tanis_workers::push::SendPush> {
        self.push.clone().map(|client| crate::push::sender(client, self.clock.clone()))
    }

    fn standing_changed(&self, users: &[UserId]) {
        users.iter().for_each(|&user| self.delivery.standing_changed(user));
    }
}

/// Where the jobs queue their runs: one Redis when configured, else the application's own database.
///
/// On a Redis Cluster they stay in the database: apalis-redis's worker registration script also writes a key of
/// its own (`core:apalis:queues:list`) that it does not declare, in another slot than the queue's, which a
/// cluster refuses whatever hash tag the queue's keys carry (docs/operations.md).
pub async fn storage(store: &Store, config: &Config) -> Result<tanis_workers::schedule::Storage, JobError> {
    let one_redis =
        config.redis_url.as_deref().filter(|url| crate::redis_link::Target::parse(url).is_ok_and(|t| !t.is_cluster()));
    let backend = match one_redis {
        Some(url) => tanis_workers::schedule::Backend::Redis(apalis_redis::connect(url).await?),
        None => store.job_storage(),
    };
    let every = std::time::Duration::from_millis(config.jobs.poll_interval_ms);
    Ok(tanis_workers::schedule::Storage::new(backend, config.jobs.queue_namespace.clone(), every))
}

/// The jobs' settings from the server configuration.
pub fn settings(config: &Config) -> Settings {
    let (q, j) = (&config.quotas, &config.jobs);
    Settings {
        report_threshold: j.report_threshold,
        referral_invited_bonus: j.referral_invited_bonus,
        referral_inviter_bonus: j.referral_inviter_bonus,
        message_retention: TimeDelta::hours(j.message_retention_hours.into()),
        evidence_retention: TimeDelta::days(j.evidence_retention_days.into()),
        message_log_retention: TimeDelta::days(j.message_log_retention_days.into()),
        report_window: TimeDelta::days(j.report_window_days.into()),
        quota_amounts: Amounts {
            free_text: q.free_text_daily as i32,
            free_video: q.free_video_daily as i32,
            premium_text: q.premium_text_daily as i32,
            premium_video: q.premium_video_daily as i32,
        },
        timezone: q.zone(),
    }
}

/// A job context over this server's store and live effects, with its clock.
pub fn context<L: LiveEffects>(store: Store, live: L, clock: SharedClock, config: &Config) -> Context<JobsStore, L> {
    Context {
        store: Arc::new(JobsStore(store, config.trust.clone())),
        push: live.push_sender(),
        live: Arc::new(live),
        now: Arc::new(move || clock.now()),
        settings: settings(config),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_ban_names_the_reports_code_and_other_text_is_refused() {
        assert_eq!(ban_reason(tanis_workers::moderation::REASON).unwrap(), BanReason::Reports);
        assert!(ban_reason("reported by too many people").is_err());
    }
}
