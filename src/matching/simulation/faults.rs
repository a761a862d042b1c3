//! The faults: a Redis failover (the replica, some writes behind, becomes the primary), a node's death (its
//! sockets drop, its memory and whatever it was doing are gone, its liveness stops being renewed; it may come
//! back under the same name with an empty memory), a node cut off from Redis for a while (shorter or longer
//! than a lease). Slow steps, late and repeated deliveries are the scheduler's ([`super::world`]). Also here:
//! what each leaves behind in the queue, which the invariants forgive ([`super::users::User::leftover_at`]).

use super::node::Node;
use super::redis::NodeId;
use super::{Event, World};
use crate::domain::UserId;

impl World {
    /// One fault: a Redis failover, a node's death (and maybe its restart), a node cut off from Redis.
    pub(super) fn fault(&mut self) {
        let up: Vec<NodeId> = (0..self.nodes.len()).filter(|n| self.nodes[*n].up).collect();
        match self.rng.below(100) {
            0..30 => {
                let lost = self.redis.unreplicated;
                let (changed, rewritten) = self.redis.fail_over();
                for user in &changed {
                    self.user(*user).exempt = true;
                    self.leftover(*user);
                    // A claim or a cancel the failover lost: a request up to this one may be matched after its
                    // cancel was answered (Redis replicates asynchronously; docs/operations.md).
                    let ask = self.user(*user).ask;
                    self.user(*user).failed_over_ask = ask;
                }
                // A refresh lost: the place may hold again what the user withdrew (docs/privacy.md says so).
                for user in &rewritten {
                    self.leftover(*user);
                }
                self.note(|| format!("FAULT Redis fails over, losing {lost} writes; entries changed: {changed:?}"));
            }
            30..55 if up.len() > 1 => {
                let node = self.rng.pick(&up).expect("one is up");
                self.kill(node);
                if self.rng.percent(70) {
                    let back = self.rng.between(200, 3 * self.cfg.lease_ms);
                    self.after(back, back, Event::Restart(node));
                }
            }
            55..85 => {
                let Some(node) = self.rng.pick(&up) else { return };
                let lease = self.cfg.lease_ms;
                let length = if self.rng.percent(50) {
                    self.rng.between(100, lease)
                } else {
                    self.rng.between(lease, 3 * lease)
                };
                self.nodes[node].cut = true;
                let inc = self.nodes[node].incarnation;
                self.after(length, length, Event::Heal(node, inc));
                self.note(|| format!("FAULT n{node} cut off from Redis for {length} ms"));
            }
            _ => {}
        }
    }

    fn kill(&mut self, node: NodeId) {
        // Whatever it was opening is left as the last step did (committed or not): its entries outlive it.
        let next = Node::dead(self.nodes[node].incarnation + 1, self.cfg.local_pairing_ms, self.policy, self.mutation);
        let dead = std::mem::replace(&mut self.nodes[node], next);
        let mms = std::iter::once(&dead.local).chain(dead.elected.iter().map(|e| &e.mm));
        let openings = mms.filter_map(|m| m.opening.as_ref());
        for (a, b) in openings.flat_map(|o| &o.pairs) {
            for s in [a, b] {
                self.users[(s.user_id().0 - 1) as usize].leftover_at = Some(self.now);
            }
        }
        for user in &mut self.users {
            if user.at.is_some_and(|(n, _)| n == node) {
                user.at = None;
                user.gone_at = Some(self.now);
                // Its sockets' closes die with it (see `lost_close`).
                user.leftover_at = Some(self.now);
            }
        }
        self.note(|| format!("FAULT n{node} dies: its sockets drop, its memory is gone"));
    }

    pub(super) fn restart(&mut self, node: NodeId) {
        if self.nodes[node].up {
            return;
        }
        let inc = self.nodes[node].incarnation;
        self.nodes[node].up = true;
        self.schedule(self.now, Event::Tick(node, inc));
        self.note(|| format!("n{node} restarts (same name, empty memory)"));
    }

    /// A socket's close that never reached Redis (its node died before the close, or its retry, did): the entry
    /// it made stays until the elected matchmaker's reaper finds the user unreachable, pairs it and finds the user
    /// offline, or the user asks again. Should the user come back meanwhile, they are online without waiting, and
    /// the entry is known to outlive them.
    pub(super) fn lost_close(&mut self, user: UserId) {
        self.leftover(user);
    }

    /// An entry of the user's may outlive their wait from now on (see [`User::leftover_at`]).
    pub(super) fn leftover(&mut self, user: UserId) {
        let now = self.now;
        self.user(user).leftover_at = Some(now);
    }
}
