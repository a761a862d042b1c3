//! Asking for a match, opening it (the [`Pairing`] the matchmaker calls), ending it, and bans.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use tanis_proto::{Balances, CloseCode, EndReason, ErrorCode, MatchInfo, MatchKind, ServerFrame};

use super::{ActiveMatch, Hub};
use crate::delivery::{Delivery, SessionRef};
use crate::matching::rules::Candidate;
use crate::matching::standing::Standing;
use crate::matching::{Pairing, Seeker};
use crate::quota;
use crate::store::{CreatedMatch, MatchEnd, MatchRow, NewBan, NewMatch, Opened, Opening, Store, StoreError, UserRow};

/// A `match.find` that could not be queued.
pub struct Refusal(pub ServerFrame);

fn refuse(id: &Option<String>, code: ErrorCode, message: &str) -> Refusal {
    Refusal(ServerFrame::error(id.clone(), code, message))
}

fn handle(user: &UserRow) -> String {
    format!("{}#{}", user.alias, user.tag)
}

fn kind_of(row: &MatchRow) -> MatchKind {
    if row.kind == "video" { MatchKind::Video } else { MatchKind::Text }
}

impl Hub {
    /// Checks a `match.find` (its key already validated) and hands it to the matchmaker, which answers `match.queued` (or pairs at once).
    pub(super) async fn find(
        &self,
        user_id: i64,
        session_id: u64,
        id: Option<String>,
        kind: MatchKind,
        public_key: String,
        nearby: bool,
    ) -> Result<(), Refusal> {
        if self.active_match(user_id).is_some() {
            return Err(refuse(&id, ErrorCode::AlreadyInMatch, "leave your current match first"));
        }
        let now = self.inner.clock.now();
        let since = now - TimeDelta::hours(self.inner.matching.recent_partner_hours.into());
        let sockets = self.inner.delivery.sockets();
        // The hot path reads nothing: the standing cached beside the user's sockets answers, unless it says they
        // cannot pay (it may have missed a refund or the daily reset) or they ask for nearby partners (the
        // location is read fresh). The store re-checks all of it when the match is created.
        let cached = if nearby {
            None
        } else {
            sockets.with_standing(user_id, |s| (s.consented && s.can_pay(kind)).then(|| s.excluded(since))).flatten()
        };
        let (excluded, location) = match cached {
            Some(excluded) => (excluded, None),
            None => {
                // Taken before reading: an event that changes the standing meanwhile makes this copy stale.
                let version = sockets.standing_version(user_id);
                let (user, mut standing) = self
                    .load_standing(user_id, since)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "match.find");
                        refuse(&id, ErrorCode::Internal, "try again")
                    })?
                    .ok_or_else(|| refuse(&id, ErrorCode::Banned, "no account"))?;
                if user.is_banned {
                    return Err(refuse(&id, ErrorCode::Banned, "the account is banned"));
                }
                let consented = standing.consented;
                let excluded = standing.excluded(since);
                sockets.set_standing(user_id, standing, version);
                if !consented {
                    let message = format!("accept privacy notice version {} first", self.inner.privacy_notice_version);
                    return Err(refuse(&id, ErrorCode::ConsentRequired, &message));
                }
                if !quota::can_pay(&user, kind) {
                    let mut frame =
                        ServerFrame::error(id, ErrorCode::QuotaExhausted, "no matches of this kind left today");
                    if let ServerFrame::Error { resets_at, .. } = &mut frame {
                        *resets_at = Some(quota::next_reset(now, self.inner.quotas.zone()));
                    }
                    return Err(Refusal(frame));
                }
                (excluded, user.location_lat.zip(user.location_lon))
            }
        };
        let candidate = Candidate { user_id, kind, excluded, nearby: location.filter(|_| nearby), queued_at: now };
        let seeker = Seeker { candidate, session_id, request_id: id.clone(), public_key };
        match self.matchmaker().find(seeker).await {
            Ok(None) => {}
            // Newly queued in the cluster, the elected matchmaker answers (see `matching::cluster`).
            Ok(Some((seeker, false))) => Pairing::queued(self, &seeker, false),
            Ok(Some(_)) => {}
            Err(e) => {
                tracing::error!(error = %e, "queueing in the cluster");
                return Err(refuse(&id, ErrorCode::Internal, "try again"));
            }
        }
        Ok(())
    }

    /// Reads the user and what matching needs to know of them from the store; `None` when there is no such user.
    async fn load_standing(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
    ) -> Result<Option<(UserRow, Standing)>, StoreError> {
        let store = &self.inner.store;
        let Some(user) = store.user_by_id(user_id).await? else { return Ok(None) };
        let blocked = store.blocked_either_way(user_id).await?.into_iter().collect();
        let partners = store.partners_since(user_id, since).await?.into_iter().collect();
        let consented = user.privacy_notice_version == self.inner.privacy_notice_version;
        let standing = Standing { balances: quota::balances(&user), blocked, partners, consented };
        Ok(Some((user, standing)))
    }

    /// Ends the user's active match `match_id` (leave, block or ban) and tells both sides. False when the user
    /// has no such active match. The end is written by the relay writer, in the batch after the messages
    /// already queued for the match, sharing their commit: leaving costs no transaction of its own.
    pub(super) async fn end_match(
        &self,
        user_id: i64,
        match_id: i64,
        ours: EndReason,
        theirs: EndReason,
    ) -> Result<bool, Arc<StoreError>> {
        let Some(active) = self.active_match(user_id).filter(|a| a.match_id == match_id) else {
            return Ok(false);
        };
        let reason = match ours {
            EndReason::Blocked => "blocked",
            EndReason::Banned => "banned",
            EndReason::Expired => "expired",
            _ => "left",
        };
        let done = self.inner.writer.end_match(MatchEnd { match_id, reason }).await;
        // Whether this end or another (the peer leaving at the same moment) ended it, both sides are told.
        done.await.map_err(|_| Arc::new(StoreError::Database(sqlx::Error::PoolClosed)))??;
        self.forget_match(match_id, &[(user_id, ours), (active.peer_id, theirs)]);
        Ok(true)
    }

    /// Tells each listed user that the match ended and why; every node holding their sockets forgets it.
    pub fn forget_match(&self, match_id: i64, told: &[(i64, EndReason)]) {
        tell_ended(&self.inner.delivery, match_id, told);
    }

    /// Bans the user: stored with its reason, out of the queue, their match ended, every socket closed. False
    /// when there is no such user or they are banned already.
    pub async fn ban(&self, order: &NewBan<'_>) -> Result<bool, StoreError> {
        if !ban(&self.inner.store, &self.inner.delivery, order).await? {
            return Ok(false);
        }
        if self.push_client().is_some() {
            // Their sockets are closing: the ban reaches their devices.
            super::queue_pushes(&self.inner.store, order.user_id, order.now).await?;
        }
        self.matchmaker().cancel(order.user_id).await;
        Ok(true)
    }

    /// The user's active match, loaded from the store when this node does not know it yet (a reconnect).
    pub(super) async fn load_active(&self, user_id: i64) -> Result<Option<ActiveMatch>, StoreError> {
        if let Some(active) = self.active_match(user_id) {
            return Ok(Some(active));
        }
        let Some(row) = self.inner.store.active_match_for(user_id).await? else {
            return Ok(None);
        };
        let peer_id = row.peer_of(user_id).expect("the user is in their own match");
        let Some(peer) = self.inner.store.user_by_id(peer_id).await? else {
            return Ok(None);
        };
        let active = active_for(&row, user_id, peer.id, handle(&peer));
        self.inner.delivery.sockets().remember_match(user_id, &active);
        Ok(Some(active))
    }

    /// Tells users who may have missed frames (delivery lost some between nodes) their match as stored, and to
    /// `resume` it. Runs until shutdown, one user at a time: a Redis restart resyncs a whole node.
    pub(super) async fn resync_loop(self) {
        let shutdown = self.inner.shutdown.clone();
        loop {
            let users = tokio::select! {
                _ = shutdown.cancelled() => return,
                users = self.inner.delivery.sockets().resyncs() => users,
            };
            for user_id in users {
                if let Err(e) = self.resync(user_id).await {
                    tracing::error!(error = %e, user_id, "resyncing a user");
                }
            }
        }
    }

    async fn resync(&self, user_id: i64) -> Result<(), StoreError> {
        // A resync stands in for events lost between nodes, a ban's kick among them: the database says so.
        let user = self.inner.store.user_by_id(user_id).await?;
        if user.as_ref().is_some_and(|user| user.is_banned) {
            self.inner.delivery.kick(user_id, CloseCode::Banned);
            return Ok(());
        }
        // And a deletion's (or a purge's): the account no longer stands behind any token.
        if user.is_none_or(|user| user.deleted_at.is_some()) {
            self.inner.delivery.kick(user_id, CloseCode::InvalidToken);
            return Ok(());
        }
        // And a sign-out's: this node's sockets of logins the store says are revoked close.
        let mut signed_out = Vec::new();
        for login in self.inner.delivery.sockets().logins_of(user_id) {
            if !self.inner.store.login_is_live(user_id, &login.to_string()).await? {
                signed_out.push(login);
            }
        }
        if !signed_out.is_empty() {
            self.inner.delivery.sockets().sign_out_here(user_id, &signed_out);
        }
        let active = match self.inner.store.active_match_for(user_id).await? {
            None => None,
            Some(row) => {
                let peer_id = row.peer_of(user_id).expect("the user is in their own match");
                self.inner
                    .store
                    .user_by_id(peer_id)
                    .await?
                    .map(|peer| active_for(&row, user_id, peer.id, handle(&peer)))
            }
        };
        let frame = ServerFrame::Resync { active_match: active.as_ref().map(|a| a.info.clone()) };
        self.inner.delivery.sockets().reset_match(user_id, active);
        self.inner.delivery.to_user_here(user_id, &frame);
        metrics::counter!("tanis_resyncs_total").increment(1);
        Ok(())
    }

    /// Opens the matches through the relay writer (in its next batch, sharing the commit of the messages and the
    /// ends of the moment), then tells both users of each. Nothing is announced unless the store committed.
    async fn open_matches(&self, pairs: &[(Seeker, Seeker)], epoch: Option<i64>) -> Vec<Result<(), Vec<i64>>> {
        let now = self.inner.clock.now();
        let expires_at = now + TimeDelta::hours(self.inner.matching.match_ttl_hours.into());
        let matches = pairs
            .iter()
            .map(|(first, second)| NewMatch {
                user1_id: first.user_id(),
                user2_id: second.user_id(),
                kind: first.candidate.kind.as_str(),
                user1_public_key: first.public_key.clone(),
                user2_public_key: second.public_key.clone(),
                now,
                expires_at,
            })
            .collect();
        let done = self.inner.writer.open(Opening { matches, epoch }).await;
        let outcome = done.await.unwrap_or_else(|_| Err(Arc::new(StoreError::Database(sqlx::Error::PoolClosed))));
        let results = match outcome {
            Ok(Opened::Pairs(results)) => results,
            // A newer matchmaker holds the lease: these seekers are its now (they stay in the cluster queue).
            Ok(Opened::Fenced) => {
                tracing::warn!(epoch, "fenced off by a newer matchmaker");
                return pairs.iter().map(|(a, b)| Err(vec![a.user_id(), b.user_id()])).collect();
            }
            Err(e) => {
                tracing::error!(error = %e, pairs = pairs.len(), "creating matches failed");
                return pairs
                    .iter()
                    .map(|(first, second)| {
                        for seeker in [first, second] {
                            self.send_error(seeker, ErrorCode::Internal, "matching failed; ask again");
                        }
                        Err(vec![first.user_id(), second.user_id()])
                    })
                    .collect();
            }
        };
        let mut outcomes = Vec::with_capacity(pairs.len());
        for ((first, second), result) in pairs.iter().zip(results) {
            outcomes.push(match result {
                Ok(created) => {
                    self.announce(&created);
                    Ok(())
                }
                Err(user) => {
                    let seeker = if user == first.user_id() { first } else { second };
                    self.tell_unavailable(seeker).await;
                    Err(vec![user])
                }
            });
        }
        outcomes
    }

    /// Makes a committed match active on this node and sends `match.found` to both sides.
    fn announce(&self, created: &CreatedMatch) {
        let CreatedMatch { row, user1, user2 } = created;
        let kind = kind_of(row);
        metrics::counter!("tanis_matches_total", "kind" => kind.as_str()).increment(1);
        for (me, peer) in [(user1, user2), (user2, user1)] {
            let active = active_for(row, me.id, peer.id, format!("{}#{}", peer.alias, peer.tag));
            let rtc = (kind == MatchKind::Video).then(|| self.rtc_config());
            let balances = Balances {
                daily_text: me.daily_chat_balance,
                daily_video: me.daily_video_balance,
                bonus_text: me.bonus_chat_balance,
                bonus_video: me.bonus_video_balance,
            };
            let frame = ServerFrame::MatchFound { info: active.info.clone(), balances, rtc };
            self.inner.delivery.match_opened(me.id, active, balances, &frame);
        }
    }

    /// Tells a seeker why the store refused to match them.
    async fn tell_unavailable(&self, seeker: &Seeker) {
        // What the node holding their socket cached was wrong (or the refusal is news to it): it reloads.
        self.inner.delivery.standing_changed(seeker.user_id());
        let user = self.inner.store.user_by_id(seeker.user_id()).await.ok().flatten();
        match user {
            Some(user) if !quota::can_pay(&user, seeker.candidate.kind) => {
                let resets_at = quota::next_reset(self.inner.clock.now(), self.inner.quotas.zone());
                let frame = ServerFrame::Error {
                    id: seeker.request_id.clone(),
                    code: ErrorCode::QuotaExhausted,
                    message: "no matches of this kind left today".into(),
                    resets_at: Some(resets_at),
                };
                self.inner
                    .delivery
                    .to_session(SessionRef { user_id: seeker.user_id(), session_id: seeker.session_id }, &frame);
            }
            Some(user) if user.is_banned => self.send_error(seeker, ErrorCode::Banned, "the account is banned"),
            _ => self.send_error(seeker, ErrorCode::AlreadyInMatch, "leave your current match first"),
        }
    }

    fn send_error(&self, seeker: &Seeker, code: ErrorCode, message: &str) {
        self.inner.delivery.to_user(seeker.user_id(), &ServerFrame::error(seeker.request_id.clone(), code, message));
    }
}

/// Tells each listed user that the match ended and why; every node holding their sockets forgets it.
pub fn tell_ended(delivery: &Delivery, match_id: i64, told: &[(i64, EndReason)]) {
    for (user, reason) in told {
        delivery.match_ended(*user, match_id, &ServerFrame::MatchEnded { id: None, match_id, reason: *reason });
    }
}

/// Bans the user: stored with its reason, their match ended (both told), every socket of theirs closed with
/// 4003, wherever it is. Needs no hub: `tanis worker` bans through this too. False when there is no such user
/// or they are banned already.
pub async fn ban(store: &Store, delivery: &Delivery, ban: &NewBan<'_>) -> Result<bool, StoreError> {
    let (user_id, now) = (ban.user_id, ban.now);
    if store.ban_user(ban).await?.is_none() {
        return Ok(false);
    }
    // From the store, not a node's memory: the user's sockets may be on another node, or nowhere.
    if let Some(row) = store.active_match_for(user_id).await? {
        store.end_match(row.id, "banned", now).await?;
        let peer = row.peer_of(user_id).expect("the user is in their own match");
        tell_ended(delivery, row.id, &[(user_id, EndReason::Banned), (peer, EndReason::Banned)]);
    }
    delivery.kick(user_id, CloseCode::Banned);
    tracing::info!(user_id, "user banned; sockets closed");
    Ok(true)
}

/// The user's view of a match row.
fn active_for(row: &MatchRow, user_id: i64, peer_id: i64, peer_handle: String) -> ActiveMatch {
    let info = MatchInfo {
        match_id: row.id,
        kind: kind_of(row),
        peer: peer_handle,
        peer_public_key: row.peer_public_key(user_id).to_owned(),
        // The one who waited longer (user1) starts: sends the first video offer, and is the E2E initiator.
        initiator: row.user1_id == user_id,
        expires_at: row.expired_at,
    };
    ActiveMatch {
        match_id: row.id,
        peer_id,
        kind: info.kind,
        opened_at: row.created_at,
        expires_at: row.expired_at,
        info,
    }
}

impl Pairing for Hub {
    fn queued(&self, seeker: &Seeker, newly: bool) {
        let frame = if newly {
            ServerFrame::MatchQueued { id: seeker.request_id.clone(), kind: seeker.candidate.kind }
        } else {
            ServerFrame::error(seeker.request_id.clone(), ErrorCode::AlreadyQueued, "already waiting for a match")
        };
        self.inner.delivery.to_session(SessionRef { user_id: seeker.user_id(), session_id: seeker.session_id }, &frame);
    }

    async fn open(&self, pairs: &[(Seeker, Seeker)]) -> Vec<Result<(), Vec<i64>>> {
        self.open_matches(pairs, None).await
    }
}

impl crate::matching::cluster::Opener for Hub {
    async fn fence(&self) -> Option<i64> {
        self.inner.store.matchmaker_fence().await.inspect_err(|e| tracing::warn!(error = %e, "reading the fence")).ok()
    }

    async fn open_fenced(&self, pairs: &[(Seeker, Seeker)], epoch: i64) -> Vec<Result<(), Vec<i64>>> {
        self.open_matches(pairs, Some(epoch)).await
    }

    fn queued(&self, seeker: &Seeker) {
        Pairing::queued(self, seeker, true);
    }
}
