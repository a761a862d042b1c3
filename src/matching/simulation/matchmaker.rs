//! A matchmaker as a node runs it: the production [`Engine`] (the queue and every decision about it), the
//! commands not yet taken from its channel, and the batch being opened. Taking the channel's commands is
//! `Task::run`'s turn; only the awaiting is the scheduler's (an opening is stages the scheduler interleaves, see
//! [`super::node`]). The same code is a node's own matchmaker (`hand_over_after` set) and the elected one's.

use std::collections::VecDeque;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::Mutation;
use super::store::Tx;
use crate::domain::UserId;
use crate::matching::engine::{self, Engine, Order};
use crate::matching::rules::Policy;
use crate::matching::{Fresh, Seeker};

/// What the task's channel carries: production's order, and whether its sender waits until the engine has taken
/// it (a refresh: `Finder::refresh_place` rewrites the place in Redis only then; see [`Matchmaker::taken`]).
#[derive(Debug, Clone)]
pub(super) struct Command {
    pub(super) order: Order,
    pub(super) waits: bool,
}

/// Where an opening stands between the scheduler's steps.
#[derive(Debug)]
pub(super) enum Stage {
    /// A node's pairs: CLAIM, then open the claimed ones, then SETTLE.
    Claim,
    Begin {
        claims: Vec<Result<(), Vec<UserId>>>,
        /// The node's fence as it stood before the claims.
        fence: i64,
    },
    Commit {
        claims: Vec<Result<(), Vec<UserId>>>,
        tx: Tx,
    },
    Settle {
        claims: Vec<Result<(), Vec<UserId>>>,
        opened: Vec<Result<(), Vec<UserId>>>,
        /// The node's fence was raised: its claimed pairs are the cluster's.
        fenced: bool,
    },
    /// The elected matchmaker's pairs: drop whoever is offline, CLAIM the rest, open those claimed under the epoch,
    /// SETTLE the claims, then remove every settled user's entry (`Epoch::open`).
    Check,
    ClaimHeld {
        results: Vec<Option<Result<(), Vec<UserId>>>>,
        gone: Vec<Seeker>,
        live: Vec<(Seeker, Seeker)>,
    },
    Fenced {
        results: Vec<Option<Result<(), Vec<UserId>>>>,
        gone: Vec<Seeker>,
        live: Vec<(Seeker, Seeker)>,
        claims: Vec<Result<(), Vec<UserId>>>,
        tx: Tx,
    },
    SettleHeld {
        results: Vec<Option<Result<(), Vec<UserId>>>>,
        gone: Vec<Seeker>,
        live: Vec<(Seeker, Seeker)>,
        claims: Vec<Result<(), Vec<UserId>>>,
        opened: Option<Vec<Result<(), Vec<UserId>>>>,
    },
    Remove {
        results: Vec<Result<(), Vec<UserId>>>,
        settled: Vec<Seeker>,
        matched: Vec<UserId>,
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
    /// The queue and its rules: production's.
    pub(super) engine: Engine,
    /// The channel: commands not taken yet.
    pub(super) inbox: VecDeque<Command>,
    pub(super) opening: Option<Opening>,
    /// A step of this matchmaker is scheduled already.
    pub(super) busy_scheduled: bool,
    /// Refreshes taken since the node last looked, whose senders wait for that (`Matchmaker::refresh`'s answer).
    pub(super) taken: Vec<(UserId, Fresh)>,
    /// Requests a match it opened served, taken since the node last looked: their entries are the node's to take
    /// away (`Pairing::served`).
    pub(super) served: Vec<Seeker>,
    /// When its last stalled step (a slow commit, a paused process) ends: it takes no command until then.
    pub(super) stalled_until: u64,
}

pub(super) fn at(ms: u64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(1_800_000_000_000 + ms as i64).expect("in range")
}

/// The simulated clock as the engine's monotonic one.
pub(super) fn held(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

impl Matchmaker {
    pub(super) fn new(hand_over_after: Option<u64>, policy: Policy, mutation: Option<Mutation>) -> Self {
        let mut engine = Engine::new(policy, hand_over_after.map(Duration::from_millis));
        engine.mutation = mutation.and_then(|m| match m {
            Mutation::PartnerPutBackUnplaced => Some(engine::Mutation::PartnerPutBackUnplaced),
            Mutation::TakeOverKeepsStaleCopy => Some(engine::Mutation::TakeOverKeepsStaleCopy),
            Mutation::NewerRequestLeftOutOfPair => Some(engine::Mutation::NewerRequestLeftOutOfPair),
            Mutation::RefreshSkipsPairedUser => Some(engine::Mutation::RefreshSkipsPairedUser),
            Mutation::ServedRequestPlaced => Some(engine::Mutation::ServedRequestPlaced),
            Mutation::CancelSkipsPairedUser => Some(engine::Mutation::CancelSkipsPairedUser),
            _ => None,
        });
        Matchmaker {
            engine,
            inbox: VecDeque::new(),
            opening: None,
            busy_scheduled: false,
            taken: Vec::new(),
            served: Vec::new(),
            stalled_until: 0,
        }
    }

    /// Whether the user is in this matchmaker's memory: queued, in its channel, or being opened.
    pub(super) fn holds(&self, user: UserId) -> bool {
        self.engine.queue().iter().any(|s| s.user_id() == user)
            || self.opening.as_ref().is_some_and(|o| o.has(user))
            || self.inbox.iter().any(|c| c.order.seeker().is_some_and(|s| s.user_id() == user))
    }

    /// One turn of the task's loop: every command in the channel, paired in memory by the engine. `match.queued`
    /// reaches the app when the node sends the find (see [`super::node`]), so the engine's answers are not needed.
    pub(super) fn take(&mut self, now: u64) -> Vec<(Seeker, Seeker)> {
        let mut pairs = Vec::new();
        while let Some(Command { order, waits }) = self.inbox.pop_front() {
            let taken = match &order {
                Order::Refresh { user, fresh } if waits => Some((*user, Fresh::clone(fresh))),
                _ => None,
            };
            if let engine::Taken::Served(seeker) =
                self.engine.take(order, &mut pairs, at(now), held(now), &mut |_, _| {})
            {
                self.served.push(*seeker);
            }
            self.taken.extend(taken);
        }
        pairs
    }

    /// The results of one opening: the engine places whoever was not dropped again; returns the pairs that makes,
    /// to be opened next.
    pub(super) fn reopen(
        &mut self,
        pairs: Vec<(Seeker, Seeker)>,
        results: Vec<Result<(), Vec<UserId>>>,
        now: u64,
    ) -> Vec<(Seeker, Seeker)> {
        self.engine.reopen(pairs, results, at(now))
    }

    /// A block reached this matchmaker: a command not taken yet carries it (as read after the block), and each of
    /// the two who waits here has their place refreshed, as the hub's standing loop does.
    pub(super) fn exclude(&mut self, a: UserId, b: UserId) {
        let other = |user: UserId| if user == a { b } else { a };
        for command in &mut self.inbox {
            if let Order::Find { seeker, .. } | Order::TakeOver(seeker) = &mut command.order {
                let user = seeker.user_id();
                if user == a || user == b {
                    seeker.candidate.excluded.insert(other(user));
                }
            }
        }
        let refreshes: Vec<Command> = self
            .engine
            .queue()
            .iter()
            .filter(|s| s.user_id() == a || s.user_id() == b)
            .map(|s| {
                let mut excluded = s.candidate.excluded.clone();
                excluded.insert(other(s.user_id()));
                let fresh = Fresh { excluded, ..Fresh::of(&s.candidate) };
                Command { order: Order::Refresh { user: s.user_id(), fresh: Box::new(fresh) }, waits: false }
            })
            .collect();
        self.inbox.extend(refreshes);
    }
}
