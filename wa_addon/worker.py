"""The worker process: RQ SimpleWorkers draining the lanes, plus a housekeeper.

SimpleWorker runs jobs in its own process (RQ's default Worker forks per job:
~72 jobs/s here against ~290).  The housekeeper thread restarts partitions
whose retry time has come and any whose drainer died (its busy flag expired).
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable

from rq import SimpleWorker

from wa_addon.runtime import Runtime, install

log = logging.getLogger(__name__)


def _housekeeper(rt: Runtime, stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        rt.housekeep()  # never raises: each step catches its own failure


def run(rt: Runtime, *, burst: bool = False, housekeep_every: float = 1.0) -> None:
    """Work the add-on's queues in this process until stopped (or empty, with ``burst``)."""
    install(rt)
    stop = threading.Event()
    keeper = threading.Thread(target=_housekeeper, args=(rt, stop, housekeep_every), daemon=True)
    keeper.start()
    rt.housekeep()  # pick up what a previous run left behind
    worker = SimpleWorker([rt.queues["in"], rt.queues["out"]], connection=rt.conn)
    try:
        worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
    finally:
        stop.set()
        rt.close()


def run_pool(build: Callable[[], Runtime], processes: int, *, burst: bool = False) -> None:
    """Run ``processes`` worker processes, each with its own runtime."""
    if processes <= 1:
        run(build(), burst=burst)
        return
    ctx = multiprocessing.get_context("spawn")  # no Redis sockets shared across a fork
    procs = [ctx.Process(target=_child, args=(build, burst), daemon=False) for _ in range(processes)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()


def _child(build: Callable[[], Runtime], burst: bool) -> None:
    run(build(), burst=burst)
