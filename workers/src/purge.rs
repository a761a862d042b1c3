//! The purge: accounts whose owner deleted them and did not sign in again within the grace period are removed —
//! everything personal deleted, the metadata kept for abuse statistics re-keyed to a tombstone with no link back
//! to them (the server's store says exactly what: src/store/purge.rs). Each account is its own transaction, so a
//! crash leaves every account whole or gone and the next run goes on; a purged account is no longer due, so a
//! second run changes nothing. Then the phones kept for bans that outlived their account are forgotten once those
//! bans end.

use serde_json::json;
use tanis_proto::UserId;

use crate::{Context, JobAction, JobError, JobStore, LiveEffects};

/// Accounts read per query; each is purged in its own transaction.
pub const BATCH: i64 = 100;

/// What one account's purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Purged {
    /// Its ban still ran: the phone's blind index is kept (`banned_phones`) until the ban ends.
    pub phone_ban_kept: bool,
}

pub async fn run<S: JobStore, L: LiveEffects>(ctx: &Context<S, L>) -> Result<(), JobError> {
    let now = ctx.now();
    let (mut purged, mut phone_bans_kept, mut after) = (0u64, 0u64, UserId(0));
    loop {
        // By id, so an account that is no longer due when its turn comes (a login undid it) is passed, not
        // read again forever.
        let due = ctx.store.accounts_to_purge(now, after, BATCH).await?;
        for &user_id in &due {
            if let Some(done) = ctx.store.purge_account(user_id, now).await? {
                purged += 1;
                phone_bans_kept += u64::from(done.phone_ban_kept);
                metrics::counter!("tanis_accounts_purged_total").increment(1);
            }
        }
        match due.last() {
            Some(&last) if due.len() == BATCH as usize => after = last,
            _ => break,
        }
    }
    let phone_bans_ended = ctx.store.forget_ended_phone_bans(now).await?;
    if purged + phone_bans_ended > 0 {
        let details = json!({ "accounts_purged": purged, "phone_bans_kept": phone_bans_kept, "phone_bans_ended": phone_bans_ended });
        ctx.store.log(JobAction::PurgeRun, None, details, now).await?;
    }
    Ok(())
}
