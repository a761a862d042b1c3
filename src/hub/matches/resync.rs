//! What a node knows of a user's match, from the store: loaded when they connect (a reconnect to another node),
//! and reset by a resync when delivery may have lost frames between nodes.

use tanis_proto::{CloseCode, MatchKind, ServerFrame};

use crate::domain::{UserId, handle};
use crate::hub::Hub;
use crate::live::{ActiveMatch, Common, Peer};
use crate::store::{MatchRow, StoreError, UserRow};

/// What two users' profiles share now: what they shared when the match opened is not kept.
fn common_of(me: &UserRow, peer: &UserRow) -> Common {
    Common::of((me.interests(), me.languages()), (peer.interests(), peer.languages()))
}

impl Hub {
    /// The stranger of a stored match as this side is told of them: with the video safety policy of a video match,
    /// weighed afresh (a review opened since the match began means caution now).
    async fn peer(&self, row: &MatchRow, peer: &UserRow) -> Peer {
        let video_safety = match row.kind {
            MatchKind::Video => {
                let settings = self.settings();
                Some(settings.video.safety(self.store(), peer.id, self.now(), &settings.trust).await)
            }
            MatchKind::Text => None,
        };
        Peer { id: peer.id, handle: handle(&peer.alias, &peer.tag), video_safety }
    }

    /// The user's active match, loaded from the store when this node does not know it yet (a reconnect).
    pub(in crate::hub) async fn load_active(&self, user_id: UserId) -> Result<Option<ActiveMatch>, StoreError> {
        if let Some(active) = self.active_match(user_id) {
            return Ok(Some(active));
        }
        let Some(row) = self.store().active_match_for(user_id).await? else {
            return Ok(None);
        };
        let peer_id = row.peer_of(user_id).expect("the user is in their own match");
        let store = self.store();
        let (Some(peer), Some(me)) = (store.user_by_id(peer_id).await?, store.user_by_id(user_id).await?) else {
            return Ok(None);
        };
        let active = ActiveMatch::of(&row, user_id, self.peer(&row, &peer).await, common_of(&me, &peer));
        self.live().remember_match(user_id, &active);
        // Between nodes, where this node starts counting the match's messages it carries (an end is told after
        // them): those up to here the client gets with `resume`, any later one is relayed to the socket registered
        // before this read. One node tells ends in order without a count.
        if self.delivery().cluster().is_some() {
            let last = self.store().last_seq(row.id).await?;
            self.live().with(user_id, |live| live.count_from(row.id, last));
        }
        Ok(Some(active))
    }

    /// Tells users who may have missed frames (delivery lost some between nodes) their match as stored, and to
    /// `resume` it. Runs until shutdown, one user at a time: a Redis restart resyncs a whole node.
    pub(in crate::hub) async fn resync_loop(self) {
        let shutdown = self.loops().shutdown.clone();
        loop {
            let users = tokio::select! {
                _ = shutdown.cancelled() => return,
                users = self.sockets().resyncs() => users,
            };
            for user_id in users {
                if let Err(e) = self.resync(user_id).await {
                    tracing::error!(error = %e, user_id = user_id.get(), "resyncing a user");
                }
            }
        }
    }

    async fn resync(&self, user_id: UserId) -> Result<(), StoreError> {
        // A resync stands in for events lost between nodes, a ban's kick among them: the database says so.
        let user = self.store().user_by_id(user_id).await?;
        if user.as_ref().is_some_and(|user| user.is_banned) {
            self.delivery().kick(user_id, CloseCode::Banned);
            return Ok(());
        }
        // And a deletion's (or a purge's): the account no longer stands behind any token.
        if user.is_none_or(|user| user.deleted_at.is_some()) {
            self.delivery().kick(user_id, CloseCode::InvalidToken);
            return Ok(());
        }
        // And a sign-out's: this node's sockets of logins the store says are revoked close.
        let mut signed_out = Vec::new();
        for login in self.sockets().logins_of(user_id) {
            if !self.store().login_is_live(user_id, &login.to_string()).await? {
                signed_out.push(login);
            }
        }
        if !signed_out.is_empty() {
            self.sockets().sign_out_here(user_id, &signed_out);
        }
        let active = match self.store().active_match_for(user_id).await? {
            None => None,
            Some(row) => {
                let peer_id = row.peer_of(user_id).expect("the user is in their own match");
                let store = self.store();
                match (store.user_by_id(peer_id).await?, store.user_by_id(user_id).await?) {
                    (Some(peer), Some(me)) => {
                        let common = common_of(&me, &peer);
                        Some(ActiveMatch::of(&row, user_id, self.peer(&row, &peer).await, common))
                    }
                    _ => None,
                }
            }
        };
        let frame = ServerFrame::Resync { active_match: active.as_ref().map(|a| a.info.clone()) };
        self.live().reset_match(user_id, active);
        self.delivery().to_user_here(user_id, &frame);
        metrics::counter!("tanis_resyncs_total").increment(1);
        Ok(())
    }
}
