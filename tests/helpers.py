"""Helpers shared by test modules (imported, never collected)."""

from __future__ import annotations

from wa_addon.messages import Outbound
from wa_addon.queue.jobs import PROCESSORS
from wa_addon.queue.lanes import decode
from wa_addon.queue.session import Session
from wa_addon.runtime import Runtime
from wa_addon.store import text


def payloads(rt: Runtime, lane_name: str) -> list[str]:
    """What waits on a lane, partition by partition, in order (without the order keys)."""
    lane = rt.lanes[lane_name]
    raws = [r for p in range(lane.parts) for r in rt.conn.lrange(rt.keys.lane(lane.name, p, "q"), 0, -1)]
    return [decode(text(raw))[1] for raw in raws]


def queued(rt: Runtime, lane_name: str) -> list[Outbound]:
    """The messages waiting on an outbox lane."""
    return [Outbound.from_json(raw) for raw in payloads(rt, lane_name)]


def drain(rt: Runtime, classes: tuple[str, ...] = ("hi", "lo")) -> int:
    """Run a session in this process until nothing is left (what a worker would do)."""
    return Session(rt, PROCESSORS, burst=True, classes=classes, budget=30).run()
