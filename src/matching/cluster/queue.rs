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

use super::holds::Holds;
use crate::delivery::Cluster;
use crate::domain::UserId;
use crate::matching::Seeker;
use crate::redis_link::{Conn, Target};

/// Whether a node holding an entry still stands behind it: KEYS[alive] scores nodes by when their liveness lapses,
/// KEYS[claimed] stamps each claim with its time. A claim older than ARGV `stale` ms outlived any opening (its
/// settle was lost, most often in a Redis failover that dropped the write): nobody will settle it. Prepended to
/// the scripts that take entries over, after [`NOW_MS`].
pub(super) const HOLDERS: &str = r#"
local function lapsed(alive, holder)
  local at = redis.call('ZSCORE', alive, holder)
  return not (at and tonumber(at) >= now_ms())
end
local function stale(claimed, user, limit)
  local at = redis.call('HGET', claimed, user)
  return at ~= false and tonumber(at) + tonumber(limit) < now_ms()
end
local function reask(queue, user, socket, holder, seeker)
  redis.call('HSET', queue, user, socket .. '!' .. holder .. '|' .. seeker)
end
"#;

/// The input records a script writes: the seeker as [`bare`] has it, without the declared gender and the wish.
/// They are serde's last two fields of a candidate, a string and a flat object: a test holds the patterns to what
/// serde writes. Prepended to the scripts that write records.
pub(super) const RECORDS: &str = r#"
local function bare(seeker)
  return (string.gsub(string.gsub(seeker, ',"gender":"[%a_]+"', ''), ',"seeking":{[^}]*}', ''))
end
local function record(input, seeker) return '{"' .. input .. '":' .. bare(seeker) .. '}' end
"#;

/// Queues a seeker unless the user waits already: KEYS queue, input, alive, claimed; ARGV user, socket prefix,
/// seeker JSON, stale claim ms. Returns 1 when newly queued, 2 when their match is being opened, else 0. A user
/// who waits already asked again, most often from the socket an app reconnected with, maybe on another node: the
/// place becomes the asking socket's, so the old one's closing does not take it away. Held by the elected
/// matchmaker, it reads the request to learn the socket; held by a node (pairing its own seekers first), the
/// matchmaker takes them over (that node finds the entry no longer its own when it claims or hands over). A match
/// being opened keeps its claim, which names the asking socket and request from now on (`reask` in [`HOLDERS`]).
const JOIN: &str = r"
local entry = ARGV[2] .. ARGV[3]
if redis.call('HSETNX', KEYS[1], ARGV[1], entry) == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', record('Find', ARGV[3]))
  return 1
end
local held, holder = string.match(redis.call('HGET', KEYS[1], ARGV[1]), '^%d+|([@!])([^|]+)|')
if held == '!' and not lapsed(KEYS[3], holder) and not stale(KEYS[4], ARGV[1], ARGV[4]) then
  reask(KEYS[1], ARGV[1], ARGV[2], holder, ARGV[3])
  return 2
end
redis.call('HSET', KEYS[1], ARGV[1], entry)
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', record(holder and 'HandedOver' or 'Find', ARGV[3]))
return 0
";

/// Holds seekers on the asking node unless the user waits already, in the order given: KEYS queue, alive, input,
/// claimed; ARGV this node, stale claim ms, then per seeker: user, socket prefix, seeker JSON ([`super::holds`]
/// gathers them). Answers per seeker: 1 when newly held here (nobody held them, or their holder died or forgot its
/// claim), 2 when this node held them already (the entry is the asking socket's now), 3 when their match is being
/// opened (claimed by a live node, whose claim names this request from now on: `reask` in [`HOLDERS`]), 0 when
/// they wait elsewhere: then the place becomes the asking socket's at the elected matchmaker, as [`JOIN`] does, so
/// the old socket's closing (on whichever node) does not take it away.
pub(super) const HOLD: &str = r"
local function hold(user, socket, node, seeker, stale_ms)
  local here = socket .. '@' .. node .. '|' .. seeker
  if redis.call('HSETNX', KEYS[1], user, here) == 1 then return 1 end
  local held, holder = string.match(redis.call('HGET', KEYS[1], user), '^%d+|([@!])([^|]+)|')
  if held == '@' and holder == node then
    redis.call('HSET', KEYS[1], user, here)
    return 2
  end
  if holder and (lapsed(KEYS[2], holder) or (held == '!' and stale(KEYS[4], user, stale_ms))) then
    redis.call('HSET', KEYS[1], user, here)
    redis.call('HDEL', KEYS[4], user)
    return 1
  end
  if held == '!' then
    reask(KEYS[1], user, socket, holder, seeker)
    return 3
  end
  redis.call('HSET', KEYS[1], user, socket .. seeker)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'c', record(holder and 'HandedOver' or 'Find', seeker))
  return 0
end
local out = {}
for i = 3, #ARGV, 3 do
  out[#out + 1] = hold(ARGV[i], ARGV[i + 1], ARGV[1], ARGV[i + 2], ARGV[2])
end
return out
";

/// Takes a user out of the queue, only if their entry starts with ARGV[2] (the socket that made it) when
/// that is given, and was made by the request ARGV[4] when that is given, and not while a node opens their match:
/// KEYS queue, input; ARGV user, entry prefix or '', input record, ask or ''.
const LEAVE: &str = r"
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry or string.match(entry, '^%d+|!') then return 0 end
if ARGV[2] ~= '' and not made(entry, ARGV[2], ARGV[4]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[3])
return 1
";

/// Whether an entry still starts with `p`, and whether the request `ask` of the socket `p` names made it: the Lua
/// shared by the scripts below. The ask is the end of an entry's seeker JSON ([`Seeker::ask`]); an entry or a
/// request without one (a node of the previous version) stands for any request of its socket.
const STARTS: &str = r#"
local function starts(e, p) return e and string.sub(e, 1, string.len(p)) == p end
local function ask_of(e) return string.match(e, '"ask":"(%x*)"}$') or '' end
local function made(e, p, ask)
  if not starts(e, p) then return false end
  local a = ask_of(e)
  return ask == '' or a == '' or a == ask
end
"#;

/// Redis's own time in milliseconds, prepended to the scripts that compare liveness: one clock for every node.
pub(super) const NOW_MS: &str =
    "local function now_ms() local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000) end\n";

/// Claims pairs a node found among its own waiters: KEYS queue, claimed; ARGV per pair: user, held prefix, claimed
/// prefix, user, held prefix, claimed prefix. A pair whose both entries are still held by this node is marked
/// claimed (0), each claim stamped with Redis's time; otherwise nothing of it changes, and the answer says who
/// is gone (1 the first, 2 the second, 3 both).
const CLAIM: &str = r"
local out = {}
local now = now_ms()
for i = 1, #ARGV, 6 do
  local a = redis.call('HGET', KEYS[1], ARGV[i])
  local b = redis.call('HGET', KEYS[1], ARGV[i + 3])
  local code = 0
  if not starts(a, ARGV[i + 1]) then code = code + 1 end
  if not starts(b, ARGV[i + 4]) then code = code + 2 end
  if code == 0 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2] .. string.sub(a, string.len(ARGV[i + 1]) + 1),
      ARGV[i + 3], ARGV[i + 5] .. string.sub(b, string.len(ARGV[i + 4]) + 1))
    redis.call('HSET', KEYS[2], ARGV[i], now, ARGV[i + 3], now)
  end
  out[#out + 1] = code
end
return out
";

/// Settles claimed users once their pairs were opened: KEYS queue, claimed, input; ARGV[1] this node, then per
/// user: user, socket prefix, ask, and '' to delete the entry (matched, or refused) or '1' to hold them again
/// (their partner was refused). 1 each when done, 0 when the entry is no longer this node's claim of that request.
/// A claim that now names another request (the user asked again meanwhile, [`JOIN`]'s `reask`) outlives the
/// claim: that request goes to the elected matchmaker, as handed over (its socket was answered). An entry still
/// held rather than claimed by this node, made by the same request, is its claim lost in a Redis failover: a
/// matched user's is deleted too, or it would answer "already waiting" to them for as long as this node lives.
const SETTLE: &str = r#"
local out = {}
for i = 2, #ARGV, 4 do
  local user, prefix, ask, hold = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local entry = redis.call('HGET', KEYS[1], user)
  local socket, mark, holder, seeker
  if entry then socket, mark, holder, seeker = string.match(entry, '^(%d+|)([@!])([^|]+)|(.*)$') end
  local done = 0
  if holder == ARGV[1] and mark == '!' and made(entry, prefix, ask) then
    if hold == '' then
      redis.call('HDEL', KEYS[1], user)
    else
      redis.call('HSET', KEYS[1], user, socket .. '@' .. holder .. '|' .. seeker)
    end
    done = 1
  elseif holder == ARGV[1] and mark == '!' then
    redis.call('HSET', KEYS[1], user, socket .. seeker)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'c', record('HandedOver', seeker))
  elseif holder == ARGV[1] and hold == '' and made(entry, prefix, ask) then
    redis.call('HDEL', KEYS[1], user)
    done = 1
  end
  if holder == ARGV[1] and (mark == '!' or done == 1) then redis.call('HDEL', KEYS[2], user) end
  out[#out + 1] = done
end
return out
"#;

/// Hands seekers a node held to the elected matchmaker: KEYS queue, input; ARGV per user: user, this node's
/// entry prefix, the entry as the matchmaker holds it, input record, ask. 1 each when handed over, 0 when the
/// entry is no longer this node's hold of that request (they left, or asked again from that socket meanwhile).
const FORWARD: &str = r"
local out = {}
for i = 1, #ARGV, 5 do
  if made(redis.call('HGET', KEYS[1], ARGV[i]), ARGV[i + 1], ARGV[i + 4]) then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[i + 3])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
";

/// Gives the elected matchmaker the seekers of nodes whose liveness lapsed, held or claimed, and the requests of
/// claims nobody will settle: KEYS queue, alive, claimed; ARGV stale claim ms. Returns their seekers. Whoever of
/// them has no socket left is dropped when paired (their socket died with the node); whoever reconnected elsewhere
/// is paired there. A claim whose match was committed (the node died, or lost the settle, after its commit) is
/// refused by the store: its user is in that match, or the match spent the request ([`Seeker::asked_at`]). Stale
/// claims are found in the claims' own hash, so a tick reads the whole queue only when a node died.
const ADOPT: &str = r"
local now = now_ms()
local out = {}
local claims = redis.call('HGETALL', KEYS[3])
for i = 1, #claims, 2 do
  if tonumber(claims[i + 1]) + tonumber(ARGV[1]) < now then
    local socket, seeker = string.match(redis.call('HGET', KEYS[1], claims[i]) or '', '^(%d+|)![^|]+|(.*)$')
    if socket then
      redis.call('HSET', KEYS[1], claims[i], socket .. seeker)
      out[#out + 1] = seeker
    end
    redis.call('HDEL', KEYS[3], claims[i])
  end
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. now)
if #dead == 0 then return out end
local gone = {}
for _, node in ipairs(dead) do gone[node] = true end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local socket, holder, seeker = string.match(all[i + 1], '^(%d+|)[@!]([^|]+)|(.*)$')
  if holder and gone[holder] then
    redis.call('HSET', KEYS[1], all[i], socket .. seeker)
    redis.call('HDEL', KEYS[3], all[i])
    out[#out + 1] = seeker
  end
end
redis.call('ZREM', KEYS[2], unpack(dead))
return out
";

/// Removes entries the elected matchmaker holds: KEYS queue; ARGV per user: user, socket prefix, ask. Only the
/// entry that request made, and that no node holds or claims: a find the user sent since (from the same socket,
/// while the older request was being opened) keeps its place.
const REMOVE: &str = r"
for i = 1, #ARGV, 3 do
  local entry = redis.call('HGET', KEYS[1], ARGV[i])
  if made(entry, ARGV[i + 1], ARGV[i + 2]) and not string.match(entry, '^%d+|[@!]') then
    redis.call('HDEL', KEYS[1], ARGV[i])
  end
end
return 0
";

/// Rewrites an entry, and tells the elected matchmaker when it holds it: KEYS queue, input; ARGV user, the entry
/// as read, the entry rewritten, its find record ('' for an entry a node holds: that node's matchmaker was told).
/// 0 when the entry changed since it was read (left, paired, claimed, asked again).
const REWRITE: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[4]) end
return 1
";

/// One change to the queue, as the matchmaker reads it from the input stream. A seeker in a record is [`bare`]:
/// the declared gender and the wish live only in the queue's entry, which a delete erases (a stream entry is only
/// flagged by `XDEL`, its bytes stay until its node of the stream is freed), and the matchmaker reads them there.
/// A node of the previous release writes them in the record too; the matchmaker deletes those once read.
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
    /// User → when a node claimed them ([`CLAIM`]): how a claim nobody will settle is told from one being opened.
    pub(super) claimed: String,
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
            claimed: format!("{mm}:claimed"),
        }
    }
}

/// A node's side of the cluster queue: joining and leaving it, and holding its own seekers.
#[derive(Clone)]
pub struct ClusterQueue {
    conn: Conn,
    pub(super) keys: Keys,
    node: String,
    /// How old a claim is when nobody will settle it, in ms (`cluster.claim_timeout_ms`): an opening takes one
    /// commit, and a node cut off from Redis longer than its lease is taken over as dead anyway. A claim outlives
    /// this only when its settle was lost (a Redis failover dropped the write).
    claim_timeout_ms: u64,
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

/// The forms a seeker takes in the queue, from one serialisation: the entry the matchmaker holds and the input
/// records a re-find writes (their JSON is what serde writes for [`Input`]; a test holds them to it).
struct Forms {
    json: String,
}

impl Forms {
    fn of(seeker: &Seeker) -> Self {
        Forms { json: serde_json::to_string(seeker).expect("serialises") }
    }

    fn entry(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.json)
    }

    /// The record of a re-find: the seeker [`bare`].
    fn find(seeker: &Seeker) -> String {
        record(&Input::Find(Box::new(bare(seeker))))
    }
}

/// The seeker as an input record carries it: without the declared gender and the wish (see [`Input`]).
pub(super) fn bare(seeker: &Seeker) -> Seeker {
    let mut bare = seeker.clone();
    bare.candidate.gender = None;
    bare.candidate.seeking = None;
    bare
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

/// The prefix (`<socket>|@<node>|`) and seeker of an entry a node holds, not claimed; `None` otherwise.
fn held_by_node(entry: &str) -> Option<(&str, Seeker)> {
    let (socket, rest) = entry.split_once('|')?;
    let (node, json) = rest.strip_prefix('@')?.split_once('|')?;
    let prefix = &entry[..socket.len() + node.len() + 3];
    Some((prefix, serde_json::from_str(json).ok()?))
}

fn record(input: &Input) -> String {
    serde_json::to_string(input).expect("serialises")
}

impl ClusterQueue {
    pub fn new(cluster: &Cluster) -> Self {
        let keys = Keys::new(cluster.namespace(), cluster.target());
        let claim_timeout_ms = cluster.claim_timeout().as_millis() as u64;
        Self::with(cluster.connection(), keys, cluster.node().to_owned(), claim_timeout_ms)
    }

    fn with(conn: Conn, keys: Keys, node: String, claim_timeout_ms: u64) -> Self {
        let holds = Holds::start(conn.clone(), keys.clone(), node.clone(), claim_timeout_ms);
        Self { conn, keys, node, claim_timeout_ms, holds }
    }

    /// A node's side of the queue of `namespace` on its own connection: the scripts' tests, which need no
    /// delivery.
    #[cfg(test)]
    pub(super) fn of(conn: Conn, target: &Target, namespace: &str, node: &str, claim_timeout_ms: u64) -> Self {
        Self::with(conn, Keys::new(namespace, target), node.to_owned(), claim_timeout_ms)
    }

    /// What this node's entries for the socket start with.
    fn local_prefix(&self, socket_id: u64) -> String {
        format!("{}@{}|", entry_prefix(socket_id), self.node)
    }

    /// Puts the seeker in the queue unless the user already waits (from any node): [`Hold::New`] when newly
    /// queued, [`Hold::Elsewhere`] when they wait (the place is this socket's now, see [`JOIN`]), or
    /// [`Hold::Opening`].
    pub async fn find(&self, seeker: &Seeker) -> RedisResult<Hold> {
        let joined: i64 = Script::new(&format!("{NOW_MS}{RECORDS}{HOLDERS}{JOIN}"))
            .key(&self.keys.queue)
            .key(&self.keys.input)
            .key(&self.keys.alive)
            .key(&self.keys.claimed)
            .arg(seeker.user_id().get())
            .arg(entry_prefix(seeker.socket_id))
            .arg(serde_json::to_string(seeker).expect("serialises"))
            .arg(self.claim_timeout_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(match joined {
            1 => Hold::New,
            2 => Hold::Opening,
            _ => Hold::Elsewhere,
        })
    }

    /// Holds the seeker on this node unless the user already waits elsewhere (see [`HOLD`]), in one script with
    /// the other seekers this node holds meanwhile ([`Holds`]).
    pub async fn hold(&self, seeker: &Seeker) -> RedisResult<Hold> {
        let json = serde_json::to_string(seeker).expect("serialises");
        let held = self.holds.hold(seeker.user_id().get(), entry_prefix(seeker.socket_id), json).await?;
        Ok(match held {
            1 => Hold::New,
            2 => Hold::Again,
            3 => Hold::Opening,
            _ => Hold::Elsewhere,
        })
    }

    #[cfg(test)]
    pub(super) fn hold_scripts(&self) -> u64 {
        self.holds.scripts()
    }

    /// What this node's claimed entries for the socket start with.
    fn claimed_prefix(&self, socket_id: u64) -> String {
        format!("{}!{}|", entry_prefix(socket_id), self.node)
    }

    /// Claims pairs of this node's seekers: per pair, `Ok` when both were still held here (and are now claimed
    /// until [`Self::settle`]), else the users that are not.
    pub(super) async fn claim(&self, pairs: &[(Seeker, Seeker)]) -> RedisResult<Vec<Result<(), Vec<UserId>>>> {
        let script = Script::new(&format!("{NOW_MS}{STARTS}{CLAIM}"));
        let mut script = script.prepare_invoke();
        script.key(&self.keys.queue).key(&self.keys.claimed);
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
    /// here again. Returns those held again who could not be (no longer this node's claim of that request: a
    /// request the user sent meanwhile went to the elected matchmaker, see [`SETTLE`]).
    pub(super) async fn settle(&self, done: &[&Seeker], again: &[&Seeker]) -> RedisResult<Vec<UserId>> {
        if done.is_empty() && again.is_empty() {
            return Ok(Vec::new());
        }
        let script = Script::new(&format!("{STARTS}{RECORDS}{SETTLE}"));
        let mut script = script.prepare_invoke();
        script.key(&self.keys.queue).key(&self.keys.claimed).key(&self.keys.input).arg(&self.node);
        let all = done.iter().map(|s| (s, "")).chain(again.iter().map(|s| (s, "1")));
        for (seeker, hold) in all {
            script.arg(seeker.user_id().get()).arg(entry_prefix(seeker.socket_id)).arg(seeker.ask.as_str()).arg(hold);
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
                .arg(record(&Input::HandedOver(Box::new(bare(seeker)))))
                .arg(seeker.ask.as_str());
        }
        let forwarded: Vec<i64> = script.invoke_async(&mut self.conn.clone()).await?;
        Ok(forwarded.into_iter().filter(|f| *f == 1).count())
    }

    /// Takes over the seekers of nodes that died holding them, and deletes claims nobody will settle (see
    /// [`ADOPT`]).
    pub(super) async fn adopt(&self) -> RedisResult<Vec<Seeker>> {
        let adopted: Vec<String> = Script::new(&format!("{NOW_MS}{ADOPT}"))
            .key(&self.keys.queue)
            .key(&self.keys.alive)
            .key(&self.keys.claimed)
            .arg(self.claim_timeout_ms)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(adopted.iter().filter_map(|s| serde_json::from_str(s).ok()).collect())
    }

    /// Gives the user's place what they may meet now and the gender they consent to (a block, a report or a
    /// withdrawal since they asked). The elected matchmaker reads it as the find sent again. A place a node holds
    /// is that node's matchmaker's to change ([`crate::matching::Matchmaker::refresh`]), but its entry is rewritten
    /// here too, so that a withdrawn gender stays in Redis no longer than in memory. A claimed place is left: its
    /// match is being opened, and the claim's end deletes it.
    pub async fn refresh(&self, user_id: UserId, fresh: &crate::matching::Fresh) -> RedisResult<()> {
        // The entry may change between the read and the rewrite: most often a node hands its seeker over (from
        // memory its matchmaker may not have refreshed yet). Read again then, a few times.
        for _ in 0..3 {
            let read: Option<String> =
                redis::cmd("HGET").arg(&self.keys.queue).arg(user_id.get()).query_async(&mut self.conn.clone()).await?;
            let Some(read) = read else { return Ok(()) };
            let (rewritten, find) = match held_by_matchmaker(&read) {
                Some(mut seeker) => {
                    fresh.apply(&mut seeker.candidate);
                    (Forms::of(&seeker).entry(&entry_prefix(seeker.socket_id)), Forms::find(&seeker))
                }
                None => match held_by_node(&read) {
                    Some((prefix, mut seeker)) => {
                        fresh.apply(&mut seeker.candidate);
                        (Forms::of(&seeker).entry(prefix), String::new())
                    }
                    None => return Ok(()),
                },
            };
            let rewrote: i64 = Script::new(REWRITE)
                .key(&self.keys.queue)
                .key(&self.keys.input)
                .arg(user_id.get())
                .arg(&read)
                .arg(rewritten)
                .arg(find)
                .invoke_async(&mut self.conn.clone())
                .await?;
            if rewrote == 1 {
                break;
            }
        }
        Ok(())
    }

    /// Takes the user out of the queue (any entry, or only the one `socket_id` made); true when they waited.
    pub async fn leave(&self, user_id: UserId, socket_id: Option<u64>) -> RedisResult<bool> {
        self.leave_entry(user_id, socket_id, "").await
    }

    /// Takes the seeker's own request out of the queue, not one its user sent since (from that socket too).
    pub(super) async fn leave_request(&self, seeker: &Seeker) -> RedisResult<bool> {
        self.leave_entry(seeker.user_id(), Some(seeker.socket_id), seeker.ask.as_str()).await
    }

    async fn leave_entry(&self, user_id: UserId, socket_id: Option<u64>, ask: &str) -> RedisResult<bool> {
        let left: i64 = Script::new(&format!("{STARTS}{LEAVE}"))
            .key(&self.keys.queue)
            .key(&self.keys.input)
            .arg(user_id.get())
            .arg(socket_id.map(entry_prefix).unwrap_or_default())
            .arg(record(&Input::Leave { user_id }))
            .arg(ask)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(left == 1)
    }

    /// Removes paired (or departed) users' entries, without telling the matchmaker: it has let go of them. Only
    /// the entries these requests made that the matchmaker still holds: one the user made since (asking again,
    /// from any socket, or another node holding them) is not this pairing's to remove.
    pub(super) async fn remove(&self, seekers: &[&Seeker]) -> RedisResult<()> {
        if seekers.is_empty() {
            return Ok(());
        }
        let script = Script::new(&format!("{STARTS}{REMOVE}"));
        let mut script = script.prepare_invoke();
        script.key(&self.keys.queue);
        for seeker in seekers {
            script.arg(seeker.user_id().get()).arg(entry_prefix(seeker.socket_id)).arg(seeker.ask.as_str());
        }
        script.invoke_async(&mut self.conn.clone()).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn seeker() -> Seeker {
        let entry = r#"{"candidate":{"user_id":7,"kind":"text","excluded":[],"nearby":null,
            "queued_at":"2026-11-24T10:00:00Z"},"session_id":9,"request_id":"f","public_key":"k"}"#;
        serde_json::from_str(entry).unwrap()
    }

    /// The scripts write the records a re-find makes from the seeker's JSON (`record` in [`HOLDERS`], and
    /// [`Forms`]): they must read as serde writes them.
    #[test]
    fn the_records_a_re_find_writes_are_the_inputs_serde_writes() {
        let forms = Forms::of(&seeker());
        assert_eq!(Forms::find(&seeker()), record(&Input::Find(Box::new(seeker()))));
        assert!(RECORDS.contains(r#"return '{"' .. input .. '":' .. bare(seeker) .. '}'"#));
        let json = serde_json::to_string(&seeker()).unwrap();
        assert_eq!(format!(r#"{{"HandedOver":{json}}}"#), record(&Input::HandedOver(Box::new(seeker()))));
        assert_eq!(forms.entry(&entry_prefix(9)), entry(&seeker()));
    }
}
