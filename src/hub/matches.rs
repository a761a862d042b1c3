//! Asking for a match, opening it (the [`Pairing`] the matchmaker calls), ending it, and bans.

use std::collections::HashSet;

use chrono::TimeDelta;
use tanis_proto::{CloseCode, EndReason, ErrorCode, MatchInfo, MatchKind, ServerFrame};

use super::{ActiveMatch, Hub};
use crate::matching::rules::Candidate;
use crate::matching::{Pairing, Seeker};
use crate::quota;
use crate::store::{CreateMatchError, CreatedMatch, MatchRow, NewMatch, StoreError, UserRow};

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
        let store = &self.inner.store;
        let internal = |e: StoreError| {
            tracing::error!(error = %e, "match.find");
            refuse(&id, ErrorCode::Internal, "try again")
        };
        let user = store
            .user_by_id(user_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| refuse(&id, ErrorCode::Banned, "no account"))?;
        if user.is_banned {
            return Err(refuse(&id, ErrorCode::Banned, "the account is banned"));
        }
        let now = self.inner.clock.now();
        if !quota::can_pay(&user, kind) {
            let mut frame = ServerFrame::error(id, ErrorCode::QuotaExhausted, "no matches of this kind left today");
            if let ServerFrame::Error { resets_at, .. } = &mut frame {
                *resets_at = Some(quota::next_reset(now, self.inner.quotas.zone()));
            }
            return Err(Refusal(frame));
        }
        let since = now - TimeDelta::hours(self.inner.matching.recent_partner_hours.into());
        let excluded: HashSet<i64> =
            store.excluded_partners(user_id, since).await.map_err(internal)?.into_iter().collect();
        let location = user.location_lat.zip(user.location_lon);
        let candidate = Candidate { user_id, kind, excluded, nearby: location.filter(|_| nearby), queued_at: now };
        self.matchmaker().find(Seeker { candidate, session_id, request_id: id, public_key }).await;
        Ok(())
    }

    /// Ends the user's active match `match_id` (leave, block or ban) and tells both sides. False when the user
    /// has no such active match.
    pub(super) async fn end_match(
        &self,
        user_id: i64,
        match_id: i64,
        ours: EndReason,
        theirs: EndReason,
    ) -> Result<bool, StoreError> {
        let Some(active) = self.active_match(user_id).filter(|a| a.match_id == match_id) else {
            return Ok(false);
        };
        let reason = match ours {
            EndReason::Blocked => "blocked",
            EndReason::Banned => "banned",
            EndReason::Expired => "expired",
            _ => "left",
        };
        self.inner.store.end_match(match_id, reason, self.inner.clock.now()).await?;
        self.forget_match(match_id, &[(user_id, ours), (active.peer_id, theirs)]);
        Ok(true)
    }

    /// Drops the match from memory and tells each listed user why it ended.
    pub fn forget_match(&self, match_id: i64, told: &[(i64, EndReason)]) {
        {
            let mut active = self.inner.active.lock().expect("active lock");
            for (user, _) in told {
                if active.get(user).is_some_and(|a| a.match_id == match_id) {
                    active.remove(user);
                }
            }
        }
        for (user, reason) in told {
            self.inner.registry.send_to_user(*user, &ServerFrame::MatchEnded { id: None, match_id, reason: *reason });
        }
    }

    /// Bans the user: stored with its reason, out of the queue, their match ended, every socket closed.
    pub async fn ban(&self, user_id: i64, reason: &str, by: &serde_json::Value) -> Result<bool, StoreError> {
        if !self.inner.store.ban_user(user_id, reason, by, self.inner.clock.now()).await? {
            return Ok(false);
        }
        self.matchmaker().cancel(user_id).await;
        if let Some(active) = self.active_match(user_id) {
            self.end_match(user_id, active.match_id, EndReason::Banned, EndReason::Banned).await?;
        }
        self.inner.registry.close_user(user_id, CloseCode::Banned);
        tracing::info!(user_id, "user banned; sockets closed");
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
        let active = active_for(&row, user_id, &peer);
        self.inner.active.lock().expect("active lock").insert(user_id, active.clone());
        Ok(Some(active))
    }

    /// Opens the matches in the store (one transaction), then tells both users of each. Nothing is announced
    /// unless the store committed.
    async fn open_matches(&self, pairs: &[(Seeker, Seeker)]) -> Vec<Result<(), Vec<i64>>> {
        let now = self.inner.clock.now();
        let expires_at = now + TimeDelta::hours(self.inner.matching.match_ttl_hours.into());
        let news: Vec<NewMatch> = pairs
            .iter()
            .map(|(first, second)| NewMatch {
                user1_id: first.user_id(),
                user2_id: second.user_id(),
                kind: first.candidate.kind.as_str(),
                user1_public_key: &first.public_key,
                user2_public_key: &second.public_key,
                now,
                expires_at,
            })
            .collect();
        let results = match self.inner.store.create_matches(&news).await {
            Ok(results) => results,
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
                Err(CreateMatchError::Unavailable(user)) => {
                    let seeker = if user == first.user_id() { first } else { second };
                    self.tell_unavailable(seeker).await;
                    Err(vec![user])
                }
                Err(CreateMatchError::Store(e)) => {
                    tracing::error!(error = %e, "creating a match failed");
                    for seeker in [first, second] {
                        self.send_error(seeker, ErrorCode::Internal, "matching failed; ask again");
                    }
                    Err(vec![first.user_id(), second.user_id()])
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
            let active = active_for(row, me.id, peer);
            let rtc = (kind == MatchKind::Video).then(|| self.rtc_config());
            let frame = ServerFrame::MatchFound { info: active.info.clone(), balances: quota::balances(me), rtc };
            self.inner.active.lock().expect("active lock").insert(me.id, active);
            self.inner.registry.send_to_user(me.id, &frame);
        }
    }

    /// Tells a seeker why the store refused to match them.
    async fn tell_unavailable(&self, seeker: &Seeker) {
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
                self.inner.registry.send_to_session(seeker.user_id(), seeker.session_id, &frame);
            }
            Some(user) if user.is_banned => self.send_error(seeker, ErrorCode::Banned, "the account is banned"),
            _ => self.send_error(seeker, ErrorCode::AlreadyInMatch, "leave your current match first"),
        }
    }

    fn send_error(&self, seeker: &Seeker, code: ErrorCode, message: &str) {
        self.inner
            .registry
            .send_to_user(seeker.user_id(), &ServerFrame::error(seeker.request_id.clone(), code, message));
    }
}

/// The user's view of a match row.
fn active_for(row: &MatchRow, user_id: i64, peer: &UserRow) -> ActiveMatch {
    let info = MatchInfo {
        match_id: row.id,
        kind: kind_of(row),
        peer: handle(peer),
        peer_public_key: row.peer_public_key(user_id).to_owned(),
        // The one who waited longer (user1) starts: sends the first video offer, and is the E2E initiator.
        initiator: row.user1_id == user_id,
        expires_at: row.expired_at,
    };
    ActiveMatch { match_id: row.id, peer_id: peer.id, kind: info.kind, expires_at: row.expired_at, info }
}

impl Pairing for Hub {
    fn queued(&self, seeker: &Seeker, newly: bool) {
        let frame = if newly {
            ServerFrame::MatchQueued { id: seeker.request_id.clone(), kind: seeker.candidate.kind }
        } else {
            ServerFrame::error(seeker.request_id.clone(), ErrorCode::AlreadyQueued, "already waiting for a match")
        };
        self.inner.registry.send_to_session(seeker.user_id(), seeker.session_id, &frame);
    }

    async fn open(&self, pairs: &[(Seeker, Seeker)]) -> Vec<Result<(), Vec<i64>>> {
        self.open_matches(pairs).await
    }
}
