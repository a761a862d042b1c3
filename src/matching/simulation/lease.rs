//! The Redis commands of the election and of the elected matchmaker (the scripts and reads of
//! [`crate::matching::cluster`]'s `elect`, `feed` and `Epoch::open`): ACQUIRE, RAISE, RELEASE, ADOPT, the queue's
//! entries a new matchmaker starts from, XREAD, and the removal of settled seekers. Split from [`super::redis`],
//! whose state and atomicity they share.

use super::Mutation;
use super::redis::{Entry, Holder, Input, Lease, NodeId, Redis};
use crate::matching::Seeker;

impl Redis {
    /// ADOPT: entries held or claimed by nodes whose liveness lapsed, and stale claims, become the matchmaker's.
    pub(super) fn adopt(&mut self, now: u64) -> Vec<Seeker> {
        let dead: Vec<NodeId> = self.state.alive.iter().filter(|(_, t)| **t < now).map(|(n, _)| *n).collect();
        let adopted: Vec<Seeker> = self
            .state
            .queue
            .iter()
            .filter(|(user, e)| match e.holder {
                Holder::Matchmaker => false,
                Holder::Held(n) => dead.contains(&n),
                Holder::Claimed(n) => dead.contains(&n) || self.stale_claim(**user, now),
            })
            .map(|(_, e)| e.seeker.clone())
            .collect();
        for s in &adopted {
            self.put(Holder::Matchmaker, s);
        }
        for node in dead {
            self.state.alive.remove(&node);
        }
        self.wrote();
        adopted
    }

    /// ACQUIRE: renews this node's liveness and the lease if it holds it, takes the lease if nobody does.
    /// Returns (holder, epoch, the stream position when just taken).
    pub(super) fn acquire(&mut self, now: u64, node: NodeId, lease_ms: u64) -> (NodeId, i64, Option<u64>) {
        self.state.alive.insert(node, now + lease_ms);
        self.wrote();
        if let Some(lease) = self.state.lease.as_mut().filter(|l| l.expires > now) {
            if lease.holder == node {
                lease.expires = now + lease_ms;
            }
            return (lease.holder, lease.epoch, None);
        }
        self.state.epoch += 1;
        let epoch = self.state.epoch;
        self.state.lease = Some(Lease { holder: node, epoch, expires: now + lease_ms });
        let position = self.state.input.last().map_or(0, |(id, _)| *id);
        (node, epoch, Some(position))
    }

    pub(super) fn raise(&mut self, fence: i64) {
        self.state.epoch = self.state.epoch.max(fence);
        self.wrote();
    }

    pub(super) fn release(&mut self, node: NodeId) {
        if self.state.lease.is_some_and(|l| l.holder == node) {
            self.state.lease = None;
            self.wrote();
        }
    }

    /// The lease as it stands at `now` (none once lapsed).
    pub(super) fn lease(&self, now: u64) -> Option<Lease> {
        self.state.lease.filter(|l| l.expires > now)
    }

    /// Every entry the elected matchmaker holds, oldest first: a new matchmaker's queue.
    pub(super) fn entries(&self) -> Vec<Seeker> {
        let mut seekers: Vec<Seeker> =
            self.state.queue.values().filter(|e| e.holder == Holder::Matchmaker).map(|e| e.seeker.clone()).collect();
        seekers.sort_by_key(|s| s.candidate.queued_at);
        seekers
    }

    /// XREAD after `position`.
    pub(super) fn read(&self, position: u64) -> impl Iterator<Item = &(u64, Input)> {
        let from = self.state.input.partition_point(|(id, _)| *id <= position);
        self.state.input[from..].iter()
    }

    /// The matchmaker's removal of the seekers it settled (paired, refused, or gone): only the entry each one's
    /// request made, so a find sent meanwhile keeps the entry it made. [`Mutation::RemoveWhateverTheEntry`]: an
    /// HDEL, as `ClusterQueue::remove` was.
    pub(super) fn remove(&mut self, seekers: &[Seeker]) {
        for s in seekers {
            let made_by = |e: &Entry| e.seeker.socket_id == s.socket_id && e.seeker.request_id == s.request_id;
            let whatever = self.mutation == Some(Mutation::RemoveWhateverTheEntry);
            if self.state.queue.get(&s.user_id()).is_some_and(|e| whatever || made_by(e)) {
                self.state.queue.remove(&s.user_id());
            }
        }
        self.wrote();
    }
}
