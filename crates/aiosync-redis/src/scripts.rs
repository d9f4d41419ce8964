//! The Lua scripts: every decision about who holds a lock is taken inside one of them, so
//! it is atomic on the server. Run by SHA (`EVALSHA`), loaded on first use.
//!
//! Keys of a lock named N in namespace S (the braces keep them in one cluster slot):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `S:lock:{N}:owner` | hash, PX lease | `id` of the holder, its `token` |
//! | `S:lock:{N}:queue` | zset | waiter ids, scored by arrival |
//! | `S:lock:{N}:seq` | string | arrival counter for the queue's scores |
//! | `S:lock:{N}:fence` | string | the last fencing token given |
//! | `S:lock:{N}:w:ID` | string, PX lease | present while waiter ID is alive |
//!
//! A waiter id is `CLIENT-SEQ`; a handoff publishes the id on `S:wake:CLIENT`.

use redis::Script;

/// Helpers shared by the scripts (prepended to each).
const COMMON: &str = r#"
-- A fencing token: one more than the last, and never below the server's clock in
-- microseconds, so it keeps increasing after the counter is lost (restart without
-- persistence, failover): a hybrid logical clock. Doubles are exact up to 2^53 (year 2255).
local function next_token(fence)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = tonumber(redis.call('GET', fence) or '0')
  local tok = math.max(last + 1, now)
  redis.call('SET', fence, string.format('%.0f', tok))
  return tok
end

local function grant(owner, fence, id, lease)
  local tok = next_token(fence)
  redis.call('HSET', owner, 'id', id, 'token', string.format('%.0f', tok))
  redis.call('PEXPIRE', owner, lease)
  return tok
end

-- The first live waiter, after dropping the dead ones (their liveness key expired).
local function live_head(queue, wprefix)
  while true do
    local h = redis.call('ZRANGE', queue, 0, 0)[1]
    if not h then return nil end
    if redis.call('EXISTS', wprefix .. h) == 1 then return h end
    redis.call('ZREM', queue, h)
  end
end

-- Gives a free lock to the next live waiter and tells it; false if nobody waits.
local function hand_off(owner, queue, fence, wprefix, lease, wake)
  local head = live_head(queue, wprefix)
  if not head then return false end
  grant(owner, fence, head, lease)
  redis.call('ZREM', queue, head)
  redis.call('DEL', wprefix .. head)
  redis.call('PUBLISH', wake .. string.match(head, '^([^-]+)'), head)
  return true
end
"#;

/// KEYS: owner, queue, fence, seq. ARGV: id, lease ms, enqueue (0/1), wake prefix,
/// waiter-key prefix. Returns the token if `id` holds the lock (now or by an earlier
/// handoff, renewing its lease), else -1 (queued when enqueue is 1).
const ACQUIRE: &str = r#"
local owner, queue, fence, seq = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local id, lease, enqueue, wake, wprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local cur = redis.call('HGET', owner, 'id')
if cur == id then
  redis.call('PEXPIRE', owner, lease)
  return tonumber(redis.call('HGET', owner, 'token'))
end
if not cur then
  local head = live_head(queue, wprefix)
  if head == nil or head == id then
    redis.call('ZREM', queue, id)
    redis.call('DEL', wprefix .. id)
    return grant(owner, fence, id, lease)
  end
  -- Free, but someone waits ahead of us (its holder's lease ran out): it is theirs.
  hand_off(owner, queue, fence, wprefix, lease, wake)
end
if enqueue == '1' then
  if not redis.call('ZSCORE', queue, id) then
    redis.call('ZADD', queue, redis.call('INCR', seq), id)
  end
  redis.call('SET', wprefix .. id, '1', 'PX', lease)
end
return -1
"#;

/// KEYS: owner, queue, fence. ARGV: id, lease ms, wake prefix, waiter-key prefix.
/// Compare-and-delete, then hand off: 1 if `id` held the lock, 0 if not (untouched).
const RELEASE: &str = r#"
local owner, queue, fence = KEYS[1], KEYS[2], KEYS[3]
local id, lease, wake, wprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
if redis.call('HGET', owner, 'id') ~= id then return 0 end
redis.call('DEL', owner)
hand_off(owner, queue, fence, wprefix, lease, wake)
return 1
"#;

/// KEYS: owner, queue, fence. ARGV: id, lease ms, wake prefix, waiter-key prefix.
/// A waiter leaves the queue; if a handoff reached it meanwhile, it passes the lock on.
const WITHDRAW: &str = r#"
local owner, queue, fence = KEYS[1], KEYS[2], KEYS[3]
local id, lease, wake, wprefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('ZREM', queue, id)
redis.call('DEL', wprefix .. id)
if redis.call('HGET', owner, 'id') == id then
  redis.call('DEL', owner)
  hand_off(owner, queue, fence, wprefix, lease, wake)
  return 1
end
return 0
"#;

/// KEYS: owner. ARGV: id, lease ms. Renews the lease if `id` still holds: 1, else 0.
const RENEW: &str = r#"
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"#;

/// The loaded scripts of one client.
pub(crate) struct Scripts {
    pub(crate) acquire: Script,
    pub(crate) release: Script,
    pub(crate) withdraw: Script,
    pub(crate) renew: Script,
}

impl Scripts {
    pub(crate) fn new() -> Scripts {
        let with_common = |body: &str| Script::new(&format!("{COMMON}\n{body}"));
        Scripts {
            acquire: with_common(ACQUIRE),
            release: with_common(RELEASE),
            withdraw: with_common(WITHDRAW),
            renew: Script::new(RENEW),
        }
    }
}
