//! Keeping in touch: a proposal during a match (`contact.propose`), the match turning into the two's contact
//! conversation when both proposed, a new key for it (`contact.key`), and its end (by either side over REST, a
//! block, an account deletion). Messages in a contact conversation are the match's: `msg.send`, `msg.ack` and
//! `resume` take its `match_id` as they did during the match; the batch accepts them while the contact lasts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use tanis_proto::{Contact, ErrorCode, ServerFrame};

use super::Hub;
use super::context::Ctx;
use crate::delivery::SocketRef;
use crate::domain::{MatchId, UserId, handle};
use crate::store::{Keep, MatchRow, StoreError};

/// `contact.propose`: recorded in the active match; when the peer had proposed too, both are told `contact.added`
/// (and the match stops being their active match, wherever their sockets are).
pub(super) async fn propose(ctx: &Ctx, id: Option<String>, match_id: MatchId) {
    let hub = &ctx.hub;
    if hub.active_match(ctx.user_id).is_none_or(|a| a.match_id != match_id) {
        return ctx.error(id, ErrorCode::NotInMatch, "no such active match").await;
    }
    let now = hub.now();
    match hub.store().propose_keep(match_id, ctx.user_id, now).await {
        // Ended meanwhile, or a block either way (made over REST): nothing to keep.
        Ok(Keep::Refused) => ctx.error(id, ErrorCode::NotInMatch, "no such active match").await,
        Ok(Keep::Proposed { peer }) => {
            hub.delivery().to_user_in_match(peer, match_id, &ServerFrame::ContactProposed { match_id });
            ctx.reply(ServerFrame::Ok { id }).await;
        }
        Ok(Keep::Kept(row)) => match hub.announce_contact(&row, now).await {
            Ok(()) => ctx.reply(ServerFrame::Ok { id }).await,
            Err(e) => ctx.internal(id, e).await,
        },
        Err(e) => ctx.internal(id, e).await,
    }
}

/// `contact.key`: this device takes the contact conversation over with a new key. The peer is told, and so are the
/// user's other sockets (`mine: true`, naming this socket's session): a takeover by a stolen token is never silent
/// to the owner's own devices, and the session's list shows it (`contact_keys`).
pub(super) async fn publish_key(ctx: &mut Ctx, id: Option<String>, match_id: MatchId, public_key: String) {
    if STANDARD.decode(&public_key).map(|k| k.len()) != Ok(32) {
        return ctx.protocol_error(id, ErrorCode::InvalidBase64, "public_key must be 32 bytes in base64").await;
    }
    let hub = ctx.hub.clone();
    let login = ctx.socket.login.map(|login| login.to_string());
    let store = hub.store();
    match store.set_contact_key(match_id, ctx.user_id, &public_key, login.as_deref(), hub.now()).await {
        Ok(Some(peer)) => {
            let delivery = hub.delivery();
            let theirs = ServerFrame::ContactKey {
                match_id,
                peer_public_key: Some(public_key.clone()),
                public_key: None,
                mine: false,
                session_id: None,
            };
            delivery.to_user(peer, &theirs);
            let mine = ServerFrame::ContactKey {
                match_id,
                peer_public_key: None,
                public_key: Some(public_key),
                mine: true,
                session_id: login,
            };
            delivery.to_user_except(SocketRef { user_id: ctx.user_id, socket_id: ctx.socket.id }, &mine);
            ctx.reply(ServerFrame::Ok { id }).await;
        }
        Ok(None) => ctx.error(id, ErrorCode::NotInMatch, "no such contact").await,
        Err(e) => ctx.internal(id, e).await,
    }
}

impl Hub {
    /// Tells both people of a match that became a contact: every node holding their sockets forgets it as the
    /// active match, then sends `contact.added` (in place of `match.ended`).
    async fn announce_contact(&self, row: &MatchRow, since: DateTime<Utc>) -> Result<(), StoreError> {
        let store = self.store();
        for (user, peer) in [(row.user1_id, row.user2_id), (row.user2_id, row.user1_id)] {
            let Some(other) = store.user_by_id(peer).await? else { continue };
            let contact = Contact {
                match_id: row.id,
                peer: handle(&other.alias, &other.tag),
                peer_public_key: row.peer_public_key(user).to_owned(),
                initiator: row.user1_id == user,
                since,
            };
            self.delivery().match_kept(user, row.id, &ServerFrame::ContactAdded { contact });
        }
        Ok(())
    }

    /// Ends `user_id`'s contact conversation `match_id` for both (`DELETE /v1/contacts/{id}`); false when it is not
    /// an open contact of theirs.
    pub async fn end_contact(&self, user_id: UserId, match_id: MatchId) -> Result<bool, StoreError> {
        let Some(peer) = self.store().end_contact(match_id, user_id, self.now()).await? else {
            return Ok(false);
        };
        self.tell_contact_ended(match_id, &[user_id, peer]);
        Ok(true)
    }

    /// `contact.ended` to every socket of each user.
    pub fn tell_contact_ended(&self, match_id: MatchId, users: &[UserId]) {
        for user in users {
            self.delivery().to_user(*user, &ServerFrame::ContactEnded { match_id });
        }
    }
}
