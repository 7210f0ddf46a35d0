"""The double top-up guard: a repeat of a recent request waits for a YES.

The complaint these shops have most is the same number topped up twice
(a shaky network, an impatient retry).  A request with the same service,
number and amount as one the same reseller sent within
``settings.duplicate_window`` is not sent: it is held, and the reseller
confirms it (``YES`` / ``হ্যাঁ`` for the newest, ``CONFIRM <code>`` for one)
or drops it (``NO``) within the same window.

Each mark names the chat message that made it, so the same message run twice
(a redelivered webhook, a retried job) is recognised as itself, never as a
repeat.  Keys and TTLs: :mod:`wa_addon.store` (``dup`` and ``confirm``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import redis

from wa_addon.messages import short_hash
from wa_addon.store import Keys, text

NEW, RERUN = "new", "rerun"
CODE_DIGITS = 3  # short to type; one reseller never has many held at once


@dataclass(frozen=True)
class Order:
    """A request as the host will get it, and the number as the sender wrote it."""

    service: str
    number: str  # as the host stores it (E.164 digits for mobiles)
    amount: str  # two decimals
    shown: str  # the number in the sender's local form
    type: str | None = None
    operator: str | None = None
    package: str | None = None
    title: str = ""  # the package's name, as replies show it


@dataclass(frozen=True)
class Previous:
    """The recent request an order repeats ("" while that one is still being sent)."""

    request_id: str


class Holds:
    """The duplicate marks and the held repeats in Redis: what the guard needs, and nothing else.

    Args:
        conn: Redis.
        keys: the namespace's key builder (``duplicate``, ``pending_confirm``).
        window: ``settings.duplicate_window``: how long a request counts as recent, and a repeat is held.
    """

    def __init__(self, conn: redis.Redis, keys: Keys, window: int):
        self.conn, self.keys, self.window = conn, keys, window

    def claim(self, who: str, order: Order, msg: str) -> str | Previous:
        """Mark ``order`` as sent by message ``msg``: NEW, RERUN (same message again) or the Previous it repeats."""
        key = self._dup_key(who, order)
        if self.conn.set(key, f"{msg}|", nx=True, ex=self.window):
            return NEW
        owner, _, request_id = text(self.conn.get(key) or b"").partition("|")
        return RERUN if owner == msg else Previous(request_id)

    def record(self, who: str, order: Order, msg: str, request_id: int) -> None:
        """The order went through as ``request_id``: repeats within the window are held."""
        self.conn.set(self._dup_key(who, order), f"{msg}|{request_id}", ex=self.window)

    def release(self, who: str, order: Order, msg: str) -> None:
        """Forget this message's mark: it was refused, so a retry is not a repeat."""
        key = self._dup_key(who, order)
        # One reseller's messages run one at a time (its lane partition): no race here.
        if text(self.conn.get(key) or b"").partition("|")[0] == msg:
            self.conn.delete(key)

    def hold(self, who: str, order: Order, msg: str) -> str:
        """Keep ``order`` for a confirmation; returns its code (the same for the same message)."""
        code = f"{int(short_hash(msg), 16) % 10**CODE_DIGITS:0{CODE_DIGITS}d}"
        entry = {"order": asdict(order), "at": time.time(), "by": ""}
        key = self.keys.pending_confirm(who)
        pipe = self.conn.pipeline()
        # NX: a re-run of the held message must not reopen an entry its YES already sent.
        pipe.hsetnx(key, code, json.dumps(entry))
        pipe.expire(key, self.window)
        pipe.execute()
        return code

    def take(self, who: str, code: str | None, msg: str) -> tuple[str, Order, bool] | None:
        """The held order to send: by ``code``, else the newest; (code, order, is a re-run) or None.

        The entry is marked as confirmed by ``msg`` (:meth:`mark`) before it is sent, so
        a re-run of the same confirmation finds it again and nothing else can.
        """
        live = self._live(who)
        for c, entry in live.items():  # a re-run of this very confirmation
            if entry["by"] == msg and code in (None, c):
                return c, Order(**entry["order"]), True
        waiting = {c: e for c, e in live.items() if not e["by"] and code in (None, c)}
        if not waiting:
            return None
        newest = max(waiting, key=lambda c: waiting[c]["at"])
        return newest, Order(**waiting[newest]["order"]), False

    def mark(self, who: str, code: str, msg: str) -> None:
        """Set (or, with ``msg`` "", clear) who confirmed a held order."""
        key = self.keys.pending_confirm(who)
        raw = self.conn.hget(key, code)
        if raw is not None:
            entry = {**json.loads(raw), "by": msg}
            self.conn.hset(key, code, json.dumps(entry))

    def drop(self, who: str) -> int:
        """Drop every held order not confirmed yet; returns how many."""
        codes = [c for c, e in self._live(who).items() if not e["by"]]
        if codes:
            self.conn.hdel(self.keys.pending_confirm(who), *codes)
        return len(codes)

    def _live(self, who: str) -> dict[str, dict]:
        # The hash's TTL restarts with each hold: an older entry's own window is checked here.
        oldest = time.time() - self.window
        raw = self.conn.hgetall(self.keys.pending_confirm(who))
        entries = {text(c): json.loads(v) for c, v in raw.items()}
        return {c: e for c, e in entries.items() if e["at"] >= oldest}

    def _dup_key(self, who: str, order: Order) -> str:
        return self.keys.duplicate(who, order.package or order.service, order.number, order.amount)
