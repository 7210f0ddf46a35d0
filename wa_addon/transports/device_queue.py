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

Every change is one Lua script (in :mod:`wa_addon.transports.device_lua`), so
two phones never lease the same message and an ack, a lease and an expiry
never interleave.  The scripts build per-message keys from prefixes, so this
needs a single Redis, not Cluster (as RQ does).
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
from wa_addon.transports.device_lua import SCRIPTS

FINAL_TTL = 7 * 24 * 3600  # a final record is kept this long, so late acks are recognised
RETRY_PAUSE = 60  # seconds a phone that acked "retry" is not given the message again
MAX_RETRIES = 20  # "retry" acks before a message is failed (with the pause: 20 min with one phone)
SCAN = 200  # how deep into the queue one lease looks for eligible messages
LEASE_ID = re.compile(r"^([A-Za-z0-9_:\-]{1,120})\.([0-9]{1,6})$")

# What an ack may say, and what an ack's answer means.
ACK_STATUSES = ("sent", "failed", "retry")
OK, LATE, DUPLICATE, STALE, UNKNOWN = "ok", "late", "duplicate", "stale", "unknown"


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

    def __init__(
        self,
        conn: redis.Redis,
        keys: Keys,
        *,
        lease: float = 30,
        online: float = 60,
        max_attempts: int = 5,
        max_retries: int = MAX_RETRIES,
        retry_pause: float = RETRY_PAUSE,
        clock: Callable[[], float] = time.time,
    ):
        self.conn, self.keys, self.clock = conn, keys, clock
        self.lease_secs, self.online, self.max_attempts = lease, online, max_attempts
        self.max_retries, self.retry_pause = max_retries, retry_pause
        self._scripts = {name: conn.register_script(lua) for name, lua in SCRIPTS.items()}
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
        args = [
            msg_id,
            lease,
            attempt,
            device,
            status,
            error[:200],
            self.clock(),
            self.max_attempts,
            self.max_retries,
            self.retry_pause,
        ]
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
