"""Draining a work lane (inbound chats, host events) in batches.

Each item is processed by a lane-specific function that returns the messages
to send; they are queued before the batch is acked, so a crash re-runs the
batch and the outbox's dedupe drops the repeats.  A host or Redis outage
stops the batch at that item, keeps it first in line and tries again later;
an item that fails for any other reason (a bug, a malformed payload) is set
aside in the lane's dead letters so it cannot block the senders behind it.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable

from rq.timeouts import BaseTimeoutException

from wa_addon import outbox
from wa_addon.host import HostUnavailable
from wa_addon.lanes import Lane
from wa_addon.messages import Outbound
from wa_addon.runtime import DRAIN_BUDGET, Runtime
from wa_addon.store import BUSY_TTL, DOWN, StoreUnavailable

log = logging.getLogger(__name__)

HOST_RETRY = 5.0  # seconds before an item that met a host or Redis outage is tried again

# Outages: stop the batch at this item, keep it first in line, retry later.
RETRY_LATER = (HostUnavailable, StoreUnavailable, *DOWN)

# (runtime, raw item) -> (transport name or None for the default, messages to send)
Processor = Callable[[Runtime, str], tuple[str | None, list[Outbound]]]


def consume(rt: Runtime, lane_name: str, part: int, token: str, process: Processor) -> int:
    """Process a lane partition until empty, an outage, or the time budget; returns items done."""
    lane = rt.lanes[lane_name]
    total, started = 0, time.monotonic()
    while True:
        batch = lane.claim(part, token, rt.settings.batch_size)
        if not batch:
            return total
        done, out = _run(rt, lane, part, token, batch, process)
        for transport, msgs in out.items():
            outbox.push(rt, msgs, transport)
        if not lane.ack(part, token, done):
            log.warning("lane %s/%d: lost the partition to another drainer; stopping", lane_name, part)
            return total
        total += done
        if done < len(batch):
            lane.defer(part, token, HOST_RETRY)
            return total
        if time.monotonic() - started > DRAIN_BUDGET:
            rt.start_drain(lane_name, part, token)  # a fresh job goes on; RQ's job timeout never hits
            return total


def _run(rt: Runtime, lane: Lane, part: int, token: str, batch: list[str],
         process: Processor) -> tuple[int, dict[str | None, list[Outbound]]]:
    out: dict[str | None, list[Outbound]] = defaultdict(list)
    touched = time.monotonic()
    for done, raw in enumerate(batch):
        if time.monotonic() - touched > BUSY_TTL / 4:  # a slow host must not let the claim expire
            lane.touch(part, token)
            touched = time.monotonic()
        try:
            transport, msgs = process(rt, raw)
        except RETRY_LATER as exc:
            log.warning("%s; item kept for a retry", type(exc).__name__)
            return done, out
        except BaseTimeoutException:
            raise
        except Exception:  # an item nobody can process must not block its partition
            log.exception("lane %s: an item failed; kept in the dead letters", lane.name)
            rt.conn.rpush(rt.keys.dead(lane.name), raw)
            continue
        out[transport] += msgs
    return len(batch), out
