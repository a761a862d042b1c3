//! A node's own matchmaker in a cluster: it pairs the seekers whose sockets are on this node with each other,
//! and hands whoever it could not pair within `cluster.local_pairing_ms` to the cluster's queue, where the
//! elected matchmaker pairs seekers of different nodes.
//!
//! Why this design rather than a queue sharded over leased matchmakers: compatibility does not follow any
//! shard key (any two plain seekers may meet), so shards would still have to exchange whoever they cannot pair,
//! and every pairing would still cost a stream read and presence lookups. Pairing where the sockets are costs
//! one claim per batch in Redis; at load most seekers find a partner on their own node within the hold, so the
//! matching work spreads over the nodes (BENCHMARKS.md, "Matching across nodes").
//!
//! Seekers who rank partners (interests `prefer`/`only`, nearby) are not held by a node: they are shown the whole
//! cluster's waiters at once, so the one sharing the most interests or living nearest is found wherever they are.
//!
//! Order: a node pairs its own seekers oldest first, as one node does; across nodes the cluster's oldest waiter
//! may wait up to the hold longer than two newcomers on another node who meet there.
//!
//! Invariants: a user is held in one place, the hash entry says where ([`super::queue`]); a local pair is
//! claimed (both entries removed in one script) before it is opened, so a user who left, or was handed over,
//! or asked again from another node is never paired here.

use std::sync::Arc;

use super::Opener;
use super::queue::ClusterQueue;
use super::scripts::HeldAgain;
use crate::domain::UserId;
use crate::matching::{Pairing, Seeker};
use crate::store::NodeFence;

/// The [`Pairing`] of a node's own matchmaker: claims its pairs in the cluster's queue, then lets `opener` (the
/// node's [`crate::matching::find`]) open them as a single node would.
pub struct LocalFirst<P> {
    opener: Arc<P>,
    queue: ClusterQueue,
    /// This node's fence as its openings carry it: `None` until read, and again once an opening found it raised.
    fence: std::sync::Mutex<Option<i64>>,
}

impl<P> LocalFirst<P> {
    pub fn new(opener: Arc<P>, queue: ClusterQueue) -> Self {
        Self { opener, queue, fence: std::sync::Mutex::new(None) }
    }
}

impl<P: Opener> LocalFirst<P> {
    /// The fence this node's next claims are opened under, read from the database when not known.
    async fn fence(&self) -> Option<NodeFence> {
        let known = *self.fence.lock().expect("fence lock");
        let epoch = match known {
            Some(epoch) => epoch,
            None => {
                let epoch = self.opener.node_fence(&self.queue.scripts.node).await?;
                *self.fence.lock().expect("fence lock") = Some(epoch);
                epoch
            }
        };
        Some(NodeFence { node: self.queue.scripts.node.as_str().into(), epoch })
    }

    /// Redis (or, for the fence, the database) is away: nobody is paired; each side is told to ask again and let go
    /// of (its entry too, when Redis takes the command), so a new request is not refused as already waiting.
    fn none_paired(&self, pairs: &[(Seeker, Seeker)]) -> Vec<Result<(), Vec<UserId>>> {
        let everyone: Vec<Seeker> = pairs.iter().flat_map(|(a, b)| [a.clone(), b.clone()]).collect();
        everyone.iter().for_each(|s| self.opener.failed(s));
        tokio::spawn(let_go(self.queue.clone(), everyone, LetGo::Held));
        pairs.iter().map(|(a, b)| Err(vec![a.user_id(), b.user_id()])).collect()
    }
}

impl<P: Pairing + Opener> Pairing for LocalFirst<P> {
    fn queued(&self, seeker: &Seeker, newly: bool) {
        Pairing::queued(&*self.opener, seeker, newly);
    }

    async fn open(&self, pairs: &[(Seeker, Seeker)]) -> Vec<Result<(), Vec<UserId>>> {
        // Read before the claims: their opening carries the fence as it was, so a raise after this (the elected
        // matchmaker taking this node's places over, docs/testing.md row 38) refuses it.
        let Some(fence) = self.fence().await else {
            return self.none_paired(pairs);
        };
        let claims = match self.queue.claim(pairs).await {
            Ok(claims) => claims,
            Err(e) => {
                tracing::warn!(error = %e, "claiming local pairs in the cluster queue");
                return self.none_paired(pairs);
            }
        };
        let claimed_at: Vec<bool> = claims.iter().map(Result::is_ok).collect();
        let claimed: Vec<(Seeker, Seeker)> =
            pairs.iter().zip(&claims).filter(|(_, c)| c.is_ok()).map(|(pair, _)| pair.clone()).collect();
        let opened = self.opener.open_claimed_here(&claimed, fence).await;
        // Fenced: the elected matchmaker took this node's places over (it was taken for dead, or its claims for
        // stale). The next claims read the fence anew.
        let fenced = opened.is_none();
        if fenced {
            *self.fence.lock().expect("fence lock") = None;
        }
        let opened = opened.unwrap_or_else(|| claimed.iter().map(|_| Err(Vec::new())).collect());
        // Claimed entries stay until the match is committed: only now may either user wait anew.
        let Settling { mut results, done, again, matched } = settling(pairs, claims, opened);
        let lost = match self.queue.settle(&done, &again, HeldAgain::Here, &matched).await {
            Ok(lost) => lost,
            // Redis is away: the claims must not outlive it (a claimed user could never wait again). Everyone is
            // let go of, by a task that retries until Redis takes it; whoever was to wait again is told to ask
            // again.
            Err(e) => {
                tracing::warn!(error = %e, "settling claimed seekers in the cluster queue; retrying");
                let everyone: Vec<Seeker> = done.iter().chain(&again).map(|s| (*s).clone()).collect();
                tokio::spawn(let_go(self.queue.clone(), everyone, LetGo::Claimed(matched)));
                again.iter().for_each(|s| self.opener.failed(s));
                again.iter().map(|s| s.user_id()).collect()
            }
        };
        // A seeker to be held again whose entry was taken over meanwhile is no longer this node's to pair.
        for ((a, b), result) in pairs.iter().zip(&mut results) {
            if let Err(dropped) = result {
                dropped.extend([a.user_id(), b.user_id()].into_iter().filter(|u| lost.contains(u)));
            }
        }
        if fenced {
            // A fenced pair's seekers are the cluster's: whoever ADOPT took is there already (lost to SETTLE), and
            // whoever SETTLE held here again (claimed after the adoption) is handed over to join them, not paired
            // here again under a fence that no longer stands.
            let kept: Vec<Seeker> =
                again.iter().filter(|s| !lost.contains(&s.user_id())).map(|s| (*s).clone()).collect();
            if !kept.is_empty() && self.hand_over(kept.clone()).await.len() == kept.len() {
                kept.iter().for_each(|s| self.opener.failed(s));
                tokio::spawn(let_go(self.queue.clone(), kept, LetGo::Held));
            }
            for (((a, b), claim), result) in pairs.iter().zip(&claimed_at).zip(&mut results) {
                if let (true, Err(dropped)) = (*claim, result) {
                    dropped.extend([a.user_id(), b.user_id()]);
                }
            }
        }
        metrics::counter!("tanis_matching_local_pairs_total").increment(claimed.len() as u64);
        results
    }

    /// Its entry (held here) goes, by a task that retries while Redis is away.
    fn served(&self, seeker: Seeker) {
        tokio::spawn(leave_held(self.queue.clone(), seeker));
    }

    async fn hand_over(&self, seekers: Vec<Seeker>) -> Vec<Seeker> {
        match self.queue.forward(&seekers).await {
            Ok(handed) => {
                metrics::counter!("tanis_matching_handed_over_total").increment(handed as u64);
                Vec::new()
            }
            Err(e) => {
                tracing::warn!(error = %e, "handing seekers to the cluster queue; holding them here");
                seekers
            }
        }
    }
}

/// What an opening of claimed pairs leaves to SETTLE: each pair's result, whose claims end (`done`: matched, or
/// refused) and who is held here again (`again`: their partner was refused), and who of `done` was matched.
pub(crate) struct Settling<'a> {
    pub(crate) results: Vec<Result<(), Vec<UserId>>>,
    pub(crate) done: Vec<&'a Seeker>,
    pub(crate) again: Vec<&'a Seeker>,
    pub(crate) matched: Vec<UserId>,
}

/// [`Settling`] of `pairs`, given what CLAIM answered for each and what the opening answered for the claimed ones
/// (in order). Nothing of a pair not claimed changes: whoever of it is still here stays held. The simulation settles
/// its openings with this too.
pub(crate) fn settling<'a>(
    pairs: &'a [(Seeker, Seeker)],
    claims: Vec<Result<(), Vec<UserId>>>,
    opened: Vec<Result<(), Vec<UserId>>>,
) -> Settling<'a> {
    let mut opened = opened.into_iter();
    let (mut done, mut again, mut matched) = (Vec::new(), Vec::new(), Vec::new());
    let mut results = Vec::with_capacity(pairs.len());
    for ((a, b), claim) in pairs.iter().zip(claims) {
        let result = match claim {
            Err(gone) => Err(gone),
            Ok(()) => {
                let result = opened.next().expect("one result per claimed pair");
                if result.is_ok() {
                    matched.extend([a.user_id(), b.user_id()]);
                }
                for seeker in [a, b] {
                    match &result {
                        Err(dropped) if !dropped.contains(&seeker.user_id()) => again.push(seeker),
                        _ => done.push(seeker),
                    }
                }
                result
            }
        };
        results.push(result);
    }
    Settling { results, done, again, matched }
}

/// Deletes the entry `seeker`'s request has held by this node, retrying while Redis is away.
async fn leave_held(queue: ClusterQueue, seeker: Seeker) {
    if queue.leave_request(&seeker).await.is_err() {
        let_go(queue, vec![seeker], LetGo::Held).await;
    }
}

/// Which entries [`let_go`] deletes.
pub(super) enum LetGo {
    /// Held by this node (a claim that Redis did not take).
    Held,
    /// Claimed by this node (a settle that Redis did not take); the users whose match opened.
    Claimed(Vec<UserId>),
    /// Held by the elected matchmaker for users it paired or dropped (a removal that Redis did not take); the users
    /// whose match opened.
    Removed(Vec<UserId>),
}

/// Deletes the entries of seekers let go of, retrying while Redis is away until it takes the command (every
/// half second at first, then every 5 s): an entry left behind would answer "already waiting" to its user, or
/// have a matched user paired again by the next matchmaker. Each deletion is conditional (the entry is still the
/// one let go of), so a late retry never takes a place the user made since. Meanwhile a claim that stays
/// unsettled goes stale after a minute and is taken over ([`super::queue`]), and a node cut off from Redis longer
/// than its lease is taken over as dead.
pub(super) async fn let_go(queue: ClusterQueue, seekers: Vec<Seeker>, which: LetGo) {
    let mut pause = std::time::Duration::from_millis(500);
    let mut left: Vec<&Seeker> = seekers.iter().collect();
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_secs(5));
        match &which {
            LetGo::Claimed(matched) if queue.settle(&left, &[], HeldAgain::Here, matched).await.is_ok() => return,
            LetGo::Removed(matched) if queue.remove(&left, matched).await.is_ok() => return,
            LetGo::Claimed(_) | LetGo::Removed(_) => {}
            LetGo::Held => {
                let mut still = Vec::new();
                for seeker in left {
                    if queue.leave_request(seeker).await.is_err() {
                        still.push(seeker);
                    }
                }
                left = still;
                if left.is_empty() {
                    return;
                }
            }
        }
    }
}
