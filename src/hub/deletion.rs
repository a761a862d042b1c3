//! An account its owner deleted leaves at once, wherever its sockets are: the store has already signed out every
//! login, ended the active match and closed the contact conversations (in the deletion's transaction); this tells the peer, closes the sockets,
//! drops what matching cached and takes the user out of the queue. Everything goes through delivery, so it reaches
//! every node; a node that missed it learns the same from the store at its next resync.

use tanis_proto::CloseCode;

use super::Hub;
use crate::auth::LoginId;
use crate::domain::{EndCause, MatchId, UserId};

impl Hub {
    /// Makes a committed deletion of `user_id` live: `revoked` are its logins (signed out in the store), `ended`
    /// the match it ended and the contact conversations it closed, as `(match id, peer id)`.
    pub async fn account_deleted(
        &self,
        user_id: UserId,
        revoked: Vec<LoginId>,
        ended: Option<(MatchId, UserId)>,
        contacts_ended: &[(MatchId, UserId)],
    ) {
        let delivery = self.delivery();
        if let Some((match_id, peer)) = ended {
            // Stored as a leave (`left`), and the peer learns what any leaving tells them: a deletion is not revealed.
            let (ours, theirs) = EndCause::Left.told();
            delivery.tell_ended(match_id, &[(user_id, ours), (peer, theirs)], None);
        }
        for &(match_id, peer) in contacts_ended {
            self.tell_contact_ended(match_id, &[user_id, peer]);
        }
        delivery.signed_out(user_id, revoked);
        // A socket whose token names no login is not one of those: every socket of the user closes, with the
        // same 4001.
        delivery.kick(user_id, CloseCode::InvalidToken);
        delivery.standing_changed(user_id);
        self.finder().cancel(user_id).await;
        tracing::info!(user_id = user_id.get(), "deleted account: sockets closed, match ended, queue left");
    }
}
