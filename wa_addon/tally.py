"""Counters the hot path writes and ``GET /metrics`` reads: one Redis command (or pipeline) each.

Prometheus counters kept in one process's memory would differ from process
to process; these live in Redis, so any web process answers a scrape with
the whole deployment's figures.  Each write is small and self-contained:

- :func:`send_error`: one HINCRBY, on a pipeline the caller flushes anyway
  or alone (a send told to retry); :func:`late_send_error` for a ``failed``
  status reported later (a SET NX first: once per message);
- :class:`HostLatency`: at most one pipeline per host call, and under load
  one per half second for all of them (a HINCRBY per bucket, one for the
  sum in microseconds), written by a thread of its own, never by the caller.
"""

from __future__ import annotations

import bisect
import logging
import os
import queue
import threading
import time
from collections import Counter
from typing import Any

import redis

from wa_addon.store import SEEN_TTL, Keys, text

log = logging.getLogger(__name__)

# Upper bounds (seconds) of the host-call latency buckets; the last bucket is +Inf.
HOST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SUM_FIELD = "sum_us"
INF = "+Inf"
MAX_BATCH = 10_000  # host calls written in one pipeline at most
WRITE_EVERY = 0.5  # seconds the writer lets calls gather before writing them
WRITER_IDLE = 60.0  # seconds without a host call before the writer thread leaves (the next call starts one)


def send_error(pipe: Any, keys: Keys, transport: str, code: str | None) -> None:
    """Count one send that failed, or was told to retry, with Meta's (or the transport's) ``code``."""
    pipe.hincrby(keys.metrics_send_errors, f"{transport}|{code or 'none'}", 1)


def late_send_error(conn: redis.Redis, keys: Keys, transport: str, wa_msg_id: str, error: str | None) -> None:
    """Count a ``failed`` status the transport reported after the send (``"<code> <title>"``), once per message.

    Meta reports most delivery errors this way (131026, 131047, 131049, ...),
    and repeats a status at will: a mark per message id counts it once.
    """
    if conn.set(keys.seen("failed-status-count", wa_msg_id), "1", nx=True, ex=SEEN_TTL):
        code = (error or "").split(" ", 1)[0]
        send_error(conn, keys, transport, code if code.isdigit() else None)


def bucket(seconds: float) -> str:
    """The bucket field a call of ``seconds`` is counted in: its upper bound, or ``+Inf``."""
    i = bisect.bisect_left(HOST_BUCKETS, seconds)
    return repr(HOST_BUCKETS[i]) if i < len(HOST_BUCKETS) else INF


class HostLatency:
    """Records host calls' durations in Redis (:attr:`HttpHost.observe` takes :meth:`record`).

    The caller's thread only hands the figure over (a queue put, about a
    microsecond); a writer thread of this process adds up what came in the
    last :data:`WRITE_EVERY` seconds and writes it in one pipeline (a HINCRBY
    per bucket seen, and the sum), so a host call never waits for Redis for
    its metric, and a busy worker writes twice a second, not once a call.  A
    Redis that fails loses those figures, never a call (logged once per
    outage); a process killed loses at most the last half second's figures.
    """

    def __init__(self, conn: redis.Redis, keys: Keys):
        self.conn, self.key = conn, keys.metrics_host_latency
        self._queue: queue.SimpleQueue[float] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._writer_pid = 0  # the process whose writer runs: a forked worker starts its own
        self._down = False

    def record(self, seconds: float) -> None:
        """Count one call of ``seconds`` (written to Redis by the writer thread, soon after)."""
        self._queue.put(seconds)
        with self._lock:  # read under the lock: a writer that is leaving has left, or has seen this call
            if self._writer_pid != os.getpid():
                self._writer_pid = os.getpid()
                threading.Thread(target=self._write, name="wa-host-latency", daemon=True).start()

    def _write(self) -> None:
        """The writer: gathers calls, writes them; leaves after :data:`WRITER_IDLE` seconds without one."""
        while True:
            try:
                first = self._queue.get(timeout=WRITER_IDLE)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._writer_pid = 0
                        return
                continue
            time.sleep(WRITE_EVERY)  # let calls gather: one pipeline for many, not a round trip each
            self.flush(first)

    def flush(self, first: float | None = None) -> int:
        """Write what is queued (and ``first``) in one pipeline; returns how many calls were written."""
        calls = [] if first is None else [first]
        while len(calls) < MAX_BATCH:
            try:
                calls.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if calls:
            self._execute(calls)
        return len(calls)

    def _execute(self, calls: list[float]) -> None:
        pipe = self.conn.pipeline(transaction=False)
        for field, count in Counter(map(bucket, calls)).items():
            pipe.hincrby(self.key, field, count)
        pipe.hincrby(self.key, SUM_FIELD, int(sum(calls) * 1_000_000))
        try:
            pipe.execute()
        except redis.exceptions.RedisError as exc:
            if not self._down:
                log.warning("host latency not recorded: Redis unavailable (%s)", type(exc).__name__)
            self._down = True
        else:
            self._down = False


def host_histogram(conn: redis.Redis, keys: Keys) -> tuple[list[tuple[str, float]], float]:
    """(cumulative buckets as Prometheus wants them, sum in seconds) from the stored counts."""
    raw = {text(k): int(v) for k, v in conn.hgetall(keys.metrics_host_latency).items()}
    buckets, running = [], 0
    for le in [*map(repr, HOST_BUCKETS), INF]:
        running += raw.get(le, 0)
        buckets.append((le, float(running)))
    return buckets, raw.get(SUM_FIELD, 0) / 1_000_000
