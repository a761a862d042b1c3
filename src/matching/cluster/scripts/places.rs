//! The Lua of the queue's places: holding a seeker (JOIN, HOLD), leaving (LEAVE), claiming a pair and settling it
//! (CLAIM, SETTLE), handing a node's seekers to the elected matchmaker (FORWARD), removing and rewriting places
//! (REMOVE, REWRITE), and the preludes they share. Each text is exactly what Redis runs, in the order
//! [`super::Source`] puts its parts.

/// Whether a node holding an entry still stands behind it: KEYS[alive] scores nodes by when their liveness lapses.
/// A claimed entry is never taken over here, whether its holder lapsed or its claim went stale: only the elected
/// matchmaker's ADOPT takes it, once it raised the holder's fence, which a node cut off from Redis but not from the
/// database might still be opening it under (docs/testing.md rows 36 and 38). Until then a find sent again is
/// written into the claim (`reask`). Prepended to the scripts that take entries over, after [`super::NOW_MS`].
pub(crate) const HOLDERS: &str = r#"
local function lapsed(alive, holder)
  local at = redis.call('ZSCORE', alive, holder)
  return not (at and tonumber(at) >= now_ms())
end
local function reask(queue, user, socket, holder, seeker)
  redis.call('HSET', queue, user, socket .. '!' .. holder .. '|' .. seeker)
end
"#;

/// The input records a script writes: the seeker as [`crate::matching::cluster::entries::bare`] has it, without the declared gender and the wish.
/// They are serde's last two fields of a candidate, a string and a flat object: a test holds the patterns to what
/// serde writes. Prepended to the scripts that write records.
pub(crate) const RECORDS: &str = r#"
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
pub(crate) const JOIN: &str = r"
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
/// claimed; ARGV this node, then per seeker: user, socket prefix, seeker JSON ([`crate::matching::cluster::holds`] gathers them).
/// Answers per seeker: 1 when newly held here (nobody held them, or their holder died), 2 when this node held them
/// already (the entry is the asking socket's now), 3 when their match is being opened (claimed, whose claim names
/// this request from now on: `reask` in [`HOLDERS`]; a claim whose holder lapsed waits for ADOPT), 0 when
/// they wait elsewhere: then the place becomes the asking socket's at the elected matchmaker, as [`JOIN`] does, so
/// the old socket's closing (on whichever node) does not take it away.
pub(crate) const HOLD: &str = r"
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
pub(crate) const LEAVE: &str = r"
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
/// shared by the scripts below. The ask is the end of an entry's seeker JSON ([`crate::matching::Seeker::ask`]); an entry or a
/// request without one (a node of the previous version) stands for any request of its socket. `served`: whether a
/// match opened for a request sent after `k` matches of the user's serves the entry's request too, sent after no
/// more than `k` (from another device, or again, while that match was being opened): one find per person, so the
/// match answers it (every socket of the user is told `match.found`) and its place goes with the match's
/// (docs/testing.md row 31). An entry without the count (the previous release's) is served by `made` only.
pub(crate) const STARTS: &str = r#"
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

/// Claims pairs a node found among its own waiters, or the elected matchmaker among its own: KEYS queue, claimed;
/// ARGV per pair: user, held prefix, claimed prefix, ask, and the same for the partner. The held prefix is the
/// socket and this node's mark (`7|@n1|`), or the socket alone for an entry the elected matchmaker holds (`7|`).
/// A pair whose both entries are still held so, by the requests it was made of, is marked claimed (0), each claim
/// stamped with Redis's time; otherwise nothing of it changes, and the answer says who is gone (1 the first, 2 the
/// second, 3 both). Gone is also a request cancelled and sent again before the claim: the pair was made of the
/// cancelled one (its kind, its wish), which no match may open on (issue 75).
pub(crate) const CLAIM: &str = r"
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
pub(crate) const SETTLE: &str = r#"
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
pub(crate) const FORWARD: &str = r"
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

/// Removes the entries of requests the elected matchmaker settled: KEYS queue; ARGV per user: user, socket prefix,
/// ask, and for a matched user how many matches they had when they asked (else ''); KEYS queue, input. Only the
/// entry that request made, or a request the match served (`served` in [`STARTS`]): a find the user sent since
/// their refused request keeps its place; and not while a node claims it (its settle ends the claim). A served
/// request's entry the matchmaker holds is in the memory of the matchmaker that took it (maybe a newer one than
/// this, which was deposed while opening): a `Leave` of its socket tells it. A node's hold of
/// that same request goes too: a Redis failover that lost the node's FORWARD after the matchmaker had read it puts
/// the hold back, which nobody would take away for a request already matched (issue 74's simulation, running this
/// script, found it; the model it replaced removed any holder's entry, as this does now).
pub(crate) const REMOVE: &str = r"
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
pub(crate) const REWRITE: &str = r"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] ~= '' then redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'c', ARGV[4]) end
return 1
";
