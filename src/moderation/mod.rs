//! Moderation: banning a user, the one way whoever bans — a moderator through the API, or the jobs' automatic
//! bans, in a server or in a `tanis worker` (which has no hub). The ban is stored with its reason, the user's match
//! ends (both sides told), every socket of theirs closes with 4003 wherever it is, their devices get the ban's
//! notification when push is on, and a server's matching queue lets them go. It takes what it reaches as a
//! [`Site`] and never imports the hub: the hub hands its parts over ([`crate::hub::Hub::site`]).
//!
//! The trust rules (who counts toward the automatic ban, quarantine, the limits of new accounts) are pure and live
//! below, in [`crate::domain::trust`]; [`trust_rules`] turns the `[trust]` settings into them.

use tanis_proto::CloseCode;

use crate::config::TrustConfig;
use crate::delivery::Delivery;
use crate::domain::EndCause;
use crate::domain::declarations::Policy;
use crate::domain::trust::Rules;
use crate::matching::Queue;
use crate::notices::Notice;
use crate::push::queue_pushes;
use crate::store::{NewBan, Store, StoreError};

/// Where a ban is carried out: what it reaches besides the store.
#[derive(Clone, Copy)]
pub struct Site<'a> {
    pub store: &'a Store,
    /// The user's sockets, on this node or (with Redis) on whichever node they are.
    pub delivery: &'a Delivery,
    /// Whether push is configured: the ban then reaches the user's devices.
    pub push: bool,
    /// A server's matching queue, which the user leaves; `None` in a `tanis worker`, which has none.
    pub queue: Option<&'a Queue>,
}

/// Bans the user: stored with its reason, their match ended, every socket closed, the ban pushed to their
/// devices, out of the queue. False when there is no such user or they are banned already.
pub async fn ban(site: Site<'_>, order: &NewBan<'_>) -> Result<bool, StoreError> {
    let Site { store, delivery, push, queue } = site;
    if !enforce(store, delivery, order).await? {
        return Ok(false);
    }
    if push {
        // Their sockets are closing: the ban reaches their devices.
        queue_pushes(store, order.user_id, order.now).await?;
    }
    if let Some(queue) = queue {
        queue.cancel(order.user_id).await;
    }
    Ok(true)
}

/// Stores the ban, ends the user's match (both told) and closes every socket of theirs with 4003, wherever it
/// is. False when there is no such user or they are banned already.
async fn enforce(store: &Store, delivery: &Delivery, ban: &NewBan<'_>) -> Result<bool, StoreError> {
    let (user_id, now) = (ban.user_id, ban.now);
    // What the user is told: the reason code and, for a temporary ban, its end.
    let notice = Notice::Banned { reason_code: ban.reason_code, ends_at: ban.ends_at }.to_row();
    if store.ban_user(ban, &notice).await?.is_none() {
        return Ok(false);
    }
    // From the store, not a node's memory: the user's sockets may be on another node, or nowhere.
    if let Some(row) = store.active_match_for(user_id).await? {
        store.end_match(row.id, EndCause::Banned, now).await?;
        let peer = row.peer_of(user_id).expect("the user is in their own match");
        let (banned, other) = EndCause::Banned.told();
        delivery.tell_ended(row.id, &[(user_id, banned), (peer, other)], None);
    }
    delivery.kick(user_id, CloseCode::Banned);
    tracing::info!(user_id = user_id.get(), "user banned; sockets closed");
    Ok(true)
}

/// The trust rules in their units, from the `[trust]` settings and the automatic ban's threshold
/// (`jobs.report_threshold`).
pub fn trust_rules(trust: &TrustConfig, report_threshold: u32) -> Rules {
    let hours = |h: u32| chrono::TimeDelta::hours(h.into());
    Rules {
        threshold: report_threshold,
        min_account_age: hours(trust.reporter_min_account_age_hours),
        burst_min_reports: trust.burst_min_reports as usize,
        burst_created_within: hours(trust.burst_created_within_hours),
        new_account: hours(trust.new_account_hours),
        finds_per_minute: trust.limited_finds_per_minute,
        skips_per_minute: trust.limited_skips_per_minute,
        match_requires_verified_phone: trust.match_requires_verified_phone,
        quarantine_open_reports: trust.quarantine_open_reports as usize,
    }
}

/// What a "not as declared" report refunds and when such reports suspend a declaration, from `[trust]`.
pub fn declaration_policy(trust: &TrustConfig) -> Policy {
    Policy { threshold: trust.declaration_report_threshold, refunds_per_day: trust.declaration_refunds_per_day }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_trust_settings_are_the_rules_the_trust_tables_assume() {
        assert_eq!(trust_rules(&TrustConfig::default(), 10), crate::domain::trust::tests::rules());
    }
}
