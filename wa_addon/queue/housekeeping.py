"""The housekeeper: a thread in each worker process, one leader at a time.

Each tick it announces partitions that have work and no owner when a
session went silent (sessions beat every 1.5 s; a busy flag lives 6 s
without a heartbeat, so another session takes over within ~8 s) and, as a
safety net, every 30 s whatever happened, and at once when a switch was
flipped (the add-on back on: its held outboxes go); it cuts the journals to size,
expires phone leases and runs the lifecycle timers (stuck requests,
expiring balance requests).  Scanning every partition each tick was ~3
Redis commands per chat at 10 chats/s; watching the sessions costs one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial

from wa_addon import journal
from wa_addon.queue.lanes import BUSY_TTL
from wa_addon.queue.outbox import held_when_off
from wa_addon.runtime import Runtime
from wa_addon.store import DOWN, StoreUnavailable

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between ticks
KICK_EVERY = 2.0  # seconds of leadership a tick takes
FULL_SCAN_EVERY = 30.0  # seconds between scans of every partition when no session went silent
Timer = Callable[[Runtime, float], object]


def trim_journals(rt: Runtime) -> None:
    pipe = rt.conn.pipeline(transaction=False)
    journal.trim(pipe, rt.keys)
    pipe.execute()


def kick(rt: Runtime) -> int:
    """Announce every partition with work and no owner (held outboxes stay while the add-on is off)."""
    rt.switches.refresh()
    enabled = rt.switches.enabled()
    return sum(lane.kick() for lane in rt.lanes.values() if enabled or not held_when_off(lane.name))


def kick_orphans(rt: Runtime, now: float, full: bool) -> int:
    """Announce orphaned partitions if a session went silent (or ``full``); forget silent sessions."""
    silent = rt.conn.zrangebyscore(rt.keys.sessions, "-inf", now - BUSY_TTL)
    if not silent and not full:
        return 0
    started = kick(rt)
    if silent:
        rt.conn.zrem(rt.keys.sessions, *silent)
    return started


def housekeep(rt: Runtime, timers: Iterable[Timer] = (), now: float | None = None, full: bool = True) -> int:
    """One tick's work; each step on its own, so one failing does not skip the others.

    Args:
        full: scan every partition, not only when a session went silent.

    Returns:
        How many partitions were announced.
    """
    now = time.time() if now is None else now
    steps: list[Callable[[], object]] = [partial(kick_orphans, rt, now, full), partial(trim_journals, rt)]
    steps += [partial(tidy, now) for t in rt.transports.values() if (tidy := getattr(t, "housekeep", None))]
    steps += [partial(timer, rt, now) for timer in timers]
    results = [_step(step) for step in steps]
    return results[0] if isinstance(results[0], int) else 0


def _step(step: Callable[[], object]) -> object:
    try:
        return step()
    except (StoreUnavailable, *DOWN):
        log.warning("housekeeping: Redis unavailable, will try again")
    except Exception:  # a bug in one step must not stop the others, nor the next tick
        log.exception("housekeeping step failed")
    return None


def _leader(rt: Runtime, ident: str, period: float) -> bool:
    """One housekeeper per namespace per period (every worker process runs one)."""
    try:
        return bool(rt.conn.set(rt.keys.lane("housekeeper", 0, "lead"), ident, nx=True, px=int(period * 1000)))
    except (StoreUnavailable, *DOWN):
        return False


def run(rt: Runtime, stop: threading.Event, timers: Iterable[Timer] = (), every: float = TICK) -> None:
    """The housekeeper thread's loop (never raises)."""
    ident = f"{threading.get_ident()}-{time.time_ns()}"
    scanned, seen = time.monotonic(), _switches_version(rt)
    while not stop.wait(every):
        if _leader(rt, ident, KICK_EVERY * 0.9):
            version = _switches_version(rt)
            # A switch flipped (the add-on back on, by the admin page or straight in Redis): held outboxes go now.
            full = time.monotonic() - scanned > FULL_SCAN_EVERY or version != seen
            housekeep(rt, timers, full=full)
            scanned = time.monotonic() if full else scanned
            seen = version


def _switches_version(rt: Runtime) -> object:
    """The switches' version number (every change bumps it)."""
    try:
        return rt.conn.get(rt.keys.switches_version)
    except (StoreUnavailable, *DOWN):
        return None
