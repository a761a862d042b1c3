//! Referral rewards: the invited user gets bonus text matches once (and the inviter too, when configured),
//! after the invited account is confirmed: it is not banned and its phone number is verified by a code
//! (`users.phone_verified_at`), so a bonus takes a real phone each and cannot be farmed with made-up numbers.

use crate::{Context, JobError, JobStore, LiveEffects};
use tanis_proto::UserId;

const BATCH: i64 = 500;

#[derive(Debug, Clone, PartialEq)]
pub struct ReferralFacts {
    pub referral_id: i64,
    pub invited_id: UserId,
    pub inviter_id: Option<UserId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub referral_id: i64,
    pub invited_id: UserId,
    pub invited_bonus: i32,
    /// None when there is no inviter reward (or the inviter's account is gone).
    pub inviter: Option<(UserId, i32)>,
}

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let now = ctx.now();
    let s = &ctx.settings;
    for r in ctx.store.pending_referrals(BATCH).await? {
        let grant = Grant {
            referral_id: r.referral_id,
            invited_id: r.invited_id,
            invited_bonus: s.referral_invited_bonus,
            inviter: r.inviter_id.filter(|_| s.referral_inviter_bonus > 0).map(|id| (id, s.referral_inviter_bonus)),
        };
        if ctx.store.grant_referral(&grant, now).await? {
            metrics::counter!("tanis_referral_rewards_total").increment(1);
            let mut told = vec![grant.invited_id];
            told.extend(grant.inviter.map(|(id, _)| id));
            ctx.live.notified(&told, now).await?;
        }
    }
    Ok(())
}
