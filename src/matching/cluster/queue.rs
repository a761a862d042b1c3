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

use redis::{RedisResult, Script};
use serde::{Deserialize, Serialize};

use crate::delivery::{Cluster, Conn, Target};
use crate::domain::UserId;
use crate::matching::Seeker;

/// Queues a seeker unless the user waits already: KEYS queue, input; ARGV user, entry, input record. Returns 1
/// when newly queued. A user the elected matchmaker holds already (not a node, not a match being opened) asked
/// again, most often from the socket an app reconnected with: the entry becomes that socket's, so the old one's
/// closing does not take it away, and the matchmaker reads the request to learn it too.
const JOIN: &str = r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[3])
  return 1
end
if string.match(redis.call('HGET', KEYS[1], ARGV[1]), '^%d+|[@!]') then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[3])
return 0
";

/// Holds a seeker on the asking node unless the user waits already, or waits held by a node whose liveness
/// lapsed (it died with their socket): KEYS queue, alive; ARGV user, entry, this node. Returns 1 when newly held,
/// 2 when already held (not claimed) by this node: the entry is then the asking socket's, so that the socket it
/// was sent again from keeps it when the old one closes.
const HOLD: &str = r"
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 1 then return 1 end
local held, holder = string.match(redis.call('HGET', KEYS[1], ARGV[1]), '^%d+|([@!])([^|]+)|')
if not holder then return 0 end
if held == '@' and holder == ARGV[3] then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 2
end
local alive = redis.call('ZSCORE', KEYS[2], holder)
if alive and tonumber(alive) >= now_ms() then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
";

/// Takes a user out of the queue, only if their entry starts with ARGV[2] (the socket that made it) when
/// that is given, and not while a node opens their match: KEYS queue, input; ARGV user, entry prefix or '',
/// input record.
const LEAVE: &str = r"
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry or string.match(entry, '^%d+|!') then return 0 end
if ARGV[2] ~= '' and string.sub(entry, 1, string.len(ARGV[2])) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[3])
return 1
";

/// Whether an entry still starts with `p`: the Lua shared by the scripts below.
const STARTS: &str = "local function starts(e, p) return e and string.sub(e, 1, string.len(p)) == p end\n";

/// Redis's own time in milliseconds, prepended to the scripts that compare liveness: one clock for every node.
pub(super) const NOW_MS: &str =
    "local function now_ms() local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000) end\n";

/// Claims pairs a node found among its own waiters: KEYS queue; ARGV per pair: user, held prefix, claimed
/// prefix, user, held prefix, claimed prefix. A pair whose both entries are still held by this node is marked
/// claimed (0); otherwise nothing of it changes, and the answer says who is gone (1 the first, 2 the second,
/// 3 both).
const CLAIM: &str = r"
local out = {}
for i = 1, #ARGV, 6 do
  local a = redis.call('HGET', KEYS[1], ARGV[i])
  local b = redis.call('HGET', KEYS[1], ARGV[i + 3])
  local code = 0
  if not starts(a, ARGV[i + 1]) then code = code + 1 end
  if not starts(b, ARGV[i + 4]) then code = code + 2 end
  if code == 0 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2] .. string.sub(a, string.len(ARGV[i + 1]) + 1),
      ARGV[i + 3], ARGV[i + 5] .. string.sub(b, string.len(ARGV[i + 4]) + 1))
  end
  out[#out + 1] = code
end
return out
";

/// Settles claimed users once their pairs were opened: KEYS queue; ARGV per user: user, claimed prefix, held
/// prefix, and '' to delete the entry (matched, or refused) or '1' to hold them again (their partner was
/// refused). 1 each when done, 0 when the entry is no longer this node's claim (taken over meanwhile).
const SETTLE: &str = r"
local out = {}
for i = 1, #ARGV, 4 do
  local entry = redis.call('HGET', KEYS[1], ARGV[i])
  if not starts(entry, ARGV[i + 1]) then
    out[#out + 1] = 0
  else
    if ARGV[i + 3] == '' then
      redis.call('HDEL', KEYS[1], ARGV[i])
    else
      redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2] .. string.sub(entry, string.len(ARGV[i + 1]) + 1))
    end
    out[#out + 1] = 1
  end
end
return out
";

/// Hands seekers a node held to the elected matchmaker: KEYS queue, input; ARGV per user: user, this node's
/// entry prefix, the entry as the matchmaker holds it, input record. 1 each when handed over, 0 when the
/// user is no longer this node's (they left).
const FORWARD: &str = r"
local out = {}
for i = 1, #ARGV, 4 do
  if starts(redis.call('HGET', KEYS[1], ARGV[i]), ARGV[i + 1]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[i + 3])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
";

/// Gives the elected matchmaker the seekers of nodes whose liveness lapsed, held or claimed: KEYS queue, alive.
/// Their entries become the matchmaker's; returns the seekers. Whoever of them has no socket left is dropped
/// when paired (their socket died with the node); whoever reconnected elsewhere is paired there; whoever the
/// dead node's last commit did match is refused by the store as already in a match.
const ADOPT: &str = r"
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now_ms())
if #dead == 0 then return {} end
local gone = {}
for _, node in ipairs(dead) do gone[node] = true end
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local socket, holder, seeker = string.match(all[i + 1], '^(%d+|)[@!]([^|]+)|(.*)$')
  if holder and gone[holder] then
    redis.call('HSET', KEYS[1], all[i], socket .. seeker)
    out[#out + 1] = seeker
  end
end
redis.call('ZREM', KEYS[2], unpack(dead))
return out
";

/// One change to the queue, as the matchmaker reads it from the input stream.
#[derive(Debug, Serialize, Deserialize)]
pub(super) enum Input {
    Find(Box<Seeker>),
    Leave {
        user_id: UserId,
    },
    /// A seeker another node held, already told `match.queued`. Read only by nodes of this version and later:
    /// a cluster that still has a node of the previous version runs with `cluster.local_pairing_ms = 0`.
    HandedOver(Box<Seeker>),
}

#[derive(Debug, Clone)]
pub(super) struct Keys {
    pub(super) queue: String,
    pub(super) input: String,
    pub(super) lease: String,
    pub(super) epoch: String,
    pub(super) alive: String,
}

impl Keys {
    /// The keys of `namespace`: on one shard of a Redis Cluster, since a script may touch any of them.
    fn new(namespace: &str, target: &Target) -> Self {
        let mm = target.same_shard(&format!("{namespace}:mm"));
        Self {
            queue: format!("{mm}:queue"),
            input: format!("{mm}:input"),
            lease: format!("{mm}:lease"),
            epoch: format!("{mm}:epoch"),
            alive: format!("{mm}:alive"),
        }
    }
}

/// A node's side of the cluster queue: joining and leaving it, and holding its own seekers.
#[derive(Clone)]
pub struct ClusterQueue {
    conn: Conn,
    pub(super) keys: Keys,
    node: String,
}

/// What [`ClusterQueue::hold`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// This node holds the user now (nobody held them, or their holder died).
    New,
    /// This node held them already: the entry is the asking socket's now.
    Again,
    /// They wait elsewhere (another live node, the elected matchmaker), or their match is being opened.
    Elsewhere,
}

/// What a queue entry starts with: the socket that made it, so its closing removes only its own entry.
fn entry_prefix(socket_id: u64) -> String {
    format!("{socket_id}|")
}

/// An entry as the elected matchmaker holds it.
fn entry(seeker: &Seeker) -> String {
    format!("{}{}", entry_prefix(seeker.socket_id), serde_json::to_string(seeker).expect("serialises"))
}

/// The seeker of an entry the elected matchmaker holds; `None` for one a node holds (or unreadable).
pub(super) fn held_by_matchmaker(entry: &str) -> Option<Seeker> {
    serde_json::from_str(entry.split_once('|')?.1).ok()
}

fn record(input: &Input) -> String {
    serde_json::to_string(input).expect("serialises")
}

impl ClusterQueue {
    pub fn new(cluster: &Cluster) -> Self {
        let keys = Keys::new(cluster.namespace(), cluster.target());
        Self { conn: cluster.connection(), keys, node: cluster.node().to_owned() }
    }

    /// What this node's entries for the socket start with.
    fn local_prefix(&self, socket_id: u64) -> String {
        format!("{}@{}|", entry_prefix(socket_id), self.node)
    }

    fn local_entry(&self, seeker: &Seeker) -> String {
        format!("{}{}", self.local_prefix(seeker.socket_id), serde_json::to_string(seeker).expect("serialises"))
    }

    /// Puts the seeker in the queue unless the user already waits (from any node); true when newly queued.
    pub async fn find(&self, seeker: &Seeker) -> RedisResult<bool> {
        let joined: i64 = Script::new(JOIN)
            .key(&self.keys.queue)
            .key(&self.keys.input)
            .arg(seeker.user_id().get())
            .arg(entry(seeker))
            .arg(record(&Input::Find(Box::new(seeker.clone()))))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(joined == 1)
    }

    /// Holds the seeker on this node unless the user already waits (on a live node).
    pub async fn hold(&self, seeker: &Seeker) -> RedisResult<Hold> {
        let held: i64 = Script::new(&format!("{NOW_MS}{HOLD}"))
            .key(&self.keys.queue)
            .key(&self.keys.alive)
            .arg(seeker.user_id().get())
            .arg(self.local_entry(seeker))
            .arg(&self.node)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match held {
            1 => Hold::New,
            2 => Hold::Again,
            _ => Hold::Elsewhere,
        })
    }

    /// What this node's claimed entries for the socket start with.
    fn claimed_prefix(&self, socket_id: u64) -> String {
        format!("{}!{}|", entry_prefix(socket_id), self.node)
    }

    /// Claims pairs of this node's seekers: per pair, `Ok` when both were still held here (and are now claimed
    /// until [`Self::settle`]), else the users that are not.
    pub(super) async fn claim(&self, pairs: &[(Seeker, Seeker)]) -> RedisResult<Vec<Result<(), Vec<UserId>>>> {
        let script = Script::new(&format!("{STARTS}{CLAIM}"));
        let mut script = script.prepare_invoke();
        script.key(&self.keys.queue);
        for seeker in pairs.iter().flat_map(|(a, b)| [a, b]) {
            let socket = seeker.socket_id;
            script.arg(seeker.user_id().get()).arg(self.local_prefix(socket)).arg(self.claimed_prefix(socket));
        }
        let codes: Vec<i64> = script.invoke_async(&mut self.conn.clone()).await?;
        Ok(pairs
            .iter()
            .zip(codes)
            .map(|((a, b), code)| match code {
                0 => Ok(()),
                _ => Err([(1, a), (2, b)]
                    .into_iter()
                    .filter(|(bit, _)| code & bit != 0)
                    .map(|(_, s)| s.user_id())
                    .collect()),
            })
            .collect())
    }

    /// Settles claimed seekers after their pairs were opened: `done` ones leave the queue, the others are held
    /// here again. Returns those held again who could not be (no longer this node's claim).
    pub(super) async fn settle(&self, done: &[&Seeker], again: &[&Seeker]) -> RedisResult<Vec<UserId>> {
        if done.is_empty() && again.is_empty() {
            return Ok(Vec::new());
        }
        let script = Script::new(&format!("{STARTS}{SETTLE}"));
        let mut script = script.prepare_invoke();
        script.key(&self.keys.queue);
        let all = done.iter().map(|s| (s, "")).chain(again.iter().map(|s| (s, "1")));
        for (seeker, hold) in all {
            let socket = seeker.socket_id;
            script
                .arg(seeker.user_id().get())
                .arg(self.claimed_prefix(socket))
                .arg(self.local_prefix(socket))
                .arg(hold);
        }
        let settled: Vec<i64> = script.invoke_async(&mut self.conn.clone()).await?;
        Ok(settled
            .into_iter()
            .skip(done.len())
            .zip(again)
            .filter(|(ok, _)| *ok == 0)
            .map(|(_, s)| s.user_id())
            .collect())
    }

    /// Hands this node's seekers to the elected matchmaker; returns how many were still here to hand over.
    pub(super) async fn forward(&self, seekers: &[Seeker]) -> RedisResult<usize> {
        let script = Script::new(&format!("{STARTS}{FORWARD}"));
        let mut script = script.prepare_invoke();
        script.key(&self.keys.queue).key(&self.keys.input);
        for seeker in seekers {
            script
                .arg(seeker.user_id().get())
                .arg(self.local_prefix(seeker.socket_id))
                .arg(entry(seeker))
                .arg(record(&Input::HandedOver(Box::new(seeker.clone()))));
        }
        let forwarded: Vec<i64> = script.invoke_async(&mut self.conn.clone()).await?;
        Ok(forwarded.into_iter().filter(|f| *f == 1).count())
    }

    /// Takes over the seekers of nodes that died holding them (see [`ADOPT`]).
    pub(super) async fn adopt(&self) -> RedisResult<Vec<Seeker>> {
        let adopted: Vec<String> = Script::new(&format!("{NOW_MS}{ADOPT}"))
            .key(&self.keys.queue)
            .key(&self.keys.alive)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(adopted.iter().filter_map(|s| serde_json::from_str(s).ok()).collect())
    }

    /// Takes the user out of the queue (any entry, or only the one `socket_id` made); true when they waited.
    pub async fn leave(&self, user_id: UserId, socket_id: Option<u64>) -> RedisResult<bool> {
        let left: i64 = Script::new(LEAVE)
            .key(&self.keys.queue)
            .key(&self.keys.input)
            .arg(user_id.get())
            .arg(socket_id.map(entry_prefix).unwrap_or_default())
            .arg(record(&Input::Leave { user_id }))
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(left == 1)
    }

    /// Removes paired (or departed) users' entries, without telling the matchmaker: it has let go of them.
    pub(super) async fn remove(&self, users: &[UserId]) -> RedisResult<()> {
        if users.is_empty() {
            return Ok(());
        }
        let users: Vec<i64> = users.iter().map(|u| u.get()).collect();
        redis::cmd("HDEL").arg(&self.keys.queue).arg(users).query_async(&mut self.conn.clone()).await
    }

    /// Every entry the elected matchmaker holds, oldest first: the queue a new matchmaker starts from.
    pub(super) async fn entries(&self) -> RedisResult<Vec<Seeker>> {
        let all: Vec<(i64, String)> =
            redis::cmd("HGETALL").arg(&self.keys.queue).query_async(&mut self.conn.clone()).await?;
        let mut seekers: Vec<Seeker> = all.into_iter().filter_map(|(_, entry)| held_by_matchmaker(&entry)).collect();
        seekers.sort_by_key(|s| s.candidate.queued_at);
        Ok(seekers)
    }
}
