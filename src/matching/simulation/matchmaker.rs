//! A matchmaker's memory, as the task of [`crate::matching`] keeps it: the queue (oldest first), the commands
//! not yet taken from its channel, and the batch being opened. Placing, re-placing after a failed opening and
//! handing over follow `Task` line by line, with the real [`pick_partner`]; only the awaiting is the
//! scheduler's (an opening is stages the scheduler interleaves, see [`super::node`]). The same code is a node's
//! own matchmaker (`hand_over_after` set) and the elected one's.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};

use super::Mutation;
use super::store::Tx;
use crate::domain::UserId;
use crate::matching::Seeker;
use crate::matching::rules::{Policy, pick_partner};

/// What the task's channel carries.
#[derive(Debug, Clone)]
pub(super) enum Command {
    /// `again`: the cluster's queue says this node holds the user already (the find was sent again).
    Find { seeker: Seeker, again: bool },
    /// A seeker another matchmaker held (handed over, or adopted from a dead node).
    TakeOver(Seeker),
    /// Leave: any entry of the user, or only the one a socket made.
    Cancel { user: UserId, socket: Option<u64> },
}

/// Where an opening stands between the scheduler's steps.
#[derive(Debug)]
pub(super) enum Stage {
    /// A node's pairs: CLAIM, then open the claimed ones, then SETTLE.
    Claim,
    Begin {
        claims: Vec<Result<(), Vec<UserId>>>,
    },
    Commit {
        claims: Vec<Result<(), Vec<UserId>>>,
        tx: Tx,
    },
    Settle {
        claims: Vec<Result<(), Vec<UserId>>>,
        opened: Vec<Result<(), Vec<UserId>>>,
    },
    /// The elected matchmaker's pairs: drop whoever is offline and open the rest under the epoch, then remove
    /// every settled user's entry.
    Check,
    Fenced {
        results: Vec<Option<Result<(), Vec<UserId>>>>,
        gone: Vec<Seeker>,
        tx: Tx,
    },
    Remove {
        results: Vec<Result<(), Vec<UserId>>>,
        settled: Vec<Seeker>,
    },
}

#[derive(Debug)]
pub(super) struct Opening {
    pub(super) pairs: Vec<(Seeker, Seeker)>,
    pub(super) stage: Stage,
}

impl Opening {
    pub(super) fn has(&self, user: UserId) -> bool {
        self.pairs.iter().any(|(a, b)| a.user_id() == user || b.user_id() == user)
    }
}

/// Which matchmaker of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Local,
    /// The elected matchmaker of that serial ([`super::node::Elected`]).
    Elected(u64),
}

pub(super) struct Matchmaker {
    /// Waiting people, oldest first.
    pub(super) queue: Vec<Seeker>,
    /// The channel: commands not taken yet.
    pub(super) inbox: VecDeque<Command>,
    /// A node's own matchmaker: when each seeker it holds arrived.
    pub(super) held_since: BTreeMap<UserId, u64>,
    pub(super) hand_over_after: Option<u64>,
    pub(super) opening: Option<Opening>,
    /// A step of this matchmaker is scheduled already.
    pub(super) busy_scheduled: bool,
}

pub(super) fn at(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_800_000_000_000 + ms as i64).expect("in range")
}

impl Matchmaker {
    pub(super) fn new(hand_over_after: Option<u64>) -> Self {
        Matchmaker {
            queue: Vec::new(),
            inbox: VecDeque::new(),
            held_since: BTreeMap::new(),
            hand_over_after,
            opening: None,
            busy_scheduled: false,
        }
    }

    /// Whether the user is in this matchmaker's memory: queued, in its channel, or being opened.
    pub(super) fn holds(&self, user: UserId) -> bool {
        self.queue.iter().any(|s| s.user_id() == user)
            || self.opening.as_ref().is_some_and(|o| o.has(user))
            || self.inbox.iter().any(|c| match c {
                Command::Find { seeker, .. } | Command::TakeOver(seeker) => seeker.user_id() == user,
                Command::Cancel { .. } => false,
            })
    }

    /// One turn of the task's loop: every command in the channel, paired in memory.
    pub(super) fn take(&mut self, now: u64, policy: Policy, mutation: Option<Mutation>) -> Vec<(Seeker, Seeker)> {
        let mut pairs = Vec::new();
        while let Some(command) = self.inbox.pop_front() {
            match command {
                Command::Find { seeker, again } => self.find(seeker, again, &mut pairs, now, policy, mutation),
                Command::TakeOver(seeker) => self.take_over(seeker, &mut pairs, now, policy, mutation),
                Command::Cancel { user, socket } => {
                    self.queue.retain(|s| s.user_id() != user || socket.is_some_and(|id| id != s.socket_id));
                }
            }
        }
        pairs
    }

    fn find(
        &mut self,
        seeker: Seeker,
        again: bool,
        pairs: &mut Vec<(Seeker, Seeker)>,
        now: u64,
        policy: Policy,
        mutation: Option<Mutation>,
    ) {
        let user = seeker.user_id();
        let local = self.hand_over_after.is_some();
        if local && !again {
            self.queue.retain(|s| s.user_id() != user);
            self.held_since.insert(user, now);
        }
        if self.renew(&seeker, pairs, now, policy, mutation) {
            return;
        }
        // Only under [`Mutation::NewerRequestLeftOutOfPair`]: paired in this batch, with the older request.
        if pairs.iter().any(|(a, b)| a.user_id() == user || b.user_id() == user) {
            return;
        }
        // TARGET: sent again to the node that holds them in Redis, but no longer in its memory (a claim that
        // failed, a hand-over that did not reach Redis): placed here, not answered "already waiting" by nobody.
        if again {
            self.held_since.insert(user, now);
        }
        self.place(seeker, pairs, now, policy);
    }

    /// Sent again: the place is kept and becomes the new socket's and request's, whom they may meet is as the
    /// request read it, and they may be paired now (the production task's `refresh`). A pair this batch made
    /// with the older request is undone first (its partner placed again), so the pair opened is the newer
    /// request's ([`Mutation::NewerRequestLeftOutOfPair`]: left as it is, as `Task::find` did before; should the
    /// older request have been spent on a match meanwhile, the opening refuses it and the newer one is lost with
    /// it). False when the user is neither queued nor paired here.
    fn renew(
        &mut self,
        seeker: &Seeker,
        pairs: &mut Vec<(Seeker, Seeker)>,
        now: u64,
        policy: Policy,
        mutation: Option<Mutation>,
    ) -> bool {
        let user = seeker.user_id();
        let paired = pairs.iter().position(|(a, b)| a.user_id() == user || b.user_id() == user);
        let mut held = match (self.queue.iter().position(|s| s.user_id() == user), paired) {
            (Some(index), _) => self.queue.remove(index),
            (None, Some(index)) if mutation != Some(Mutation::NewerRequestLeftOutOfPair) => {
                let (a, b) = pairs.remove(index);
                let (mine, partner) = if a.user_id() == user { (a, b) } else { (b, a) };
                self.place(partner, pairs, now, policy);
                mine
            }
            _ => return false,
        };
        held.socket_id = seeker.socket_id;
        held.request_id.clone_from(&seeker.request_id);
        held.candidate.excluded.clone_from(&seeker.candidate.excluded);
        held.candidate.quarantined = seeker.candidate.quarantined;
        self.place(held, pairs, now, policy);
        true
    }

    /// A seeker handed over (or adopted): one already queued here is renewed with it, as a find sent again is, so a
    /// copy of an older request (put back after its pair failed, a cancel having missed it) never stands for the
    /// newer one. [`Mutation::TakeOverKeepsStaleCopy`]: ignored, as `Task::take_over` did before.
    fn take_over(
        &mut self,
        seeker: Seeker,
        pairs: &mut Vec<(Seeker, Seeker)>,
        now: u64,
        policy: Policy,
        mutation: Option<Mutation>,
    ) {
        let user = seeker.user_id();
        let paired = pairs.iter().any(|(a, b)| a.user_id() == user || b.user_id() == user);
        let queued = self.queue.iter().any(|s| s.user_id() == user);
        if (queued || paired) && mutation == Some(Mutation::TakeOverKeepsStaleCopy) {
            return;
        }
        if !self.renew(&seeker, pairs, now, policy, mutation) && !paired {
            self.place(seeker, pairs, now, policy);
        }
    }

    pub(super) fn place(&mut self, seeker: Seeker, pairs: &mut Vec<(Seeker, Seeker)>, now: u64, policy: Policy) {
        match pick_partner(&seeker.candidate, self.queue.iter().map(|s| &s.candidate), at(now), policy) {
            Some(index) => pairs.push((self.queue.remove(index), seeker)),
            None => self.enqueue(seeker),
        }
    }

    /// Inserts by queue time, so someone put back after a failed pairing keeps their place.
    pub(super) fn enqueue(&mut self, seeker: Seeker) {
        let queued_at = seeker.candidate.queued_at;
        let index = self.queue.partition_point(|s| s.candidate.queued_at <= queued_at);
        self.queue.insert(index, seeker);
    }

    /// The results of one opening: whoever was not dropped looks for someone else (the partner from its old
    /// place, [`Mutation::PartnerPutBackUnplaced`]: put back without looking, as `Task::open` does today); returns
    /// the pairs that makes, to be opened next.
    pub(super) fn reopen(
        &mut self,
        pairs: Vec<(Seeker, Seeker)>,
        results: Vec<Result<(), Vec<UserId>>>,
        now: u64,
        policy: Policy,
        mutation: Option<Mutation>,
    ) -> Vec<(Seeker, Seeker)> {
        let mut retry = Vec::new();
        for ((partner, seeker), result) in pairs.into_iter().zip(results) {
            let dropped = match result {
                Ok(()) => continue,
                Err(dropped) if dropped.is_empty() => continue,
                Err(dropped) => dropped,
            };
            if !dropped.contains(&partner.user_id()) {
                match mutation {
                    Some(Mutation::PartnerPutBackUnplaced) => self.enqueue(partner),
                    _ => self.place(partner, &mut retry, now, policy),
                }
            }
            if !dropped.contains(&seeker.user_id()) {
                self.place(seeker, &mut retry, now, policy);
            }
        }
        retry
    }

    /// When the longest-held seeker is due to be handed over (a node's own matchmaker).
    pub(super) fn next_hand_over(&self) -> Option<u64> {
        let after = self.hand_over_after?;
        self.queue.iter().filter_map(|s| self.held_since.get(&s.user_id())).min().map(|since| since + after)
    }

    /// Takes every seeker held long enough out of the queue.
    pub(super) fn due(&mut self, now: u64) -> Vec<Seeker> {
        let Some(after) = self.hand_over_after else { return Vec::new() };
        let held = &self.held_since;
        let (leaving, staying): (Vec<Seeker>, Vec<Seeker>) = std::mem::take(&mut self.queue)
            .into_iter()
            .partition(|s| held.get(&s.user_id()).is_none_or(|since| since + after <= now));
        self.queue = staying;
        let waiting: Vec<UserId> = self.queue.iter().map(Seeker::user_id).collect();
        self.held_since.retain(|user, _| waiting.contains(user));
        leaving
    }

    /// A block reached this matchmaker: the two are never paired from its memory.
    pub(super) fn exclude(&mut self, a: UserId, b: UserId) {
        let inbox = self.inbox.iter_mut().filter_map(|c| match c {
            Command::Find { seeker, .. } | Command::TakeOver(seeker) => Some(seeker),
            Command::Cancel { .. } => None,
        });
        for seeker in self.queue.iter_mut().chain(inbox) {
            let other = if seeker.user_id() == a { b } else { a };
            if seeker.user_id() == a || seeker.user_id() == b {
                seeker.candidate.excluded.insert(other);
            }
        }
    }
}
