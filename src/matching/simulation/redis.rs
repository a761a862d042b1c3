//! The cluster's Redis: a [`Keyspace`] on which the production scripts run ([`super::lua`]), called with the very
//! keys and arguments production sends ([`Scripts`]) and answered through production's own readers of their
//! replies. Nothing here decides what a script does. A replica trails the primary: a failover makes Redis the
//! replica, losing the effects of the scripts it had not received yet (an acknowledged write is not a replicated
//! one). What the simulation reads of it (who holds a user, the lease, the stream) is read from the keyspace and
//! parsed as the production code parses it.

use std::cell::RefCell;
use std::collections::BTreeMap;

use redis::FromRedisValue;

use super::Mutation;
use super::keyspace::Keyspace;
use super::lua::Runner;
use crate::domain::UserId;
use crate::matching::Seeker;
use crate::matching::cluster::scripts::{self, Call, HeldAgain, Scripts};
use crate::matching::cluster::{Hold as Held, entries};

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

#[derive(Debug, Clone, Copy)]
pub(super) struct Lease {
    pub(super) holder: NodeId,
    pub(super) epoch: i64,
}

/// What HOLD found, as the hub acts on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Hold {
    New,
    Again,
    Elsewhere,
}

/// A node's name in Redis.
fn name(node: NodeId) -> String {
    format!("n{node}")
}

fn node_of(name: &str) -> NodeId {
    name.strip_prefix('n')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not a node of the simulation: {name}"))
}

/// An entry as the scripts write it.
fn parse_entry(text: &str) -> Entry {
    let (_, rest) = text.split_once('|').expect("an entry starts with its socket");
    let (holder, json) = match rest.as_bytes().first() {
        Some(b'@' | b'!') => {
            let (node, json) = rest[1..].split_once('|').expect("a holder ends with |");
            let node = node_of(node);
            (if rest.starts_with('@') { Holder::Held(node) } else { Holder::Claimed(node) }, json)
        }
        _ => (Holder::Matchmaker, rest),
    };
    Entry { holder, seeker: serde_json::from_str(json).unwrap_or_else(|e| panic!("an unreadable entry {text}: {e}")) }
}

pub(super) struct Redis {
    pub(super) primary: Keyspace,
    /// The keyspace as the replica has it: what a failover leaves.
    replica: Keyspace,
    /// Scripts that wrote since the replica last caught up: what a failover now would lose.
    pub(super) unreplicated: usize,
    /// The stream ids' counter, which a failover does not roll back (Redis's ids follow its clock).
    next_id: u64,
    /// The clock Redis reads (`TIME`, expiries): the simulation's.
    pub(super) now: u64,
    runner: Runner,
    /// Each node's calls of the scripts (its name in them).
    nodes: Vec<Scripts>,
    pub(super) mutation: Option<Mutation>,
    /// The queue's entries parsed, until the next write: the invariants read them after every step.
    parsed: RefCell<Option<BTreeMap<UserId, Entry>>>,
    /// Entries parsed so far, by their text: most of a write leaves most entries as they were.
    memo: RefCell<std::collections::HashMap<String, Entry>>,
}

impl Redis {
    pub(super) fn new(nodes: usize, claim_stale_ms: u64, mutation: Option<Mutation>) -> Self {
        let target = crate::redis_link::Target::parse("redis://simulation").expect("a Redis URL");
        let keys = entries::Keys::new("sim", &target);
        let nodes = (0..nodes).map(|n| Scripts { keys: keys.clone(), node: name(n), claim_timeout_ms: claim_stale_ms });
        let primary = Keyspace::default();
        Redis {
            replica: primary.clone(),
            primary,
            unreplicated: 0,
            next_id: 0,
            now: 0,
            runner: Runner::new(),
            nodes: nodes.collect(),
            mutation,
            parsed: RefCell::new(None),
            memo: RefCell::default(),
        }
    }

    fn keys(&self) -> &entries::Keys {
        &self.nodes[0].keys
    }

    /// Runs a script call, read back as production reads its answer. A script's error is a defect: it panics.
    fn run<T: FromRedisValue>(&mut self, call: Call) -> T {
        let writes = self.primary.writes;
        let answer = self
            .runner
            .run(&call, self.mutation, &mut self.primary, self.now, &mut self.next_id)
            .unwrap_or_else(|e| panic!("{e}"));
        if self.primary.writes != writes {
            self.unreplicated += 1;
            self.parsed.take();
        }
        T::from_redis_value(answer.clone()).unwrap_or_else(|e| panic!("{}'s answer {answer:?}: {e}", call.source.name))
    }

    pub(super) fn replicate(&mut self) {
        self.replica = self.primary.clone();
        self.unreplicated = 0;
    }

    /// The replica becomes the primary; returns the users whose entry it changed (back, or away), and those whose
    /// entry it rewrote back only (a refresh lost: what they may meet, the gender they consent to).
    pub(super) fn fail_over(&mut self) -> (Vec<UserId>, Vec<UserId>) {
        let before = self.queue();
        let key = self.keys().cancelled.clone();
        let marks = move |primary: &Keyspace| primary.hashes.get(&key).cloned().unwrap_or_default();
        let marked = marks(&self.primary);
        self.primary = self.replica.clone();
        self.parsed.take();
        self.unreplicated = 0;
        let after = self.queue();
        // A cancel's mark lost with the failover is a change of that user's place too (SETTLE may hold it again).
        let unmarked = marks(&self.primary);
        let mark_lost = |u: &UserId| marked.get(&u.get().to_string()) != unmarked.get(&u.get().to_string());
        let mut users: Vec<UserId> = before.keys().chain(after.keys()).copied().collect();
        users.extend(marked.keys().chain(unmarked.keys()).map(|u| UserId(u.parse().expect("a user id"))));
        users.sort();
        users.dedup();
        let (changed, same): (Vec<UserId>, Vec<UserId>) =
            users.into_iter().partition(|u| describe(before.get(u)) != describe(after.get(u)) || mark_lost(u));
        let candidate = |entry: Option<&Entry>| entry.map(|e| format!("{:?}", e.seeker.candidate));
        let rewritten = same.into_iter().filter(|u| candidate(before.get(u)) != candidate(after.get(u))).collect();
        (changed, rewritten)
    }

    /// Every entry of the queue, by user.
    pub(super) fn queue(&self) -> BTreeMap<UserId, Entry> {
        let mut parsed = self.parsed.borrow_mut();
        let parsed = parsed.get_or_insert_with(|| {
            let mut memo = self.memo.borrow_mut();
            if memo.len() > 10_000 {
                memo.clear();
            }
            let hash = self.primary.hashes.get(&self.keys().queue);
            let entries = hash.into_iter().flatten();
            let mut parse = |text: &String| memo.entry(text.clone()).or_insert_with(|| parse_entry(text)).clone();
            entries.map(|(user, text)| (UserId(user.parse().expect("a user id")), parse(text))).collect()
        });
        parsed.clone()
    }

    /// The user's entry as it is written: what the elected matchmaker's HMGET reads.
    pub(super) fn entry_text(&self, user: UserId) -> Option<String> {
        self.primary.hashes.get(&self.keys().queue)?.get(&user.get().to_string()).cloned()
    }

    pub(super) fn entry(&self, user: UserId) -> Option<Entry> {
        if let Some(parsed) = self.parsed.borrow().as_ref() {
            return parsed.get(&user).cloned();
        }
        self.queue().remove(&user)
    }

    /// JOIN, for seekers who rank partners: true when newly queued.
    pub(super) fn join(&mut self, now: u64, seeker: &Seeker) -> bool {
        self.now = now;
        let call = self.nodes[0].join(seeker);
        scripts::joined(self.run(call)) == Held::New
    }

    /// HOLD of one seeker on `node`.
    pub(super) fn hold(&mut self, now: u64, node: NodeId, seeker: &Seeker) -> Hold {
        self.now = now;
        let json = serde_json::to_string(seeker).expect("serialises");
        let prefix = entries::entry_prefix(seeker.socket_id);
        let call = self.nodes[node].hold([(seeker.user_id().get(), prefix, json)]);
        let codes: Vec<i64> = self.run(call);
        match scripts::held(codes[0]) {
            Held::New => Hold::New,
            Held::Again => Hold::Again,
            Held::Elsewhere | Held::Opening => Hold::Elsewhere,
        }
    }

    /// LEAVE: any entry of the user, or only the one `socket` made; never a claimed one.
    pub(super) fn leave(&mut self, user: UserId, socket: Option<u64>) -> bool {
        let call = self.nodes[0].leave(user, socket, "");
        self.run::<i64>(call) == 1
    }

    /// `ClusterQueue::refresh` (one attempt: nothing changes the entry within a step): REWRITE of the user's place
    /// with `fresh`, as production's `refreshed` forms it; false when the place is claimed, to try again later.
    pub(super) fn refresh(&mut self, user: UserId, fresh: &crate::matching::Fresh) -> bool {
        let queue = self.primary.hashes.get(&self.keys().queue);
        let Some(read) = queue.and_then(|q| q.get(&user.get().to_string())).cloned() else { return true };
        let Some((rewritten, find)) = crate::matching::cluster::queue::refreshed(&read, fresh) else { return false };
        let call = self.nodes[0].rewrite(user, &read, &rewritten, &find);
        self.run::<i64>(call) == 1
    }

    /// A node's `let_go` of a seeker it told to ask again: LEAVE of the entry that seeker's request made.
    pub(super) fn leave_request(&mut self, s: &Seeker) -> bool {
        let call = self.nodes[0].leave(s.user_id(), Some(s.socket_id), s.ask.as_str());
        self.run::<i64>(call) == 1
    }

    /// CLAIM: per pair, `Ok` when both were still held by `node` (now claimed), else who is gone.
    pub(super) fn claim(&mut self, now: u64, node: NodeId, pairs: &[(Seeker, Seeker)]) -> Vec<Result<(), Vec<UserId>>> {
        self.now = now;
        let call = self.nodes[node].claim(pairs);
        let codes: Vec<i64> = self.run(call);
        scripts::claimed(pairs, codes)
    }

    /// CLAIM of the elected matchmaker's own pairs (`ClusterQueue::claim_held`), on the node it runs on.
    pub(super) fn claim_held(
        &mut self,
        now: u64,
        node: NodeId,
        pairs: &[(Seeker, Seeker)],
    ) -> Vec<Result<(), Vec<UserId>>> {
        if pairs.is_empty() {
            return Vec::new();
        }
        self.now = now;
        let call = self.nodes[node].claim_held(pairs);
        let codes: Vec<i64> = self.run(call);
        scripts::claimed(pairs, codes)
    }

    /// SETTLE: `done` leave the queue, `again` wait again as `held` says; returns those of `again` who could not.
    pub(super) fn settle(
        &mut self,
        node: NodeId,
        done: &[Seeker],
        again: &[Seeker],
        held: HeldAgain,
        matched: &[UserId],
    ) -> Vec<UserId> {
        if done.is_empty() && again.is_empty() {
            return Vec::new();
        }
        let (done, again): (Vec<&Seeker>, Vec<&Seeker>) = (done.iter().collect(), again.iter().collect());
        let call = self.nodes[node].settle(&done, &again, held, matched);
        let settled: Vec<i64> = self.run(call);
        scripts::lost(done.len(), &again, settled)
    }

    /// FORWARD: this node's seekers to the elected matchmaker; how many were still this node's.
    pub(super) fn forward(&mut self, node: NodeId, seekers: &[Seeker]) -> usize {
        let call = self.nodes[node].forward(seekers);
        self.run::<Vec<i64>>(call).into_iter().filter(|f| *f == 1).count()
    }

    /// DOOMED: the nodes whose places ADOPT would take now.
    pub(super) fn doomed(&mut self, now: u64) -> Vec<NodeId> {
        self.now = now;
        let call = self.nodes[0].doomed();
        self.run::<Vec<String>>(call).iter().map(|n| node_of(n)).collect()
    }

    /// ADOPT: entries held or claimed by `fenced` nodes whose liveness lapsed, and their stale claims, become the
    /// matchmaker's.
    pub(super) fn adopt(&mut self, now: u64, fenced: &[NodeId]) -> Vec<Seeker> {
        self.now = now;
        let names: Vec<String> = fenced.iter().map(|n| format!("n{n}")).collect();
        let call = self.nodes[0].adopt(&names);
        scripts::adopted(self.run(call))
    }

    /// ACQUIRE: renews this node's liveness and the lease if it holds it, takes the lease if nobody does.
    /// Returns (holder, epoch, the stream position when just taken).
    pub(super) fn acquire(&mut self, now: u64, node: NodeId, lease_ms: u64) -> (NodeId, i64, Option<u64>) {
        self.now = now;
        let call = self.nodes[node].acquire(lease_ms);
        let (holder, epoch, position, _understood): (String, i64, String, i64) = self.run(call);
        let position = (!position.is_empty()).then(|| position.trim_end_matches("-0").parse().expect("a stream id"));
        (node_of(&holder), epoch, position)
    }

    pub(super) fn raise(&mut self, fence: i64) {
        let call = self.nodes[0].raise(fence);
        self.run::<i64>(call);
    }

    pub(super) fn release(&mut self, node: NodeId) {
        let call = self.nodes[node].release();
        self.run::<i64>(call);
    }

    /// The matchmaker's removal of the seekers it settled (paired, refused, or gone).
    pub(super) fn remove(&mut self, seekers: &[Seeker], matched: &[UserId]) {
        if seekers.is_empty() {
            return;
        }
        let seekers: Vec<&Seeker> = seekers.iter().collect();
        let call = self.nodes[0].remove(&seekers, matched);
        self.run::<i64>(call);
    }

    /// The lease as it stands at `now` (none once lapsed).
    pub(super) fn lease(&self, now: u64) -> Option<Lease> {
        let (value, _) = self.primary.string(&self.keys().lease, now)?;
        let (holder, epoch) = value.split_once(':').expect("holder:epoch");
        Some(Lease { holder: node_of(holder), epoch: epoch.parse().expect("an epoch") })
    }

    /// Every entry the elected matchmaker holds, oldest first: a new matchmaker's queue (`ClusterQueue::entries`).
    pub(super) fn entries(&self) -> Vec<Seeker> {
        let hash = self.primary.hashes.get(&self.keys().queue);
        entries::matchmakers_entries(hash.into_iter().flatten().map(|(_, entry)| entry.clone()))
    }

    /// XREAD after `position`, each record read as `feed` reads it.
    pub(super) fn read(&self, position: u64) -> Vec<(u64, entries::Input)> {
        let records = self.primary.read(&self.keys().input, position);
        records
            .iter()
            .map(|(id, fields)| {
                let (_, record) = fields.first().expect("a record has its change");
                let input =
                    serde_json::from_str(record).unwrap_or_else(|e| panic!("an unreadable record {record}: {e}"));
                (*id, input)
            })
            .collect()
    }

    /// The text of every record of the input stream.
    pub(super) fn records(&self) -> impl Iterator<Item = &str> {
        let records = self.primary.read(&self.keys().input, 0);
        records.iter().flat_map(|(_, fields)| fields.iter().map(|(_, value)| value.as_str()))
    }

    /// The last record's position (0 for none).
    pub(super) fn last_position(&self) -> u64 {
        self.primary.streams.get(&self.keys().input).and_then(|s| s.last()).map_or(0, |(id, _)| *id)
    }

    /// Drops the stream's records up to `position` (what `MAXLEN` does in Redis, sooner).
    pub(super) fn trim(&mut self, position: u64) {
        let input = self.keys().input.clone();
        self.primary.trim(&input, position);
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
