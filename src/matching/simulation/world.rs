//! The world and its scheduler: a simulated clock and one timeline of events (a node's lease tick, a step of a
//! matchmaker, a stream read, a socket's close reaching its node, a message reaching its receiver, a user's
//! action, a fault). Each step takes the earliest event (ties in a seeded order), so whatever two nodes, Redis
//! and the database do concurrently is interleaved one atomic action at a time; latencies drawn from the seed
//! reorder what travels between nodes, and some of it is delivered twice. Users act and faults strike at random
//! intervals; every `quiet_every` steps both stop for long enough that whatever the cluster owes must be done,
//! and the invariants that speak of "eventually" are checked then.

use std::collections::BTreeMap;

use super::invariants::{Failure, Invariant, Violation};
use super::matchmaker::{Command, Role};
use super::messages::Messages;
use super::node::Node;
use super::opening::Retry;
use super::redis::{NodeId, Redis};
use super::store::Store;
use super::users::User;
use super::{Event, Mutation, World};
use crate::domain::UserId;
use crate::matching::engine::Order;
use crate::matching::rules::Policy;
use crate::rng::Rng;

/// The cluster's settings, scaled to the simulation (the ratios matter, not the seconds): CLAIM_STALE is 60 s in
/// the TARGET, here longer than a lease and far longer than any opening, as it is there.
#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) lease_ms: u64,
    pub(super) local_pairing_ms: u64,
    pub(super) claim_stale_ms: u64,
    /// The recent-partner rule's window: two who met within it are not paired again.
    pub(super) recent_ms: u64,
    /// How long a user's presence outlives the socket that last renewed it (a node that died, or a close that
    /// never reached Redis); the reaper checks every half of it.
    pub(super) presence_ttl_ms: u64,
    /// Steps with users acting and faults striking, in all.
    pub(super) steps: usize,
    pub(super) quiet_every: usize,
}

impl Config {
    /// How long a quiet period lasts: the hold, a stale claim's takeover, two leases for an election after a
    /// failover or a death, and a second of stream reads and retries.
    pub(super) fn quiet_ms(&self) -> u64 {
        self.local_pairing_ms + self.claim_stale_ms + 2 * self.lease_ms + 1000
    }

    /// How long after a user could last be reached a place of theirs may still wait: their presence lapses (a
    /// TTL), the elected matchmaker adopts a dead node's places (a lease) and sees them unreachable at two checks
    /// (half a TTL apart, at most a TTL after the lapse), a lease more should the lease move meanwhile.
    pub(super) fn unreachable_ms(&self) -> u64 {
        2 * self.presence_ttl_ms + 2 * self.lease_ms
    }

    /// How long after a withdrawal, or after the last refresh of the place that did not take (Redis away, the place
    /// claimed), the withdrawn gender may still be in the user's place: the change reaching their node (up to
    /// 600 ms here), its matchmaker taking it once the opening under way is done, the rewrite; a refresh that did
    /// not take is tried again 500 ms later.
    pub(super) fn withdrawal_ms(&self) -> u64 {
        3000
    }
}

/// What a seed did, for the summary of a passing run.
#[derive(Debug, Default, Clone)]
pub(super) struct Tally {
    pub(super) steps: usize,
    pub(super) matches: usize,
    pub(super) unwanted: BTreeMap<&'static str, usize>,
}

/// Most events one seed may take: past it the model itself loops.
const MAX_EVENTS: usize = 100_000;

/// How far a node's wall clock may be off (either way): well past what NTP allows, and past the time a match
/// takes to open, end and be asked for again here, so that judging a spent request by the clocks fails.
pub(super) const MAX_SKEW_MS: u64 = 2_000;

impl World {
    /// `node`'s wall clock at `ms`.
    pub(super) fn wall(&self, node: usize, ms: u64) -> chrono::DateTime<chrono::Utc> {
        super::matchmaker::at(ms) + chrono::TimeDelta::milliseconds(self.skews[node])
    }
}

impl World {
    pub(super) fn new(seed: u64, mutation: Option<Mutation>, trace: bool) -> Self {
        let mut rng = Rng::new(seed);
        let cfg = Config {
            lease_ms: 3000,
            local_pairing_ms: 200,
            claim_stale_ms: 10_000,
            recent_ms: 15_000,
            presence_ttl_ms: 3000,
            steps: rng.between(200, 500) as usize,
            quiet_every: 150,
        };
        let policy = Policy::of_tests();
        let users: Vec<User> = (1..=rng.between(6, 14) as i64).map(|id| User::new(UserId(id), &mut rng)).collect();
        let mut store = Store::new(mutation);
        for user in &users {
            let units = if rng.percent(25) { rng.between(1, 3) as u32 } else { 1000 };
            store.units.insert(user.id, units);
        }
        let nodes: Vec<Node> = (0..3).map(|_| Node::new(cfg.local_pairing_ms, policy, mutation)).collect();
        // From a stream of their own, so that the seeds replay as they did before clocks were skewed.
        let mut clocks = Rng::new(seed ^ 0xC10C_C10C_C10C_C10C);
        let skews = nodes.iter().map(|_| clocks.below(2 * MAX_SKEW_MS + 1) as i64 - MAX_SKEW_MS as i64).collect();
        let mut world = World {
            redis: Redis::new(3, cfg.claim_stale_ms, mutation),
            store,
            nodes,
            users,
            messages: Messages::new(mutation != Some(Mutation::DeliveryWithoutDedup)),
            cfg,
            mutation,
            policy,
            rng,
            now: 0,
            step: 0,
            active_steps: 0,
            quiet: false,
            generation: 0,
            events: BTreeMap::new(),
            next_socket: 0,
            serials: 0,
            unwanted: BTreeMap::new(),
            asked: BTreeMap::new(),
            skews,
            found: None,
            trace: trace.then(Vec::new),
        };
        for node in 0..world.nodes.len() {
            let at = world.rng.below(1000);
            world.schedule(at, Event::Tick(node, 0));
        }
        world.schedule(0, Event::UserAct(0));
        world.schedule(1000, Event::Fault(0));
        world
    }

    pub(super) fn schedule(&mut self, at: u64, event: Event) {
        let tie = self.rng.next_u64();
        self.events.insert((at, tie), event);
    }

    /// Schedules `event` within `lo..=hi` ms from now.
    pub(super) fn after(&mut self, lo: u64, hi: u64, event: Event) {
        let at = self.now + self.rng.between(lo, hi);
        self.schedule(at, event);
    }

    pub(super) fn note(&mut self, text: impl FnOnce() -> String) {
        if let Some(trace) = self.trace.as_mut() {
            trace.push(format!("{:>5} {:>7}ms  {}", self.step, self.now, text()));
        }
    }

    pub(super) fn user(&mut self, id: UserId) -> &mut User {
        &mut self.users[(id.0 - 1) as usize]
    }

    /// The node is up in this incarnation (events of a node that died since are void).
    pub(super) fn live(&self, node: NodeId, incarnation: u32) -> bool {
        self.nodes[node].up && self.nodes[node].incarnation == incarnation
    }

    /// Runs the seed to its end, checking the invariants after every step.
    pub(super) fn run(mut self, seed: u64) -> Result<Tally, Box<Failure>> {
        while let Some(((at, _), event)) = self.events.pop_first() {
            self.now = at.max(self.now + 1);
            self.redis.now = self.now;
            self.step += 1;
            if self.step > MAX_EVENTS {
                panic!("seed {seed}: the model ran past {MAX_EVENTS} events");
            }
            let finished = self.handle(event);
            self.wake_feeds();
            // The replica catches up now and then: a failover loses the last few writes, rarely more.
            if self.redis.unreplicated > 0 && self.rng.percent(20) {
                self.redis.replicate();
            }
            self.trim_stream();
            let violation = self.found.take().map(Err).unwrap_or_else(|| self.check_step());
            let violation = match (violation, finished) {
                (Err(v), _) => Some(v),
                (Ok(()), true) => self.check_quiet().err(),
                (Ok(()), false) => None,
            };
            if let Some(violation) = violation {
                return Err(Box::new(Failure::new(seed, self.step, self.mutation, violation, self.trace.take())));
            }
            if finished && self.active_steps >= self.cfg.steps {
                // A replayed seed that passes shows its steps too (with `-- --nocapture`).
                for line in self.trace.iter().flatten() {
                    eprintln!("{line}");
                }
                return Ok(Tally {
                    steps: self.step,
                    matches: self.store.matches.len(),
                    unwanted: std::mem::take(&mut self.unwanted),
                });
            }
        }
        unreachable!("the lease ticks never stop")
    }

    /// Handles one event; true when a quiet period just ended (the invariants at rest are due).
    fn handle(&mut self, event: Event) -> bool {
        if !self.quiet && matches!(event, Event::UserAct(_) | Event::Fault(_)) {
            self.active_steps += 1;
            if self.active_steps.is_multiple_of(self.cfg.quiet_every) || self.active_steps >= self.cfg.steps {
                self.begin_quiet();
                return false;
            }
        }
        match event {
            Event::UserAct(generation) if generation == self.generation && !self.quiet => {
                self.user_act();
                self.after(20, 150, Event::UserAct(generation));
            }
            Event::Fault(generation) if generation == self.generation && !self.quiet => {
                self.fault();
                self.after(800, 4000, Event::Fault(generation));
            }
            Event::UserAct(_) | Event::Fault(_) => {}
            Event::QuietEnd => {
                self.quiet = false;
                self.generation += 1;
                let generation = self.generation;
                self.after(1, 50, Event::UserAct(generation));
                self.after(500, 3000, Event::Fault(generation));
                return true;
            }
            Event::Tick(node, inc) if self.live(node, inc) => self.tick(node),
            Event::Work(node, inc, role) if self.live(node, inc) => self.work(node, role),
            Event::HandOver(node, inc) if self.live(node, inc) => self.hand_over(node),
            Event::Feed(node, inc, serial) if self.live(node, inc) => self.feed(node, serial),
            Event::Reap(node, inc, serial) if self.live(node, inc) => self.reap(node, serial),
            Event::Retry(node, inc, job) if self.live(node, inc) => self.retry(node, job),
            Event::SocketClosed(node, inc, user, socket) if self.live(node, inc) => {
                self.socket_closed(node, user, socket)
            }
            Event::BlockSeen(node, inc, a, b) if self.live(node, inc) => self.block_seen(node, a, b),
            Event::StandingSeen(node, inc, user) if self.live(node, inc) => self.standing_seen(node, user),
            Event::RefreshTaken(node, inc, user, fresh) if self.live(node, inc) => {
                self.refresh_taken(node, user, *fresh)
            }
            Event::Heal(node, inc) if self.live(node, inc) => {
                self.nodes[node].cut = false;
                self.note(|| format!("n{node} reaches Redis again"));
            }
            Event::Deliver(index, side, seq) => {
                if let Err(detail) = self.messages.arrive(index, side, seq) {
                    self.found = Some(Violation { invariant: Invariant::Messages, detail });
                }
            }
            Event::Restart(node) => self.restart(node),
            Event::SocketClosed(_, _, user, _) | Event::Retry(_, _, Retry::Leave(user, _)) => self.lost_close(user),
            // An event of a node that died since.
            _ => {}
        }
        false
    }

    fn begin_quiet(&mut self) {
        self.quiet = true;
        for node in 0..self.nodes.len() {
            self.nodes[node].cut = false;
        }
        let at = self.now + self.cfg.quiet_ms();
        self.schedule(at, Event::QuietEnd);
        self.note(|| "quiet: users and faults pause, cut nodes reach Redis again".into());
    }

    /// A step of the node's matchmaker `role` is due (once).
    pub(super) fn schedule_work(&mut self, node: NodeId, role: Role) {
        let inc = self.nodes[node].incarnation;
        let Some(mm) = self.nodes[node].mm(role) else { return };
        if mm.busy_scheduled || (mm.inbox.is_empty() && mm.opening.is_none()) {
            return;
        }
        mm.busy_scheduled = true;
        // Now and then an opening's step stalls for seconds (a slow commit, a paused process), a fault as any:
        // deciders overlap, a claim may go stale under its node.
        let stall = mm.opening.is_some() && !self.quiet && self.rng.percent(4);
        match stall {
            true => {
                let at = self.now + self.rng.between(500, 12_000);
                if let Some(mm) = self.nodes[node].mm(role) {
                    mm.stalled_until = at;
                }
                self.note(|| format!("n{node} {role:?} stalls until {at} ms"));
                self.schedule(at, Event::Work(node, inc, role));
            }
            false => self.after(1, 15, Event::Work(node, inc, role)),
        }
    }

    pub(super) fn push(&mut self, node: NodeId, role: Role, order: Order) {
        self.enqueue(node, role, Command { order, waits: false })
    }

    /// Puts a command in the channel of a node's matchmaker (when it runs).
    pub(super) fn enqueue(&mut self, node: NodeId, role: Role, command: Command) {
        if let Some(mm) = self.nodes[node].mm(role) {
            mm.inbox.push_back(command);
            self.schedule_work(node, role);
        }
    }

    /// Drops the stream's records every running matchmaker has read (a new one starts from the stream's end):
    /// what `MAXLEN` does in Redis, sooner, so that copying the state for the replica stays cheap.
    fn trim_stream(&mut self) {
        let read = self.nodes.iter().filter(|n| n.up).filter_map(|n| n.running_ref()).map(|e| e.position).min();
        let read = read.unwrap_or_else(|| self.redis.last_position());
        self.redis.trim(read);
    }

    /// The running matchmakers' blocking reads wake when the stream grew.
    fn wake_feeds(&mut self) {
        let last = self.redis.last_position();
        for node in 0..self.nodes.len() {
            let inc = self.nodes[node].incarnation;
            let Some(elected) = self.nodes[node].running() else { continue };
            if !elected.feed_scheduled && elected.position < last {
                elected.feed_scheduled = true;
                let serial = elected.serial;
                self.after(1, 20, Event::Feed(node, inc, serial));
            }
        }
    }
}
