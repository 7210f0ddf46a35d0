"""The worker process: RQ workers running sessions, plus a housekeeper thread.

``wa-addon worker --processes N`` runs RQ's :class:`~rq.worker_pool.WorkerPool`
of N :class:`EngineWorker` processes; the pool replaces a process that dies
(a Redis that is down makes a process exit; the pool starts a new one every
second until Redis answers).  Each process enqueues one session at start, so
there are as many sessions as processes; a SIGTERM or SIGINT asks the
running session to hand over and the process to stop (warm).

SimpleWorker runs the job in its own process (RQ's default Worker forks per
job: ~72 jobs/s here against ~290; a session is one job a minute, but a
fork per session would lose the keep-alive connections).
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from typing import Any

from rq import SimpleWorker
from rq.worker_pool import WorkerPool

from wa_addon import redis_conn
from wa_addon.queue import housekeeping, jobs
from wa_addon.runtime import current
from wa_addon.settings import Settings
from wa_addon.store import Keys

log = logging.getLogger(__name__)


class EngineWorker(SimpleWorker):
    """An RQ SimpleWorker that keeps one session going and runs the housekeeper.

    Each worker listens first on a queue of its own (the shared queue's name
    + its worker name), where its session and each successor go: a pool of N
    always runs N sessions.  (With one shared queue, a process that saw a
    sibling's session job still waiting skipped starting its own and stayed
    idle: measured in 2 starts of 5.)
    """

    def __init__(self, queues: Any, *args: Any, **kwargs: Any):
        kwargs["name"] = kwargs.get("name") or uuid.uuid4().hex
        # RQ's pool rebuilds the parent's connection in each child as a plain ConnectionPool,
        # which keeps its connections to a demoted master; the factory's follows Sentinel.
        kwargs["connection"] = redis_conn.connect(current().settings)
        queues = list(queues) if isinstance(queues, list | tuple) else [queues]
        names = [q if isinstance(q, str) else q.name for q in queues]  # on this connection, not RQ's
        own = f"{names[0]}-{kwargs['name']}"
        super().__init__([own, *names], *args, **kwargs)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        rt = current()
        stop = threading.Event()
        keeper = threading.Thread(
            target=housekeeping.run, args=(rt, stop, jobs.TIMERS), daemon=True, name="wa-housekeeper"
        )
        keeper.start()
        housekeeping.housekeep(rt, jobs.TIMERS)  # pick up what a previous run left behind
        jobs.enqueue_session(self.queues[0], burst=bool(kwargs.get("burst")))
        kwargs.update(with_scheduler=False)
        kwargs.setdefault("logging_level", "WARNING")
        try:
            return super().work(*args, **kwargs)
        finally:
            stop.set()
            self.queues[0].delete(delete_jobs=True)  # its own queue goes with it
            rt.close()

    def request_stop(self, signum: Any, frame: Any) -> None:
        jobs.STOP.set()  # the session hands over now, not at the end of its budget
        super().request_stop(signum, frame)


def run_pool(settings: Settings, processes: int, *, burst: bool = False) -> None:
    """Run ``processes`` worker processes (replaced when one dies) until stopped."""
    os.environ.update(settings.to_env())  # the children build their runtime from the environment
    conn = redis_conn.connect(settings)
    queue = Keys(settings.namespace).queue("engine")
    pool = WorkerPool([queue], connection=conn, num_workers=max(1, processes), worker_class=EngineWorker)
    pool.start(burst=burst, logging_level="WARNING")
