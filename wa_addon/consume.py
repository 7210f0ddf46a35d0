"""Draining a work lane (inbound chats, host events) in batches.

Each item is processed by a lane-specific function that returns the messages
to send; they are queued before the batch is acked, so a crash re-runs the
batch and the outbox's dedupe drops the repeats.  A host outage stops the
batch at that item, keeps it first in line and tries again later.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

from wa_addon import outbox
from wa_addon.host import HostUnavailable
from wa_addon.messages import Outbound
from wa_addon.runtime import Runtime

log = logging.getLogger(__name__)

HOST_RETRY = 5.0  # seconds before an item that met a host outage is tried again

# (runtime, raw item) -> (transport name or None for the default, messages to send)
Processor = Callable[[Runtime, str], tuple[str | None, list[Outbound]]]


def consume(rt: Runtime, lane_name: str, part: int, token: str, process: Processor) -> int:
    """Process a lane partition until empty or the host is down; returns items done."""
    lane = rt.lanes[lane_name]
    total = 0
    while True:
        batch = lane.claim(part, token, rt.settings.batch_size)
        if not batch:
            return total
        done, out = _run(rt, batch, process)
        for transport, msgs in out.items():
            outbox.push(rt, msgs, transport)
        lane.ack(part, token, done)
        total += done
        if done < len(batch):
            lane.defer(part, token, HOST_RETRY)
            return total


def _run(rt: Runtime, batch: list[str], process: Processor) -> tuple[int, dict[str | None, list[Outbound]]]:
    out: dict[str | None, list[Outbound]] = defaultdict(list)
    for done, raw in enumerate(batch):
        try:
            transport, msgs = process(rt, raw)
        except HostUnavailable:
            log.warning("host unavailable; item kept for a retry")
            return done, out
        out[transport] += msgs
    return len(batch), out
