//! The Lua scripts of the cluster's matching, and how each is called: the text Redis runs ([`places`]: the queue's
//! places; [`lease`]: the elected matchmaker's lease and adoption), its keys and its arguments, built by
//! [`Scripts`] from plain values, and the answer read back by the functions below. Production
//! sends a [`Call`] to Redis ([`Call::invoke`]); the simulation of matching runs the very same text, keys and
//! arguments in an embedded Lua over an emulated keyspace (src/matching/simulation/keyspace.rs), so what it checks
//! is what runs. Nothing here does I/O but [`Call::invoke`].

use std::sync::OnceLock;

use redis::{FromRedisValue, RedisResult, Script};

use super::entries::{Input, Keys, bare, entry, entry_prefix, record};
use crate::domain::UserId;
use crate::matching::Seeker;
use crate::redis_link::Conn;

pub(crate) mod lease;
pub(crate) mod places;

use lease::{ACQUIRE, ADOPT, DOOMED, FORGET_READ, LAPSED, RAISE, RELEASE};
use places::{CLAIM, FORWARD, HOLD, HOLDERS, JOIN, LEAVE, RECORDS, REMOVE, REWRITE, SETTLE, STARTS};

/// Redis's own time in milliseconds, prepended to the scripts that compare liveness: one clock for every node.
pub(crate) const NOW_MS: &str =
    "local function now_ms() local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000) end\n";

/// A script as Redis runs it: the parts above, in order, and its hash (computed once).
pub(crate) struct Source {
    /// Its name in the simulation's trace and in a mutation's patch.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) name: &'static str,
    parts: &'static [&'static str],
    script: OnceLock<Script>,
}

impl Source {
    const fn new(name: &'static str, parts: &'static [&'static str]) -> Self {
        Source { name, parts, script: OnceLock::new() }
    }

    /// The text Redis runs.
    pub(crate) fn text(&self) -> String {
        self.parts.concat()
    }

    fn script(&self) -> &Script {
        self.script.get_or_init(|| Script::new(&self.text()))
    }
}

pub(crate) static JOIN_SCRIPT: Source = Source::new("JOIN", &[NOW_MS, RECORDS, HOLDERS, JOIN]);
pub(crate) static HOLD_SCRIPT: Source = Source::new("HOLD", &[NOW_MS, RECORDS, HOLDERS, HOLD]);
pub(crate) static LEAVE_SCRIPT: Source = Source::new("LEAVE", &[STARTS, LEAVE]);
pub(crate) static CLAIM_SCRIPT: Source = Source::new("CLAIM", &[NOW_MS, STARTS, CLAIM]);
pub(crate) static SETTLE_SCRIPT: Source = Source::new("SETTLE", &[STARTS, RECORDS, SETTLE]);
pub(crate) static FORWARD_SCRIPT: Source = Source::new("FORWARD", &[STARTS, FORWARD]);
pub(crate) static DOOMED_SCRIPT: Source = Source::new("DOOMED", &[NOW_MS, LAPSED, DOOMED]);
pub(crate) static ADOPT_SCRIPT: Source = Source::new("ADOPT", &[NOW_MS, LAPSED, ADOPT]);
pub(crate) static REMOVE_SCRIPT: Source = Source::new("REMOVE", &[STARTS, RECORDS, REMOVE]);
pub(crate) static REWRITE_SCRIPT: Source = Source::new("REWRITE", &[REWRITE]);
pub(crate) static ACQUIRE_SCRIPT: Source = Source::new("ACQUIRE", &[NOW_MS, ACQUIRE]);
pub(crate) static RAISE_SCRIPT: Source = Source::new("RAISE", &[RAISE]);
pub(crate) static RELEASE_SCRIPT: Source = Source::new("RELEASE", &[RELEASE]);
pub(crate) static FORGET_READ_SCRIPT: Source = Source::new("FORGET_READ", &[FORGET_READ]);

/// Every script, for the simulation's check that each mutation's patch still finds its text.
#[cfg(test)]
pub(crate) static ALL: [&Source; 14] = [
    &JOIN_SCRIPT,
    &HOLD_SCRIPT,
    &LEAVE_SCRIPT,
    &CLAIM_SCRIPT,
    &SETTLE_SCRIPT,
    &FORWARD_SCRIPT,
    &DOOMED_SCRIPT,
    &ADOPT_SCRIPT,
    &REMOVE_SCRIPT,
    &REWRITE_SCRIPT,
    &ACQUIRE_SCRIPT,
    &RAISE_SCRIPT,
    &RELEASE_SCRIPT,
    &FORGET_READ_SCRIPT,
];

/// One script call: what Redis runs, with these keys and arguments.
pub(crate) struct Call {
    pub(crate) source: &'static Source,
    pub(crate) keys: Vec<String>,
    pub(crate) args: Vec<String>,
}

impl Call {
    fn new(source: &'static Source, keys: &[&String]) -> Self {
        Call { source, keys: keys.iter().map(|k| (*k).clone()).collect(), args: Vec::new() }
    }

    fn arg(mut self, arg: impl ToString) -> Self {
        self.args.push(arg.to_string());
        self
    }

    fn push(&mut self, arg: impl ToString) {
        self.args.push(arg.to_string());
    }

    /// Runs the call on Redis (by hash, loading the script when Redis does not know it).
    pub(crate) async fn invoke<T: FromRedisValue>(&self, conn: &mut Conn) -> RedisResult<T> {
        let mut invocation = self.source.script().prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        for arg in &self.args {
            invocation.arg(arg);
        }
        invocation.invoke_async(conn).await
    }
}

/// A node's calls of the scripts: the keys of its namespace, its name, and how old a claim is when nobody will
/// settle it.
#[derive(Clone)]
pub(crate) struct Scripts {
    pub(crate) keys: Keys,
    pub(crate) node: String,
    pub(crate) claim_timeout_ms: u64,
}

impl Scripts {
    /// What this node's entries for the socket start with.
    pub(crate) fn local_prefix(&self, socket_id: u64) -> String {
        format!("{}@{}|", entry_prefix(socket_id), self.node)
    }

    /// What this node's claimed entries for the socket start with.
    fn claimed_prefix(&self, socket_id: u64) -> String {
        format!("{}!{}|", entry_prefix(socket_id), self.node)
    }

    /// [`JOIN`]; read its answer with [`joined`].
    pub(crate) fn join(&self, seeker: &Seeker) -> Call {
        let k = &self.keys;
        Call::new(&JOIN_SCRIPT, &[&k.queue, &k.input, &k.alive, &k.claimed])
            .arg(seeker.user_id().get())
            .arg(entry_prefix(seeker.socket_id))
            .arg(serde_json::to_string(seeker).expect("serialises"))
    }

    /// [`HOLD`] of seekers given as (user, socket prefix, seeker JSON), taken as they are (the hot path of a find:
    /// no copy of the JSON); read each answer with [`held`].
    pub(crate) fn hold(&self, seekers: impl IntoIterator<Item = (i64, String, String)>) -> Call {
        let k = &self.keys;
        let mut call = Call::new(&HOLD_SCRIPT, &[&k.queue, &k.alive, &k.input, &k.claimed]).arg(&self.node);
        for (user, prefix, json) in seekers {
            call.push(user);
            call.args.extend([prefix, json]);
        }
        call
    }

    /// [`LEAVE`] of the user's entry: any, or only the one `socket_id` made, and of those only the one request
    /// `ask` made when it is not empty.
    pub(crate) fn leave(&self, user_id: UserId, socket_id: Option<u64>, ask: &str) -> Call {
        Call::new(&LEAVE_SCRIPT, &[&self.keys.queue, &self.keys.input, &self.keys.cancelled])
            .arg(user_id.get())
            .arg(socket_id.map(entry_prefix).unwrap_or_default())
            .arg(record(&Input::Leave { user_id, socket_id }))
            .arg(ask)
    }

    /// [`CLAIM`] of pairs this node holds; read the answer with [`claimed`].
    pub(crate) fn claim(&self, pairs: &[(Seeker, Seeker)]) -> Call {
        self.claim_from(pairs, |socket| self.local_prefix(socket))
    }

    /// [`CLAIM`] of pairs the elected matchmaker (this node's) holds; read the answer with [`claimed`].
    pub(crate) fn claim_held(&self, pairs: &[(Seeker, Seeker)]) -> Call {
        self.claim_from(pairs, entry_prefix)
    }

    fn claim_from(&self, pairs: &[(Seeker, Seeker)], held: impl Fn(u64) -> String) -> Call {
        let mut call = Call::new(&CLAIM_SCRIPT, &[&self.keys.queue, &self.keys.claimed]);
        for seeker in pairs.iter().flat_map(|(a, b)| [a, b]) {
            let socket = seeker.socket_id;
            call.push(seeker.user_id().get());
            call.push(held(socket));
            call.push(self.claimed_prefix(socket));
            call.push(seeker.ask.as_str());
        }
        call
    }

    /// [`SETTLE`] of claimed seekers: `done` leave the queue, `again` are held again as `held` says; read the answer
    /// with [`lost`].
    pub(crate) fn settle(&self, done: &[&Seeker], again: &[&Seeker], held: HeldAgain, matched: &[UserId]) -> Call {
        let k = &self.keys;
        let mut call = Call::new(&SETTLE_SCRIPT, &[&k.queue, &k.claimed, &k.input, &k.cancelled]).arg(&self.node);
        let held = match held {
            HeldAgain::Here => "1",
            HeldAgain::ByMatchmaker => "2",
        };
        let all = done.iter().map(|s| (s, "")).chain(again.iter().map(|s| (s, held)));
        for (seeker, hold) in all {
            call.push(seeker.user_id().get());
            call.push(entry_prefix(seeker.socket_id));
            call.push(seeker.ask.as_str());
            call.push(hold);
            call.push(served(seeker, matched));
        }
        call
    }

    /// [`FORWARD`] of seekers this node holds to the elected matchmaker; the answer is 1 for each handed over.
    pub(crate) fn forward(&self, seekers: &[Seeker]) -> Call {
        let mut call = Call::new(&FORWARD_SCRIPT, &[&self.keys.queue, &self.keys.input]);
        for seeker in seekers {
            call.push(seeker.user_id().get());
            call.push(self.local_prefix(seeker.socket_id));
            call.push(entry(seeker));
            call.push(record(&Input::HandedOver(Box::new(bare(seeker)))));
            call.push(seeker.ask.as_str());
        }
        call
    }

    /// [`DOOMED`]: the nodes whose places [`ADOPT`] would take now.
    pub(crate) fn doomed(&self) -> Call {
        let k = &self.keys;
        Call::new(&DOOMED_SCRIPT, &[&k.queue, &k.alive, &k.claimed]).arg(self.claim_timeout_ms)
    }

    /// [`ADOPT`] of the places of `fenced` nodes (whose fences were raised); read the answer with [`adopted`].
    pub(crate) fn adopt(&self, fenced: &[String]) -> Call {
        let k = &self.keys;
        let mut call =
            Call::new(&ADOPT_SCRIPT, &[&k.queue, &k.alive, &k.claimed, &k.cancelled]).arg(self.claim_timeout_ms);
        for node in fenced {
            call.push(node.as_str());
        }
        call
    }

    /// [`REMOVE`] of the entries these requests made that the elected matchmaker holds.
    pub(crate) fn remove(&self, seekers: &[&Seeker], matched: &[UserId]) -> Call {
        let mut call = Call::new(&REMOVE_SCRIPT, &[&self.keys.queue, &self.keys.input]);
        for seeker in seekers {
            call.push(seeker.user_id().get());
            call.push(entry_prefix(seeker.socket_id));
            call.push(seeker.ask.as_str());
            call.push(served(seeker, matched));
        }
        call
    }

    /// [`REWRITE`] of the entry `read` as `rewritten`, with the find record `find` ('' for none).
    pub(crate) fn rewrite(&self, user_id: UserId, read: &str, rewritten: &str, find: &str) -> Call {
        Call::new(&REWRITE_SCRIPT, &[&self.keys.queue, &self.keys.input])
            .arg(user_id.get())
            .arg(read)
            .arg(rewritten)
            .arg(find)
    }

    /// [`ACQUIRE`] for a lease of `lease_ms`; the answer is (holder, epoch, stream position or '', 1 when the
    /// cluster understands gender wishes).
    pub(crate) fn acquire(&self, lease_ms: u64) -> Call {
        let k = &self.keys;
        Call::new(&ACQUIRE_SCRIPT, &[&k.lease, &k.epoch, &k.input, &k.alive, &k.wishes]).arg(&self.node).arg(lease_ms)
    }

    /// [`RAISE`] of the epoch counter to at least `fence`.
    pub(crate) fn raise(&self, fence: i64) -> Call {
        Call::new(&RAISE_SCRIPT, &[&self.keys.epoch]).arg(fence)
    }

    /// [`RELEASE`] of the lease, if this node holds it.
    pub(crate) fn release(&self) -> Call {
        Call::new(&RELEASE_SCRIPT, &[&self.keys.lease]).arg(&self.node)
    }
}

/// What [`JOIN`] answered.
pub(crate) fn joined(code: i64) -> super::Hold {
    match code {
        1 => super::Hold::New,
        2 => super::Hold::Opening,
        _ => super::Hold::Elsewhere,
    }
}

/// What [`HOLD`] answered for one seeker.
pub(crate) fn held(code: i64) -> super::Hold {
    match code {
        1 => super::Hold::New,
        2 => super::Hold::Again,
        3 => super::Hold::Opening,
        _ => super::Hold::Elsewhere,
    }
}

/// What [`CLAIM`] answered, per pair: `Ok` when both were still held here (claimed now), else who is not.
pub(crate) fn claimed(pairs: &[(Seeker, Seeker)], codes: Vec<i64>) -> Vec<Result<(), Vec<UserId>>> {
    pairs
        .iter()
        .zip(codes)
        .map(|((a, b), code)| match code {
            0 => Ok(()),
            _ => {
                Err([(1, a), (2, b)].into_iter().filter(|(bit, _)| code & bit != 0).map(|(_, s)| s.user_id()).collect())
            }
        })
        .collect()
}

/// The argument of [`SETTLE`] and [`REMOVE`] that says a match served the seeker's request, and every request of
/// theirs sent after no more matches than it: their count of matches when they asked, for a matched user ('' for
/// another, or for a request of the previous release, which carries no count).
fn served(seeker: &Seeker, matched: &[UserId]) -> String {
    match seeker.asked_after {
        Some(after) if matched.contains(&seeker.user_id()) => after.to_string(),
        _ => String::new(),
    }
}

/// What [`SETTLE`] answered: those of `again` who could not be held again.
pub(crate) fn lost(done: usize, again: &[&Seeker], settled: Vec<i64>) -> Vec<UserId> {
    settled.into_iter().skip(done).zip(again).filter(|(ok, _)| *ok == 0).map(|(_, s)| s.user_id()).collect()
}

/// Where a claimed seeker whose partner was refused waits again ([`SETTLE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeldAgain {
    /// Held by this node, whose matchmaker pairs it again.
    Here,
    /// By the elected matchmaker, told with a record: the one that claimed it places it again (the record then
    /// renews the place), or a newer one that took the lease meanwhile takes it over.
    ByMatchmaker,
}

/// What [`ADOPT`] answered: the seekers the elected matchmaker takes over.
pub(crate) fn adopted(seekers: Vec<String>) -> Vec<Seeker> {
    seekers.iter().filter_map(|s| serde_json::from_str(s).ok()).collect()
}
