//! The invariants, checked after every step ([`World::check_step`]) and, for those that say "eventually", at
//! the end of each quiet period ([`World::check_quiet`]). Each judges the model by ground truth the production
//! code cannot see at once: the database's matches, every user's last find and what they believe, Redis's
//! entries and every matchmaker's memory.

use std::collections::BTreeMap;
use std::fmt;

use super::Mutation;
use super::World;
use super::redis::{Holder, describe};
use crate::domain::UserId;
use crate::matching::cluster::entries::Input;
use crate::matching::rules::{Candidate, compatible};

/// The invariants of issue 60, numbered as there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Invariant {
    /// 1. No user in two active matches.
    OneActiveMatch,
    /// 2. No match between two people a block, the recent-partner rule, quarantine or `only` interests keep apart.
    Allowed,
    /// 3. Units spent are two per match, and a match is paid by an unspent find of each side.
    Paid,
    /// 4. Two compatible users waiting (online, asked, no fault) are paired within the bound.
    Liveness,
    /// 5. Whoever asked, is online and unmatched is held (in Redis and in the holder's memory) or was told an
    ///    error; and at rest the queue holds nobody who does not wait.
    NobodyDropped,
    /// 6. Each acknowledged message is shown once, in order, and at rest all of them are.
    Messages,
    /// 7. No record of the matchmaker's input stream carries a declared gender or a wish (issue 74): a stream
    ///    entry is only flagged by `XDEL`, its bytes stay; the entry of a place, which a delete erases, holds them.
    Private,
    /// 8. At rest, no place in the queue belongs to a user nobody could reach for longer than the bound
    ///    ([`super::world::Config::unreachable_ms`]): their node died, or their socket's close never reached Redis
    ///    (issue 74). The place holds their declared gender and wish.
    Unreachable,
    /// 9. One find per person (issue 75): at rest, a user in an active match has no place, neither an entry in the
    ///    queue nor one in a matchmaker's memory. A match serves every request its users sent before it opened (from
    ///    another device, or again while the pair was being opened), and those places go with it (row 31).
    NoPlaceInMatch,
    /// 10. A cancel that holds (issue 75): no match is opened on a request whose cancel was answered
    ///     `match.cancelled`.
    CancelHolds,
}

impl Invariant {
    pub(super) fn number(self) -> u8 {
        self as u8 + 1
    }
}

#[derive(Debug, Clone)]
pub(super) struct Violation {
    pub(super) invariant: Invariant,
    pub(super) detail: String,
}

fn broken(invariant: Invariant, detail: String) -> Result<(), Violation> {
    Err(Violation { invariant, detail })
}

/// A failing seed: what broke, where, and how to see it again.
pub(super) struct Failure {
    pub(super) seed: u64,
    pub(super) step: usize,
    pub(super) mutation: Option<Mutation>,
    pub(super) violation: Violation,
    pub(super) trace: Option<Vec<String>>,
}

impl Failure {
    pub(super) fn new(
        seed: u64,
        step: usize,
        mutation: Option<Mutation>,
        violation: Violation,
        trace: Option<Vec<String>>,
    ) -> Self {
        Failure { seed, step, mutation, violation, trace }
    }

    pub(super) fn replay(&self) -> String {
        let mutation = self.mutation.map(|m| format!("TANIS_SIM_MUTATION={m:?} ")).unwrap_or_default();
        format!("{mutation}TANIS_SIM_SEED={} cargo test -p tanis --lib matching::simulation", self.seed)
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Violation { invariant, detail } = &self.violation;
        write!(
            f,
            "seed {} broke invariant {} ({invariant:?}) at step {}: {detail}\nreplay: {}",
            self.seed,
            invariant.number(),
            self.step,
            self.replay()
        )
    }
}

impl World {
    /// A user's candidate as the facts stand: `base`, with everyone their last find excluded, and every block
    /// made by now, either way.
    fn truth(&self, user: UserId, base: &Candidate, since_match: bool) -> Candidate {
        let me = &self.users[(user.0 - 1) as usize];
        let mut truth = base.clone();
        if let Some(last) = &me.candidate {
            truth.excluded.extend(last.excluded.iter().copied());
        }
        if since_match {
            truth.excluded.extend(me.excluded_since_match.iter().copied());
        }
        for (a, b, _) in &self.store.blocks {
            match (*a == user, *b == user) {
                (true, _) => truth.excluded.insert(*b),
                (_, true) => truth.excluded.insert(*a),
                _ => false,
            };
        }
        truth
    }

    /// Online, asked, unmatched and owed a place: whom invariants 4 and 5 speak of.
    fn owed(&self) -> Vec<UserId> {
        self.users
            .iter()
            .filter(|u| u.at.is_some() && u.waiting && !u.exempt && self.store.active_match(u.id).is_none())
            .map(|u| u.id)
            .collect()
    }

    /// Whether the user's entry is held by whom it names. At rest (`strict`) a claim must be an opening under way
    /// and the queue must have an elected matchmaker; between steps a claim may wait to go stale, and the queue
    /// may be between matchmakers (the next one starts from the entries).
    fn held(&self, user: UserId, strict: bool) -> Result<(), String> {
        let Some(entry) = self.redis.entry(user) else { return Err("no entry in the queue".into()) };
        let text = || describe(Some(&entry));
        match entry.holder {
            Holder::Held(n) if self.nodes[n].up && self.nodes[n].local.holds(user) => Ok(()),
            Holder::Held(n) => Err(format!("the entry {} names n{n}, whose memory does not hold them", text())),
            Holder::Claimed(_) if !strict => Ok(()),
            Holder::Claimed(n)
                if self.nodes[n].up && self.nodes[n].local.opening.as_ref().is_some_and(|o| o.has(user)) =>
            {
                Ok(())
            }
            Holder::Claimed(n) => Err(format!("the entry {} is a claim n{n} is not opening", text())),
            Holder::Matchmaker => {
                let current = self.redis.lease(self.now).and_then(|lease| {
                    let node = &self.nodes[lease.holder];
                    node.up.then(|| node.running_ref().filter(|e| e.epoch == lease.epoch)).flatten()
                });
                let Some(elected) = current else {
                    return if strict { Err("no elected matchmaker at rest".into()) } else { Ok(()) };
                };
                let unread = self.redis.read(elected.position).iter().any(|(_, input)| match input {
                    Input::Find(s) | Input::HandedOver(s) => s.user_id() == user,
                    Input::Leave { .. } => false,
                });
                match elected.mm.holds(user) || unread {
                    true => Ok(()),
                    false => Err(format!(
                        "the entry {} is the matchmaker's (epoch {}), not in its memory",
                        text(),
                        elected.epoch
                    )),
                }
            }
        }
    }

    /// Invariant 7 for a withdrawal, after every step: a declared gender withdrawn while waiting leaves the user's
    /// place within the bound ([`super::world::Config::withdrawal_ms`]) of the withdrawal, of the last refresh of it
    /// that did not take, or of the end of a stall of their node's matchmaker (the refresh waits for it to take the
    /// change), while their find is on: they wait, unmatched, connected by the socket that made the place
    /// (otherwise the socket's close, or the match's settle, takes the place: invariants 5 and 8).
    /// A claim is its opening's (its refresh did not take); a fault that puts back what was rewritten is forgiven,
    /// as at rest.
    fn withdrawn_gender_gone(&self) -> Result<(), Violation> {
        for me in self.users.iter().filter(|u| u.withdrawn_at.is_some()) {
            let withdrawn = me.withdrawn_at.unwrap_or(0);
            let Some(entry) = self.redis.entry(me.id) else { continue };
            if entry.seeker.candidate.gender.is_none() || matches!(entry.holder, Holder::Claimed(_)) {
                continue;
            }
            // The place of a find that is still on. One whose socket is gone leaves with that socket's close, a
            // matched one with its match's settle or the next pairing (invariants 5 and 8, and at rest).
            let Some((node, socket)) = me.at else { continue };
            if !me.waiting || entry.seeker.socket_id != socket || self.store.active_match(me.id).is_some() {
                continue;
            }
            let stalled = self.nodes[node].local.stalled_until;
            let since = withdrawn.max(me.refresh_failed_at.unwrap_or(0)).max(stalled);
            if !me.may_linger(withdrawn) && self.now > since + self.cfg.withdrawal_ms() {
                let detail = format!(
                    "u{}'s place ({}) holds the gender they withdrew at {withdrawn} ms, now {} ms",
                    me.id,
                    describe(Some(&entry)),
                    self.now
                );
                return broken(Invariant::Private, detail);
            }
        }
        Ok(())
    }

    /// Invariants 1, 2, 3, 5, 7 and 10, after every step.
    pub(super) fn check_step(&mut self) -> Result<(), Violation> {
        if let Some(record) = self.redis.records().find(|r| r.contains(r#""gender""#) || r.contains(r#""seeking""#)) {
            return broken(Invariant::Private, format!("a record of the input stream carries a wish: {record}"));
        }
        self.withdrawn_gender_gone()?;
        let mut active: BTreeMap<UserId, usize> = BTreeMap::new();
        for index in self.store.active.iter().copied() {
            let m = &self.store.matches[index];
            for user in m.users {
                if let Some(other) = active.insert(user, index) {
                    let (a, b) = (&self.store.matches[other], m);
                    let detail = format!("u{user} is in match #{other} (by {}) and #{index} (by {})", a.by, b.by);
                    return broken(Invariant::OneActiveMatch, detail);
                }
            }
        }
        for index in std::mem::take(&mut self.store.fresh) {
            let m = self.store.matches[index].clone();
            let [a, b] = [0, 1].map(|i| self.truth(m.users[i], &m.candidates[i], false));
            if !compatible(&a, &b, super::matchmaker::at(self.now), self.policy) {
                let detail =
                    format!("match #{index} (by {}) pairs u{} with u{}: {a:?} / {b:?}", m.by, a.user_id, b.user_id);
                return broken(Invariant::Allowed, detail);
            }
            for (user, request) in m.users.into_iter().zip(&m.requests) {
                // A failover since the request reached Redis may have lost its claim or its cancel (Redis replicates
                // asynchronously): the cancel of a request whose claim was lost is answered as for a waiting one.
                let me = self.user(user);
                let lost = |ask: &str| ask.parse::<u64>().is_ok_and(|n| n <= me.failed_over_ask);
                if let Some(ask) = request.as_ref().filter(|ask| me.cancelled.contains(*ask) && !lost(ask)) {
                    let detail =
                        format!("match #{index} (by {}) is opened on u{user}'s ask{ask}, answered cancelled", m.by);
                    return broken(Invariant::CancelHolds, detail);
                }
            }
            for user in m.users {
                let me = self.user(user);
                if !me.waiting {
                    let why = me.stopped;
                    *self.unwanted.entry(why).or_default() += 1;
                }
                let me = self.user(user);
                if !me.unspent_ask {
                    let detail = format!(
                        "match #{index} (by {}) charges u{user}, whose last find (ask{}) was spent",
                        m.by, me.ask
                    );
                    return broken(Invariant::Paid, detail);
                }
                me.unspent_ask = false;
                me.waiting = false;
                me.excluded_since_match.clear();
            }
        }
        if self.store.spent != 2 * self.store.matches.len() as u64 {
            let detail = format!("{} units spent for {} matches", self.store.spent, self.store.matches.len());
            return broken(Invariant::Paid, detail);
        }
        for user in self.owed() {
            if let Err(why) = self.held(user, false) {
                let detail = format!(
                    "u{user} waits (ask{}), online, unmatched, untold: {why}",
                    self.users[(user.0 - 1) as usize].ask
                );
                return broken(Invariant::NobodyDropped, detail);
            }
        }
        Ok(())
    }

    /// Invariants 4, 5 (at rest) and 6 (all shown), at the end of a quiet period.
    pub(super) fn check_quiet(&mut self) -> Result<(), Violation> {
        let owed = self.owed();
        for user in &owed {
            if let Err(why) = self.held(*user, true) {
                let ask = self.users[(user.0 - 1) as usize].ask;
                return broken(Invariant::NobodyDropped, format!("at rest, u{user} waits (ask{ask}): {why}"));
            }
        }
        // A node's entry, that is: the matchmaker's entries of users who stopped waiting are dropped when paired
        // (their find spent, or nobody online), a known leftover (see the module doc of `super`).
        for (user, entry) in &self.redis.queue() {
            let me = &self.users[(user.0 - 1) as usize];
            let waits = me.waiting && self.store.active_match(*user).is_none();
            let node = match entry.holder {
                Holder::Held(n) | Holder::Claimed(n) => self.nodes[n].up,
                Holder::Matchmaker => false,
            };
            if node && me.at.is_some() && !waits && !me.may_linger(me.reached_at) {
                let detail = format!("at rest, the queue holds u{user} ({}), who does not wait", describe(Some(entry)));
                return broken(Invariant::NobodyDropped, detail);
            }
            // A node's entry of a request a match paid for is for nobody: the match's settle takes it, unless
            // something that leaves entries behind happened since. (The matchmaker's such entries, from a claim
            // taken over as stale whose node then committed, go when paired: the opening refuses the spent find.)
            let spent = self
                .store
                .matches
                .iter()
                .find(|m| (0..2).any(|i| m.users[i] == *user && m.requests[i] == entry.seeker.request_id));
            if node && spent.is_some_and(|m| !me.may_linger(m.opened_at)) {
                let detail =
                    format!("at rest, the queue holds u{user} ({}), a request a match paid for", describe(Some(entry)));
                return broken(Invariant::NobodyDropped, detail);
            }
        }
        // The request the match opened on is the other invariants' (a copy a new matchmaker took over goes when
        // paired: the opening refuses the spent find); any other request of theirs was served by it. A place taken
        // over while the pair was being opened (a claim gone stale, a deposed matchmaker's queue) is a known
        // leftover: it goes when paired.
        for me in &self.users {
            let Some(index) = self.store.active_match(me.id) else { continue };
            let m = &self.store.matches[index];
            let opened_at = m.opened_at;
            let own = &m.requests[usize::from(m.users[1] == me.id)];
            let served = |s: &crate::matching::Seeker| s.user_id() == me.id && s.request_id != *own;
            let entry = self.redis.entry(me.id).filter(|e| served(&e.seeker));
            let memory = self.nodes.iter().enumerate().filter(|(_, n)| n.up).find_map(|(id, n)| {
                let mut mms = std::iter::once(&n.local).chain(n.elected.iter().map(|e| &e.mm));
                mms.find(|mm| mm.engine.queue().iter().any(served)).map(|_| id)
            });
            let pairing_began = opened_at.saturating_sub(self.cfg.claim_stale_ms);
            if (entry.is_some() || memory.is_some()) && !me.may_linger(pairing_began) {
                let detail = format!(
                    "at rest, u{} is in match #{index} (opened at {opened_at} ms) and has a place: queue {}, memory of {:?}",
                    me.id,
                    describe(entry.as_ref()),
                    memory.map(|n| format!("n{n}"))
                );
                return broken(Invariant::NoPlaceInMatch, detail);
            }
        }
        // A declared gender withdrawn while waiting is gone from the user's place too, unless something that leaves
        // entries behind happened since (a failover putting back what was rewritten). A claim is its opening's.
        for (user, entry) in &self.redis.queue() {
            let me = &self.users[(user.0 - 1) as usize];
            let withdrawn = me.withdrawn_at.is_some_and(|at| !me.may_linger(at));
            if withdrawn && entry.seeker.candidate.gender.is_some() && !matches!(entry.holder, Holder::Claimed(_)) {
                let detail =
                    format!("at rest, u{user}'s place ({}) holds the gender they withdrew", describe(Some(entry)));
                return broken(Invariant::Private, detail);
            }
        }
        // A place of a user gone, unreachable for longer than the bound since (or since a fault put it back): the
        // matchmaker's, or a node's that is down (adopted once its liveness lapses). A node up names only places of
        // its own life in production, which names a node afresh at every start (`wire::node_name`); the model's
        // restart under the same name is harsher, and what such a node held before is the other invariants'.
        for (user, entry) in &self.redis.queue() {
            let reaped = match entry.holder {
                Holder::Matchmaker => true,
                Holder::Held(n) | Holder::Claimed(n) => !self.nodes[n].up,
            };
            let me = &self.users[(user.0 - 1) as usize];
            if !reaped {
                continue;
            }
            let Some(gone) = me.gone_at.filter(|_| me.at.is_none()) else { continue };
            let since = gone.max(me.leftover_at.unwrap_or(0));
            if self.now > since + self.cfg.unreachable_ms() {
                let detail = format!(
                    "at rest, the queue holds u{user} ({}), unreachable since {gone} ms, now {} ms",
                    describe(Some(entry)),
                    self.now
                );
                return broken(Invariant::Unreachable, detail);
            }
        }
        let now = super::matchmaker::at(self.now);
        let truths: Vec<Candidate> = owed
            .iter()
            .map(|u| {
                let me = &self.users[(u.0 - 1) as usize];
                let last = me.candidate.clone().expect("who waits asked");
                // At rest, with the gender they consent to now: a withdrawal since they asked has reached their place.
                Candidate { gender: me.gender(), ..self.truth(*u, &last, true) }
            })
            .collect();
        for (i, a) in truths.iter().enumerate() {
            for b in &truths[i + 1..] {
                if compatible(a, b, now, self.policy) {
                    let detail = format!(
                        "u{} and u{} are compatible and both wait, unpaired after {} ms of quiet",
                        a.user_id,
                        b.user_id,
                        self.cfg.quiet_ms()
                    );
                    return broken(Invariant::Liveness, detail);
                }
            }
        }
        self.messages.all_shown().or_else(|detail| broken(Invariant::Messages, detail))
    }
}
