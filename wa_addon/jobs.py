"""RQ job functions: thin, importable, taking ids and primitives only."""

from __future__ import annotations

from collections.abc import Callable

from wa_addon import inbound, outbox
from wa_addon.consume import Processor, consume
from wa_addon.hooks import notify
from wa_addon.runtime import EVENT_LANE, IN_LANE, Runtime, current

# Work lanes and what processes one of their items; every other lane is an outbox.
PROCESSORS: dict[str, Processor] = {IN_LANE: inbound.process, EVENT_LANE: notify.process}

# What the worker's housekeeper runs besides restarting lanes, as timer(runtime, now).
TIMERS: list[Callable[[Runtime, float], object]] = [notify.housekeep]


def drain(lane: str, part: int, token: str) -> int:
    """Drain one lane partition: inbound chats, host events, or a transport's outbox."""
    rt = current()
    if lane in PROCESSORS:
        return consume(rt, lane, part, token, PROCESSORS[lane])
    return outbox.drain(rt, lane, part, token)
