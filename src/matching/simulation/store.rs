//! The database as the openings see it: active matches, each user's units, blocks, and the matchmaker's fence.
//! An opening is two steps, [`Store::begin`] (the statement's snapshot) and [`Store::commit`], so the scheduler
//! can interleave two deciders' openings (two nodes pairing their own seekers, the elected matchmaker, a holder
//! cut off from Redis). The TARGET rule (src/store/batch/opening.rs): each side pays one unit and is in no active
//! match, checked after the users' rows are locked, so the check sees every committed match; under
//! [`Mutation::OpeningWithoutRowLock`] it reads the snapshot the statement began with (READ COMMITTED without
//! the lock), blind to a match committed meanwhile.
//!
//! Two more refusals were the simulation's findings: a seeker whose find was already spent on a match
//! ([`Mutation::OpeningAllowsSpentFind`] leaves it out), and a pair with a block between them
//! ([`Mutation::OpeningIgnoresBlocks`]). Those the opening decides with production's own rule
//! ([`crate::store::refusals`]), on each user's count of matches and when the latest opened as the row holds them
//! (by the opening node's wall clock, which may be skewed); only what the SQL decides (units, one active match,
//! what a snapshot sees) is modelled here.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tanis_proto::MatchKind;

use super::Mutation;
use crate::domain::UserId;
use crate::matching::Seeker;
use crate::matching::rules::Candidate;
use crate::store::{Asked, Matched, NewMatch, Refusal as Refused, refusals};

#[derive(Debug, Clone)]
pub(super) struct MatchRow {
    pub(super) users: [UserId; 2],
    /// The candidates the pair was made of (what the invariants judge it by), and their requests.
    pub(super) candidates: [Candidate; 2],
    pub(super) requests: [Option<String>; 2],
    pub(super) opened_at: u64,
    /// When it opened by the opening node's wall clock (`users.last_matched_at`).
    wall: DateTime<Utc>,
    /// The commit that wrote it, and the one that ended it: what a snapshot sees.
    committed: u64,
    ended: Option<u64>,
    /// Who opened it, for the trace: `n1` (a node's own pair) or `e3` (the elected matchmaker of epoch 3).
    pub(super) by: String,
}

impl MatchRow {
    pub(super) fn active(&self) -> bool {
        self.ended.is_none()
    }

    pub(super) fn has(&self, user: UserId) -> bool {
        self.users.contains(&user)
    }
}

/// An opening between its two steps.
#[derive(Debug)]
pub(super) struct Tx {
    snapshot: u64,
    pub(super) pairs: Vec<(Seeker, Seeker)>,
    epoch: Option<i64>,
    /// A node's own pairs: the node and its fence when it claimed them.
    node: Option<(usize, i64)>,
}

/// Why the opening refused a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No unit left, or already in an active match: told so (whichever request they wait with, it is so).
    Unavailable,
    /// This seeker's find paid for a match already: a stale copy, nothing to tell.
    Spent,
    /// A block between the two: this side is told to ask again.
    Blocked,
}

#[derive(Debug)]
pub(super) enum Opened {
    /// Per pair: the match's index, or the user refused and why.
    Pairs(Vec<Result<usize, (UserId, Refusal)>>),
    /// A newer matchmaker raised the fence, or the elected one the node's: nothing was written.
    Fenced,
}

pub(super) struct Store {
    pub(super) matches: Vec<MatchRow>,
    /// The active ones, by index (an index of the table, as the opening's `NOT EXISTS` probes one).
    pub(super) active: Vec<usize>,
    pub(super) units: BTreeMap<UserId, u32>,
    pub(super) spent: u64,
    pub(super) fence: i64,
    /// Each node's fence (`node_fences`), raised before its places are adopted.
    node_fences: BTreeMap<usize, i64>,
    /// (blocker, blocked, when).
    pub(super) blocks: Vec<(UserId, UserId, u64)>,
    /// Matches committed since the invariants last looked.
    pub(super) fresh: Vec<usize>,
    commits: u64,
    mutation: Option<Mutation>,
}

impl Store {
    pub(super) fn new(mutation: Option<Mutation>) -> Self {
        Store {
            matches: Vec::new(),
            active: Vec::new(),
            units: BTreeMap::new(),
            spent: 0,
            fence: 0,
            node_fences: BTreeMap::new(),
            blocks: Vec::new(),
            fresh: Vec::new(),
            commits: 0,
            mutation,
        }
    }

    pub(super) fn active_match(&self, user: UserId) -> Option<usize> {
        self.active.iter().copied().find(|i| self.matches[*i].has(user))
    }

    pub(super) fn blocked(&self, a: UserId, b: UserId) -> bool {
        self.blocks.iter().any(|(x, y, _)| (*x == a && *y == b) || (*x == b && *y == a))
    }

    pub(super) fn begin(&self, pairs: Vec<(Seeker, Seeker)>, epoch: Option<i64>) -> Tx {
        Tx { snapshot: self.commits, pairs, epoch, node: None }
    }

    /// A node's own opening, under its fence as it stood when it claimed the pairs.
    pub(super) fn begin_here(&self, pairs: Vec<(Seeker, Seeker)>, node: usize, fence: i64) -> Tx {
        Tx { snapshot: self.commits, pairs, epoch: None, node: Some((node, fence)) }
    }

    /// `Store::node_fence`.
    pub(super) fn node_fence(&self, node: usize) -> i64 {
        self.node_fences.get(&node).copied().unwrap_or(0)
    }

    /// `Store::raise_node_fences`, for one node.
    pub(super) fn raise_node_fence(&mut self, node: usize) {
        *self.node_fences.entry(node).or_default() += 1;
    }

    /// Which matches of `user` the opening's statement sees: every committed one once the row is locked, those of
    /// the statement's snapshot without the lock ([`Mutation::OpeningWithoutRowLock`]).
    fn seen(&self, user: UserId, snapshot: u64) -> impl Iterator<Item = &MatchRow> {
        let unlocked = self.mutation == Some(Mutation::OpeningWithoutRowLock);
        self.matches.iter().filter(move |m| m.has(user) && (!unlocked || m.committed <= snapshot))
    }

    /// Whether `user` cannot pay for a match now (no unit left, or already in an active match): the SQL's part.
    fn unavailable(&self, user: UserId, snapshot: u64) -> bool {
        let unlocked = self.mutation == Some(Mutation::OpeningWithoutRowLock);
        self.units.get(&user).copied().unwrap_or(0) == 0
            || self.seen(user, snapshot).any(|m| m.ended.is_none_or(|e| unlocked && e > snapshot))
    }

    /// The user's matches as their row holds them: how many, and when the latest opened.
    pub(super) fn matched(&self, user: UserId, snapshot: u64) -> Matched {
        let seen: Vec<&MatchRow> = self.seen(user, snapshot).collect();
        Matched { count: seen.len() as i64, at: seen.iter().map(|m| m.wall).max() }
    }

    /// Commits an opening at `now` (`wall`: the opening node's wall clock): the fence first, then each pair whose
    /// both sides can be matched. `asked`: when each seeker's request was sent, as its node stamped it.
    pub(super) fn commit(
        &mut self,
        tx: Tx,
        (now, wall): (u64, DateTime<Utc>),
        by: &str,
        asked: impl Fn(&Seeker) -> Asked,
    ) -> Opened {
        self.commits += 1;
        if tx.node.is_some_and(|(node, fence)| fence != self.node_fence(node)) {
            return Opened::Fenced;
        }
        if let Some(epoch) = tx.epoch {
            if epoch < self.fence {
                return Opened::Fenced;
            }
            self.fence = epoch;
        }
        let blocks_count =
            !matches!(self.mutation, Some(Mutation::OpeningIgnoresBlocks | Mutation::NoBlockReachesQueue));
        let spends = self.mutation != Some(Mutation::OpeningAllowsSpentFind);
        let mut out = Vec::with_capacity(tx.pairs.len());
        for (a, b) in &tx.pairs {
            if let Some(user) = [a, b].into_iter().map(Seeker::user_id).find(|u| self.unavailable(*u, tx.snapshot)) {
                out.push(Err((user, Refusal::Unavailable)));
                continue;
            }
            // Production's rule: a stale copy of a request, then a block between the pair.
            let pair = NewMatch {
                user1_id: a.user_id(),
                user2_id: b.user_id(),
                kind: MatchKind::Text,
                user1_public_key: String::new(),
                user2_public_key: String::new(),
                user1_asked: asked(a),
                user2_asked: asked(b),
                user1_filtered: a.candidate.seeking.is_some(),
                user2_filtered: b.candidate.seeking.is_some(),
                now: wall,
                expires_at: wall,
            };
            let matched = |user| if spends { self.matched(user, tx.snapshot) } else { Matched::default() };
            let blocked = |x, y| blocks_count && self.blocked(x, y);
            if let Some(refused) = refusals(&[&pair], matched, blocked).first() {
                let why = match refused.why {
                    Refused::Spent => Refusal::Spent,
                    Refused::Apart => Refusal::Blocked,
                    Refused::Unavailable => Refusal::Unavailable,
                };
                out.push(Err((refused.user, why)));
                continue;
            }
            for s in [a, b] {
                *self.units.get_mut(&s.user_id()).expect("every user has a balance") -= 1;
                self.spent += 1;
            }
            let row = MatchRow {
                users: [a.user_id(), b.user_id()],
                candidates: [a.candidate.clone(), b.candidate.clone()],
                requests: [a.request_id.clone(), b.request_id.clone()],
                opened_at: now,
                wall,
                committed: self.commits,
                ended: None,
                by: by.to_owned(),
            };
            self.matches.push(row);
            self.active.push(self.matches.len() - 1);
            self.fresh.push(self.matches.len() - 1);
            out.push(Ok(self.matches.len() - 1));
        }
        Opened::Pairs(out)
    }

    pub(super) fn end(&mut self, index: usize) {
        self.commits += 1;
        self.matches[index].ended = Some(self.commits);
        self.active.retain(|i| *i != index);
    }

    pub(super) fn block(&mut self, blocker: UserId, blocked: UserId, now: u64) {
        self.commits += 1;
        self.blocks.push((blocker, blocked, now));
    }

    /// Everyone the user met at or after `since`.
    pub(super) fn partners_since(&self, user: UserId, since: u64) -> impl Iterator<Item = UserId> + '_ {
        self.matches
            .iter()
            .filter(move |m| m.has(user) && m.opened_at >= since)
            .flat_map(move |m| m.users.into_iter().filter(move |u| *u != user))
    }
}
