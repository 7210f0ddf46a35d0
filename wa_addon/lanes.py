"""Lanes: partitioned FIFO queues in Redis that RQ jobs drain in batches.

Measured here, one RQ job costs ~3 ms of worker CPU while a message's own work
is microseconds, so a job never carries one message: pushes go to a lane, and a
push that finds the partition idle enqueues one drain job for it.  One drainer
at a time per partition (its token in the ``busy`` flag) keeps order per
partition, and so per recipient or sender, who always hash to the same one.
A claimed batch sits in ``proc`` until acked, so a drainer that dies loses
nothing: the next one takes the held items first.
"""

from __future__ import annotations

import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import redis

from wa_addon.store import BUSY_TTL, DOWN, SEEN_TTL, Keys, Scripts, StoreUnavailable, text

# Called with (lane name, partition, token) when a drain job must be enqueued.
Starter = Callable[[str, int, str], None]


@dataclass(frozen=True)
class Item:
    """One thing to push: its payload, the key it is ordered by, its dedupe id."""

    payload: str
    order_key: str
    dedupe: str | None = None


class Lane:
    """One named lane (``in``, ``out:cloud``, ...) with ``parts`` partitions."""

    def __init__(self, conn: redis.Redis, keys: Keys, scripts: Scripts, name: str, parts: int):
        self.conn, self.keys, self.scripts = conn, keys, scripts
        self.name, self.parts = name, parts

    def partition(self, order_key: str) -> int:
        return zlib.crc32(order_key.encode()) % self.parts

    def push(self, items: Sequence[Item], start: Starter) -> int:
        """Queue items (dropping already-seen ones); start drainers where idle.

        Returns:
            How many partitions got a new drainer.
        """
        if not items:
            return 0
        keys: list[str] = []
        parts: list[int] = []
        for item in items:
            part = self.partition(item.order_key)
            q = self.keys.lane(self.name, part, "q")
            seen = self.keys.seen(self.name.split(":")[0], item.dedupe) if item.dedupe else q
            keys += [seen, q, self.keys.lane(self.name, part, "busy")]
            parts.append(part)
        tokens = [uuid.uuid4().hex for _ in items]
        args = [SEEN_TTL, BUSY_TTL, *(i.payload for i in items), *tokens]
        started = self._call(self.scripts.push, keys, args)
        begun = {p: text(t) for p, t in zip(parts, started, strict=True) if t}
        for part, token in begun.items():
            start(self.name, part, token)
        return len(begun)

    def claim(self, part: int, token: str, size: int) -> list[str] | None:
        """The next batch of a partition, or None when ``token`` lost the flag."""
        got = self._call(self.scripts.claim, self._pkeys(part, "q", "proc", "busy"), [token, size, BUSY_TTL])
        if got is None:
            return None
        return [text(x) for x in got]

    def ack(self, part: int, token: str, count: int, pipe: redis.client.Pipeline | None = None) -> bool:
        """Drop the first ``count`` held items (they are done).

        With ``pipe``, the ack is only queued on it (to go with other writes).
        """
        keys = self._pkeys(part, "proc", "busy")
        if pipe is not None:
            # EVALSHA, not the Script object: a pipeline holding a Script asks
            # SCRIPT EXISTS first, one more round trip per message.  The claim
            # that preceded this ack loaded the scripts.
            pipe.evalsha(self.scripts.ack.sha, len(keys), *keys, token, count, BUSY_TTL)
            return True
        return bool(self._call(self.scripts.ack, keys, [token, count, BUSY_TTL]))

    def touch(self, part: int, token: str) -> None:
        """Keep holding the partition through a long batch (renews the busy flag)."""
        self._call_plain(lambda: self.conn.expire(self.keys.lane(self.name, part, "busy"), BUSY_TTL))

    def defer(self, part: int, token: str, delay: float) -> None:
        """Keep the partition (in order) and drain it again after ``delay`` s."""
        busy = self.keys.lane(self.name, part, "busy")
        pipe = self.conn.pipeline()
        pipe.expire(busy, int(delay) + BUSY_TTL)
        pipe.zadd(self.keys.due(self.name), {f"{part}:{token}": time.time() + delay})
        self._run(pipe)

    def release(self, part: int, token: str) -> None:
        """Give up the partition (e.g. the add-on is paused); a kick restarts it."""
        busy = self.keys.lane(self.name, part, "busy")
        if self.conn.get(busy) == token.encode():
            self.conn.delete(busy)

    def due(self, now: float) -> list[tuple[int, str]]:
        """Deferred partitions whose time has come, removed from the schedule."""
        key = self.keys.due(self.name)
        members = [text(m) for m in self.conn.zrangebyscore(key, 0, now)]
        taken = [m for m in members if self.conn.zrem(key, m)]
        return [(int(p), t) for p, t in (m.split(":", 1) for m in taken)]

    def kick(self, start: Starter) -> int:
        """Start drainers for partitions with work and no live drainer."""
        deferred = {p for p, _ in self._deferred()}
        started = 0
        for part in range(self.parts):
            if part in deferred:
                continue
            token = uuid.uuid4().hex
            if self._call(self.scripts.kick, self._pkeys(part, "q", "proc", "busy"), [token, BUSY_TTL]):
                start(self.name, part, token)
                started += 1
        return started

    def depth(self) -> int:
        """Messages waiting or held, over all partitions."""
        pipe = self.conn.pipeline()
        for part in range(self.parts):
            pipe.llen(self.keys.lane(self.name, part, "q"))
            pipe.llen(self.keys.lane(self.name, part, "proc"))
        return sum(self._run(pipe))

    def _deferred(self) -> Iterable[tuple[int, str]]:
        for member in self.conn.zrange(self.keys.due(self.name), 0, -1):
            part, token = text(member).split(":", 1)
            yield int(part), token

    def _pkeys(self, part: int, *what: str) -> list[str]:
        return [self.keys.lane(self.name, part, w) for w in what]

    @staticmethod
    def _call(script, keys, args):  # type: ignore[no-untyped-def]
        try:
            return script(keys=keys, args=args)
        except DOWN as exc:
            raise StoreUnavailable(str(exc)) from exc

    @staticmethod
    def _call_plain(call):  # type: ignore[no-untyped-def]
        try:
            return call()
        except DOWN as exc:
            raise StoreUnavailable(str(exc)) from exc

    @staticmethod
    def _run(pipe):  # type: ignore[no-untyped-def]
        try:
            return pipe.execute()
        except DOWN as exc:
            raise StoreUnavailable(str(exc)) from exc
