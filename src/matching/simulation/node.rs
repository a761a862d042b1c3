//! A node: what its hub does with a find, a cancel and a closed socket ([`crate::matching::Queue`]), and the
//! turns of its matchmakers' tasks (the commands in their channel, the next stage of an opening, a hand-over
//! with FORWARD). Its openings are [`super::opening`], its part in the election [`super::election`]. Each Redis
//! call is one step of the scheduler; a node cut off from Redis fails its Redis calls and keeps running (the
//! database it still reaches), as the production code does when Redis does not answer.

use super::election::Elected;
use super::matchmaker::{Command, Matchmaker, Opening, Role, Stage, held};
use super::opening::{Retry, ids};
use super::redis::{Hold, NodeId};
use super::{Event, Mutation, World};
use crate::domain::UserId;
use crate::matching::Seeker;
use crate::matching::engine::Order;
use crate::matching::rules::Policy;

pub(super) struct Node {
    /// Bumped at each death: events of an earlier life are void.
    pub(super) incarnation: u32,
    pub(super) up: bool,
    /// Cut off from Redis: every Redis call fails.
    pub(super) cut: bool,
    pub(super) local: Matchmaker,
    pub(super) elected: Vec<Elected>,
    /// When a hand-over step is scheduled.
    hand_over_at: Option<u64>,
    /// Its fence as its own openings carry it (`LocalFirst`'s): `None` until read, and again once one was fenced.
    pub(super) fence: Option<i64>,
}

impl Node {
    pub(super) fn new(local_pairing_ms: u64, policy: Policy, mutation: Option<Mutation>) -> Self {
        let local = Matchmaker::new(Some(local_pairing_ms), policy, mutation);
        Node { incarnation: 0, up: true, cut: false, local, elected: Vec::new(), hand_over_at: None, fence: None }
    }

    pub(super) fn dead(incarnation: u32, local_pairing_ms: u64, policy: Policy, mutation: Option<Mutation>) -> Self {
        Node { incarnation, up: false, ..Node::new(local_pairing_ms, policy, mutation) }
    }

    pub(super) fn mm(&mut self, role: Role) -> Option<&mut Matchmaker> {
        match role {
            Role::Local => Some(&mut self.local),
            Role::Elected(serial) => self.elected.iter_mut().find(|e| e.serial == serial).map(|e| &mut e.mm),
        }
    }

    pub(super) fn running(&mut self) -> Option<&mut Elected> {
        self.elected.iter_mut().find(|e| !e.stopped)
    }

    pub(super) fn running_ref(&self) -> Option<&Elected> {
        self.elected.iter().find(|e| !e.stopped)
    }
}

fn describe(command: &Command) -> String {
    let ask = |s: &Seeker| format!("u{} ask{}", s.user_id(), s.request_id.as_deref().unwrap_or("?"));
    match &command.order {
        Order::Find { seeker, again: false } => format!("find {}", ask(seeker)),
        Order::Find { seeker, again: true } => format!("find again {}", ask(seeker)),
        Order::TakeOver(seeker) => format!("take over {}", ask(seeker)),
        Order::Refresh { user, fresh } => {
            format!("refresh u{user} to {:?}, excluding {:?}", fresh.gender, fresh.excluded)
        }
        Order::Cancel { user, socket: None } => format!("cancel u{user}"),
        Order::Cancel { user, socket: Some(socket) } => format!("cancel u{user} socket {socket}"),
    }
}

impl World {
    /// `match.find` reaching the user's node: the hub's `Queue::find` in a cluster whose nodes pair first.
    pub(super) fn find(&mut self, user: UserId) {
        let Some((node, socket)) = self.user(user).at else { return };
        if self.store.active_match(user).is_some() {
            return self.note(|| format!("u{user} find refused: already in a match"));
        }
        let seeker = self.seeker(user, socket);
        let ask = seeker.request_id.clone().unwrap_or_default();
        if self.nodes[node].cut {
            self.told_error(&seeker);
            return self.note(|| format!("u{user} find ask{ask} on n{node}: Redis away, told to try again"));
        }
        // The request reached the queue: whatever a failover or a lost close left of an earlier one is its own.
        let now = self.now;
        let me = self.user(user);
        me.exempt = false;
        me.reached_at = now;
        if seeker.candidate.ranks_partners() {
            let newly = self.redis.join(now, &seeker);
            return self.note(|| format!("u{user} find ask{ask} on n{node}: JOIN newly={newly}"));
        }
        let hold = self.redis.hold(now, node, &seeker);
        self.note(|| format!("u{user} find ask{ask} socket {socket} on n{node}: HOLD {hold:?}"));
        match hold {
            Hold::New => self.push(node, Role::Local, Order::Find { seeker: Box::new(seeker), again: false }),
            Hold::Again => self.push(node, Role::Local, Order::Find { seeker: Box::new(seeker), again: true }),
            Hold::Elsewhere => {}
        }
    }

    /// `match.cancel`: this node's matchmaker forgets them, and the queue lets them go unless being opened.
    pub(super) fn cancel(&mut self, user: UserId) {
        let Some((node, _)) = self.user(user).at else { return };
        self.user(user).stop_waiting("cancelled");
        // The queue first, then the node's matchmaker (`Queue::cancel`). Refused while claimed (the match is being
        // opened), and marked: should the opening fail for the partner, SETTLE lets the request go (row 35).
        let cut = self.nodes[node].cut;
        let left = !cut && self.redis.leave(user, None);
        if left {
            // Answered `match.cancelled`.
            let ask = self.user(user).ask.to_string();
            self.user(user).cancelled.insert(ask);
        }
        self.push(node, Role::Local, Order::Cancel { user, socket: None });
        if cut {
            // Redis away: the entry may stay a while.
            self.leftover(user);
        }
        self.note(|| format!("u{user} cancels on n{node}: left={left}"));
    }

    /// A socket's close reaching its node (late, maybe twice).
    pub(super) fn socket_closed(&mut self, node: NodeId, user: UserId, socket: u64) {
        self.push(node, Role::Local, Order::Cancel { user, socket: Some(socket) });
        if self.nodes[node].cut && self.mutation == Some(super::Mutation::LeaveNotRetried) {
            // Logged and forgotten: the entry stays, and nothing tells the invariants it may.
            return;
        }
        if self.nodes[node].cut {
            // Tried again until Redis takes it (`Queue::socket_closed`'s `leave_later`).
            self.retry_later(node, super::opening::Retry::Leave(user, socket));
            return self.note(|| format!("n{node} sees u{user}'s socket {socket} close, Redis away: leave later"));
        }
        // Refused while the pair is opened (the entry claimed), and marked cancelled: should the partner be refused,
        // SETTLE lets this closed socket's request go rather than hold it again (row 35).
        let left = self.redis.leave(user, Some(socket));
        self.note(|| format!("n{node} sees u{user}'s socket {socket} close: left={left}"));
    }

    /// `Finder::refresh_place` on `node`, for a user connected there whose standing changed: their place, in the
    /// node's matchmaker and then in the cluster's queue, gets what they may meet now and the gender they consent to.
    /// Redis is rewritten once the matchmaker has taken the change ([`Self::refresh_taken`]).
    pub(super) fn standing_seen(&mut self, node: NodeId, user: UserId) {
        // In a match, they wait nowhere (a request the match served went with it: docs/testing.md row 31).
        if self.user(user).at.is_none_or(|(n, _)| n != node) || self.store.active_match(user).is_some() {
            return;
        }
        let fresh = self.fresh(user);
        if self.mutation == Some(Mutation::RefreshBeforeTaken) {
            self.push(node, Role::Local, Order::Refresh { user, fresh: Box::new(fresh.clone()) });
            return self.refresh_taken(node, user, fresh);
        }
        let order = Order::Refresh { user, fresh: Box::new(fresh) };
        self.enqueue(node, Role::Local, Command { order, waits: true });
        self.note(|| format!("n{node} hands u{user}'s refresh to its matchmaker"));
    }

    /// The second half of `Finder::refresh_place`: the node's matchmaker has the change; now the place in Redis.
    /// Redis away, or the place claimed: read afresh and tried again later (`LiveUsers::restand`).
    pub(super) fn refresh_taken(&mut self, node: NodeId, user: UserId, fresh: crate::matching::Fresh) {
        let done = !self.nodes[node].cut && self.redis.refresh(user, &fresh);
        if !done {
            let now = self.now;
            self.user(user).refresh_failed_at = Some(now);
        }
        if !done && self.mutation != Some(Mutation::RefreshNotRetried) {
            self.retry_later(node, super::opening::Retry::Refresh(user));
        }
        self.note(|| format!("n{node} refreshes u{user}'s place: done={done}"));
    }

    pub(super) fn block_seen(&mut self, node: NodeId, a: UserId, b: UserId) {
        self.nodes[node].local.exclude(a, b);
        self.schedule_work(node, Role::Local);
        let serials: Vec<u64> = self.nodes[node].elected.iter().map(|e| e.serial).collect();
        for serial in serials {
            if let Some(mm) = self.nodes[node].mm(Role::Elected(serial)) {
                mm.exclude(a, b);
            }
            self.schedule_work(node, Role::Elected(serial));
        }
    }

    /// The user is told their request failed ("ask again"): they no longer wait, if it answers their last ask.
    pub(super) fn told_error(&mut self, seeker: &Seeker) {
        let user = self.user(seeker.user_id());
        if seeker.request_id == Some(user.ask.to_string()) {
            user.stop_waiting("told to ask again");
        }
    }

    /// One step of a matchmaker: the next stage of its opening, or the commands in its channel.
    pub(super) fn work(&mut self, node: NodeId, role: Role) {
        let now = self.now;
        let Some(mm) = self.nodes[node].mm(role) else { return };
        mm.busy_scheduled = false;
        if let Some(opening) = mm.opening.take() {
            self.advance(node, role, opening);
        } else if !mm.inbox.is_empty() {
            let taken: Vec<String> = mm.inbox.iter().map(describe).collect();
            let pairs = mm.take(now);
            let refreshes = std::mem::take(&mut mm.taken);
            let served = std::mem::take(&mut mm.served);
            let formed: Vec<[UserId; 2]> = pairs.iter().map(ids).collect();
            self.note(|| format!("n{node} {role:?} takes {taken:?}: pairs {formed:?}"));
            let inc = self.nodes[node].incarnation;
            for (user, fresh) in refreshes {
                self.after(0, 50, Event::RefreshTaken(node, inc, user, Box::new(fresh)));
            }
            if !served.is_empty() {
                // Served by a match opened here: a task takes their entries away, retrying while Redis is away.
                let users: Vec<UserId> = served.iter().map(Seeker::user_id).collect();
                self.note(|| format!("n{node} {role:?}: {users:?} served by a match opened here, no place"));
                let job = match role {
                    Role::Local => Retry::LetGoHeld(served, 0),
                    Role::Elected(_) => Retry::Remove(served, Vec::new()),
                };
                self.after(0, 50, Event::Retry(node, inc, job));
            }
            let Some(mm) = self.nodes[node].mm(role) else { return };
            if !pairs.is_empty() {
                let stage = if role == Role::Local { Stage::Claim } else { Stage::Check };
                mm.opening = Some(Opening { pairs, stage });
            }
        }
        self.after_work(node, role);
    }

    fn after_work(&mut self, node: NodeId, role: Role) {
        self.schedule_work(node, role);
        match role {
            Role::Local => self.schedule_hand_over(node),
            Role::Elected(serial) => {
                let n = &mut self.nodes[node];
                n.elected.retain(|e| !(e.serial == serial && e.stopped && e.mm.opening.is_none()));
            }
        }
    }

    fn schedule_hand_over(&mut self, node: NodeId) {
        let n = &mut self.nodes[node];
        let Some(at) = n.local.engine.next_hand_over() else { return };
        let at = at.as_millis() as u64;
        if n.hand_over_at.is_some_and(|scheduled| scheduled <= at) {
            return;
        }
        n.hand_over_at = Some(at);
        let inc = n.incarnation;
        let at = at.max(self.now + 1);
        self.schedule(at, Event::HandOver(node, inc));
    }

    /// Hands whoever was held long enough to the cluster's queue (FORWARD); kept here while Redis is away.
    pub(super) fn hand_over(&mut self, node: NodeId) {
        let now = self.now;
        let n = &mut self.nodes[node];
        n.hand_over_at = None;
        if n.local.opening.is_some() {
            return; // The task hands over between openings; after_work schedules it again.
        }
        let due = n.local.engine.due(held(now));
        if !due.is_empty() {
            if n.cut {
                for seeker in due {
                    n.local.engine.hold_again(seeker, held(now));
                }
            } else {
                let handed = self.redis.forward(node, &due);
                let users: Vec<UserId> = due.iter().map(Seeker::user_id).collect();
                self.note(|| format!("n{node} FORWARD {users:?}: {handed} handed over"));
            }
        }
        self.schedule_hand_over(node);
    }
}
