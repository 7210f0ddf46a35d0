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

from wa_addon.settings import Settings

REQUESTS = "/api/v1/requests"  # where a top-up moves money on the host
READ_TIMEOUT = Settings().cloud_timeout  # the stack runs the default (WA_CLOUD_TIMEOUT unset)
# Sends accepted but answered late: seconds -> how many.  3 s was past this
# suite's old 2 s timeout, 15 s past the old 10 s default, 32 s past today's 30 s.
LATE = {3.0: 5, 15.0: 3, READ_TIMEOUT + 2: 2}


@dataclass(frozen=True)
class Fault:
    name: str
    harm: Callable[[Stack], None]
    copies: int = 1  # each webhook posted this many times at once
    host_via_proxy: bool = True
    quick: bool = False  # part of the CI run
    extra: dict[str, str] = field(default_factory=dict)
    device: bool = False  # the replies go out through two phones (chaos/device.py), the chats come from them
    full: bool = True  # part of the full run (False: a short form of a full fault, for CI only)
    after: Callable[[Stack], None] | None = None  # once every chat is answered and nothing is queued


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


def graph_errors(each: int, late: dict[float, int]) -> Callable[[Stack], None]:
    def harm(stack: Stack) -> None:
        graph = stack.graph
        before = len(graph.requests)
        graph.fail_next(each, 130429, http_status=400, retry_after=1)
        graph.fail_next(each, 4, http_status=429, retry_after=1)
        graph.fail_next(each, 131000, http_status=500, retry_after=1)
        graph.fail_next(each // 2, 133004, http_status=503, retry_after=1)
        refusals = 3 * each + each // 2
        graph.wait_for(lambda sent: len(graph.requests) >= before + refusals, timeout=60)  # all used up
        for seconds, count in late.items():
            graph.slow_next(count, seconds)  # accepted (sent, as Meta would), answered late

    spread = ", ".join(f"{n} x {s:.0f} s" for s, n in late.items())
    harm.__doc__ = f"""Meta refuses {each} sends with each of 130429, HTTP 429 and 500 and {each // 2} with 503,
    then accepts sends but answers them late ({spread}; the read timeout is {READ_TIMEOUT:.0f} s).

    An answer later than the read timeout is a send the sender cannot see: its
    retry is a duplicate.  Each refusal says Retry-After: 1 (without it the
    engine waits Meta's documented back-offs, up to 60 s, and the run would be
    mostly waiting); each pauses the number's sends for that second."""
    return harm


def revoke_phone(stack: Stack) -> None:
    """``wa-addon device revoke phone-a`` while it holds an open long poll and replies are queued for it."""
    from device import DeviceStack

    assert isinstance(stack, DeviceStack)
    stack.revoke("phone-a")


def revoke_idle_phone(stack: Stack) -> None:
    """Then, with nothing to send, a third phone's open poll: the revocation alone must end it."""
    from device import DeviceStack

    assert isinstance(stack, DeviceStack)
    stack.revoke_idle()


FAULTS = [
    Fault("no fault (baseline)", nothing, quick=True),
    Fault("worker process SIGKILL mid-batch (pool replaces it)", kill_one_worker, quick=True),
    Fault("whole worker SIGKILL, restarted 2 s later", kill_all_workers),
    Fault("Redis SIGTERM, restarted 5 s later", redis_restart(signal.SIGTERM)),
    Fault("Redis SIGKILL, restarted 5 s later", redis_restart(signal.SIGKILL), quick=True),
    Fault("host refusing connections for 5 s", host_refusing, host_via_proxy=False),
    Fault("host slow (40 calls answered after 2 s)", host_slow),
    Fault("host answering empty / cut / garbled / dropped", host_spoiled, quick=True),
    Fault("Graph 130429 / 429 / 500 / 503, 10 sends answered 3, 15 or 32 s late", graph_errors(10, LATE)),
    Fault(
        "Graph 130429 / 429 / 500 / 503 (14 refusals) / answers 3 s late",
        graph_errors(4, {3.0: 5}),
        quick=True,
        full=False,
    ),
    Fault("each webhook posted x10 at once", nothing, copies=10, quick=True),
    Fault("phones: each chat posted x10 at once by its phone", nothing, copies=10, device=True, quick=True),
    Fault(
        "phones: phone A revoked mid-poll (its chats and replies move to B)",
        revoke_phone,
        device=True,
        quick=True,
        after=revoke_idle_phone,
    ),
]
