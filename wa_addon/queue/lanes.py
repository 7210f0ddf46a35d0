"""Lanes: partitioned FIFO queues in Redis, drained by sessions.

A lane (``in``, ``ev``, ``out:cloud``, ``sys:cloud``, ...) has ``parts``
partitions; an item goes to the partition its order key hashes to, so one
sender's chats or one recipient's messages stay in one FIFO.  At most one
session owns a partition at a time (its token in the ``busy`` flag); the
owner moves items from the queue to ``proc`` as it takes them and removes
each from ``proc`` once done, so a session that dies loses nothing: the next
owner takes the held items first.

A push that finds its partition idle takes the flag and announces the
partition on a ready list (outboxes on ``hi``, work lanes on ``lo``), where
the sessions of every worker process wait for work.
"""

from __future__ import annotations

import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

from wa_addon.queue import lua
from wa_addon.settings import Settings
from wa_addon.store import DOWN, SEEN_TTL, Keys, StoreUnavailable, text

BUSY_TTL = 6  # seconds a partition stays owned without a heartbeat: a dead session's work moves on within ~8 s
SEP = "\x1f"  # between an item's order key and its payload (never in either)


def is_outbox(lane: str) -> bool:
    """Outboxes (replies, notifications) are served before work lanes."""
    return lane.startswith(("out:", "sys:"))


def ready_class(lane: str) -> str:
    return "hi" if is_outbox(lane) else "lo"


@dataclass(frozen=True)
class Item:
    """One thing to push: its payload, the key it is ordered by, its dedupe id."""

    payload: str
    order_key: str
    dedupe: str | None = None

    def encode(self) -> str:
        return f"{self.order_key.replace(SEP, ' ')}{SEP}{self.payload}"


def decode(raw: str) -> tuple[str, str]:
    """(order key, payload) of a queued item; items queued before order keys were kept have ``""``."""
    key, sep, payload = raw.partition(SEP)
    return (key, payload) if sep else ("", raw)


class Scripts:
    """The engine's scripts registered on one connection (EVALSHA, loaded on first use)."""

    def __init__(self, conn: redis.Redis):
        self.conn = conn
        self.push = conn.register_script(lua.PUSH)
        self.claim = conn.register_script(lua.CLAIM)
        self.ack = conn.register_script(lua.ACK)
        self.touch = conn.register_script(lua.TOUCH)
        self.kick = conn.register_script(lua.KICK)
        self.reserve = conn.register_script(lua.RESERVE)
        self.record = conn.register_script(lua.RECORD)

    def load(self) -> None:
        """Load every script, for pipelines that call them by bare EVALSHA (see :meth:`Lane.ack`)."""
        for name in ("PUSH", "ACK", "RECORD"):
            self.conn.script_load(getattr(lua, name))


def call(script: Any, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """Run a script; Redis being down becomes StoreUnavailable."""
    try:
        return script(keys=keys, args=args)
    except DOWN as exc:
        raise StoreUnavailable(str(exc)) from exc


class Lane:
    """One named lane with ``parts`` partitions."""

    def __init__(self, conn: redis.Redis, keys: Keys, scripts: Scripts, name: str, parts: int):
        self.conn, self.keys, self.scripts = conn, keys, scripts
        self.name, self.parts = name, parts

    def partition(self, order_key: str) -> int:
        return zlib.crc32(order_key.encode()) % self.parts

    def push(
        self,
        items: Sequence[Item],
        pipe: redis.client.Pipeline | None = None,
        marks: dict[str, tuple[str, int]] | None = None,
    ) -> int:
        """Queue items (dropping already-seen ones); announce idle partitions.

        With ``pipe`` the push is only queued on it (by EVALSHA: the caller
        has loaded the scripts) and 0 is returned.  ``marks`` (key -> (value,
        seconds)) are set by the same script, e.g. the senders' windows.

        Returns:
            How many partitions were announced.
        """
        if not items and not marks:
            return 0
        keys, args = self._push_args(items, marks or {})
        if pipe is not None:
            pipe.evalsha(self.scripts.push.sha, len(keys), *keys, *args)
            return 0
        return int(call(self.scripts.push, keys, args))

    def push_replicated(
        self, items: Sequence[Item], replicas: int, timeout_ms: int, marks: dict[str, tuple[str, int]] | None = None
    ) -> int:
        """:meth:`push`, answered only once ``replicas`` replicas have it (Redis ``WAIT``).

        For what is acknowledged to someone who will not send it again (a
        webhook answered 200): Redis replicates asynchronously, so a write the
        master took just before a failover may never reach the replica that
        takes over.  The push and the ``WAIT`` go on one connection (a
        pipeline), as ``WAIT`` counts that connection's writes.

        Raises:
            StoreUnavailable: Redis is down, or fewer replicas acknowledged in
                time (the caller answers 503 and the sender tries again; the
                seen mark makes that retry a no-op if the first did land).
        """
        if not items and not marks:
            return 0
        keys, args = self._push_args(items, marks or {})
        try:
            with self.conn.pipeline(transaction=False) as pipe:
                self.scripts.push(keys=keys, args=args, client=pipe)
                pipe.wait(replicas, timeout_ms)
                announced, acked = pipe.execute()
        except DOWN as exc:
            raise StoreUnavailable(str(exc)) from exc
        if int(acked) < replicas:
            raise StoreUnavailable(f"queued, but {acked} of {replicas} replica(s) had it within {timeout_ms} ms")
        return int(announced)

    def _push_args(self, items: Sequence[Item], marks: dict[str, tuple[str, int]]) -> tuple[list[str], list[Any]]:
        keys: list[str] = []
        args: list[Any] = [SEEN_TTL, BUSY_TTL, self.keys.wake(""), len(marks)]
        ready = self.keys.ready(ready_class(self.name))
        for item in items:
            part = self.partition(item.order_key)
            q = self.keys.lane(self.name, part, "q")
            seen = self.keys.seen(self.name.split(":")[0], item.dedupe) if item.dedupe else q
            keys += [seen, q, self.keys.lane(self.name, part, "busy"), ready]
            args += [item.encode(), uuid.uuid4().hex, f"{self.name}|{part}"]
        for key, (value, seconds) in marks.items():
            keys.append(key)
            args += [value, seconds]
        return keys, args

    def claim(self, part: int, token: str, size: int, mode: str = "take", new_token: str = "") -> list[str] | None:
        """Take up to ``size`` more items; None when the partition is lost, or gone (``release``).

        Args:
            mode: ``recover`` (a new owner's first claim: a dead owner's held
                items first, and ``new_token`` becomes the flag), ``take``, or
                ``release`` (give the partition up if nothing is left).

        Returns:
            The items taken (maybe none while earlier ones are still held).
        """
        got = call(self.scripts.claim, self._pkeys(part, "q", "proc", "busy"), [token, size, mode, new_token or token])
        status, items = text(got[0]), got[1:]
        return [text(x) for x in items] if status == "ok" else None

    def ack(self, part: int, token: str, first: int, items: Sequence[str], pipe: redis.client.Pipeline) -> None:
        """Queue on ``pipe`` the removal of done items: the first ``first`` held ones, and ``items``.

        Its reply is 1, or 0 if the partition was lost.  EVALSHA, not the
        Script object: a pipeline holding a Script asks SCRIPT EXISTS first,
        one more round trip.
        """
        keys = self._pkeys(part, "proc", "busy")
        pipe.evalsha(self.scripts.ack.sha, len(keys), *keys, token, BUSY_TTL, first, *items)

    def release(self, part: int, token: str) -> None:
        """Give up the partition (e.g. the add-on is paused); a kick announces it again."""
        busy = self.keys.lane(self.name, part, "busy")
        if self.conn.get(busy) == token.encode():
            self.conn.delete(busy)

    def kick(self) -> int:
        """Announce partitions with work and no owner; returns how many."""
        keys: list[str] = []
        args: list[Any] = [BUSY_TTL]
        for part in range(self.parts):
            keys += self._pkeys(part, "q", "proc", "busy")
            args += [uuid.uuid4().hex, f"{self.name}|{part}"]
        return int(call(self.scripts.kick, [*keys, self.keys.ready(ready_class(self.name))], args))

    def depth(self) -> int:
        """Messages waiting or held, over all partitions."""
        pipe = self.conn.pipeline(transaction=False)
        for part in range(self.parts):
            pipe.llen(self.keys.lane(self.name, part, "q"))
            pipe.llen(self.keys.lane(self.name, part, "proc"))
        return sum(_run(pipe))

    def _pkeys(self, part: int, *what: str) -> list[str]:
        return [self.keys.lane(self.name, part, w) for w in what]


def _run(pipe: redis.client.Pipeline) -> list[Any]:
    try:
        return pipe.execute()
    except DOWN as exc:
        raise StoreUnavailable(str(exc)) from exc


def acknowledged_push(
    lane: Lane, items: Sequence[Item], settings: Settings, marks: dict[str, tuple[str, int]] | None = None
) -> int:
    """The push behind an answer that tells the sender "taken": replicated first where a failover can lose it."""
    if settings.replicas_to_wait:
        return lane.push_replicated(items, settings.replicas_to_wait, settings.redis_wait_ms, marks)
    return lane.push(items, marks=marks)
