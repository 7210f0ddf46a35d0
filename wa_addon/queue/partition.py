"""What a session knows of the partitions it owns: their items, in claim order, and what to write.

A partition's items are claimed into ``Owned.order`` (the order Redis holds
them in) and wait per order key in ``pending`` until started; at most one
item per key runs at a time, and the oldest claimed start first (``seq``
orders them across the session's partitions).  What finished is written in
one ``Flush``.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field

from wa_addon.messages import Outbound
from wa_addon.queue.lanes import Lane
from wa_addon.transports.base import SendResult


@dataclass(eq=False)
class Task:
    raw: str  # as queued: acked by value when not at the front
    key: str  # order key
    payload: str
    seq: int = 0  # claim order over the whole session: the oldest start first
    queued: bool = True  # waiting in ``pending`` (not running)
    done: bool = False
    acked: bool = False
    journal: list[tuple[str, list[str]]] = field(default_factory=list)  # its run's deferred journal writes


@dataclass
class Owned:
    """A partition this session owns."""

    lane: Lane
    part: int
    token: str
    claimed: bool = False  # the first claim (which recovers a dead owner's items) is done
    wake: bool = False  # a push into its empty queue said there is more
    more: bool = False  # the last claim was cut by room: more may be queued
    active_at: float = 0.0  # when it last had work: let go after LINGER idle
    claimed_at: float = 0.0  # when it was last claimed from
    lost: bool = False
    held: int = 0  # items claimed and not yet acked
    order: deque[Task] = field(default_factory=deque)  # claimed and not yet acked, in claim (= proc) order
    pending: dict[str, deque[Task]] = field(default_factory=lambda: defaultdict(deque))
    running: set[str] = field(default_factory=set)
    not_before: dict[str, float] = field(default_factory=dict)

    def startable(self, now: float, limit: int) -> list[Task]:
        """Up to ``limit`` tasks that may start, oldest claimed first: the first waiting task of
        each key that has none running and is not held back.

        In claim order, not key order: a key's items claimed later must not
        keep an older item of another key waiting (that held the partition's
        acks, then its claims, for seconds at load).
        """
        out: list[Task] = []
        seen: set[str] = set()
        for task in self.order:
            if len(out) >= limit:
                break
            if not task.queued or task.key in seen:
                continue
            seen.add(task.key)
            if task.key not in self.running and self.not_before.get(task.key, 0.0) <= now:
                out.append(task)
        return out

    def start(self, task: Task) -> None:
        task.queued = False
        self.pending[task.key].popleft()
        if not self.pending[task.key]:
            del self.pending[task.key]
        self.running.add(task.key)

    def put_back(self, task: Task, until: float) -> None:
        self.running.discard(task.key)
        task.queued = True
        self.pending[task.key].appendleft(task)
        self.not_before[task.key] = until

    def to_ack(self, all_done: bool) -> tuple[int, list[Task], list[Task]]:
        """What to ack now: the done front of ``order`` (by count) and, with ``all_done`` or
        when the front waits on a retry, the done items behind it (by value)."""
        first = []
        while self.order and self.order[0].done:
            first.append(self.order.popleft())
        front_waits = bool(self.order) and self.order[0].key not in self.running
        rest = [t for t in self.order if t.done and not t.acked] if all_done or front_waits else []
        return sum(1 for t in first if not t.acked), first, rest


@dataclass
class Flush:
    """What finished since the last flush, written in one pipeline."""

    replies: list[tuple[str | None, list[Outbound]]] = field(default_factory=list)
    records: list[tuple[str, Outbound, SendResult, str]] = field(default_factory=list)
    dead: list[tuple[str, str]] = field(default_factory=list)
    journal: list[tuple[str, list[str]]] = field(default_factory=list)  # the chats' journal and audit entries
    pauses: dict[str, float] = field(default_factory=dict)
    done: int = 0  # items finished since the last flush


# partition -> (how many of the held front to ack, those front tasks, done tasks further back)
Acks = dict[tuple[str, int], tuple[int, list[Task], list[Task]]]
