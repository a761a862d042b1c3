//! Moderation: banning a user, the one way whoever bans — a moderator through the API, or the jobs' automatic
//! bans, in a server (through its hub) or in a `tanis worker` (which has none). The ban is stored with its reason,
//! the user's match ends (both sides told), every socket of theirs closes with 4003 wherever it is, their devices
//! get the ban's notification when push is on, and a server's hub takes them out of its matching queue.
//!
//! [`trust`] holds the pure rules of who counts toward the automatic ban, and of the limits on new accounts.

pub mod trust;

use tanis_proto::CloseCode;

use crate::delivery::Delivery;
use crate::domain::EndCause;
use crate::hub::{Hub, queue_pushes, tell_ended};
use crate::notices::Notice;
use crate::store::{NewBan, Store, StoreError};

/// Where a ban is carried out, which decides what it reaches besides the store and the sockets.
#[derive(Clone, Copy)]
pub enum Site<'a> {
    /// A server: its hub's store, delivery and push, and its matching queue, which the user leaves.
    Server(&'a Hub),
    /// A process without a hub (`tanis worker`): the user's sockets are reached through delivery (with Redis, on
    /// whichever node they are); `push` is whether push is configured.
    Worker { store: &'a Store, delivery: &'a Delivery, push: bool },
}

/// Bans the user: stored with its reason, their match ended, every socket closed, the ban pushed to their
/// devices, out of the queue. False when there is no such user or they are banned already.
pub async fn ban(site: Site<'_>, order: &NewBan<'_>) -> Result<bool, StoreError> {
    let (store, delivery, push) = match site {
        Site::Server(hub) => (hub.store(), hub.delivery(), hub.push_client().is_some()),
        Site::Worker { store, delivery, push } => (store, delivery, push),
    };
    if !enforce(store, delivery, order).await? {
        return Ok(false);
    }
    if push {
        // Their sockets are closing: the ban reaches their devices.
        queue_pushes(store, order.user_id, order.now).await?;
    }
    if let Site::Server(hub) = site {
        hub.leave_queue(order.user_id).await;
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
        tell_ended(delivery, row.id, &[(user_id, banned), (peer, other)]);
    }
    delivery.kick(user_id, CloseCode::Banned);
    tracing::info!(user_id = user_id.get(), "user banned; sockets closed");
    Ok(true)
}
