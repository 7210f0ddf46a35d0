"""RQ job functions: thin, importable, taking primitives only.

The one job is a session (see :mod:`wa_addon.queue.session`); it enqueues
its successor when its budget is spent, so each worker process keeps one
session going whatever RQ does between them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rq import Queue, get_current_job

from wa_addon import inbound
from wa_addon.hooks import notify, timers
from wa_addon.queue.session import BUDGET, Processor, Session
from wa_addon.runtime import EVENT_LANE, IN_LANE, Runtime, current

# Work lanes and what processes one of their items; every other lane is an outbox.
PROCESSORS: dict[str, Processor] = {IN_LANE: inbound.process, EVENT_LANE: notify.process}

# What the housekeeper runs besides announcing orphaned partitions, as timer(runtime, now).
TIMERS: list[Callable[[Runtime, float], object]] = [timers.housekeep]

# Set by the worker when it is asked to stop: the running session hands over at once.
STOP = threading.Event()


def enqueue_session(queue: Queue, burst: bool = False) -> None:
    """Start one more session (one per worker process is the steady state)."""
    # RQ's job timeout only stops a session that is truly stuck: it hands over after BUDGET.
    queue.enqueue(session, burst, job_timeout=int(BUDGET) * 5, result_ttl=0, failure_ttl=7 * 24 * 3600)


def session(burst: bool = False) -> int:
    """Work every lane for one budget, then pass the baton (on this worker's own queue); returns items done."""
    rt = current()
    done = Session(rt, PROCESSORS, stop=STOP, burst=burst).run()
    job = get_current_job()
    if not STOP.is_set() and not burst and job is not None:
        enqueue_session(Queue(job.origin, connection=rt.conn))
    return done
