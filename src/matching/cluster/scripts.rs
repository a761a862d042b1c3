//! The Lua scripts of the cluster's matching, and how each is called: the text Redis runs, its keys and its
//! arguments, built by [`Scripts`] from plain values, and the answer read back by the functions below. Production
//! sends a [`Call`] to Redis ([`Call::invoke`]); the simulation of matching runs the very same text, keys and
//! arguments in an embedded Lua over an emulated keyspace (src/matching/simulation/keyspace.rs), so what it checks
//! is what runs. Nothing here does I/O but [`Call::invoke`].

use std::sync::OnceLock;

use redis::{FromRedisValue, RedisResult, Script};

use super::entries::{Input, Keys, bare, entry, entry_prefix, record};
use crate::domain::UserId;
use crate::matching::Seeker;
use crate::redis_link::Conn;

/// Whether a node holding an entry still stands behind it: KEYS[alive] scores nodes by when their liveness lapses.
/// A claimed entry is never taken over here, whether its holder lapsed or its claim went stale: only the elected
/// matchmaker's ADOPT takes it, once it raised the holder's fence, which a node cut off from Redis but not from the
/// database might still be opening it under (docs/testing.md rows 36 and 38). Until then a find sent again is
/// written into the claim (`reask`). Prepended to the scripts that take entries over, after [`NOW_MS`].
pub(super) const HOLDERS: &str = r#"
local function lapsed(alive, holder)
  local at = redis.call('ZSCORE', alive, holder)
  return not (at and tonumber(at) >= now_ms())
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
local function leave(user, socket) return '{"Leave":{"user_id":' .. user .. ',"socket_id":' .. socket .. '}}' end
"#;

/// Queues a seeker unless the user waits already: KEYS queue, input, alive, claimed; ARGV user, socket prefix,
/// seeker JSON. Returns 1 when newly queued, 2 when their match is being opened, else 0. A user
/// who waits already asked again, most often from the socket an app reconnected with, maybe on another node: the
/// place becomes the asking socket's, so the old one's closing does not take it away. Held by the elected
/// matchmaker, it reads the request to learn the socket; held by a node (pairing its own seekers first), the
/// matchmaker takes them over (that node finds the entry no longer its own when it claims or hands over). A match
/// being opened keeps its claim, which names the asking socket and request from now on (`reask` in [`HOLDERS`]).
pub(super) const JOIN: &str = r"
local entry = ARGV[2] .. ARGV[3]
if redis.call('HSETNX', KEYS[1], ARGV[1], entry) == 1 then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', record('Find', ARGV[3]))
  return 1
end
local held, holder = string.match(redis.call('HGET', KEYS[1], ARGV[1]), '^%d+|([@!])([^|]+)|')
if held == '!' then
  reask(KEYS[1], ARGV[1], ARGV[2], holder, ARGV[3])
  return 2
end
redis.call('HSET', KEYS[1], ARGV[1], entry)
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', record(holder and 'HandedOver' or 'Find', ARGV[3]))
return 0
";

/// Holds seekers on the asking node unless the user waits already, in the order given: KEYS queue, alive, input,
/// claimed; ARGV this node, then per seeker: user, socket prefix, seeker JSON ([`super::holds`] gathers them).
/// Answers per seeker: 1 when newly held here (nobody held them, or their holder died), 2 when this node held them
/// already (the entry is the asking socket's now), 3 when their match is being opened (claimed, whose claim names
/// this request from now on: `reask` in [`HOLDERS`]; a claim whose holder lapsed waits for ADOPT), 0 when
/// they wait elsewhere: then the place becomes the asking socket's at the elected matchmaker, as [`JOIN`] does, so
/// the old socket's closing (on whichever node) does not take it away.
pub(super) const HOLD: &str = r"
local function hold(user, socket, node, seeker)
  local here = socket .. '@' .. node .. '|' .. seeker
  if redis.call('HSETNX', KEYS[1], user, here) == 1 then return 1 end
  local held, holder = string.match(redis.call('HGET', KEYS[1], user), '^%d+|([@!])([^|]+)|')
  if held == '@' and holder == node then
    redis.call('HSET', KEYS[1], user, here)
    return 2
  end
  if held == '@' and lapsed(KEYS[2], holder) then
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
for i = 2, #ARGV, 3 do
  out[#out + 1] = hold(ARGV[i], ARGV[i + 1], ARGV[1], ARGV[i + 2])
end
return out
";

/// Takes a user out of the queue, only if their entry starts with ARGV[2] (the socket that made it) when
/// that is given, and was made by the request ARGV[4] when that is given, and not while a node opens their match:
/// KEYS queue, input, cancelled; ARGV user, entry prefix or '', input record, ask or ''. A claimed entry (its match
/// being opened) stays, and the leave answers 0 ("not queued": the match may open), but the claim's request is
/// marked cancelled: should the opening fail for the partner, SETTLE lets it go instead of holding it again, so a
/// cancel answered either way holds (issue 75).
pub(super) const LEAVE: &str = r"
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return 0 end
if ARGV[2] ~= '' and not made(entry, ARGV[2], ARGV[4]) then return 0 end
if string.match(entry, '^%d+|!') then
  redis.call('HSET', KEYS[3], ARGV[1], ask_of(entry))
  return 0
end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[3])
return 1
";

/// Whether an entry still starts with `p`, and whether the request `ask` of the socket `p` names made it: the Lua
/// shared by the scripts below. The ask is the end of an entry's seeker JSON ([`Seeker::ask`]); an entry or a
/// request without one (a node of the previous version) stands for any request of its socket. `served`: whether a
/// match opened for a request sent after `k` matches of the user's serves the entry's request too, sent after no
/// more than `k` (from another device, or again, while that match was being opened): one find per person, so the
/// match answers it (every socket of the user is told `match.found`) and its place goes with the match's
/// (docs/testing.md row 31). An entry without the count (the previous release's) is served by `made` only.
pub(super) const STARTS: &str = r#"
local function starts(e, p) return e and string.sub(e, 1, string.len(p)) == p end
local function ask_of(e) return string.match(e, '"ask":"(%x*)"}$') or '' end
local function made(e, p, ask)
  if not starts(e, p) then return false end
  local a = ask_of(e)
  return ask == '' or a == '' or a == ask
end
local function served(e, k)
  if k == '' or not e then return false end
  local n = string.match(e, ',"asked_after":(%d+),"asked_at":')
  return n ~= nil and tonumber(n) <= tonumber(k)
end
"#;

/// Redis's own time in milliseconds, prepended to the scripts that compare liveness: one clock for every node.
pub(super) const NOW_MS: &str =
    "local function now_ms() local t = redis.call('TIME') return t[1] * 1000 + math.floor(t[2] / 1000) end\n";

/// Claims pairs a node found among its own waiters, or the elected matchmaker among its own: KEYS queue, claimed;
/// ARGV per pair: user, held prefix, claimed prefix, ask, and the same for the partner. The held prefix is the
/// socket and this node's mark (`7|@n1|`), or the socket alone for an entry the elected matchmaker holds (`7|`).
/// A pair whose both entries are still held so, by the requests it was made of, is marked claimed (0), each claim
/// stamped with Redis's time; otherwise nothing of it changes, and the answer says who is gone (1 the first, 2 the
/// second, 3 both). Gone is also a request cancelled and sent again before the claim: the pair was made of the
/// cancelled one (its kind, its wish), which no match may open on (issue 75).
pub(super) const CLAIM: &str = r"
local function held(e, p, ask)
  return made(e, p, ask) and not string.find(string.sub(e, #p + 1, #p + 1), '[@!]')
end
local out = {}
local now = now_ms()
for i = 1, #ARGV, 8 do
  local a = redis.call('HGET', KEYS[1], ARGV[i])
  local b = redis.call('HGET', KEYS[1], ARGV[i + 4])
  local code = 0
  if not held(a, ARGV[i + 1], ARGV[i + 3]) then code = code + 1 end
  if not held(b, ARGV[i + 5], ARGV[i + 7]) then code = code + 2 end
  if code == 0 then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2] .. string.sub(a, string.len(ARGV[i + 1]) + 1),
      ARGV[i + 4], ARGV[i + 6] .. string.sub(b, string.len(ARGV[i + 5]) + 1))
    redis.call('HSET', KEYS[2], ARGV[i], now, ARGV[i + 4], now)
  end
  out[#out + 1] = code
end
return out
";

/// Settles claimed users once their pairs were opened: KEYS queue, claimed, input, cancelled; ARGV[1] this node,
/// then per user: user, socket prefix, ask, '' to delete the entry (matched, or refused) or, when their partner was
/// refused, '1' to hold them again here or '2' to give them back to the elected matchmaker with a record (the one
/// that claimed them, or a newer one if it lost the lease meanwhile: the newer one seeded its queue without the
/// claimed entry), and for a matched user how many matches they had when they asked (else ''). 1 each when done, 0 when the entry is no longer this node's
/// claim of that request, or the request was cancelled during the claim ([`LEAVE`]): then it goes. So does a
/// request sent again during the claim (which the claim then names) and cancelled in turn, or its socket closed. A claim that now names another request
/// (the user asked again meanwhile, [`JOIN`]'s `reask`) goes with a match that served it (`served` in [`STARTS`]);
/// otherwise it outlives the claim: that request goes to the elected matchmaker, as handed over (its socket was
/// answered). An entry still held rather than claimed by this node, made by the same request, is its claim lost
/// in a Redis failover: a matched user's is deleted too, or it would answer "already waiting" to them for as long
/// as this node lives.
pub(super) const SETTLE: &str = r#"
local out = {}
for i = 2, #ARGV, 5 do
  local user, prefix, ask, hold = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local entry = redis.call('HGET', KEYS[1], user)
  local socket, mark, holder, seeker
  if entry then socket, mark, holder, seeker = string.match(entry, '^(%d+|)([@!])([^|]+)|(.*)$') end
  local mine = made(entry, prefix, ask) or served(entry, ARGV[i + 4])
  local done = 0
  if holder == ARGV[1] and mark == '!' and mine then
    done = 1
    if hold == '' then
      redis.call('HDEL', KEYS[1], user)
    elseif redis.call('HGET', KEYS[4], user) == ask_of(entry) then
      redis.call('HDEL', KEYS[1], user)
      done = 0
    elseif hold == '1' then
      redis.call('HSET', KEYS[1], user, socket .. '@' .. holder .. '|' .. seeker)
    else
      redis.call('HSET', KEYS[1], user, socket .. seeker)
      redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'c', record('HandedOver', seeker))
    end
  elseif holder == ARGV[1] and mark == '!' and redis.call('HGET', KEYS[4], user) == ask_of(entry) then
    redis.call('HDEL', KEYS[1], user)
  elseif holder == ARGV[1] and mark == '!' then
    redis.call('HSET', KEYS[1], user, socket .. seeker)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'c', record('HandedOver', seeker))
  elseif holder == ARGV[1] and hold == '' and mine then
    redis.call('HDEL', KEYS[1], user)
    done = 1
  end
  if holder == ARGV[1] and (mark == '!' or done == 1) then redis.call('HDEL', KEYS[2], user) end
  if holder == ARGV[1] then redis.call('HDEL', KEYS[4], user) end
  out[#out + 1] = done
end
return out
"#;

/// Hands seekers a node held to the elected matchmaker: KEYS queue, input; ARGV per user: user, this node's
/// entry prefix, the entry as the matchmaker holds it, input record, ask. 1 each when handed over, 0 when the
/// entry is no longer this node's hold of that request (they left, or asked again from that socket meanwhile).
pub(super) const FORWARD: &str = r"
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

/// The set of nodes whose liveness lapsed before `now` (KEYS[alive] scores each by when it lapses), `nil` when none
/// did: what [`DOOMED`] and [`ADOPT`] look for in the queue. Prepended to them, after [`NOW_MS`].
pub(super) const LAPSED: &str = r"
local function lapsed_nodes(alive, now)
  local dead = redis.call('ZRANGEBYSCORE', alive, '-inf', '(' .. now)
  if #dead == 0 then return nil end
  local gone = {}
  for _, node in ipairs(dead) do gone[node] = true end
  return gone
end
";

/// The nodes whose places [`ADOPT`] would take now: the holders of claims nobody will settle, and the nodes whose
/// liveness lapsed while they hold places (KEYS queue, alive, claimed; ARGV stale claim ms). The elected
/// matchmaker raises their fences in the database before it adopts ([`crate::store::Store::raise_node_fences`]):
/// such a node may be cut off from Redis but not from the database, and must not open a pair it had claimed once
/// its places are the cluster's (docs/testing.md row 38).
pub(super) const DOOMED: &str = r"
local now = now_ms()
local doomed, seen = {}, {}
local function doom(node)
  if not seen[node] then
    seen[node] = true
    doomed[#doomed + 1] = node
  end
end
local claims = redis.call('HGETALL', KEYS[3])
for i = 1, #claims, 2 do
  if tonumber(claims[i + 1]) + tonumber(ARGV[1]) < now then
    local holder = string.match(redis.call('HGET', KEYS[1], claims[i]) or '', '^%d+|!([^|]+)|')
    if holder then doom(holder) end
  end
end
local gone = lapsed_nodes(KEYS[2], now)
if not gone then return doomed end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local holder = string.match(all[i + 1], '^%d+|[@!]([^|]+)|')
  if holder and gone[holder] then doom(holder) end
end
return doomed
";

/// Gives the elected matchmaker the seekers of nodes whose liveness lapsed, held or claimed, and the requests of
/// claims nobody will settle: KEYS queue, alive, claimed, cancelled; ARGV stale claim ms, then the nodes whose
/// fences it raised ([`DOOMED`]): only their places are taken (a node that died since waits for the next tick, its
/// fence raised first). Returns their seekers. Whoever of
/// them has no socket left is dropped when paired (their socket died with the node); whoever reconnected elsewhere
/// is paired there. A claim whose match was committed (the node died, or lost the settle, after its commit) is
/// refused by the store: its user is in that match, or the match spent the request ([`Seeker::asked_after`]). Stale
/// claims are found in the claims' own hash. A lapsed node stays in the liveness set (ACQUIRE drops it after an
/// hour), and its places are taken at every tick until it renews its liveness: a node taken for dead during a cut
/// from Redis that comes back and holds a find before its next tick, then dies, leaves no place behind (the
/// simulation's long search found one, docs/testing.md row 29). A tick reads the whole queue while a node lapsed
/// within the hour.
pub(super) const ADOPT: &str = r"
local now = now_ms()
local out = {}
local fenced = {}
for i = 2, #ARGV do fenced[ARGV[i]] = true end
local claims = redis.call('HGETALL', KEYS[3])
for i = 1, #claims, 2 do
  if tonumber(claims[i + 1]) + tonumber(ARGV[1]) < now then
    local socket, holder, seeker = string.match(redis.call('HGET', KEYS[1], claims[i]) or '', '^(%d+|)!([^|]+)|(.*)$')
    if socket and fenced[holder] then
      redis.call('HSET', KEYS[1], claims[i], socket .. seeker)
      out[#out + 1] = seeker
    end
    if not socket or fenced[holder] then
      redis.call('HDEL', KEYS[3], claims[i])
      redis.call('HDEL', KEYS[4], claims[i])
    end
  end
end
local gone = lapsed_nodes(KEYS[2], now)
if not gone then return out end
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local socket, holder, seeker = string.match(all[i + 1], '^(%d+|)[@!]([^|]+)|(.*)$')
  if holder and gone[holder] and fenced[holder] then
    redis.call('HSET', KEYS[1], all[i], socket .. seeker)
    redis.call('HDEL', KEYS[3], all[i])
    redis.call('HDEL', KEYS[4], all[i])
    out[#out + 1] = seeker
  end
end
return out
";

/// Removes the entries of requests the elected matchmaker settled: KEYS queue; ARGV per user: user, socket prefix,
/// ask, and for a matched user how many matches they had when they asked (else ''); KEYS queue, input. Only the
/// entry that request made, or a request the match served (`served` in [`STARTS`]): a find the user sent since
/// their refused request keeps its place; and not while a node claims it (its settle ends the claim). A served
/// request's entry the matchmaker holds is in the memory of the matchmaker that took it (maybe a newer one than
/// this, which was deposed while opening): a `Leave` of its socket tells it. A node's hold of
/// that same request goes too: a Redis failover that lost the node's FORWARD after the matchmaker had read it puts
/// the hold back, which nobody would take away for a request already matched (issue 74's simulation, running this
/// script, found it; the model it replaced removed any holder's entry, as this does now).
pub(super) const REMOVE: &str = r"
for i = 1, #ARGV, 4 do
  local entry = redis.call('HGET', KEYS[1], ARGV[i])
  local mine = made(entry, ARGV[i + 1], ARGV[i + 2]) or served(entry, ARGV[i + 3])
  if mine and not string.match(entry, '^%d+|!') then
    redis.call('HDEL', KEYS[1], ARGV[i])
    local socket = string.match(entry, '^(%d+)|[^@!]')
    if socket and not made(entry, ARGV[i + 1], ARGV[i + 2]) then
      redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', leave(ARGV[i], socket))
    end
  end
end
return 0
";

/// Rewrites an entry, and tells the elected matchmaker when it holds it: KEYS queue, input; ARGV user, the entry
/// as read, the entry rewritten, its find record ('' for an entry a node holds: that node's matchmaker was told).
/// 0 when the entry changed since it was read (left, paired, claimed, asked again).
pub(super) const REWRITE: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[4]) end
return 1
";

/// Renews the lease if this node (ARGV[1]) holds it, takes it if nobody does, and renews this node's
/// liveness for the lease's time (ARGV[2] ms): KEYS lease, epoch, input, alive, wishes; returns {holder, epoch,
/// input position at takeover ('' unless just taken), 1 when the cluster understands gender wishes}. A node of this
/// release renews its place in KEYS[wishes] with its liveness: the cluster understands them while every live node
/// and the lease's holder are there (a node of the previous release never is, and would pair without them).
pub(super) const ACQUIRE: &str = r"
local now = now_ms()
redis.call('ZADD', KEYS[4], now + ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - 3600000)
redis.call('ZADD', KEYS[5], now + ARGV[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - 3600000)
local function understands(node)
  local at = redis.call('ZSCORE', KEYS[5], node)
  return at ~= false and tonumber(at) >= now
end
local function understood(holder)
  if not understands(holder) then return 0 end
  for _, node in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], now, '+inf')) do
    if not understands(node) then return 0 end
  end
  return 1
end
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, ':', 1, true)
  local holder = string.sub(current, 1, sep - 1)
  if holder == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return {holder, tonumber(string.sub(current, sep + 1)), '', understood(holder)}
end
local epoch = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. ':' .. epoch, 'PX', ARGV[2])
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
local position = '0-0'
if #last > 0 then position = last[1][1] end
return {ARGV[1], epoch, position, understood(ARGV[1])}
";

/// Raises the epoch counter to at least ARGV[1] (Redis lost it in a restart, the database fence did not).
pub(super) const RAISE: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
";

/// Gives the lease up if this node holds it (a clean shutdown hands over at once).
pub(super) const RELEASE: &str = r"
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, string.len(ARGV[1]) + 1) == ARGV[1] .. ':' then
  redis.call('DEL', KEYS[1])
end
return 0
";

/// Deletes input records the matchmaker has read (ARGV[2..]) while the lease is still ARGV[1] (`node:epoch`):
/// KEYS lease, input. Only records a node of the previous release wrote with a gender preference in them (this
/// release's records are bare, `queue::Input`): during a rolling update such a preference lives in Redis no longer
/// than its find is being read. A deposed matchmaker deletes nothing (its successor may not have read past them
/// yet).
pub(super) const FORGET_READ: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('XDEL', KEYS[2], unpack(ARGV, 2))
";

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
