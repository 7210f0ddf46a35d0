"""Faults on the deployment shape: nothing acknowledged is lost, no money moves twice.

Real processes (chaos/stack.py): `wa-addon serve` under gunicorn,
`wa-addon worker --processes 2`, a private Redis with AOF, the sandbox host
under gunicorn; only Meta is faked.  Chats are signed webhooks of top-ups,
each to a number of its own, so its reply and its host rows are counted.
Duplicates (the at-least-once window, docs/reliability.md) are reported
in the test output, not asserted away.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import eventually

from wa_addon.redis_server import EmbeddedRedis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "chaos"))
from chats import Chat, make_chats, post, replies_per_chat, stream, tally
from device import DeviceStack
from stack import Stack, seed_host

MOVE_ON = 10.0  # seconds within which a killed worker's work moves on (issue 10, fault 4)


@pytest.fixture
def shape(tmp_path) -> Iterator[tuple[Path, EmbeddedRedis]]:
    """A seeded host database and a private Redis with AOF (it is restarted by some tests)."""
    seed_host(tmp_path / "host.sqlite3", faults=3)
    server = EmbeddedRedis(tmp_path / "redis", persist=True).start()
    yield tmp_path, server
    server.stop()


def answered(stack: Stack, chats: list[Chat]) -> list[int]:
    return replies_per_chat(chats, stack.sent())


def webhooks(stack: Stack, chats: list[Chat], seconds: float):
    return stream(lambda _, chat: post(stack.webhook, chat), chats, seconds)


def report(stack: Stack, fault: str, chats: list[Chat]):
    """The fault's row (printed: pytest -s shows the duplicates)."""
    assert stack.wait_drained(timeout=45)  # every retry sent: its duplicates are counted too
    time.sleep(1)  # a send still in flight when the lanes emptied
    assert stack.dead_letters() == 0
    row = tally(fault, chats, stack.sent(), stack.host_rows([c.number for c in chats if c.number]))
    print(row.row())
    return row


def test_a_worker_killed_with_sends_in_flight_loses_nothing_and_moves_money_once(shape):
    workdir, server = shape
    with Stack(workdir, server, "kill") as stack:
        stack.wait_workers()
        stack.graph.slow_next(100, 1.0)  # every send takes a second: the kill finds some in flight
        chats = make_chats(30, first_reseller=0, senders=6)
        webhooks(stack, chats, seconds=1).join()
        assert all(c.acked for c in chats)
        assert stack.graph.wait_for(lambda sent: len(stack.graph.requests) >= 3, timeout=20) is not None
        victim = stack.kill_worker()
        killed_at = time.monotonic()
        # Drained: the dead session's held items were taken over and done (a reply the fake
        # recorded before the kill would make "answered" true without that).
        assert stack.wait_drained(timeout=60)
        took = time.monotonic() - killed_at
        row = report(stack, "worker SIGKILL with sends in flight", chats)
        assert row.lost == 0 and row.double_money == 0
        # How long the take-over took is a figure, not a pass mark (a loaded machine stretches
        # it: 39 s was seen at a load average of 8): printed beside the row (pytest -s).
        print(f"drained {took:.1f} s after the kill (take-over bound {MOVE_ON} s, then 1 s a send)")
        assert victim not in stack.worker_children()
        assert eventually(lambda: len(stack.worker_children()) == 2, timeout=10)  # the pool replaced it


def test_chats_flowing_through_a_redis_restart_are_all_answered_by_the_same_worker(shape):
    workdir, server = shape
    with Stack(workdir, server, "redis") as stack:
        stack.wait_workers()
        pool, before = stack.pool, stack.worker_children()
        chats = make_chats(40, first_reseller=40, senders=8)
        poster = webhooks(stack, chats, seconds=6)
        time.sleep(2)
        stack.stop_redis(signal.SIGTERM)
        time.sleep(5)
        stack.start_redis()
        poster.join()
        assert all(c.acked for c in chats)  # refused (503) while Redis was down, then taken
        assert eventually(lambda: all(answered(stack, chats)), timeout=60)
        row = report(stack, "Redis SIGTERM, restarted 5 s later", chats)
        assert row.lost == 0 and row.double_money == 0
        assert pool is not None and pool.poll() is None  # nobody restarted `wa-addon worker`
        assert stack.worker_children() == before  # the same processes rode it out: none died, none replaced


def test_a_phone_revoked_mid_poll_gets_nothing_more_and_its_replies_go_out_once_through_the_other(shape):
    """Issue 10, door 6, on real processes: the chats come from two phones, each posted 3 times at once."""
    workdir, server = shape
    with DeviceStack(workdir, server, "revoke") as stack:
        stack.wait_workers()
        chats = make_chats(30, first_reseller=80, senders=6)
        poster = stream(lambda i, chat: stack.post_chat(i, chat, copies=3), chats, seconds=3)
        time.sleep(1)
        stack.revoke("phone-a")
        poster.join()
        assert all(c.acked for c in chats)
        assert eventually(lambda: all(answered(stack, chats)), timeout=60)
        stack.revoke_idle()
        row = report(stack, "phone A revoked mid-poll", chats)
        stack.report()
        print("\n".join(stack.notes))
        assert row.lost == 0 and row.double_money == 0
        assert stack.broken == 0, stack.notes  # its poll ended, nothing was leased to it after


def test_every_worker_process_of_a_pool_runs_a_session(shape):
    """Each worker has its own session queue (a shared one left 1 of 2 processes idle in 2 starts of 5)."""
    workdir, server = shape
    with Stack(workdir, server, "sessions") as stack:
        stack.kill_workers()  # the stack's own pool: this test starts bigger ones
        for _ in range(3):  # 4 processes: few starts give all four a session (1 in 5 runs at most, measured)
            stack.pool = subprocess.Popen(
                [sys.executable, "-m", "wa_addon.cli", "worker", "--processes", "4"],
                env=stack.env(),
                start_new_session=True,
            )
            try:
                assert eventually(lambda: len(stack.worker_children()) == 4, timeout=15)
                assert eventually(lambda: len(stack.session_pids()) == 4, timeout=8), stack.session_pids()
            finally:
                stack.pool.terminate()
                stack.pool.wait(15)
