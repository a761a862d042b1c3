//! The election, as [`crate::matching::cluster`]'s `elect` and `feed` run it on every node: a lease tick
//! (ACQUIRE, then ADOPT while holding the lease, or a takeover checked against the database's fence, RAISE and
//! RELEASE), the elected matchmaker seeded from the queue's entries, and its reads of the input stream. A node
//! that cannot reach Redis at a tick stops its matchmaker, whose opening under way still finishes. The elected
//! matchmaker's check for unreachable users is production's [`Reaper`], asking the model of presence.

use std::time::Duration;

use super::Mutation;
use super::matchmaker::{Command, Matchmaker, Role};
use super::redis::NodeId;
use super::{Event, World};
use crate::domain::UserId;
use crate::matching::Seeker;
use crate::matching::cluster::entries::Input;
use crate::matching::cluster::reaper::Reaper;
use crate::matching::engine::Order;

/// The elected matchmaker a node runs (or ran: a stopped one finishes the opening it is in).
pub(super) struct Elected {
    /// Unique in the run: the role's name (an epoch may come again after a failover rolled the counter back).
    pub(super) serial: u64,
    pub(super) epoch: i64,
    pub(super) mm: Matchmaker,
    /// The stream position read up to.
    pub(super) position: u64,
    pub(super) stopped: bool,
    pub(super) feed_scheduled: bool,
    /// Its check for unreachable users, with what the last check saw.
    pub(super) reaper: Reaper,
}

impl World {
    /// A lease tick: renew or take the lease, adopt dead nodes' seekers, start or stop the elected matchmaker.
    pub(super) fn tick(&mut self, node: NodeId) {
        let (now, lease) = (self.now, self.cfg.lease_ms);
        let inc = self.nodes[node].incarnation;
        self.schedule(now + lease / 3, Event::Tick(node, inc));
        if self.nodes[node].cut {
            return self.stop_elected(node);
        }
        let (holder, epoch, position) = self.redis.acquire(now, node, lease);
        let running = self.nodes[node].running_ref().map(|e| (e.epoch, e.serial));
        match (running, holder == node) {
            (Some((current, serial)), true) if current == epoch => {
                // `cluster::adopt`: the fences of the nodes whose places go up first (docs/testing.md row 38).
                let doomed = self.redis.doomed(now);
                for &fenced in &doomed {
                    self.store.raise_node_fence(fenced);
                }
                let adopted = self.redis.adopt(now, &doomed);
                if !adopted.is_empty() {
                    let users: Vec<UserId> = adopted.iter().map(Seeker::user_id).collect();
                    self.note(|| format!("e{epoch}@n{node} raises {doomed:?}'s fences, ADOPT {users:?}"));
                }
                for seeker in adopted {
                    self.leftover(seeker.user_id());
                    self.push(node, Role::Elected(serial), Order::TakeOver(Box::new(seeker)));
                }
            }
            (_, true) if position.is_some() => {
                self.stop_elected(node);
                let fence = self.store.fence;
                if epoch <= fence {
                    self.redis.raise(fence);
                    self.redis.release(node);
                    return self
                        .note(|| format!("n{node} took the lease at epoch {epoch} <= fence {fence}: RAISE, RELEASE"));
                }
                self.serials += 1;
                let serial = self.serials;
                let mut mm = Matchmaker::new(None, self.policy, self.mutation);
                let queue = self.redis.entries();
                for seeker in &queue {
                    // A place a deposed matchmaker's match served, taken over before its REMOVE (which a deposed
                    // matchmaker may never run): a known leftover, gone when paired (the store refuses it).
                    if self.store.active_match(seeker.user_id()).is_some() {
                        self.leftover(seeker.user_id());
                    }
                }
                let queue = queue.into_iter().map(|s| Order::TakeOver(Box::new(s)));
                mm.inbox.extend(queue.map(|order| Command { order, waits: false }));
                let position = position.expect("matched above");
                let every = self.cfg.presence_ttl_ms / 2;
                let reaper = Reaper::every(Duration::from_millis(every));
                let elected = Elected { serial, epoch, mm, position, stopped: false, feed_scheduled: false, reaper };
                self.nodes[node].elected.push(elected);
                self.schedule(now + every, Event::Reap(node, inc, serial));
                self.schedule_work(node, Role::Elected(serial));
                self.note(|| format!("n{node} is the matchmaker, epoch {epoch}"));
            }
            (_, true) => {
                self.redis.release(node);
                self.note(|| format!("n{node} holds the lease at epoch {epoch} it does not run: RELEASE"));
            }
            (_, false) => self.stop_elected(node),
        }
    }

    /// Stops the node's elected matchmaker: its memory is gone, an opening under way finishes.
    fn stop_elected(&mut self, node: NodeId) {
        let n = &mut self.nodes[node];
        let Some(elected) = n.running() else { return };
        elected.stopped = true;
        elected.mm.inbox.clear();
        elected.mm.engine.clear();
        let epoch = elected.epoch;
        n.elected.retain(|e| !e.stopped || e.mm.opening.is_some());
        self.note(|| format!("n{node} stops its matchmaker of epoch {epoch}"));
    }

    /// The elected matchmaker reads the stream: a find is taken only while its entry is still the matchmaker's.
    pub(super) fn feed(&mut self, node: NodeId, serial: u64) {
        let inc = self.nodes[node].incarnation;
        let cut = self.nodes[node].cut;
        let Some(elected) = self.nodes[node].running().filter(|e| e.serial == serial) else { return };
        if cut {
            return self.after(200, 200, Event::Feed(node, inc, serial));
        }
        elected.feed_scheduled = false;
        let records: Vec<(u64, Input)> = self.redis.read(elected.position);
        let Some((last, _)) = records.last() else { return };
        elected.position = *last;
        for (_, input) in records {
            let user = input.user_id();
            let entry = || self.redis.entry_text(user);
            if let Some(order) = input.order(entry) {
                self.push(node, Role::Elected(serial), order);
            }
        }
    }
}

impl World {
    /// Whether presence knows a socket of the user: one open, or one gone less than a TTL ago.
    fn present(&self, user: UserId) -> bool {
        let me = &self.users[(user.0 - 1) as usize];
        me.at.is_some() || me.gone_at.is_some_and(|gone| self.now < gone + self.cfg.presence_ttl_ms)
    }

    /// The elected matchmaker's check for unreachable users (`reaper::Reaper::tick`): the places it holds, each
    /// with whether presence knows its user; those unreachable at two checks in a row leave (`LEAVE` of their
    /// request, which the matchmaker reads from the stream).
    pub(super) fn reap(&mut self, node: NodeId, serial: u64) {
        let (now, every) = (self.now, self.cfg.presence_ttl_ms / 2);
        let inc = self.nodes[node].incarnation;
        let cut = self.nodes[node].cut;
        if self.nodes[node].running_ref().is_none_or(|e| e.serial != serial) {
            return;
        }
        self.schedule(now + every, Event::Reap(node, inc, serial));
        // Redis away: the queue cannot be read, nothing is decided.
        if cut {
            return;
        }
        let checked: Vec<(Seeker, bool)> =
            self.redis.entries().into_iter().map(|s| (s.clone(), self.present(s.user_id()))).collect();
        let elected = self.nodes[node].running().expect("checked above");
        let leaving = elected.reaper.decide(checked);
        if self.mutation == Some(Mutation::NoReaper) {
            return;
        }
        for seeker in leaving {
            let left = self.redis.leave_request(&seeker);
            self.note(|| format!("e{serial}@n{node} REAP u{} (unreachable at two checks): {left}", seeker.user_id()));
        }
    }
}
