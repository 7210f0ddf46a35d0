"""The lease queue's Lua scripts (:mod:`wa_addon.transports.device_queue` runs them).

Each change to the phones' queue is one script, so two phones never lease the
same message and an ack, a lease and an expiry never interleave.
"""

# Shared by the scripts below.  KEYS (always): queue, leases, inflight,
# unapplied, failed list, seen.  ARGV[1..4]: device message key prefix,
# outbox ``msg`` key prefix, wake channel, final TTL; script arguments follow.
_PRELUDE = """
local Q, LEASES, INFLIGHT, UNAPPLIED, FAILED, SEEN = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local PRE, MSG, WAKE, TTL = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

local function listed(csv, name)
  for item in string.gmatch(csv, '[^,]+') do
    if item == name then return true end
  end
  return false
end

-- Whether a recipient has a message out with a phone (a lock whose message
-- is no longer leased is stale and dropped).
local function busy(to)
  local held = redis.call('HGET', INFLIGHT, to)
  if not held then return false end
  if redis.call('HGET', PRE .. held, 'state') == 'leased' then return true end
  redis.call('HDEL', INFLIGHT, to)
  return false
end

local function release(id, to)
  redis.call('ZREM', LEASES, id)
  if to and redis.call('HGET', INFLIGHT, to) == id then redis.call('HDEL', INFLIGHT, to) end
end

-- Write the phone's verdict on the outbox's status hash, once the outbox has
-- written its own "handed" there; until then the id waits in UNAPPLIED.
local function apply(id)
  local f = redis.call('HMGET', PRE .. id, 'state', 'device', 'error', 'done')
  if f[1] ~= 'sent' and f[1] ~= 'failed' then redis.call('SREM', UNAPPLIED, id) return 0 end
  local cur = redis.call('HGET', MSG .. id, 'status')
  if not cur then redis.call('SADD', UNAPPLIED, id) return 0 end
  redis.call('SREM', UNAPPLIED, id)
  if cur ~= 'handed' and cur ~= 'queued' then return 0 end
  redis.call('HSET', MSG .. id, 'status', f[1], 'device', f[2], 'error', f[3], 'at', f[4])
  return 1
end

-- The body leaves the record here: it may hold a password, PIN or code, and a
-- final message is never sent again.  A failed one goes to the failed list
-- now (where retry_failed finds it), not when its status is applied.
local function finish(id, state, device, err, now)
  local m = PRE .. id
  redis.call('LREM', Q, 1, id)
  release(id, redis.call('HGET', m, 'to'))
  local body = redis.call('HGET', m, 'body')
  if state == 'failed' and body then redis.call('RPUSH', FAILED, body) end
  redis.call('HDEL', m, 'body')
  redis.call('HSET', m, 'state', state, 'device', device, 'error', err, 'done', now)
  redis.call('EXPIRE', m, TTL)
  apply(id)
end

-- Back to the head of the queue (its recipient's later messages are behind
-- it), to any phone; failed once max_attempts leases ended without a "retry".
local function giveback(id, max_attempts, why, now)
  local m = PRE .. id
  local f = redis.call('HMGET', m, 'to', 'attempts', 'device', 'retries')
  release(id, f[1])
  if tonumber(f[2] or '0') - tonumber(f[4] or '0') >= max_attempts then
    finish(id, 'failed', f[3] or '', why, now)
    return
  end
  redis.call('HSET', m, 'state', 'queued', 'prefer', '', 'lease', '')
  redis.call('LPUSH', Q, id)
end
"""

# ARGV[5..]: id, body, recipient, only, now; KEYS[7]: the recipient's affinity key.
HANDOFF_LUA = (
    _PRELUDE
    + """
local id = ARGV[5]
if redis.call('EXISTS', PRE .. id) == 1 then return 0 end  -- handed over before: the outbox re-ran
local prefer = redis.call('GET', KEYS[7]) or ''
redis.call('HSET', PRE .. id, 'body', ARGV[6], 'to', ARGV[7], 'only', ARGV[8], 'prefer', prefer,
           'state', 'queued', 'attempts', 0, 'at', ARGV[9])
redis.call('RPUSH', Q, id)
redis.call('PUBLISH', WAKE, id)
return 1
"""
)

# ARGV[5..]: device, now, lease seconds, max, scan, online_since, hold key prefix, token
# hash ('' = not checked); KEYS[7]: the token index.  Returns {id, lease id, body,
# deadline} per leased message, or -1 when the token no longer names this device
# (revoked): checked in the same script, so no lease goes out after a revocation.
LEASE_LUA = (
    _PRELUDE
    + """
local dev, now = ARGV[5], tonumber(ARGV[6])
local deadline = now + tonumber(ARGV[7])
local max, scan, since, HOLD = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), ARGV[11]
local digest = ARGV[12]
if digest ~= '' and redis.call('HGET', KEYS[7], digest) ~= dev then return -1 end
local seen_to, out = {}, {}

local function eligible(to, only, prefer, skip)
  if redis.call('EXISTS', HOLD .. to) == 1 then return false end  -- an AutoResponder exchange takes it
  if skip and tonumber(skip) > now then return false end  -- this phone acked "retry": not yet again
  if only ~= '' and not listed(only, dev) then return false end
  -- A pin wins over the affinity: a preferred phone the pin does not allow never leases it.
  if prefer ~= '' and prefer ~= dev and (only == '' or listed(only, prefer)) then
    local last = redis.call('ZSCORE', SEEN, prefer)
    if last and tonumber(last) >= since then return false end  -- its phone is online: leave it
  end
  return true
end

for _, id in ipairs(redis.call('LRANGE', Q, 0, scan - 1)) do
  if #out >= max then break end
  local m = PRE .. id
  local f = redis.call('HMGET', m, 'to', 'only', 'prefer', 'body', 'skip:' .. dev)
  local to = f[1]
  if not to then
    redis.call('LREM', Q, 1, id)  -- no record: nothing to send
  elseif not seen_to[to] then
    seen_to[to] = true  -- only a recipient's first queued message is a candidate
    if not busy(to) and eligible(to, f[2] or '', f[3] or '', f[5]) then
      redis.call('LREM', Q, 1, id)
      local n = redis.call('HINCRBY', m, 'attempts', 1)
      local lease = id .. '.' .. n
      redis.call('HSET', m, 'state', 'leased', 'device', dev, 'lease', lease, 'deadline', deadline,
                 'lease:' .. n, dev)
      -- The lease is the token's: a new token under the same name cannot ack it.
      if digest ~= '' then redis.call('HSET', m, 'tok:' .. n, string.sub(digest, 1, 16)) end
      redis.call('HSET', INFLIGHT, to, id)
      redis.call('ZADD', LEASES, deadline, id)
      out[#out + 1] = {id, lease, f[4], tostring(deadline)}
    end
  end
end
return out
"""
)

# ARGV[5..]: id, lease id, attempt number, device, status (sent|failed|retry), error,
# now, max attempts, max retries, retry pause.
ACK_LUA = (
    _PRELUDE
    + """
local id, lease, n, dev = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local status, err, now = ARGV[9], ARGV[10], ARGV[11]
local f = redis.call('HMGET', PRE .. id, 'state', 'lease', 'lease:' .. n)
local state, current, holder = f[1], f[2], f[3]
if not state or holder ~= dev then return 'unknown' end  -- never leased to this phone
if state == 'sent' or state == 'failed' then return 'duplicate' end
local fresh = state == 'leased' and current == lease
if not fresh and status ~= 'sent' then return 'stale' end
if status == 'retry' then
  -- The phone cannot send now (WhatsApp logged out, no network): the others
  -- get the message at once, this phone after a pause; not a lost lease.
  if redis.call('HINCRBY', PRE .. id, 'retries', 1) >= tonumber(ARGV[13]) then
    finish(id, 'failed', dev, err, now)
  else
    redis.call('HSET', PRE .. id, 'skip:' .. dev, tonumber(now) + tonumber(ARGV[14]))
    giveback(id, tonumber(ARGV[12]), err, now)
  end
  redis.call('PUBLISH', WAKE, id)
  return 'ok'
end
-- A "sent" on an old lease is believed: the message went out, so it must not go
-- again.  If another phone holds it now, that phone may send it too ("late").
local answer = (fresh or state == 'queued') and 'ok' or 'late'
finish(id, status, dev, err, now)
if redis.call('LLEN', Q) > 0 then redis.call('PUBLISH', WAKE, '') end  -- the recipient is free
return answer
"""
)

# ARGV[5..]: now, max attempts.  Leases past their deadline go back to the queue.
EXPIRE_LUA = (
    _PRELUDE
    + """
local ids = redis.call('ZRANGEBYSCORE', LEASES, '-inf', ARGV[5])
for _, id in ipairs(ids) do giveback(id, tonumber(ARGV[6]), 'lease expired', ARGV[5]) end
if #ids > 0 then redis.call('PUBLISH', WAKE, '') end
for _, id in ipairs(redis.call('SMEMBERS', UNAPPLIED)) do apply(id) end
return #ids
"""
)

# ARGV[5..]: device, now, max attempts.  A revoked phone's leases go to the others.
RELEASE_DEVICE_LUA = (
    _PRELUDE
    + """
local n = 0
for _, id in ipairs(redis.call('ZRANGE', LEASES, 0, -1)) do
  if redis.call('HGET', PRE .. id, 'device') == ARGV[5] then
    giveback(id, tonumber(ARGV[7]), 'phone revoked', ARGV[6])
    n = n + 1
  end
end
redis.call('PUBLISH', WAKE, '')  -- also ends the revoked phone's open poll now (it re-checks its token)
return n
"""
)

# ARGV[5..]: recipient, device, now, scan, token hash ('' = not checked); KEYS[7]: the
# token index.  Takes, in order, the recipient's queued messages this device may
# send (an AutoResponder reply carries them); -1 once the token no longer names it.
TAKE_LUA = (
    _PRELUDE
    + """
local to, dev, now = ARGV[5], ARGV[6], ARGV[7]
if ARGV[9] ~= '' and redis.call('HGET', KEYS[7], ARGV[9]) ~= dev then return -1 end
if busy(to) then return {} end
local out = {}
for _, id in ipairs(redis.call('LRANGE', Q, 0, tonumber(ARGV[8]) - 1)) do
  local f = redis.call('HMGET', PRE .. id, 'to', 'only', 'body')
  if f[1] == to then
    if f[2] and f[2] ~= '' and not listed(f[2], dev) then break end  -- pinned elsewhere: keep order
    finish(id, 'sent', dev, '', now)
    out[#out + 1] = {id, f[3]}
  end
end
return out
"""
)


SCRIPTS = {
    "handoff": HANDOFF_LUA,
    "lease": LEASE_LUA,
    "ack": ACK_LUA,
    "expire": EXPIRE_LUA,
    "release_device": RELEASE_DEVICE_LUA,
    "take": TAKE_LUA,
}
