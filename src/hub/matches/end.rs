//! Ending a match: a leave or a block from a socket here (through the group commit, sharing the commit of the
//! messages before it), telling both sides wherever their sockets are (an expiry, a deletion or a ban tell them
//! through [`crate::delivery::Delivery::tell_ended`] too), and reading from the store the messages stored before
//! an end that a node holding its users' sockets has not carried yet.

use std::sync::Arc;

use tanis_proto::ServerFrame;

use crate::domain::{EndCause, MatchId, UserId};
use crate::hub::Hub;
use crate::hub::conversation::stored_msg;
use crate::store::{MatchEnd, StoreError};

impl Hub {
    /// Ends the user's active match `match_id` for `cause` (their leave or block) and tells both sides what
    /// [`EndCause::told`] says. False when the user has no such active match. The end is written by the group
    /// commit, in the batch after the messages already queued for the match, sharing their commit: leaving costs
    /// no transaction of its own.
    pub(in crate::hub) async fn end_match(
        &self,
        user_id: UserId,
        match_id: MatchId,
        cause: EndCause,
    ) -> Result<bool, Arc<StoreError>> {
        let Some(active) = self.active_match(user_id).filter(|a| a.match_id == match_id) else {
            return Ok(false);
        };
        let done = self.writer().end_match(MatchEnd { match_id, reason: cause }).await;
        let ended = done.await.map_err(|_| Arc::new(StoreError::Database(sqlx::Error::PoolClosed)))??;
        // Only the end that ended it tells: when both leave at once, the one whose end committed first is told
        // `left` and the other `peer_left`, once each (docs/protocol.md §5). The other end is answered all the
        // same: the match is over.
        if let Some(last) = ended {
            let (ours, theirs) = cause.told();
            self.delivery().tell_ended(match_id, &[(user_id, ours), (active.peer_id, theirs)], Some(last));
            // Held back here for a message another node stored before the end but has not relayed yet: read now,
            // so this user's `match.ended` (and the message before it) comes before the answer to their leave.
            self.catch_up(user_id).await;
        }
        Ok(true)
    }

    /// Every node holding the user's sockets tells an end only after the match's messages stored before it
    /// ([`crate::live::Live::end_after`]); those it has not carried (their node relays them later, or lost them)
    /// it reads here from the store, then tells the end. Runs until shutdown.
    pub(in crate::hub) async fn catch_up_loop(self) {
        let shutdown = self.loops().shutdown.clone();
        loop {
            let users = tokio::select! {
                _ = shutdown.cancelled() => return,
                users = self.sockets().catch_ups() => users,
            };
            for user_id in users {
                self.catch_up(user_id).await;
            }
        }
    }

    /// Carries the user's messages of a held end, read from the store, then tells the end. Should the store fail,
    /// the end is told all the same and the user resyncs: `resume` brings the messages.
    async fn catch_up(&self, user_id: UserId) {
        let Some((match_id, through, last)) = self.sockets().held_end(user_id) else { return };
        let since = self.now() - self.settings().message_retention;
        // Only what a relay has not brought yet: a few messages. More than a thousand missing is a relay lost
        // wholesale, whose users resync anyway.
        let missing = (last.0 - through.0).clamp(0, 1000);
        let stored = match self.store().messages_after(match_id, through, since, missing).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = %e, user_id = user_id.get(), "reading the messages before a match's end");
                self.sockets().want_resync([user_id]);
                Vec::new()
            }
        };
        let messages: Vec<ServerFrame> =
            stored.into_iter().filter(|m| m.seq <= last).map(|m| stored_msg(m, user_id)).collect();
        self.sockets().caught_up(user_id, match_id, &messages);
    }
}
