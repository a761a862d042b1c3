//! The election, as [`crate::matching::cluster`]'s `elect` and `feed` run it on every node: a lease tick
//! (ACQUIRE, then ADOPT while holding the lease, or a takeover checked against the database's fence, RAISE and
//! RELEASE), the elected matchmaker seeded from the queue's entries, and its reads of the input stream. A node
//! that cannot reach Redis at a tick stops its matchmaker, whose opening under way still finishes.

use super::matchmaker::{Command, Matchmaker, Role};
use super::redis::{Holder, Input, NodeId};
use super::{Event, World};
use crate::domain::UserId;
use crate::matching::Seeker;

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
                let adopted = self.redis.adopt(now);
                if !adopted.is_empty() {
                    let users: Vec<UserId> = adopted.iter().map(Seeker::user_id).collect();
                    self.note(|| format!("e{epoch}@n{node} ADOPT {users:?}"));
                }
                for seeker in adopted {
                    self.leftover(seeker.user_id());
                    self.push(node, Role::Elected(serial), Command::TakeOver(seeker));
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
                mm.inbox.extend(self.redis.entries().into_iter().map(Command::TakeOver));
                let position = position.expect("matched above");
                let elected = Elected { serial, epoch, mm, position, stopped: false, feed_scheduled: false };
                self.nodes[node].elected.push(elected);
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
            let entry = |user: UserId| self.redis.entry(user).filter(|e| e.holder == Holder::Matchmaker);
            let command = match input {
                // Records are bare: the gender and the wish are the entry's.
                Input::Find(mut seeker) => entry(seeker.user_id()).map(|e| {
                    seeker.candidate.gender = e.seeker.candidate.gender;
                    seeker.candidate.seeking = e.seeker.candidate.seeking;
                    Command::Find { seeker, again: false }
                }),
                Input::HandedOver(seeker) => entry(seeker.user_id()).map(|e| Command::TakeOver(e.seeker.clone())),
                Input::Leave(user) => Some(Command::Cancel { user, socket: None }),
            };
            if let Some(command) = command {
                self.push(node, Role::Elected(serial), command);
            }
        }
    }
}
