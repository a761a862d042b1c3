//! A decider's opening, step by step: a node's own pairs (CLAIM, open in the database, SETTLE, as
//! [`crate::matching::cluster::local`]'s `LocalFirst::open`) and the elected matchmaker's (presence, CLAIM, open
//! under the epoch, SETTLE, remove from the queue, as `Epoch::open`), then the task's re-placing of whoever was not
//! dropped.
//! Each stage is one step of the scheduler, so other deciders, users and faults come between them; the
//! background retries a node runs while Redis is away (`let_go`, removals) are here too.

use std::collections::BTreeMap;

use super::Mutation;
use super::matchmaker::{Opening, Role, Stage};
use super::redis::NodeId;
use super::store::{Opened, Refusal, Tx};
use super::{Event, World};
use crate::domain::UserId;
use crate::matching::cluster::scripts::HeldAgain;
use crate::matching::{Seeker, cluster};
use crate::store::Asked;

/// A background task a node retries every 500 ms while Redis is away.
#[derive(Debug)]
pub(super) enum Retry {
    /// `let_go(Held)`: a claim Redis did not take; at most 120 tries.
    LetGoHeld(Vec<Seeker>, u32),
    /// `let_go(Claimed)`: a settle Redis did not take (and whose match opened); at most 120 tries.
    LetGoClaimed(Vec<Seeker>, Vec<UserId>, u32),
    /// The elected matchmaker's removal of settled seekers (and whose match opened), until done.
    Remove(Vec<Seeker>, Vec<UserId>),
    /// `Queue::socket_closed`'s leave of the entry a closed socket made, which Redis did not take: tried again
    /// for as long as the node lives (`leave_later`; a node that dies leaves it to the elected matchmaker's reaper).
    Leave(UserId, u64),
    /// `Finder::refresh_place` again, a second later, when Redis did not take the refresh of a place.
    Refresh(UserId),
}

/// The two users of a pair.
pub(super) fn ids(pair: &(Seeker, Seeker)) -> [UserId; 2] {
    [pair.0.user_id(), pair.1.user_id()]
}

impl World {
    pub(super) fn advance(&mut self, node: NodeId, role: Role, mut opening: Opening) {
        let (now, cut) = (self.now, self.nodes[node].cut);
        let stage = std::mem::replace(&mut opening.stage, Stage::Check);
        let pairs = &opening.pairs;
        let epoch = self.nodes[node].elected.iter().find(|e| Role::Elected(e.serial) == role).map(|e| e.epoch);
        let by = match epoch {
            None => format!("n{node}"),
            Some(epoch) => format!("e{epoch}@n{node}"),
        };
        opening.stage = match stage {
            Stage::Claim if cut => {
                let everyone: Vec<Seeker> = pairs.iter().flat_map(|(a, b)| [a.clone(), b.clone()]).collect();
                everyone.iter().for_each(|s| self.told_error(s));
                self.retry_later(node, Retry::LetGoHeld(everyone, 0));
                let results = pairs.iter().map(|p| Err(ids(p).to_vec())).collect();
                self.note(|| format!("{by} CLAIM fails (Redis away): everyone told to ask again"));
                return self.finish(node, role, opening.pairs, results);
            }
            Stage::Claim => {
                // `LocalFirst::open`: the node's fence, read before the claims (the database is never away here).
                let fence = *self.nodes[node].fence.get_or_insert_with(|| self.store.node_fence(node));
                let claims = self.redis.claim(now, node, pairs);
                self.note(|| format!("{by} CLAIM {:?}: {claims:?}", pairs.iter().map(ids).collect::<Vec<_>>()));
                if claims.iter().all(Result::is_err) {
                    return self.finish(node, role, opening.pairs, claims);
                }
                Stage::Begin { claims, fence }
            }
            Stage::Begin { claims, fence } => {
                let claimed = pairs.iter().zip(&claims).filter(|(_, c)| c.is_ok()).map(|(p, _)| p.clone()).collect();
                Stage::Commit { claims, tx: self.store.begin_here(claimed, node, fence) }
            }
            Stage::Commit { claims, tx } => {
                let claimed = tx.pairs.len();
                let opened = self.commit(node, tx, &by);
                let fenced = opened.is_none();
                if fenced {
                    // The elected matchmaker took this node's places over: the next claims read the fence anew.
                    self.nodes[node].fence = None;
                }
                let opened = opened.unwrap_or_else(|| (0..claimed).map(|_| Err(Vec::new())).collect());
                Stage::Settle { claims, opened, fenced }
            }
            Stage::Settle { claims, opened, fenced } => {
                let results = self.settle(node, &by, pairs, claims, opened, fenced);
                return self.finish(node, role, opening.pairs, results);
            }
            Stage::Check => {
                let (mut results, mut live, mut gone) = (Vec::new(), Vec::new(), Vec::new());
                for pair in pairs {
                    let absent: Vec<&Seeker> =
                        [&pair.0, &pair.1].into_iter().filter(|s| !self.online(s.user_id())).collect();
                    if absent.is_empty() {
                        live.push(pair.clone());
                        results.push(None);
                    } else {
                        gone.extend(absent.iter().map(|s| (*s).clone()));
                        results.push(Some(Err(absent.iter().map(|s| s.user_id()).collect())));
                    }
                }
                Stage::ClaimHeld { results, gone, live }
            }
            Stage::ClaimHeld { mut results, gone, live } if cut => {
                // `Epoch::open_claimed`: nobody paired, everyone told to ask again and let go of, entries left as they
                // are (a newer matchmaker may hold them).
                let everyone: Vec<Seeker> = live.iter().flat_map(|(a, b)| [a.clone(), b.clone()]).collect();
                everyone.iter().for_each(|s| self.told_error(s));
                let mut dropped = live.iter().map(|p| Err(ids(p).to_vec()));
                results.iter_mut().filter(|r| r.is_none()).for_each(|r| *r = dropped.next());
                self.note(|| format!("{by} CLAIM fails (Redis away): everyone told to ask again"));
                Stage::Remove { results: results.into_iter().flatten().collect(), settled: gone, matched: Vec::new() }
            }
            Stage::ClaimHeld { results, gone, live } => {
                let epoch = epoch.expect("only the elected matchmaker claims its own");
                let claims = if self.mutation == Some(Mutation::ElectedOpensUnclaimed) {
                    live.iter().map(|_| Ok(())).collect()
                } else {
                    self.redis.claim_held(now, node, &live)
                };
                self.note(|| format!("{by} CLAIM {:?}: {claims:?}", live.iter().map(ids).collect::<Vec<_>>()));
                let claimed = live.iter().zip(&claims).filter(|(_, c)| c.is_ok()).map(|(p, _)| p.clone()).collect();
                Stage::Fenced { results, gone, live, claims, tx: self.store.begin(claimed, Some(epoch)) }
            }
            Stage::Fenced { results, gone, live, claims, tx } => {
                let opened = match tx.pairs.is_empty() {
                    true => Some(Vec::new()),
                    false => self.commit(node, tx, &by),
                };
                Stage::SettleHeld { results, gone, live, claims, opened }
            }
            Stage::SettleHeld { mut results, gone, live, claims, opened } => {
                // What production's `Epoch::open_claimed` decides from the same answers.
                let fenced = opened.is_none();
                let held = HeldAgain::ByMatchmaker;
                let opened = opened.unwrap_or_else(|| {
                    // Fenced: the claims go back to the newer matchmaker (the mutation deletes them instead).
                    let both = self.mutation == Some(Mutation::FencedOpeningRemovesEntries);
                    let claimed = live.iter().zip(&claims).filter(|(_, c)| c.is_ok());
                    claimed.map(|(p, _)| Err(if both { ids(p).to_vec() } else { Vec::new() })).collect()
                });
                let settling = cluster::local::settling(&live, claims, opened);
                let mut live_results = settling.results;
                let done: Vec<Seeker> = settling.done.into_iter().cloned().collect();
                let again: Vec<Seeker> = settling.again.into_iter().cloned().collect();
                let matched = settling.matched;
                let lost = if self.mutation == Some(Mutation::ElectedOpensUnclaimed) {
                    // Nothing was claimed: whoever waits again is as they were.
                    Vec::new()
                } else {
                    self.settle_claims(node, &by, &done, &again, held, &matched)
                };
                for (pair, result) in live.iter().zip(&mut live_results) {
                    if let Err(dropped) = result {
                        dropped.extend(ids(pair).into_iter().filter(|u| lost.contains(u)));
                        if fenced {
                            dropped.extend(ids(pair));
                        }
                    }
                }
                let mut live_results = live_results.into_iter();
                results.iter_mut().filter(|r| r.is_none()).for_each(|r| *r = live_results.next());
                let settled = gone.into_iter().chain(done).collect();
                Stage::Remove { results: results.into_iter().flatten().collect(), settled, matched }
            }
            Stage::Remove { results, settled, matched } => {
                if cut {
                    self.retry_later(node, Retry::Remove(settled, matched));
                } else {
                    let users: Vec<UserId> = settled.iter().map(Seeker::user_id).collect();
                    self.note(|| format!("{by} removes {users:?} from the queue (matched {matched:?})"));
                    self.redis.remove(&settled, &matched);
                }
                return self.finish(node, role, opening.pairs, results);
            }
        };
        if let Some(mm) = self.nodes[node].mm(role) {
            mm.opening = Some(opening);
        }
    }

    /// Commits an opening on `node`; `None` when fenced. A refused side is told why.
    fn commit(&mut self, node: usize, tx: Tx, by: &str) -> Option<Vec<Result<(), Vec<UserId>>>> {
        let pairs = tx.pairs.clone();
        // As each request's node stamped it: the count it knew, and its wall clock.
        let by_clocks = self.mutation == Some(Mutation::SpentByWallClocks);
        let key = |s: &Seeker| (s.user_id(), s.request_id.clone());
        let stamps: BTreeMap<_, Asked> = pairs
            .iter()
            .flat_map(|(a, b)| [a, b])
            .map(|s| {
                let (ms, node) = self.asked[&key(s)];
                (key(s), Asked { after: s.asked_after.filter(|_| !by_clocks), at: Some(self.wall(node, ms)) })
            })
            .collect();
        let wall = self.wall(node, self.now);
        let opened = self.store.commit(tx, (self.now, wall), by, |s: &Seeker| stamps[&key(s)]);
        self.note(|| format!("{by} commits {:?}: {opened:?}", pairs.iter().map(ids).collect::<Vec<_>>()));
        let Opened::Pairs(results) = opened else { return None };
        let mut out = Vec::with_capacity(pairs.len());
        for ((a, b), result) in pairs.iter().zip(results) {
            out.push(match result {
                Ok(_) => Ok(()),
                Err((user, refusal)) => {
                    let seeker = if user == a.user_id() { a } else { b };
                    match refusal {
                        Refusal::Unavailable => self.user(user).stop_waiting("refused by the store"),
                        Refusal::Blocked => self.told_error(seeker),
                        Refusal::Spent => {}
                    }
                    Err(vec![user])
                }
            });
        }
        Some(out)
    }

    /// SETTLE after a node's own opening; the results as `LocalFirst::open` returns them.
    fn settle(
        &mut self,
        node: NodeId,
        by: &str,
        pairs: &[(Seeker, Seeker)],
        claims: Vec<Result<(), Vec<UserId>>>,
        opened: Vec<Result<(), Vec<UserId>>>,
        fenced: bool,
    ) -> Vec<Result<(), Vec<UserId>>> {
        // What production's `LocalFirst::open` decides from the same answers.
        let claimed_at: Vec<bool> = claims.iter().map(Result::is_ok).collect();
        let settling = crate::matching::cluster::local::settling(pairs, claims, opened);
        let mut results = settling.results;
        let done: Vec<Seeker> = settling.done.into_iter().cloned().collect();
        let again: Vec<Seeker> = settling.again.into_iter().cloned().collect();
        let lost = self.settle_claims(node, by, &done, &again, HeldAgain::Here, &settling.matched);
        for (pair, result) in pairs.iter().zip(&mut results) {
            if let Err(dropped) = result {
                dropped.extend(ids(pair).into_iter().filter(|u| lost.contains(u)));
            }
        }
        if fenced {
            // Whoever SETTLE held here again is handed over to the cluster, which has the others.
            let kept: Vec<Seeker> = again.iter().filter(|s| !lost.contains(&s.user_id())).cloned().collect();
            if !kept.is_empty() {
                if self.nodes[node].cut {
                    kept.iter().for_each(|s| self.told_error(s));
                    self.retry_later(node, Retry::LetGoHeld(kept, 0));
                } else {
                    let handed = self.redis.forward(node, &kept);
                    let users: Vec<UserId> = kept.iter().map(Seeker::user_id).collect();
                    self.note(|| format!("{by} fenced: FORWARD {users:?}: {handed} handed over"));
                }
            }
            for ((pair, claimed), result) in pairs.iter().zip(claimed_at).zip(&mut results) {
                if let (true, Err(dropped)) = (claimed, result) {
                    dropped.extend(ids(pair));
                }
            }
        }
        results
    }

    /// SETTLE of a node's or the elected matchmaker's claims (`done` go, `again` wait again as `held` says), or, Redis
    /// away, their let-go retried in the background and whoever was to wait again told to ask again. Returns those
    /// of `again` who could not wait again.
    fn settle_claims(
        &mut self,
        node: NodeId,
        by: &str,
        done: &[Seeker],
        again: &[Seeker],
        held: HeldAgain,
        matched: &[UserId],
    ) -> Vec<UserId> {
        if self.nodes[node].cut {
            let everyone = done.iter().chain(again).cloned().collect();
            self.retry_later(node, Retry::LetGoClaimed(everyone, matched.to_vec(), 0));
            again.iter().for_each(|s| self.told_error(s));
            self.note(|| format!("{by} SETTLE fails (Redis away): retried in the background"));
            return again.iter().map(Seeker::user_id).collect();
        }
        let lost = self.redis.settle(node, done, again, held, matched);
        let (d, a): (Vec<UserId>, Vec<UserId>) =
            (done.iter().map(Seeker::user_id).collect(), again.iter().map(Seeker::user_id).collect());
        self.note(|| format!("{by} SETTLE done {d:?} again {a:?} ({held:?}): lost {lost:?}"));
        lost
    }

    /// The end of one opening: whoever was not dropped is placed again, which may make the next opening.
    fn finish(
        &mut self,
        node: NodeId,
        role: Role,
        pairs: Vec<(Seeker, Seeker)>,
        results: Vec<Result<(), Vec<UserId>>>,
    ) {
        let now = self.now;
        let Some(mm) = self.nodes[node].mm(role) else { return };
        let retry = mm.reopen(pairs, results, now);
        if !retry.is_empty() {
            let stage = if role == Role::Local { Stage::Claim } else { Stage::Check };
            mm.opening = Some(Opening { pairs: retry, stage });
        }
    }

    pub(super) fn retry_later(&mut self, node: NodeId, job: Retry) {
        let inc = self.nodes[node].incarnation;
        self.after(500, 500, Event::Retry(node, inc, job));
    }

    pub(super) fn retry(&mut self, node: NodeId, job: Retry) {
        if self.nodes[node].cut {
            let job = match job {
                Retry::LetGoHeld(_, 119) | Retry::LetGoClaimed(_, _, 119) => return,
                Retry::LetGoHeld(seekers, tries) => Retry::LetGoHeld(seekers, tries + 1),
                Retry::LetGoClaimed(seekers, matched, tries) => Retry::LetGoClaimed(seekers, matched, tries + 1),
                Retry::Remove(seekers, matched) => Retry::Remove(seekers, matched),
                Retry::Leave(user, socket) => Retry::Leave(user, socket),
                Retry::Refresh(user) => {
                    // Another try that Redis does not take.
                    let now = self.now;
                    self.user(user).refresh_failed_at = Some(now);
                    Retry::Refresh(user)
                }
            };
            return self.retry_later(node, job);
        }
        if let Retry::Leave(user, socket) = job {
            let left = self.redis.leave(user, Some(socket));
            return self.note(|| format!("n{node} retried the leave of u{user}'s socket {socket}: left={left}"));
        }
        if let Retry::Refresh(user) = job {
            return self.standing_seen(node, user);
        }
        let (what, seekers) = match &job {
            Retry::LetGoHeld(seekers, _) => {
                for s in seekers {
                    self.redis.leave_request(s);
                }
                ("let go of (held)", seekers)
            }
            Retry::LetGoClaimed(seekers, matched, _) => {
                self.redis.settle(node, seekers, &[], HeldAgain::Here, matched);
                ("let go of (claimed)", seekers)
            }
            Retry::Remove(seekers, matched) => {
                self.redis.remove(seekers, matched);
                ("removed", seekers)
            }
            Retry::Leave(..) | Retry::Refresh(_) => unreachable!("retried above"),
        };
        let users: Vec<UserId> = seekers.iter().map(Seeker::user_id).collect();
        self.note(|| format!("n{node} retried: {what} {users:?}"));
    }
}
