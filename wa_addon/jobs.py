"""RQ job functions: thin, importable, taking ids and primitives only."""

from __future__ import annotations

from wa_addon import inbound, outbox
from wa_addon.runtime import IN_LANE, current


def drain(lane: str, part: int, token: str) -> int:
    """Drain one lane partition (inbound commands or a transport's outbox)."""
    rt = current()
    if lane == IN_LANE:
        return inbound.drain(rt, part, token)
    return outbox.drain(rt, lane, part, token)
