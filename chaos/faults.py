"""The faults, each one a function that breaks a running :class:`~stack.Stack` while chats flow.

A fault is called a third of the way into the stream and returns when it
has done its harm (and put things back: a restart, a replacement).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from stack import Stack

REQUESTS = "/api/v1/requests"  # where a top-up moves money on the host


@dataclass(frozen=True)
class Fault:
    name: str
    harm: Callable[[Stack], None]
    copies: int = 1  # each webhook posted this many times at once
    host_via_proxy: bool = True
    quick: bool = False  # part of the CI run
    extra: dict[str, str] = field(default_factory=dict)


def nothing(stack: Stack) -> None:
    """The baseline: the same stream, no fault."""


def kill_one_worker(stack: Stack) -> None:
    """SIGKILL one of the two worker processes mid-batch; the pool starts a replacement."""
    stack.kill_worker()


def kill_all_workers(stack: Stack) -> None:
    """SIGKILL the whole ``wa-addon worker`` (pool and processes) and start it again 2 s later."""
    stack.kill_workers()
    time.sleep(2)
    stack.start_workers()


def redis_restart(sig: int) -> Callable[[Stack], None]:
    def harm(stack: Stack) -> None:
        stack.stop_redis(sig)
        time.sleep(5)
        stack.start_redis()
    harm.__doc__ = f"Stop Redis with {signal.Signals(sig).name}; start it again 5 s later (same port, same AOF)."
    return harm


def host_refusing(stack: Stack) -> None:
    """The host's server stopped for 5 s: every call is refused, then it is back."""
    stack.stop_host()
    time.sleep(5)
    stack.start_host()


def host_slow(stack: Stack) -> None:
    """The next 40 calls to the host are answered 2 s late."""
    for method in ("GET", "POST"):
        stack.proxy.spoil("slow", path="/api/v1", method=method, times=20)


def host_spoiled(stack: Stack) -> None:
    """Top-ups answered with 200 and no body, cut mid-body, garbled, or dropped (the money moved)."""
    for fault in ("empty", "cut", "garbled", "drop"):
        stack.proxy.spoil(fault, path=REQUESTS, times=5)


def graph_errors(stack: Stack) -> None:
    """Meta refuses sends (130429, HTTP 429, 500, 503), then answers some after the sender's 2 s timeout.

    Each refusal says Retry-After: 1 (without it the engine waits Meta's
    documented back-offs, up to 60 s, and the run would be mostly waiting).
    """
    graph = stack.graph
    before = len(graph.requests)
    graph.fail_next(10, 130429, http_status=400, retry_after=1)
    graph.fail_next(10, 4, http_status=429, retry_after=1)
    graph.fail_next(10, 131000, http_status=500, retry_after=1)
    graph.fail_next(5, 133004, http_status=503, retry_after=1)
    graph.wait_for(lambda sent: len(graph.requests) >= before + 35, timeout=60)  # the refusals were used up
    graph.slow_next(5, 3.0)  # accepted, answered late: the sender cannot know they went out


FAULTS = [
    Fault("no fault (baseline)", nothing, quick=True),
    Fault("worker process SIGKILL mid-batch (pool replaces it)", kill_one_worker, quick=True),
    Fault("whole worker SIGKILL, restarted 2 s later", kill_all_workers),
    Fault("Redis SIGTERM, restarted 5 s later", redis_restart(signal.SIGTERM)),
    Fault("Redis SIGKILL, restarted 5 s later", redis_restart(signal.SIGKILL), quick=True),
    Fault("host refusing connections for 5 s", host_refusing, host_via_proxy=False),
    Fault("host slow (40 calls answered after 2 s)", host_slow),
    Fault("host answering empty / cut / garbled / dropped", host_spoiled, quick=True),
    Fault("Graph 130429 / 429 / 500 / 503 / timeouts", graph_errors, quick=True),
    Fault("each webhook posted x10 at once", nothing, copies=10, quick=True),
]
