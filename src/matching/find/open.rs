//! Opening the pairs the matchmaker found: this is the [`Pairing`] it calls (and the cluster's [`Opener`]). The
//! matches are written by the group commit, in its next batch, and announced (`match.found`, through delivery)
//! only once the store committed them; a seeker the store refused is told why.

use std::sync::Arc;

use chrono::TimeDelta;
use tanis_proto::{Balances, ErrorCode, MatchKind, ServerFrame};

use super::{Services, Settings};
use crate::delivery::{Delivery, SocketRef};
use crate::domain::{UserId, handle};
use crate::live::{ActiveMatch, Common, Peer};
use crate::matching::cluster::Opener;
use crate::matching::{Pairing, Seeker};
use crate::quota;
use crate::store::{CreatedMatch, NewMatch, NodeFence, Opened, Opening, Refusal, Refused, StoreError};

/// What opens matches: the group commit writes them, delivery tells both sides.
pub(super) struct MatchOpener {
    services: Services,
    settings: Arc<Settings>,
}

impl MatchOpener {
    pub(super) fn new(services: Services, settings: Arc<Settings>) -> Self {
        Self { services, settings }
    }

    /// Opens the matches through the group commit (in its next batch, sharing the commit of the messages and the
    /// ends of the moment), then tells both users of each. Nothing is announced unless the store committed; `None`
    /// when a newer matchmaker holds the fence above `epoch`.
    async fn open_matches(
        &self,
        pairs: &[(Seeker, Seeker)],
        epoch: Option<i64>,
        node: Option<NodeFence>,
    ) -> Option<Vec<Result<(), Vec<UserId>>>> {
        let now = self.services.clock.now();
        let expires_at = now + TimeDelta::hours(self.settings.matching.match_ttl_hours.into());
        let matches = pairs
            .iter()
            .map(|(first, second)| NewMatch {
                user1_id: first.user_id(),
                user2_id: second.user_id(),
                kind: first.candidate.kind,
                user1_public_key: first.public_key.clone(),
                user2_public_key: second.public_key.clone(),
                user1_asked: first.asked(),
                user2_asked: second.asked(),
                user1_filtered: first.candidate.seeking.is_some(),
                user2_filtered: second.candidate.seeking.is_some(),
                now,
                expires_at,
            })
            .collect();
        let done = self.services.writer.open(Opening { matches, epoch, node }).await;
        let outcome = done.await.unwrap_or_else(|_| Err(Arc::new(StoreError::Database(sqlx::Error::PoolClosed))));
        let results = match outcome {
            Ok(Opened::Pairs(results)) => results,
            // A newer matchmaker holds the lease: these seekers are its now (their entries stay in the cluster
            // queue), and this one forgets them.
            Ok(Opened::Fenced) => {
                tracing::warn!(epoch, "fenced off: a newer matchmaker, or the elected one took this node's places");
                return None;
            }
            Err(e) => {
                tracing::error!(error = %e, pairs = pairs.len(), "creating matches failed");
                let failed = pairs.iter().map(|(first, second)| {
                    for seeker in [first, second] {
                        self.send_error(seeker, ErrorCode::Internal, "matching failed; ask again");
                    }
                    Err(vec![first.user_id(), second.user_id()])
                });
                return Some(failed.collect());
            }
        };
        let mut outcomes = Vec::with_capacity(pairs.len());
        for ((first, second), result) in pairs.iter().zip(results) {
            outcomes.push(match result {
                Ok(created) => {
                    self.announce(&created).await;
                    Ok(())
                }
                Err(Refused { user, why }) => {
                    let seeker = if user == first.user_id() { first } else { second };
                    match why {
                        Refusal::Unavailable => self.tell_unavailable(seeker).await,
                        // A stale copy of a request a match was opened for: they were told of that match.
                        Refusal::Spent => {}
                        // A block made while the pair was being opened: this side asks again (and reads whom they
                        // may meet afresh), the other waits on.
                        Refusal::Apart => self.send_error(seeker, ErrorCode::Internal, "matching failed; ask again"),
                    }
                    Err(vec![user])
                }
            });
        }
        Some(outcomes)
    }

    /// Makes a committed match active on this node and sends `match.found` to both sides, one after the other:
    /// the first may act on it (leave) before the second hears it (delivery keeps that second side from
    /// remembering a match that already ended; a test holds the announce between the two sides to prove it).
    async fn announce(&self, created: &CreatedMatch) {
        let CreatedMatch { row, user1, user2 } = created;
        // The profiles as the match's own transaction read them.
        let common = Common::of(user1.profile(), user2.profile());
        let kind = row.kind;
        metrics::counter!("tanis_matches_total", "kind" => kind.as_str()).increment(1);
        let now = self.services.clock.now();
        // Read before either side is told, so that the two hear of their match as close together as before.
        let (safety_of_2, safety_of_1) = match kind {
            MatchKind::Video => {
                let video = &self.settings.video;
                let of = |peer| video.safety(&self.services.store, peer, now, &self.settings.trust);
                let (of_2, of_1) = tokio::join!(of(user2.id), of(user1.id));
                (Some(of_2), Some(of_1))
            }
            MatchKind::Text => (None, None),
        };
        for (me, peer, video_safety) in [(user1, user2, safety_of_2), (user2, user1, safety_of_1)] {
            let peer_view = Peer { id: peer.id, handle: handle(&peer.alias, &peer.tag), video_safety };
            let active = ActiveMatch::of(row, me.id, peer_view, common);
            let rtc = (kind == MatchKind::Video).then(|| self.settings.video.rtc_config(now));
            let balances = Balances {
                daily_text: me.daily_chat_balance,
                daily_video: me.daily_video_balance,
                bonus_text: me.bonus_chat_balance,
                bonus_video: me.bonus_video_balance,
            };
            let frame = ServerFrame::MatchFound { info: active.info.clone(), balances, rtc };
            self.services.delivery.match_opened(me.id, active, (balances, me.matches_opened), &frame);
            if me.id == user1.id {
                self.services.store.fail_points.rendezvous("announce.between_sides").await;
            }
        }
    }

    /// Tells a seeker why the store refused to match them.
    async fn tell_unavailable(&self, seeker: &Seeker) {
        // What the node holding their socket cached was wrong (or the refusal is news to it): it reloads.
        self.services.delivery.standing_changed(seeker.user_id());
        let user = self.services.store.user_by_id(seeker.user_id()).await.ok().flatten();
        match user {
            Some(user) if !quota::can_pay(&user, seeker.candidate.kind) => {
                let resets_at = quota::next_reset(self.services.clock.now(), self.settings.quotas.zone());
                let frame = ServerFrame::Error {
                    id: seeker.request_id.clone(),
                    code: ErrorCode::QuotaExhausted,
                    message: "no matches of this kind left today".into(),
                    resets_at: Some(resets_at),
                    retry_after_ms: None,
                };
                let to = SocketRef { user_id: seeker.user_id(), socket_id: seeker.socket_id };
                self.services.delivery.to_socket(to, &frame);
            }
            Some(user) if user.is_banned => self.send_error(seeker, ErrorCode::Banned, "the account is banned"),
            _ => self.send_error(seeker, ErrorCode::AlreadyInMatch, "leave your current match first"),
        }
    }

    /// Tells the seeker's socket it is now waiting (`newly`) or was already waiting.
    pub(super) fn tell_queued(delivery: &Delivery, seeker: &Seeker, newly: bool) {
        let frame = if newly {
            ServerFrame::MatchQueued { id: seeker.request_id.clone(), kind: seeker.candidate.kind }
        } else {
            ServerFrame::error(seeker.request_id.clone(), ErrorCode::AlreadyQueued, "already waiting for a match")
        };
        delivery.to_socket(SocketRef { user_id: seeker.user_id(), socket_id: seeker.socket_id }, &frame);
    }

    fn send_error(&self, seeker: &Seeker, code: ErrorCode, message: &str) {
        let frame = ServerFrame::error(seeker.request_id.clone(), code, message);
        self.services.delivery.to_user(seeker.user_id(), &frame);
    }
}

impl Pairing for MatchOpener {
    fn queued(&self, seeker: &Seeker, newly: bool) {
        Self::tell_queued(&self.services.delivery, seeker, newly);
    }

    async fn open(&self, pairs: &[(Seeker, Seeker)]) -> Vec<Result<(), Vec<UserId>>> {
        // Only a matchmaker's epoch can be fenced off.
        self.open_matches(pairs, None, None).await.expect("an opening without a fence is not fenced")
    }
}

impl Opener for MatchOpener {
    async fn fence(&self) -> Option<i64> {
        self.services
            .store
            .matchmaker_fence()
            .await
            .inspect_err(|e| tracing::warn!(error = %e, "reading the fence"))
            .ok()
    }

    async fn open_fenced(&self, pairs: &[(Seeker, Seeker)], epoch: i64) -> Option<Vec<Result<(), Vec<UserId>>>> {
        self.open_matches(pairs, Some(epoch), None).await
    }

    async fn node_fence(&self, node: &str) -> Option<i64> {
        let fence = self.services.store.node_fence(node).await;
        fence.inspect_err(|e| tracing::warn!(error = %e, "reading this node's fence")).ok()
    }

    async fn raise_node_fences(&self, nodes: &[String]) -> bool {
        let raised = self.services.store.raise_node_fences(nodes).await;
        raised.inspect_err(|e| tracing::warn!(error = %e, ?nodes, "raising the fences of nodes taken over")).is_ok()
    }

    async fn open_claimed_here(
        &self,
        pairs: &[(Seeker, Seeker)],
        fence: NodeFence,
    ) -> Option<Vec<Result<(), Vec<UserId>>>> {
        self.open_matches(pairs, None, Some(fence)).await
    }

    fn queued(&self, seeker: &Seeker) {
        Pairing::queued(self, seeker, true);
    }

    fn failed(&self, seeker: &Seeker) {
        self.send_error(seeker, ErrorCode::Internal, "matching failed; ask again");
    }
}
