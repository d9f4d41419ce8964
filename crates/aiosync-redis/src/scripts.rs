//! The Lua scripts: every decision about who holds a gate (a Lock, a Semaphore, the two
//! sides of an RWLock) is taken inside one of them, so it is atomic on the server. Run by
//! SHA (`EVALSHA`), loaded on first use.
//!
//! A *gate* has a capacity; each holder takes a weight of it: a Lock is capacity 1, weight
//! 1; a Semaphore of value n is capacity n (plus permits added since), weight 1; an RWLock
//! is capacity [`RW_CAPACITY`], weight 1 for a reader and all of it for a writer. Waiters
//! are served strictly in arrival order: the head of the queue goes first, and a release
//! grants as many heads as fit.
//!
//! Keys of a gate of kind K named N in namespace S (the braces keep them in one slot):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `S:K:{N}:held` | zset | holder ids, scored by lease end (server ms) |
//! | `S:K:{N}:hd` | hash | holder id → `TOKEN:WEIGHT` (its fencing token and weight) |
//! | `S:K:{N}:queue` | zset | waiter ids, scored by arrival |
//! | `S:K:{N}:qw` | hash | waiter id → its weight |
//! | `S:K:{N}:seq` | string | arrival counter for the queue's scores |
//! | `S:K:{N}:fence` | string | the last fencing token given |
//! | `S:K:{N}:extra` | string | permits added to a Semaphore since it was made |
//! | `S:K:{N}:w:ID` | string, PX lease | present while waiter ID is alive |
//! | `S:K:{N}:w:r:ID` | string, PX lease | ID's release ran (a retried release answers 1) |
//! | `S:maxlease` | string | the longest lease a client of the namespace used |
//! | `S:start:RUN` | string, PX 1 day | the start time of the server's run `RUN` (its `run_id`) |
//!
//! A waiter id is `CLIENT-SEQ`; a grant by another client's script publishes the id on
//! `S:wake:CLIENT`.
//!
//! **Restart quarantine**: a server that restarted may have lost grants (no persistence,
//! or a snapshot older than the last grants). Every acquire gets the server's start time
//! (from `INFO server`, rounded so it is never earlier than the real one, and recorded
//! in `S:start:RUN` by the first client to connect, so that every client agrees); while the
//! server is younger than the longest lease, nothing is granted (not by an acquire, nor by
//! the handoff of a release or withdrawal): every hold of the old incarnation has ended
//! by then, on the server and (earlier) in its holder's view. The longest lease is kept
//! in `S:maxlease` and remembered by every client that saw it, as a restart without
//! persistence loses the key: a client that never met a longer-leased one cannot know it.

use redis::Script;

/// The capacity of an RWLock gate: a writer takes all of it, a reader 1.
pub(crate) const RW_CAPACITY: u64 = 1 << 40;

/// Helpers shared by the gate scripts (prepended to each).
const GATE_COMMON: &str = r#"
-- The server's clock: ms, µs, and µs as a decimal string (exact: Lua's own conversion
-- keeps 14 digits only).
local function clock()
  local t = redis.call('TIME')
  local us = t[1] .. string.sub('00000' .. t[2], -6)
  local n = tonumber(us)
  return math.floor(n / 1000), n, us
end

local function gate(k)
  return {held = k[1], hd = k[2], queue = k[3], qw = k[4], seq = k[5], fence = k[6],
          extra = k[7], wprefix = k[8], maxlease = k[9]}
end

-- Reads the gate's counters once per run, in one command: the last fencing token, the
-- permits added, the namespace's longest lease stored.
local function load(g)
  if g.last then return end
  local v = redis.call('MGET', g.fence, g.extra, g.maxlease)
  g.last = tonumber(v[1] or '0')
  g.added = tonumber(v[2] or '0')
  g.stored = tonumber(v[3] or '0')
end

-- A fencing token: one more than the last, and never below the server's clock in
-- microseconds, so it keeps increasing after the counter is lost (restart without
-- persistence, failover): a hybrid logical clock. Doubles are exact up to 2^53 (year
-- 2255). Returns it as a number and as its decimal string.
local function next_token(g, now_us, us)
  load(g)
  local tok, s = now_us, us
  if g.last >= now_us then
    tok = g.last + 1
    s = string.format('%.0f', tok)
  end
  redis.call('SET', g.fence, s)
  g.last = tok
  return tok, s
end

-- A holder's entry in `hd`: "TOKEN:WEIGHT".
local function token_of(v)
  return tonumber(string.match(v, '^(%d+)'))
end

-- Drops the holders whose lease ended; returns the weight the live ones hold. (`hd` has
-- an entry for each member of `held`, and only for those.)
local function used(g, now)
  if redis.call('ZCARD', g.held) == 0 then return 0 end
  local dead = redis.call('ZRANGEBYSCORE', g.held, '-inf', now)
  for _, h in ipairs(dead) do
    redis.call('ZREM', g.held, h)
    redis.call('HDEL', g.hd, h)
  end
  local sum = 0
  for _, v in ipairs(redis.call('HVALS', g.hd)) do
    sum = sum + tonumber(string.match(v, ':(%d+)$'))
  end
  return sum
end

local function capacity(g, cap)
  load(g)
  return tonumber(cap) + g.added
end

-- Gives `id` weight `w`; `queued`: it leaves the queue too.
local function grant(g, id, w, lease, now, now_us, us, queued)
  local tok, s = next_token(g, now_us, us)
  redis.call('ZADD', g.held, now + lease, id)
  redis.call('HSET', g.hd, id, s .. ':' .. w)
  if queued then
    redis.call('ZREM', g.queue, id)
    redis.call('HDEL', g.qw, id)
    redis.call('DEL', g.wprefix .. id)
  end
  return tok
end

-- Grants the queue's heads, in order, while they fit; tells each (but `quiet`). Returns
-- the weight in use after.
local function hand_off(g, cap, inuse, lease, now, now_us, us, wake, quiet)
  while true do
    local h = redis.call('ZRANGE', g.queue, 0, 0)[1]
    if not h then return inuse end
    if redis.call('EXISTS', g.wprefix .. h) == 0 then
      redis.call('ZREM', g.queue, h)
      redis.call('HDEL', g.qw, h)
    else
      local w = tonumber(redis.call('HGET', g.qw, h) or '1')
      if inuse + w > cap then return inuse end
      grant(g, h, w, lease, now, now_us, us, true)
      inuse = inuse + w
      if h ~= quiet then
        redis.call('PUBLISH', wake .. string.match(h, '^([^-]+)'), h)
      end
    end
  end
end

-- The longest lease of the namespace: this caller's, the one it knew of (`known`, from
-- before a restart that lost the key), the one stored; stored again if it grew.
local function longest_lease(g, lease, known)
  load(g)
  local longest = math.max(lease, tonumber(known), g.stored)
  if longest > g.stored then
    redis.call('SET', g.maxlease, longest)
    g.stored = longest
  end
  return longest
end

-- Grants the queue's heads after a release, if anyone waits and no restart quarantine
-- holds (a server younger than the longest lease grants nothing: `start` is the server's
-- start, `known` the longest lease the caller knew of).
local function after_release(g, cap, lease, now, now_us, us, wake, start, known)
  if redis.call('ZCARD', g.queue) == 0 then return end
  if now < start + longest_lease(g, lease, known) then return end
  hand_off(g, capacity(g, cap), used(g, now), lease, now, now_us, us, wake, nil)
end
"#;

/// KEYS: held, hd, queue, qw, seq, fence, extra, waiter prefix, maxlease.
/// ARGV: id, weight, capacity, lease ms, enqueue (0/1), wake prefix, server start (ms),
/// longest lease known (ms), fresh (1: no request for `id` was ever sent before this one,
/// so it can be neither holding nor queued, and those two reads are skipped).
/// Returns `{token, 0, longest}` if `id` holds (now or by an earlier handoff, lease
/// renewed), else `{-1, retry, longest}`: queued if enqueue is 1; `retry` > 0 is the ms
/// left of a restart quarantine; `longest` the namespace's longest lease.
const GATE_ACQUIRE: &str = r#"
local g = gate(KEYS)
local id, w, cap, lease = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local enqueue, wake, start = ARGV[5], ARGV[6], tonumber(ARGV[7])
local now, now_us, us = clock()
local longest = longest_lease(g, lease, ARGV[8])
local fresh = ARGV[9] == '1'
local mine = not fresh and redis.call('HGET', g.hd, id)
if mine then
  local until_ = redis.call('ZSCORE', g.held, id)
  if until_ and tonumber(until_) > now then
    redis.call('ZADD', g.held, now + lease, id)
    return {token_of(mine), 0, longest}
  end
end
local retry = 0
local queued = not fresh and redis.call('ZSCORE', g.queue, id)
if now < start + longest then
  retry = start + longest - now
else
  local c = capacity(g, cap)
  local inuse = used(g, now)
  if not queued then
    -- It may go first only if nobody (alive) waits.
    local waiting = redis.call('ZCARD', g.queue) > 0
    if waiting then
      inuse = hand_off(g, c, inuse, lease, now, now_us, us, wake, nil)
      waiting = redis.call('ZCARD', g.queue) > 0
    end
    if not waiting and inuse + w <= c then
      return {grant(g, id, w, lease, now, now_us, us, false), 0, longest}
    end
  else
    hand_off(g, c, inuse, lease, now, now_us, us, wake, id)
    local v = redis.call('HGET', g.hd, id)
    if v then return {token_of(v), 0, longest} end
  end
end
if enqueue == '1' then
  if not queued then
    redis.call('ZADD', g.queue, redis.call('INCR', g.seq), id)
    redis.call('HSET', g.qw, id, w)
  end
  redis.call('SET', g.wprefix .. id, '1', 'PX', lease)
end
return {-1, retry, longest}
"#;

/// KEYS: held, hd, queue, qw, seq, fence, extra, waiter prefix, maxlease.
/// ARGV: id, capacity, lease ms, wake prefix, withdraw (0/1), server start (ms), longest
/// lease known (ms).
/// Releases `id`'s hold (1 if it held — or a retry of this release, the reply of which
/// was lost, had released it —, else 0, nothing touched) and grants the next; with
/// withdraw, first leaves the queue (a waiter giving up: a grant that reached it meanwhile
/// is released as well).
const GATE_RELEASE: &str = r#"
local g = gate(KEYS)
local id, cap, lease, wake, withdraw = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local start = tonumber(ARGV[6])
if withdraw == '1' then
  redis.call('ZREM', g.queue, id)
  redis.call('HDEL', g.qw, id)
  redis.call('DEL', g.wprefix .. id)
end
local now, now_us, us = clock()
local held = redis.call('ZSCORE', g.held, id)
local mine = held and tonumber(held) > now
if held then
  redis.call('ZREM', g.held, id)
  redis.call('HDEL', g.hd, id)
end
after_release(g, cap, lease, now, now_us, us, wake, start, ARGV[7])
-- A retry whose first run released (its reply lost) must answer the same.
local done = g.wprefix .. 'r:' .. id
if mine then
  redis.call('SET', done, '1', 'PX', lease)
  return 1
end
if redis.call('EXISTS', done) == 1 then return 1 end
return 0
"#;

/// KEYS: held. ARGV: id, lease ms. Renews `id`'s lease if it still holds: 1, else 0.
const GATE_RENEW: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) <= now then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"#;

/// KEYS: as GATE_RELEASE. ARGV: n, capacity, lease ms, wake prefix, server start (ms),
/// longest lease known (ms).
/// Adds `n` permits to a Semaphore for good and grants the waiters they let in (none
/// during a restart quarantine); returns the number of permits now.
const GATE_ADD: &str = r#"
local g = gate(KEYS)
local n, cap, lease, wake = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4]
redis.call('INCRBY', g.extra, n)
local now, now_us, us = clock()
local c = capacity(g, cap)
if now >= tonumber(ARGV[5]) + longest_lease(g, lease, ARGV[6]) then
  hand_off(g, c, used(g, now), lease, now, now_us, us, wake, nil)
end
return c
"#;

/// KEYS: flag, generation, waiters (zset: id → liveness end, server ms).
/// ARGV: id, lease ms, generation seen (-1 on the first call).
/// `{1}` if the event is set, or was set since the generation seen; else `{0, generation}`
/// with `id` registered (or its liveness renewed) to be woken by the next `set`.
const EVENT_WAIT: &str = r#"
local flag, gen, waiters = KEYS[1], KEYS[2], KEYS[3]
local id, lease, seen = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local g = tonumber(redis.call('GET', gen) or '0')
if redis.call('EXISTS', flag) == 1 or (seen >= 0 and g > seen) then
  redis.call('ZREM', waiters, id)
  return {1}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', waiters, '-inf', now)
redis.call('ZADD', waiters, now + lease, id)
return {0, g}
"#;

/// KEYS: flag, generation, waiters. ARGV: wake prefix. Sets the event, starts a new
/// generation and wakes every waiter; returns how many were told.
const EVENT_SET: &str = r#"
local flag, gen, waiters, wake = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
redis.call('SET', flag, '1')
redis.call('INCR', gen)
local ids = redis.call('ZRANGE', waiters, 0, -1)
redis.call('DEL', waiters)
for _, h in ipairs(ids) do
  redis.call('PUBLISH', wake .. string.match(h, '^([^-]+)'), h)
end
return #ids
"#;

/// The loaded scripts of one client.
pub(crate) struct Scripts {
    pub(crate) acquire: Script,
    pub(crate) release: Script,
    pub(crate) renew: Script,
    pub(crate) add: Script,
    pub(crate) event_wait: Script,
    pub(crate) event_set: Script,
}

impl Scripts {
    pub(crate) fn new() -> Scripts {
        let with_common = |body: &str| Script::new(&format!("{GATE_COMMON}\n{body}"));
        Scripts {
            acquire: with_common(GATE_ACQUIRE),
            release: with_common(GATE_RELEASE),
            renew: Script::new(GATE_RENEW),
            add: with_common(GATE_ADD),
            event_wait: Script::new(EVENT_WAIT),
            event_set: Script::new(EVENT_SET),
        }
    }
}
