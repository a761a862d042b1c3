//! The cluster's queue in Redis: who waits, and where they are held. On a Redis Cluster the keys below are
//! `{ns:mm}:queue` and so on: one hash tag, since a script touches several of them.
//!
//! - `{ns}:mm:queue` is a hash, user → entry, so "already waiting" holds whichever node a user asks from.
//! - An entry is `<socket>|<seeker>` when the elected matchmaker holds it, and `<socket>|@<node>|<seeker>` while
//!   the node holding the user's socket tries to pair them with its own waiters first ([`super::local`]). Only
//!   the holder pairs a user. A node claims a pair before opening it: both entries become
//!   `<socket>|!<node>|<seeker>` in one script, and stay until the match is committed (then they are deleted),
//!   so a second request from another device or node is "already waiting" rather than a second decider's
//!   seeker; a leave is refused meanwhile ("not waiting": the match is being opened).
//! - `{ns}:mm:input` is the stream of changes the elected matchmaker reads in order.
//! - `{ns}:mm:alive` scores each node by when its liveness lapses (renewed with its lease ticks): a user held by
//!   a node that died can ask again from another node at once.

use redis::RedisResult;

use super::entries::{Forms, Keys, entry_prefix, held_by_matchmaker, held_by_node, matchmakers_entries};
use super::holds::Holds;
use super::link::Link;
use super::scripts::{self, Scripts};
use crate::domain::UserId;
use crate::matching::Seeker;
use crate::redis_link::Conn;
#[cfg(test)]
use crate::redis_link::Target;

/// A node's side of the cluster queue: joining and leaving it, and holding its own seekers.
#[derive(Clone)]
pub struct ClusterQueue {
    conn: Conn,
    /// The calls of the scripts: the keys, this node's name, and how old a claim is when nobody will settle it, in
    /// ms (`cluster.claim_timeout_ms`): an opening takes one commit, and a node cut off from Redis longer than its
    /// lease is taken over as dead anyway. A claim outlives this only when its settle was lost (a Redis failover
    /// dropped the write).
    pub(super) scripts: Scripts,
    /// This node's holds, gathered into one script per round trip.
    holds: Holds,
}

/// What [`ClusterQueue::hold`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// This node holds the user now (nobody held them, or their holder died or forgot its claim).
    New,
    /// This node held them already: the entry is the asking socket's now.
    Again,
    /// They wait at the elected matchmaker (the place is the asking socket's now, and theirs if another node
    /// held them).
    Elsewhere,
    /// A node claimed them and is opening their match (or lost the claim's settle: see
    /// `cluster.claim_timeout_ms`).
    Opening,
}

impl ClusterQueue {
    /// The queue as the node named `node` (delivery's name for it) sees it, through matching's own link.
    pub fn new(link: &Link, node: &str) -> Self {
        let keys = Keys::new(&link.namespace, &link.target);
        let claim_timeout_ms = link.claim_timeout.as_millis() as u64;
        Self::with(link.conn.clone(), Scripts { keys, node: node.to_owned(), claim_timeout_ms })
    }

    fn with(conn: Conn, scripts: Scripts) -> Self {
        let holds = Holds::start(conn.clone(), scripts.clone());
        Self { conn, scripts, holds }
    }

    /// A node's side of the queue of `namespace` on its own connection: the scripts' tests, which need no
    /// delivery.
    #[cfg(test)]
    pub(super) fn of(conn: Conn, target: &Target, namespace: &str, node: &str, claim_timeout_ms: u64) -> Self {
        Self::with(conn, Scripts { keys: Keys::new(namespace, target), node: node.to_owned(), claim_timeout_ms })
    }

    pub(super) fn keys(&self) -> &Keys {
        &self.scripts.keys
    }

    /// Puts the seeker in the queue unless the user already waits (from any node): [`Hold::New`] when newly
    /// queued, [`Hold::Elsewhere`] when they wait (the place is this socket's now, see [`super::scripts::places::JOIN`]),
    /// or [`Hold::Opening`].
    pub async fn find(&self, seeker: &Seeker) -> RedisResult<Hold> {
        Ok(scripts::joined(self.scripts.join(seeker).invoke(&mut self.conn.clone()).await?))
    }

    /// Holds the seeker on this node unless the user already waits elsewhere (see [`super::scripts::places::HOLD`]), in
    /// one script with the other seekers this node holds meanwhile ([`Holds`]).
    pub async fn hold(&self, seeker: &Seeker) -> RedisResult<Hold> {
        let json = serde_json::to_string(seeker).expect("serialises");
        let held = self.holds.hold(seeker.user_id().get(), entry_prefix(seeker.socket_id), json).await?;
        Ok(scripts::held(held))
    }

    #[cfg(test)]
    pub(super) fn hold_scripts(&self) -> u64 {
        self.holds.scripts()
    }

    /// Claims pairs of this node's seekers: per pair, `Ok` when both were still held here (and are now claimed
    /// until [`Self::settle`]), else the users that are not.
    pub(super) async fn claim(&self, pairs: &[(Seeker, Seeker)]) -> RedisResult<Vec<Result<(), Vec<UserId>>>> {
        let codes: Vec<i64> = self.scripts.claim(pairs).invoke(&mut self.conn.clone()).await?;
        Ok(scripts::claimed(pairs, codes))
    }

    /// Claims pairs the elected matchmaker (this node's) holds before it opens them, as a node claims its own: a
    /// leave meanwhile is refused, and marks the request cancelled ([`super::scripts::places::LEAVE`]).
    pub(super) async fn claim_held(&self, pairs: &[(Seeker, Seeker)]) -> RedisResult<Vec<Result<(), Vec<UserId>>>> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let codes: Vec<i64> = self.scripts.claim_held(pairs).invoke(&mut self.conn.clone()).await?;
        Ok(scripts::claimed(pairs, codes))
    }

    /// Settles claimed seekers after their pairs were opened: `done` ones leave the queue, the others wait again
    /// where `held` says. Returns those to wait again who could not (no longer this node's claim of that request: a
    /// request the user sent meanwhile went to the elected matchmaker; or the request was cancelled during the
    /// claim, see [`super::scripts::places::SETTLE`]). `matched`: the users whose match opened, whose place goes with any
    /// request of theirs it served.
    pub(super) async fn settle(
        &self,
        done: &[&Seeker],
        again: &[&Seeker],
        held: scripts::HeldAgain,
        matched: &[UserId],
    ) -> RedisResult<Vec<UserId>> {
        if done.is_empty() && again.is_empty() {
            return Ok(Vec::new());
        }
        let call = self.scripts.settle(done, again, held, matched);
        let settled: Vec<i64> = call.invoke(&mut self.conn.clone()).await?;
        Ok(scripts::lost(done.len(), again, settled))
    }

    /// Hands this node's seekers to the elected matchmaker; returns how many were still here to hand over.
    pub(super) async fn forward(&self, seekers: &[Seeker]) -> RedisResult<usize> {
        let forwarded: Vec<i64> = self.scripts.forward(seekers).invoke(&mut self.conn.clone()).await?;
        Ok(forwarded.into_iter().filter(|f| *f == 1).count())
    }

    /// The nodes whose places [`ClusterQueue::adopt`] would take now: their fences go up first
    /// ([`super::scripts::lease::DOOMED`]).
    pub(super) async fn doomed(&self) -> RedisResult<Vec<String>> {
        self.scripts.doomed().invoke(&mut self.conn.clone()).await
    }

    /// Takes over the seekers that `fenced` nodes (dead, or holding claims nobody will settle) hold, and deletes
    /// claims nobody will settle (see [`super::scripts::lease::ADOPT`]).
    pub(super) async fn adopt(&self, fenced: &[String]) -> RedisResult<Vec<Seeker>> {
        Ok(scripts::adopted(self.scripts.adopt(fenced).invoke(&mut self.conn.clone()).await?))
    }

    /// Gives the user's place what they may meet now and the gender they consent to (a block, a report or a
    /// withdrawal since they asked). The elected matchmaker reads it as the find sent again. A place a node holds
    /// is that node's matchmaker's to change ([`crate::matching::Matchmaker::refresh`]), but its entry is rewritten
    /// here too, so that a withdrawn gender stays in Redis no longer than in memory. False when the place could
    /// not be rewritten yet, for the caller to try again: it is claimed (its match is being opened, and the claim's
    /// end may hand the request over as the claim holds it: the simulation of matching found a withdrawal lost that
    /// way), or it changed under each of three rewrites.
    pub async fn refresh(&self, user_id: UserId, fresh: &crate::matching::Fresh) -> RedisResult<bool> {
        // The entry may change between the read and the rewrite: most often a node hands its seeker over (from
        // memory its matchmaker may not have refreshed yet). Read again then, a few times.
        for _ in 0..3 {
            let read: Option<String> = redis::cmd("HGET")
                .arg(&self.keys().queue)
                .arg(user_id.get())
                .query_async(&mut self.conn.clone())
                .await?;
            let Some(read) = read else { return Ok(true) };
            let Some((rewritten, find)) = refreshed(&read, fresh) else { return Ok(false) };
            let call = self.scripts.rewrite(user_id, &read, &rewritten, &find);
            if call.invoke::<i64>(&mut self.conn.clone()).await? == 1 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Takes the user out of the queue (any entry, or only the one `socket_id` made); true when they waited.
    pub async fn leave(&self, user_id: UserId, socket_id: Option<u64>) -> RedisResult<bool> {
        Ok(self.scripts.leave(user_id, socket_id, "").invoke::<i64>(&mut self.conn.clone()).await? == 1)
    }

    /// Takes the seeker's own request out of the queue, not one its user sent since (from that socket too).
    pub(super) async fn leave_request(&self, seeker: &Seeker) -> RedisResult<bool> {
        let call = self.scripts.leave(seeker.user_id(), Some(seeker.socket_id), seeker.ask.as_str());
        Ok(call.invoke::<i64>(&mut self.conn.clone()).await? == 1)
    }

    /// Removes paired (or departed) users' entries, without telling the matchmaker: it has let go of them. Only
    /// the entries these requests made that the matchmaker still holds: one the user made since (asking again,
    /// from any socket, or another node holding them) is not this pairing's to remove, unless the user's match
    /// (`matched`) served it: a request sent while the pair was being opened.
    pub(super) async fn remove(&self, seekers: &[&Seeker], matched: &[UserId]) -> RedisResult<()> {
        if seekers.is_empty() {
            return Ok(());
        }
        self.scripts.remove(seekers, matched).invoke(&mut self.conn.clone()).await
    }

    /// Every entry the elected matchmaker holds, oldest first: the queue a new matchmaker starts from.
    pub(super) async fn entries(&self) -> RedisResult<Vec<Seeker>> {
        let all: Vec<(i64, String)> =
            redis::cmd("HGETALL").arg(&self.keys().queue).query_async(&mut self.conn.clone()).await?;
        Ok(matchmakers_entries(all.into_iter().map(|(_, entry)| entry)))
    }
}

/// The entry `read` with what its user may meet now (`fresh`), and the record of the find sent again that tells the
/// elected matchmaker when it holds the entry (empty for a node's); `None` for a claim, to be refreshed once its
/// opening has settled it.
/// What [`ClusterQueue::refresh`] writes with `REWRITE`, and the simulation of matching too.
pub(crate) fn refreshed(read: &str, fresh: &crate::matching::Fresh) -> Option<(String, String)> {
    match held_by_matchmaker(read) {
        Some(mut seeker) => {
            fresh.refresh(&mut seeker.candidate);
            Some((Forms::of(&seeker).entry(&entry_prefix(seeker.socket_id)), Forms::find(&seeker)))
        }
        None => {
            let (prefix, mut seeker) = held_by_node(read)?;
            fresh.refresh(&mut seeker.candidate);
            Some((Forms::of(&seeker).entry(prefix), String::new()))
        }
    }
}
