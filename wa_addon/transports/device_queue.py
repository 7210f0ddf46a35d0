"""The phones' lease queue: messages the device transport hands over, phones lease and ack.

One shared FIFO of message ids (``dev:q``) feeds every phone; each message's
record (``dev:m:{id}``) holds its body, recipient and state::

    queued --lease--> leased --ack sent/failed--> sent | failed   (final, kept 7 days)
               ^          |
               +----------+  lease expired, phone revoked, or ack "retry"

A final record keeps no body (texts carry passwords, PINs, one-time codes); a
failed message's body goes to the admin's failed list as it fails.

Order per recipient: only the first queued message of a recipient is ever a
candidate, and a recipient has at most one message leased at a time
(``dev:inflight``), so a phone that leases message n+1 knows n was acked.
Spreading: whichever online phone polls takes the work; a message may name
the phones allowed (``only``: settings pins) and a preferred phone (``prefer``:
the phone the contact last wrote to, while that phone is online); during an
AutoResponder exchange (``hold``) the contact's messages are left to it.
Leases that expire or are revoked count toward ``max_attempts``; a ``retry``
ack counts toward ``max_retries`` instead, and keeps the message from that
phone for ``retry_pause`` seconds.

Every change is one Lua script, so two phones never lease the same message and
an ack, a lease and an expiry never interleave.  The scripts build per-message
keys from prefixes, so this needs a single Redis, not Cluster (as RQ does).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from wa_addon.messages import Outbound
from wa_addon.store import DOWN, Keys, StoreUnavailable, text

FINAL_TTL = 7 * 24 * 3600  # a final record is kept this long, so late acks are recognised
RETRY_PAUSE = 60  # seconds a phone that acked "retry" is not given the message again
MAX_RETRIES = 20  # "retry" acks before a message is failed (with the pause: 20 min with one phone)
SCAN = 200  # how deep into the queue one lease looks for eligible messages
LEASE_ID = re.compile(r"^([A-Za-z0-9_:\-]{1,120})\.([0-9]{1,6})$")

# What an ack may say, and what an ack's answer means.
ACK_STATUSES = ("sent", "failed", "retry")
OK, LATE, DUPLICATE, STALE, UNKNOWN = "ok", "late", "duplicate", "stale", "unknown"

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
HANDOFF_LUA = _PRELUDE + """
local id = ARGV[5]
if redis.call('EXISTS', PRE .. id) == 1 then return 0 end  -- handed over before: the outbox re-ran
local prefer = redis.call('GET', KEYS[7]) or ''
redis.call('HSET', PRE .. id, 'body', ARGV[6], 'to', ARGV[7], 'only', ARGV[8], 'prefer', prefer,
           'state', 'queued', 'attempts', 0, 'at', ARGV[9])
redis.call('RPUSH', Q, id)
redis.call('PUBLISH', WAKE, id)
return 1
"""

# ARGV[5..]: device, now, lease seconds, max, scan, online_since, hold key prefix, token
# hash ('' = not checked); KEYS[7]: the token index.  Returns {id, lease id, body,
# deadline} per leased message, or -1 when the token no longer names this device
# (revoked): checked in the same script, so no lease goes out after a revocation.
LEASE_LUA = _PRELUDE + """
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

# ARGV[5..]: id, lease id, attempt number, device, status (sent|failed|retry), error,
# now, max attempts, max retries, retry pause.
ACK_LUA = _PRELUDE + """
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

# ARGV[5..]: now, max attempts.  Leases past their deadline go back to the queue.
EXPIRE_LUA = _PRELUDE + """
local ids = redis.call('ZRANGEBYSCORE', LEASES, '-inf', ARGV[5])
for _, id in ipairs(ids) do giveback(id, tonumber(ARGV[6]), 'lease expired', ARGV[5]) end
if #ids > 0 then redis.call('PUBLISH', WAKE, '') end
for _, id in ipairs(redis.call('SMEMBERS', UNAPPLIED)) do apply(id) end
return #ids
"""

# ARGV[5..]: device, now, max attempts.  A revoked phone's leases go to the others.
RELEASE_DEVICE_LUA = _PRELUDE + """
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

# ARGV[5..]: recipient, device, now, scan, token hash ('' = not checked); KEYS[7]: the
# token index.  Takes, in order, the recipient's queued messages this device may
# send (an AutoResponder reply carries them); -1 once the token no longer names it.
TAKE_LUA = _PRELUDE + """
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


@dataclass(frozen=True)
class Leased:
    """One message leased to a phone.

    Attributes:
        id: our message id.
        lease: the lease id the phone acks with (``{id}.{attempt}``).
        message: the message to send.
        deadline: unix time by which the ack must arrive.
    """

    id: str
    lease: str
    message: Outbound
    deadline: float


T = TypeVar("T")


class LeaseQueue:
    """The lease queue of one namespace.

    Args:
        conn: Redis connection.
        keys: the namespace's key builder.
        lease: seconds a phone has to send and ack.
        online: a phone heard from within this many seconds counts as online.
        max_attempts: leases that expire (or a revocation takes back) before a
            message is given up as failed.
        max_retries: "retry" acks before a message is given up as failed.
        retry_pause: seconds a phone that acked "retry" is not given that message again.
        clock: the time source (tests move it).
    """

    def __init__(self, conn: redis.Redis, keys: Keys, *, lease: float = 30, online: float = 60,
                 max_attempts: int = 5, max_retries: int = MAX_RETRIES, retry_pause: float = RETRY_PAUSE,
                 clock: Callable[[], float] = time.time):
        self.conn, self.keys, self.clock = conn, keys, clock
        self.lease_secs, self.online, self.max_attempts = lease, online, max_attempts
        self.max_retries, self.retry_pause = max_retries, retry_pause
        self._scripts = {name: conn.register_script(lua) for name, lua in _SCRIPTS.items()}
        self._keys = [keys.device(k) for k in ("q", "leases", "inflight", "unapplied")]
        self._keys += [keys.failed("device"), keys.device("seen")]
        self._base: list[Any] = [keys.device_msg(""), keys.msg(""), keys.device("wake"), FINAL_TTL]

    def handoff(self, msg: Outbound, only: str = "") -> bool:
        """Queue ``msg`` for the phones; False if it was handed over before.

        Args:
            msg: the message.
            only: comma-separated phone names allowed to send it ("" = any).
        """
        args = [msg.id, msg.to_json(), msg.to, only, self.clock()]
        return bool(self._run("handoff", args, [self.keys.device_affinity(msg.to)]))

    def lease(self, device: str, max_count: int = 10) -> list[Leased]:
        """Lease up to ``max_count`` messages to ``device`` (no waiting)."""
        return self.lease_as(device, "", max_count) or []

    def lease_as(self, device: str, digest: str, max_count: int = 10) -> list[Leased] | None:
        """Lease to ``device`` while the token whose SHA-256 is ``digest`` names it; None once it does not.

        The token check and the lease are one script: a revocation either
        comes first (None, nothing leased) or finds the leases to take back.
        Each lease records the token's fingerprint (``tok:{attempt}``).
        """
        now = self.clock()
        args = [device, now, self.lease_secs, max_count, SCAN, now - self.online, self.keys.device_hold(""), digest]
        rows = self._run("lease", args, [self.keys.device("tokens")])
        if rows == -1:
            return None
        return [Leased(text(i), text(lease), Outbound.from_json(body), float(d)) for i, lease, body, d in rows]

    def wait_lease(self, device: str, seconds: float, max_count: int = 10) -> list[Leased]:
        """Like :meth:`lease`, but wait up to ``seconds`` for work (a long poll)."""
        return self.await_(lambda: self.lease(device, max_count), lambda got: bool(got), seconds)

    def ack(self, device: str, lease: str, status: str, error: str = "") -> str:
        """Record a phone's verdict on a lease.

        Returns:
            ``ok``; ``late`` (a "sent" on an expired lease that another phone
            holds now: it may be sent twice); ``duplicate`` (already final:
            acks are idempotent); ``stale`` (a failed/retry on a lease the
            phone no longer holds: ignored); ``unknown``.
        """
        match = LEASE_ID.match(lease)
        if match is None or status not in ACK_STATUSES:
            return UNKNOWN
        msg_id, attempt = match.groups()
        args = [msg_id, lease, attempt, device, status, error[:200], self.clock(), self.max_attempts,
                self.max_retries, self.retry_pause]
        return text(self._run("ack", args))

    def take_for(self, device: str, to: str, digest: str = "") -> list[Outbound] | None:
        """Take (as sent by ``device``) the queued messages to ``to``, in order.

        With ``digest`` (a token's SHA-256), None once that token no longer
        names ``device``: checked in the same script, as :meth:`lease_as` does.
        """
        rows = self._run("take", [to, device, self.clock(), SCAN, digest], [self.keys.device("tokens")])
        return None if rows == -1 else [Outbound.from_json(body) for _, body in rows]

    @contextmanager
    def hold(self, to: str, seconds: float) -> Iterator[None]:
        """Keep ``to``'s messages from polling phones while an AutoResponder exchange takes them.

        At the end the polling phones are woken for what is left; should this
        process die, the hold lapses a second after ``seconds``.
        """
        key = self.keys.device_hold(to)
        self.conn.set(key, "1", px=int((seconds + 1) * 1000))
        try:
            yield
        finally:
            pipe = self.conn.pipeline(transaction=False)
            pipe.delete(key)
            pipe.publish(self.keys.device("wake"), "")
            pipe.execute()

    def expire(self, now: float | None = None) -> int:
        """Requeue leases past their deadline; apply parked acks.  Returns leases requeued."""
        return int(self._run("expire", [self.clock() if now is None else now, self.max_attempts]))

    def release_device(self, device: str) -> int:
        """Requeue every lease ``device`` holds (it was revoked)."""
        return int(self._run("release_device", [device, self.clock(), self.max_attempts]))

    def state(self, msg_id: str) -> dict[str, str]:
        """A message's record (without the body): state, device, attempts, error."""
        raw = self.conn.hgetall(self.keys.device_msg(msg_id))
        return {text(k): text(v) for k, v in raw.items() if k != b"body"}

    def counts(self) -> dict[str, int]:
        """Messages waiting and leased."""
        pipe = self.conn.pipeline(transaction=False)
        pipe.llen(self.keys.device("q"))
        pipe.zcard(self.keys.device("leases"))
        queued, leased = pipe.execute()
        return {"queued": int(queued), "leased": int(leased)}

    def await_(self, attempt: Callable[[], T], done: Callable[[T], bool], seconds: float) -> T:
        """Call ``attempt`` until ``done(result)`` or ``seconds`` pass, waking on queue changes.

        The wake channel is subscribed (Redis confirmed it) before the first
        attempt, so a change between an attempt and the wait is not missed;
        the wait blocks on the subscription's socket (no sleeping, no polling).
        """
        if seconds <= 0:
            return attempt()  # no waiting: no subscription either
        end = time.monotonic() + seconds
        pubsub = self.conn.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.keys.device("wake"))
            pubsub.get_message(timeout=seconds)  # reads the confirmation (returned as None)
            while True:
                result = attempt()
                left = end - time.monotonic()
                if done(result) or left <= 0:
                    return result
                pubsub.get_message(timeout=left)
        except DOWN as exc:
            raise StoreUnavailable(str(exc)) from exc
        finally:
            pubsub.close()

    def _run(self, name: str, args: list[Any], extra_keys: list[str] | None = None) -> Any:
        try:
            return self._scripts[name](keys=self._keys + (extra_keys or []), args=[*self._base, *args])
        except DOWN as exc:
            raise StoreUnavailable(str(exc)) from exc


_SCRIPTS = {"handoff": HANDOFF_LUA, "lease": LEASE_LUA, "ack": ACK_LUA, "expire": EXPIRE_LUA,
            "release_device": RELEASE_DEVICE_LUA, "take": TAKE_LUA}
