//! Whom a waiting user may meet, kept current while they wait: a report that quarantines them, reports resolved
//! by a moderator, a block. The change reaches every node holding the user's sockets (delivery's
//! `StandingChanged`); that node reads their standing afresh and gives their place in the queue what it says —
//! its own matchmaker's place, or the elected matchmaker's through Redis — so no node pairs them on what they
//! were when they asked.

use chrono::TimeDelta;

use super::Finder;
use crate::domain::UserId;
use crate::matching::Fresh;
use crate::store::StoreError;

impl Finder {
    /// Refreshes the places of users whose standing changed, one at a time, until shutdown.
    pub(super) async fn standing_loop(self) {
        let shutdown = self.inner.shutdown.clone();
        loop {
            let users = tokio::select! {
                _ = shutdown.cancelled() => return,
                users = self.live().standing_changes() => users,
            };
            for user_id in users {
                if let Err(e) = self.refresh_place(user_id).await {
                    tracing::error!(error = %e, user_id = user_id.get(), "refreshing a waiting user's place");
                }
            }
        }
    }

    async fn refresh_place(&self, user_id: UserId) -> Result<(), StoreError> {
        // In a match, they wait nowhere: a find sent again while their pair was being opened was served by that
        // match, and its place went with the match's (the engine's `served`, SETTLE and REMOVE; docs/testing.md row
        // 31). Refreshing it here would send the elected matchmaker a find, bringing the matched user back.
        if self.live().active_match(user_id).is_some() {
            return Ok(());
        }
        let since = self.inner.services.clock.now()
            - TimeDelta::hours(self.inner.settings.matching.recent_partner_hours.into());
        // Taken before reading, as a find does: a change meanwhile makes this copy stale.
        let version = self.live().standing_version(user_id);
        let Some((user, mut standing)) = self.load_standing(user_id, since).await? else { return Ok(()) };
        // A ban closes their sockets, and with them their place.
        if user.is_banned {
            return Ok(());
        }
        let fresh =
            Fresh { excluded: standing.excluded(since), quarantined: standing.quarantined, gender: standing.gender };
        self.live().set_standing(user_id, standing, version);
        if !self.inner.queue.refresh(user_id, fresh).await {
            // Left as it was, their place would keep a withdrawn gender (or miss a block) until they next ask: read
            // afresh and tried again in a second, for as long as they stay connected here.
            let live = self.inner.services.live.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                live.restand(user_id);
            });
        }
        Ok(())
    }
}
