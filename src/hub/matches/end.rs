//! Ending a match: a leave or a block from a socket here (through the group commit, sharing the commit of the
//! messages before it), and telling users that a match ended, wherever their sockets are (an expiry; a deletion or
//! a ban tell them through [`crate::delivery::Delivery::tell_ended`] too).

use std::sync::Arc;

use tanis_proto::EndReason;

use crate::domain::{EndCause, MatchId, UserId};
use crate::hub::Hub;
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
        if ended {
            let (ours, theirs) = cause.told();
            self.forget_match(match_id, &[(user_id, ours), (active.peer_id, theirs)]);
        }
        Ok(true)
    }

    /// Tells each listed user that the match ended and why; every node holding their sockets forgets it.
    pub fn forget_match(&self, match_id: MatchId, told: &[(UserId, EndReason)]) {
        self.delivery().tell_ended(match_id, told);
    }
}
