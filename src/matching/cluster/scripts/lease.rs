//! The Lua of the elected matchmaker's lease and of adoption: taking and renewing the lease (ACQUIRE, RAISE,
//! RELEASE), forgetting records it read (FORGET_READ), and taking over the places of nodes taken for dead (LAPSED,
//! DOOMED, ADOPT). Each text is exactly what Redis runs, in the order [`super::Source`] puts its parts.

/// The set of nodes whose liveness lapsed before `now` (KEYS[alive] scores each by when it lapses), `nil` when none
/// did: what [`DOOMED`] and [`ADOPT`] look for in the queue. Prepended to them, after [`super::NOW_MS`].
pub(crate) const LAPSED: &str = r"
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
pub(crate) const DOOMED: &str = r"
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
/// refused by the store: its user is in that match, or the match spent the request ([`crate::matching::Seeker::asked_after`]). Stale
/// claims are found in the claims' own hash. A lapsed node stays in the liveness set (ACQUIRE drops it after an
/// hour), and its places are taken at every tick until it renews its liveness: a node taken for dead during a cut
/// from Redis that comes back and holds a find before its next tick, then dies, leaves no place behind (the
/// simulation's long search found one, docs/testing.md row 29). A tick reads the whole queue while a node lapsed
/// within the hour.
pub(crate) const ADOPT: &str = r"
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

/// Renews the lease if this node (ARGV[1]) holds it, takes it if nobody does, and renews this node's
/// liveness for the lease's time (ARGV[2] ms): KEYS lease, epoch, input, alive, wishes; returns {holder, epoch,
/// input position at takeover ('' unless just taken), 1 when the cluster understands gender wishes}. A node of this
/// release renews its place in KEYS[wishes] with its liveness: the cluster understands them while every live node
/// and the lease's holder are there (a node of the previous release never is, and would pair without them).
pub(crate) const ACQUIRE: &str = r"
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
pub(crate) const RAISE: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 0
";

/// Gives the lease up if this node holds it (a clean shutdown hands over at once).
pub(crate) const RELEASE: &str = r"
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
pub(crate) const FORGET_READ: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
return redis.call('XDEL', KEYS[2], unpack(ARGV, 2))
";
