//! The matchmaker's decisions, without I/O: the queue it keeps, placing a seeker (paired, or waiting in order),
//! a find sent again, a seeker taken over from another matchmaker, a waiting user's standing refreshed, what an
//! opening's results leave to pair again, the sweep, and which seekers a node has held long enough to hand over.
//! State in, pairs out: whoever drives it ([`super::Task`] on the runtime, the simulation step by step) owns the
//! channel, the clocks and the opening. One copy of the logic, so what the simulation checks is what runs.
//!
//! Time comes in two kinds, both given by the driver: `now`, the server's clock that the rules read (a nearby
//! radius grows with it, an interest fallback ends by it), and `held`, how long the driver's monotonic clock has
//! run, which only measures how long a node has held a seeker.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::rules::{Policy, pick_partner};
use super::{Fresh, Seeker};
use crate::domain::UserId;

/// Pairs found in one turn, each `(the one who waited longer, the newcomer)`.
pub type Pairs = Vec<(Seeker, Seeker)>;

/// What a seeker handed to [`Engine::find`] is to be told: waiting newly, or waiting already (the place is kept
/// and is this request's now). Told before the batch's pairs are opened, so a pair found at once is told both.
pub type Tell<'a> = &'a mut dyn FnMut(&Seeker, bool);

/// One change a matchmaker is asked for: what its task's channel carries ([`super::Task`]), what the elected
/// matchmaker reads from the cluster's input stream ([`super::cluster::entries::Input::order`]), and what the
/// simulation schedules. The engine takes each ([`Engine::take`]); the replies are the driver's.
#[derive(Debug, Clone)]
pub enum Order {
    /// `again`: the cluster's queue says this node holds the user already (the find was sent again).
    Find { seeker: Box<Seeker>, again: bool },
    /// A seeker another matchmaker held (handed over, or adopted from a dead node) and already told `match.queued`.
    TakeOver(Box<Seeker>),
    /// Whom a waiting user may meet changed (a block, a report that quarantines them, reports resolved, a withdrawn
    /// gender).
    Refresh { user: UserId, fresh: Box<Fresh> },
    /// Leave the queue: any entry of the user, or only the one a given socket made.
    Cancel { user: UserId, socket: Option<u64> },
}

impl Order {
    /// The seeker a find or a take-over brings.
    pub fn seeker(&self) -> Option<&Seeker> {
        match self {
            Order::Find { seeker, .. } | Order::TakeOver(seeker) => Some(seeker),
            Order::Refresh { .. } | Order::Cancel { .. } => None,
        }
    }
}

/// What taking an order did that its driver acts on.
#[derive(Debug)]
pub enum Taken {
    Done,
    /// A cancel: whether it took a place out.
    Cancelled(bool),
    /// A find or a take-over that a match this engine opened served ([`Engine::served`]): it took no place, and
    /// its entry in the cluster's queue, if any, is the driver's to take away.
    Served(Box<Seeker>),
}

/// How long an engine remembers whom a match it opened served: longer than a request takes to reach it (a node's
/// hand-over, the cluster's input stream read late).
const SERVED_FOR: TimeDelta = TimeDelta::minutes(1);

/// A matchmaker's queue and the rules of changing it: its engine.
pub struct Engine {
    policy: Policy,
    /// Waiting people, oldest first (FIFO fairness).
    queue: Vec<Seeker>,
    /// A node's own matchmaker in a cluster: how long it holds a seeker before handing them to the cluster.
    hand_over_after: Option<Duration>,
    /// When each seeker a node holds arrived, on the driver's monotonic clock.
    held_since: HashMap<UserId, Duration>,
    /// Users whose match this engine opened, with their count of matches when they asked for it and when it
    /// opened (oldest first in `served_order`, kept [`SERVED_FOR`]): one find per person, so that match served
    /// every request of theirs sent after no more matches, from another device or again while the pair was being
    /// opened; every socket of theirs is told `match.found`, and such a request, reaching the engine after the
    /// opening, takes no place (docs/testing.md row 31). The store refuses to pair it anyway, but only once it is
    /// paired: until then its place would keep what they were when they asked (a gender withdrawn since).
    served: HashMap<UserId, (i64, DateTime<Utc>)>,
    served_order: VecDeque<(DateTime<Utc>, UserId)>,
    /// An old decision put back, for the simulation to show its invariant catches it.
    #[cfg(test)]
    pub(crate) mutation: Option<Mutation>,
}

/// Decisions this engine made wrongly once, each found by the simulation; put back only by its tests.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mutation {
    /// When one side of a pair is refused, the other goes back to its place without looking at who arrived.
    PartnerPutBackUnplaced,
    /// A seeker taken over while an older copy of them waits here is ignored: the older request is paired.
    TakeOverKeepsStaleCopy,
    /// A request sent again while the older one is paired in the same batch leaves that pair as it is.
    NewerRequestLeftOutOfPair,
    /// A refresh (a withdrawal, a block) of a user paired in the same batch is ignored: the pair opens as made.
    RefreshSkipsPairedUser,
    /// A request that a match this engine opened served, reaching it after the opening, is placed again.
    ServedRequestPlaced,
    /// A cancel reaching the engine in the batch that paired its user leaves the pair to be opened.
    CancelSkipsPairedUser,
}

impl Engine {
    pub fn new(policy: Policy, hand_over_after: Option<Duration>) -> Self {
        Engine {
            policy,
            queue: Vec::new(),
            hand_over_after,
            held_since: HashMap::new(),
            served: HashMap::new(),
            served_order: VecDeque::new(),
            #[cfg(test)]
            mutation: None,
        }
    }

    /// Who waits, oldest first.
    pub fn queue(&self) -> &[Seeker] {
        &self.queue
    }

    /// Whether this is a node's own matchmaker (it hands over whom it could not pair).
    pub fn is_local(&self) -> bool {
        self.hand_over_after.is_some()
    }

    #[cfg(test)]
    fn mutated(&self, mutation: Mutation) -> bool {
        self.mutation == Some(mutation)
    }

    #[cfg(not(test))]
    fn mutated(&self, _: Mutation) -> bool {
        false
    }

    /// Takes one order; the pairs it makes join `pairs`.
    pub fn take(&mut self, order: Order, pairs: &mut Pairs, now: DateTime<Utc>, held: Duration, tell: Tell) -> Taken {
        let served = match order {
            Order::Find { seeker, again } => self.find(*seeker, again, pairs, now, held, tell),
            Order::TakeOver(seeker) => self.take_over(*seeker, pairs, now),
            Order::Refresh { user, fresh } => {
                self.refresh(user, &fresh, pairs, now);
                None
            }
            Order::Cancel { user, socket } => return Taken::Cancelled(self.cancel(user, socket, pairs, now)),
        };
        served.map_or(Taken::Done, |seeker| Taken::Served(Box::new(seeker)))
    }

    /// A `match.find`. `again`: the cluster's queue says this node holds the user already (sent again).
    pub fn find(
        &mut self,
        seeker: Seeker,
        again: bool,
        pairs: &mut Pairs,
        now: DateTime<Utc>,
        held: Duration,
        tell: Tell,
    ) -> Option<Seeker> {
        if self.was_served(&seeker) {
            return Some(seeker);
        }
        let user = seeker.user_id();
        if self.is_local() && !again {
            // The cluster's queue already said this user waits nowhere: one still held here left through another
            // node, and this is their new request.
            self.queue.retain(|s| s.user_id() != user);
            self.held_since.insert(user, held);
        }
        // Sent again, most often from the socket an app reconnected with before this node saw the old one go: the
        // place (queued, or in a pair of this batch) is the newer request's now ([`Self::renew`]).
        if self.holds(user, pairs) {
            tell(&seeker, false);
            self.renew(&seeker, pairs, now);
            return None;
        }
        if again {
            // The cluster's queue says this node holds them, and this queue does not: their entry outlived the
            // seeker here (a settle lost in a Redis failover), or a hand-over a moment ago missed them, the entry
            // having become this socket's. Either way nobody else pairs them: they wait here, told they did.
            self.held_since.insert(user, held);
            tell(&seeker, false);
            self.place(seeker, pairs, now);
            return None;
        }
        tell(&seeker, true);
        self.place(seeker, pairs, now);
        None
    }

    /// Queues a seeker handed over by the node that held it: it was told `match.queued` there. A copy of an older
    /// request of theirs still here (put back after its pair failed, a cancel having missed it) is renewed with it,
    /// as a find sent again is: the older request never stands for the newer one.
    pub fn take_over(&mut self, seeker: Seeker, pairs: &mut Pairs, now: DateTime<Utc>) -> Option<Seeker> {
        if self.was_served(&seeker) {
            return Some(seeker);
        }
        if self.holds(seeker.user_id(), pairs) {
            if !self.mutated(Mutation::TakeOverKeepsStaleCopy) {
                self.renew(&seeker, pairs, now);
            }
            return None;
        }
        self.place(seeker, pairs, now);
        None
    }

    /// Leaves the queue: any entry of the user, or only the one `socket_id` made. True when one was there. A pair
    /// this batch made with that entry, not opened yet, is undone and the partner placed again: a cancel that
    /// arrives in the batch that paired its user holds (issue 75), where it used to leave the pair to be opened (the
    /// simulation's invariant 9 found the cancelled request then kept a place after the user's next match).
    pub fn cancel(&mut self, user: UserId, socket_id: Option<u64>, pairs: &mut Pairs, now: DateTime<Utc>) -> bool {
        let mine = |s: &Seeker| s.user_id() == user && socket_id.is_none_or(|id| id == s.socket_id);
        let before = self.queue.len();
        self.queue.retain(|s| !mine(s));
        if self.queue.len() < before {
            return true;
        }
        let Some(index) = pairs.iter().position(|(a, b)| mine(a) || mine(b)) else { return false };
        if self.mutated(Mutation::CancelSkipsPairedUser) {
            return false;
        }
        let (a, b) = pairs.remove(index);
        self.place(if mine(&a) { b } else { a }, pairs, now);
        true
    }

    /// Gives a waiting user's place what they may meet now, and places them again: a block keeps them from a
    /// waiting partner at once, a quarantine ended lets them meet anyone. A pair this batch made with them, not
    /// opened yet, was made on what they were: it is undone and its partner placed again, as a find sent again
    /// does ([`Self::renew`]). Left as it was, it would open on a gender just withdrawn, and should its opening
    /// fail they would wait again as they were (the simulation's time-bounded check of withdrawals found it).
    pub fn refresh(&mut self, user: UserId, fresh: &Fresh, pairs: &mut Pairs, now: DateTime<Utc>) {
        let Some(mut seeker) = self.take_place(user, pairs, now, Mutation::RefreshSkipsPairedUser) else { return };
        fresh.refresh(&mut seeker.candidate);
        // Paired with whoever they may meet now, or back in their place (kept by their time of asking).
        self.place(seeker, pairs, now);
    }

    /// Takes the user's place out of the queue, or out of a pair this batch made (not opened yet), whose partner is
    /// placed again; `None` when they hold neither here. `skip`: the mutation that leaves such a pair as made.
    fn take_place(&mut self, user: UserId, pairs: &mut Pairs, now: DateTime<Utc>, skip: Mutation) -> Option<Seeker> {
        if let Some(index) = self.queue.iter().position(|s| s.user_id() == user) {
            return Some(self.queue.remove(index));
        }
        let index = pairs.iter().position(|(a, b)| a.user_id() == user || b.user_id() == user)?;
        if self.mutated(skip) {
            return None;
        }
        let (a, b) = pairs.remove(index);
        let (mine, partner) = if a.user_id() == user { (a, b) } else { (b, a) };
        self.place(partner, pairs, now);
        Some(mine)
    }

    /// Whether the user waits here, or is in a pair this batch made.
    fn holds(&self, user: UserId, pairs: &[(Seeker, Seeker)]) -> bool {
        self.queue.iter().any(|s| s.user_id() == user)
            || pairs.iter().any(|(a, b)| a.user_id() == user || b.user_id() == user)
    }

    /// The user's place becomes the newer request `seeker`'s: its socket (so the old socket's closing does not
    /// take the place away), its request id, the key pair the app asked with last, and whom they may meet and the
    /// gender they consent to as it read them (a block, a report or a withdrawal since); they keep their time of asking and may be paired now. A pair this
    /// batch made with the older request is undone first, its partner placed again, so that the pair opened is
    /// the newer request's: the older one may have been spent on a match meanwhile, and its opening refused with
    /// the newer one lost (issue 60's simulation: `NewerRequestLeftOutOfPair`, `TakeOverKeepsStaleCopy`).
    fn renew(&mut self, seeker: &Seeker, pairs: &mut Pairs, now: DateTime<Utc>) {
        let taken = self.take_place(seeker.user_id(), pairs, now, Mutation::NewerRequestLeftOutOfPair);
        let Some(mut held) = taken else { return };
        held.socket_id = seeker.socket_id;
        held.request_id.clone_from(&seeker.request_id);
        held.public_key.clone_from(&seeker.public_key);
        (held.asked_after, held.asked_at) = (seeker.asked_after, seeker.asked_at);
        held.ask = seeker.ask.clone();
        Fresh::of(&seeker.candidate).apply(&mut held.candidate);
        self.place(held, pairs, now);
    }

    /// Pairs `seeker` with the best waiting partner (the pair joins `pairs`), or leaves it waiting.
    pub fn place(&mut self, seeker: Seeker, pairs: &mut Pairs, now: DateTime<Utc>) {
        match pick_partner(&seeker.candidate, self.queue.iter().map(|s| &s.candidate), now, self.policy) {
            Some(index) => pairs.push((self.queue.remove(index), seeker)),
            None => self.enqueue(seeker),
        }
    }

    /// What an opening's results leave: a side that could not be matched is dropped (it was told why), the other
    /// is placed again, looking at whoever arrived meanwhile. Returns the pairs that makes, to be opened next.
    pub fn reopen(&mut self, pairs: Pairs, results: Vec<Result<(), Vec<UserId>>>, now: DateTime<Utc>) -> Pairs {
        let mut retry = Vec::new();
        self.forget_served(now);
        for ((partner, seeker), result) in pairs.into_iter().zip(results) {
            let dropped = match result {
                Ok(()) => {
                    self.serve(&partner, now);
                    self.serve(&seeker, now);
                    continue;
                }
                // An empty list would break the contract and loop forever on the same pair: treat it as both.
                Err(dropped) if dropped.is_empty() => continue,
                Err(dropped) => dropped,
            };
            if !dropped.contains(&partner.user_id()) {
                match self.mutated(Mutation::PartnerPutBackUnplaced) {
                    true => self.enqueue(partner),
                    false => self.place(partner, &mut retry, now),
                }
            }
            if !dropped.contains(&seeker.user_id()) {
                // The seeker is still good: it looks for someone else.
                self.place(seeker, &mut retry, now);
            }
        }
        retry
    }

    /// Remembers that a match opened for this request ([`Self::served`]).
    fn serve(&mut self, seeker: &Seeker, now: DateTime<Utc>) {
        let Some(after) = seeker.asked_after else { return };
        self.served.insert(seeker.user_id(), (after, now));
        self.served_order.push_back((now, seeker.user_id()));
    }

    fn forget_served(&mut self, now: DateTime<Utc>) {
        while let Some(&(at, user)) = self.served_order.front().filter(|(at, _)| *at + SERVED_FOR < now) {
            self.served_order.pop_front();
            if self.served.get(&user).is_some_and(|(_, opened)| *opened == at) {
                self.served.remove(&user);
            }
        }
    }

    /// Whether a match this engine opened served this request: it was sent after no more matches of theirs.
    fn was_served(&self, seeker: &Seeker) -> bool {
        if self.mutated(Mutation::ServedRequestPlaced) {
            return false;
        }
        let served = self.served.get(&seeker.user_id());
        served.is_some_and(|(after, _)| seeker.asked_after.is_some_and(|asked| asked <= *after))
    }

    /// Whether anyone waiting could become compatible by waiting longer: else a sweep has nothing to re-examine.
    pub fn relaxes(&self) -> bool {
        self.queue.iter().any(|s| s.candidate.relaxes_with_waiting())
    }

    /// Re-examines the queue: nearby-seekers become compatible as their radius grows, interest-seekers once their
    /// fallback wait is over.
    pub fn sweep(&mut self, pairs: &mut Pairs, now: DateTime<Utc>) {
        let mut i = 1;
        while i < self.queue.len() {
            let older = self.queue[..i].iter().map(|s| &s.candidate);
            match pick_partner(&self.queue[i].candidate, older, now, self.policy) {
                Some(_) => {
                    let seeker = self.queue.remove(i);
                    self.place(seeker, pairs, now);
                    i = 1;
                }
                None => i += 1,
            }
        }
    }

    /// When the longest-held seeker is due to be handed over (on the monotonic clock); never for the cluster's
    /// own matchmaker.
    pub fn next_hand_over(&self) -> Option<Duration> {
        let after = self.hand_over_after?;
        self.queue.iter().filter_map(|s| self.held_since.get(&s.user_id())).min().map(|since| *since + after)
    }

    /// Takes every seeker held long enough out of the queue, to be handed to the cluster.
    pub fn due(&mut self, held: Duration) -> Vec<Seeker> {
        let Some(after) = self.hand_over_after else { return Vec::new() };
        let since = &self.held_since;
        let (leaving, staying): (Vec<Seeker>, Vec<Seeker>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|s| since.get(&s.user_id()).is_none_or(|since| *since + after <= held));
        self.queue = staying;
        let waiting: std::collections::HashSet<UserId> = self.queue.iter().map(Seeker::user_id).collect();
        self.held_since.retain(|user, _| waiting.contains(user));
        leaving
    }

    /// A seeker the cluster could not take now: held here again, from `held` on.
    pub fn hold_again(&mut self, seeker: Seeker, held: Duration) {
        self.held_since.insert(seeker.user_id(), held);
        self.enqueue(seeker);
    }

    /// Forgets everyone (an elected matchmaker deposed).
    pub fn clear(&mut self) {
        self.queue.clear();
        self.held_since.clear();
    }

    /// Inserts by queue time, so someone put back after a failed pairing keeps their place.
    fn enqueue(&mut self, seeker: Seeker) {
        let at: DateTime<Utc> = seeker.candidate.queued_at;
        let index = self.queue.partition_point(|s| s.candidate.queued_at <= at);
        self.queue.insert(index, seeker);
    }
}
