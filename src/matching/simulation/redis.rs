//! The cluster's Redis as the scripts of [`crate::matching::cluster`] see it: the `queue` hash, `claimed_at`,
//! the `alive` zset, the `input` stream, the `lease` and the `epoch` counter, each script one atomic method.
//! It models the semantics the scripts are written to (the Lua in src/matching/cluster/queue.rs follows them since
//! issue 60), from their specification rather than from the Lua; the [`Mutation`]s put back an older or a wrong
//! one. A replica trails the primary: a failover makes Redis the
//! replica, losing the effects of the scripts it had not received yet (an acknowledged write is not a
//! replicated one).

use std::collections::BTreeMap;

use super::Mutation;
use crate::domain::UserId;
use crate::matching::Seeker;

pub(super) type NodeId = usize;

/// Who holds a waiting user, as their entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Holder {
    /// `<socket>|<seeker>`: the elected matchmaker.
    Matchmaker,
    /// `<socket>|@<node>|<seeker>`: the node pairing its own seekers first.
    Held(NodeId),
    /// `<socket>|!<node>|<seeker>`: the node claimed the pair and is opening it.
    Claimed(NodeId),
}

/// A `queue` entry: who holds the user, and the seeker (its socket is the entry's prefix).
#[derive(Debug, Clone)]
pub(super) struct Entry {
    pub(super) holder: Holder,
    pub(super) seeker: Seeker,
}

/// A record of the `input` stream.
#[derive(Debug, Clone)]
pub(super) enum Input {
    Find(Seeker),
    HandedOver(Seeker),
    Leave(UserId),
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Lease {
    pub(super) holder: NodeId,
    pub(super) epoch: i64,
    pub(super) expires: u64,
}

/// What a failover can lose: everything but the stream's id generator (Redis's ids follow its clock).
#[derive(Debug, Clone, Default)]
pub(super) struct State {
    pub(super) queue: BTreeMap<UserId, Entry>,
    pub(super) claimed_at: BTreeMap<UserId, u64>,
    /// Node → when its liveness lapses.
    pub(super) alive: BTreeMap<NodeId, u64>,
    pub(super) input: Vec<(u64, Input)>,
    pub(super) lease: Option<Lease>,
    pub(super) epoch: i64,
}

/// What HOLD found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hold {
    New,
    Again,
    Elsewhere,
}

pub(super) struct Redis {
    pub(super) state: State,
    /// The state as the replica has it: what a failover leaves.
    replica: State,
    /// Scripts that wrote since the replica last caught up: what a failover now would lose.
    pub(super) unreplicated: usize,
    next_id: u64,
    claim_stale_ms: u64,
    pub(super) mutation: Option<Mutation>,
}

impl Redis {
    pub(super) fn new(claim_stale_ms: u64, mutation: Option<Mutation>) -> Self {
        let state = State::default();
        Redis { replica: state.clone(), state, unreplicated: 0, next_id: 0, claim_stale_ms, mutation }
    }

    pub(super) fn replicate(&mut self) {
        self.replica = self.state.clone();
        self.unreplicated = 0;
    }

    /// The replica becomes the primary; returns the users whose entry it changed (back, or away).
    pub(super) fn fail_over(&mut self) -> Vec<UserId> {
        let lost = std::mem::replace(&mut self.state, self.replica.clone());
        self.unreplicated = 0;
        let mut users: Vec<UserId> = lost.queue.keys().chain(self.state.queue.keys()).copied().collect();
        users.sort();
        users.dedup();
        users.retain(|u| describe(lost.queue.get(u)) != describe(self.state.queue.get(u)));
        users
    }

    pub(super) fn wrote(&mut self) {
        self.unreplicated += 1;
    }

    pub(super) fn xadd(&mut self, input: Input) {
        self.next_id += 1;
        self.state.input.push((self.next_id, input));
    }

    pub(super) fn alive(&self, node: NodeId, now: u64) -> bool {
        self.state.alive.get(&node).is_some_and(|lapses| *lapses >= now)
    }

    /// A claim older than CLAIM_STALE: its node is taken to have lost it (crashed and came back, lost the
    /// settle). Never, under [`Mutation::NoStaleClaimTakeover`].
    pub(super) fn stale_claim(&self, user: UserId, now: u64) -> bool {
        if self.mutation == Some(Mutation::NoStaleClaimTakeover) {
            return false;
        }
        self.state.claimed_at.get(&user).is_none_or(|at| now.saturating_sub(*at) > self.claim_stale_ms)
    }

    /// A claim still in force: a live node's, fresh.
    fn claim_holds(&self, node: NodeId, user: UserId, now: u64) -> bool {
        self.alive(node, now) && !self.stale_claim(user, now)
    }

    pub(super) fn put(&mut self, holder: Holder, seeker: &Seeker) {
        let user = seeker.user_id();
        self.state.claimed_at.remove(&user);
        self.state.queue.insert(user, Entry { holder, seeker: seeker.clone() });
    }

    /// JOIN, for seekers who rank partners: true when newly queued.
    pub(super) fn join(&mut self, now: u64, seeker: &Seeker) -> bool {
        let user = seeker.user_id();
        let input = match self.state.queue.get(&user) {
            None => {
                self.put(Holder::Matchmaker, seeker);
                self.xadd(Input::Find(seeker.clone()));
                self.wrote();
                return true;
            }
            Some(Entry { holder: Holder::Claimed(node), .. }) if self.claim_holds(*node, user, now) => {
                self.reask_during_claim(seeker);
                return false;
            }
            Some(Entry { holder: Holder::Matchmaker, .. }) => Input::Find(seeker.clone()),
            Some(_) => Input::HandedOver(seeker.clone()),
        };
        self.put(Holder::Matchmaker, seeker);
        self.xadd(input);
        self.wrote();
        false
    }

    /// HOLD: the asking node pairs the user itself, unless someone else holds them.
    pub(super) fn hold(&mut self, now: u64, node: NodeId, seeker: &Seeker) -> Hold {
        let user = seeker.user_id();
        let holder = self.state.queue.get(&user).map(|e| e.holder);
        let hold = match holder {
            None => Hold::New,
            Some(Holder::Held(n)) if n == node => {
                self.put(Holder::Held(node), seeker);
                self.wrote();
                return Hold::Again;
            }
            Some(Holder::Held(n)) if !self.alive(n, now) => Hold::New,
            Some(Holder::Claimed(n)) if !self.claim_holds(n, user, now) => Hold::New,
            Some(Holder::Claimed(_)) => {
                self.reask_during_claim(seeker);
                return Hold::Elsewhere;
            }
            Some(Holder::Held(_)) if self.mutation == Some(Mutation::HoldLeavesOtherHoldersEntry) => {
                return Hold::Elsewhere;
            }
            Some(h) => {
                let input = match h {
                    Holder::Matchmaker => Input::Find(seeker.clone()),
                    _ => Input::HandedOver(seeker.clone()),
                };
                self.put(Holder::Matchmaker, seeker);
                self.xadd(input);
                self.wrote();
                return Hold::Elsewhere;
            }
        };
        self.put(Holder::Held(node), seeker);
        self.wrote();
        hold
    }

    /// A find while the user's pair is being opened: the claim stays, and now names the asking socket and request,
    /// so that the claim's end settles this request (see [`Self::settle`]). [`Mutation::ClaimIgnoresReask`]: the
    /// claim is left as it was (the TARGET as specified), and the request is answered "already waiting" by nobody
    /// when the opening then fails for the partner, or refuses this user.
    fn reask_during_claim(&mut self, seeker: &Seeker) {
        if self.mutation == Some(Mutation::ClaimIgnoresReask) {
            return;
        }
        let entry = self.state.queue.get_mut(&seeker.user_id()).expect("claimed");
        entry.seeker = seeker.clone();
        self.wrote();
    }

    /// LEAVE: any entry of the user, or only the one `socket` made; never a claimed one.
    pub(super) fn leave(&mut self, user: UserId, socket: Option<u64>) -> bool {
        let Some(entry) = self.state.queue.get(&user) else { return false };
        if matches!(entry.holder, Holder::Claimed(_)) || socket.is_some_and(|s| s != entry.seeker.socket_id) {
            return false;
        }
        self.state.queue.remove(&user);
        self.xadd(Input::Leave(user));
        self.wrote();
        true
    }

    /// The node's `let_go` of a seeker it told to ask again: LEAVE, only the entry that seeker's request made (the
    /// user may have asked again from the same socket since, as told).
    pub(super) fn leave_request(&mut self, s: &Seeker) -> bool {
        let made = |e: &Entry| e.seeker.socket_id == s.socket_id && e.seeker.request_id == s.request_id;
        if !self.state.queue.get(&s.user_id()).is_some_and(made) {
            return false;
        }
        self.leave(s.user_id(), Some(s.socket_id))
    }

    fn is(&self, user: UserId, holder: Holder, socket: u64) -> bool {
        self.state.queue.get(&user).is_some_and(|e| e.holder == holder && e.seeker.socket_id == socket)
    }

    /// CLAIM: per pair, `Ok` when both were still held by `node` with these sockets (now claimed), else who is
    /// gone (nothing of that pair changed).
    pub(super) fn claim(&mut self, now: u64, node: NodeId, pairs: &[(Seeker, Seeker)]) -> Vec<Result<(), Vec<UserId>>> {
        let mut out = Vec::with_capacity(pairs.len());
        for (a, b) in pairs {
            let gone: Vec<UserId> = [a, b]
                .into_iter()
                .filter(|s| !self.is(s.user_id(), Holder::Held(node), s.socket_id))
                .map(Seeker::user_id)
                .collect();
            if !gone.is_empty() {
                out.push(Err(gone));
                continue;
            }
            for s in [a, b] {
                let entry = self.state.queue.get_mut(&s.user_id()).expect("checked above");
                entry.holder = Holder::Claimed(node);
                self.state.claimed_at.insert(s.user_id(), now);
            }
            out.push(Ok(()));
        }
        self.wrote();
        out
    }

    /// SETTLE: `done` leave the queue (this node's claim, or this node's hold whose claim a failover lost),
    /// `again` are held here again. A request the user sent while claimed (see [`Self::reask_during_claim`])
    /// outlives the claim either way: the matchmaker takes it. Returns those of `again` this node no longer holds.
    pub(super) fn settle(&mut self, node: NodeId, done: &[Seeker], again: &[Seeker]) -> Vec<UserId> {
        let reask = self.mutation != Some(Mutation::ClaimIgnoresReask);
        let forget_lost_claim = self.mutation == Some(Mutation::SettleForgetsLostClaim);
        let mut lost = Vec::new();
        for (s, hold) in done.iter().map(|s| (s, false)).chain(again.iter().map(|s| (s, true))) {
            let user = s.user_id();
            let Some(entry) = self.state.queue.get_mut(&user) else {
                lost.extend(hold.then_some(user));
                continue;
            };
            let same_socket = entry.seeker.socket_id == s.socket_id;
            let same_request = entry.seeker.request_id == s.request_id;
            let same = same_socket && (!reask || same_request);
            // The hold a failover brought back is the claimed request's; a newer one, from the same socket, is not.
            let lost_hold = same_socket && (same_request || self.mutation == Some(Mutation::ForgetBySocketNotRequest));
            match entry.holder {
                Holder::Claimed(n) if n == node && same => {
                    match hold {
                        true => entry.holder = Holder::Held(node),
                        false => _ = self.state.queue.remove(&user),
                    }
                    self.state.claimed_at.remove(&user);
                }
                Holder::Claimed(n) if n == node && reask => {
                    let asked = entry.seeker.clone();
                    self.put(Holder::Matchmaker, &asked);
                    self.xadd(Input::HandedOver(asked));
                    lost.extend(hold.then_some(user));
                }
                Holder::Held(n) if n == node && lost_hold && !hold && !forget_lost_claim => {
                    self.state.queue.remove(&user);
                }
                _ => lost.extend(hold.then_some(user)),
            }
        }
        self.wrote();
        lost
    }

    /// FORWARD: this node's seekers to the elected matchmaker; how many were still this node's.
    pub(super) fn forward(&mut self, node: NodeId, seekers: &[Seeker]) -> usize {
        let mut handed = 0;
        let by_socket = self.mutation == Some(Mutation::ForgetBySocketNotRequest);
        for s in seekers {
            // The request the node holds, not only its socket: a newer one from that socket (sent again while the
            // node was opening the older one) is not overwritten by the older.
            let request = |e: &Entry| by_socket || e.seeker.request_id == s.request_id;
            if self.is(s.user_id(), Holder::Held(node), s.socket_id)
                && self.state.queue.get(&s.user_id()).is_some_and(request)
            {
                self.put(Holder::Matchmaker, s);
                self.xadd(Input::HandedOver(s.clone()));
                handed += 1;
            }
        }
        self.wrote();
        handed
    }
}

/// An entry in words, for the trace and for comparing two states.
pub(super) fn describe(entry: Option<&Entry>) -> String {
    match entry {
        None => "-".into(),
        Some(Entry { holder, seeker }) => {
            let who = match holder {
                Holder::Matchmaker => "mm".to_owned(),
                Holder::Held(n) => format!("@{n}"),
                Holder::Claimed(n) => format!("!{n}"),
            };
            format!("{}|{who}|ask{}", seeker.socket_id, seeker.request_id.as_deref().unwrap_or("?"))
        }
    }
}
