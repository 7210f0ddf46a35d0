"""Workers on several machines share one Redis.

Two `wa-addon worker` processes, each with its own state folder (as on two
machines), drain one Redis: replies keep their order per reseller and each
WhatsApp message moves money once, even when Meta delivers it twice.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import redis
from conftest import HOST_KEY, Stack, serve_stack, settings_env
from rq import Worker

from wa_addon.host.http import HttpHost

# Two English-speaking resellers (seeded), their PINs and the numbers they top up.
SENDERS = {"8801822222222": ("retail1", "4321", "01812345678"), "8801544444444": ("dealer2", "2468", "01912345678")}
AMOUNTS = [10 + i for i in range(10)]


@pytest.fixture
def two_workers(stack_settings, tmp_path) -> Iterator[list[subprocess.Popen]]:
    procs = []
    for n in (1, 2):
        env = {**settings_env(stack_settings), "WA_STATE_DIR": str(tmp_path / f"machine{n}")}
        with open(tmp_path / f"worker{n}.log", "wb") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "wa_addon.cli", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
    conn = redis.Redis.from_url(stack_settings.redis_url)
    deadline = time.monotonic() + 30
    while len(_workers_of(conn, stack_settings.namespace)) < 2:  # both listening before the first chat
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "a worker did not start"
        time.sleep(0.05)  # RQ registers a worker in Redis and announces it nowhere else
    yield procs
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def _workers_of(conn: redis.Redis, namespace: str) -> list[Worker]:
    return [w for w in Worker.all(connection=conn) if any(q.name.startswith(namespace) for q in w.queues)]


@pytest.fixture
def shared_stack(stack_settings, graph, two_workers) -> Iterator[Stack]:
    yield from serve_stack(stack_settings, graph)


def test_two_workers_keep_order_per_reseller_and_move_money_once(shared_stack, stack_settings):
    host = HttpHost(stack_settings.host_url, HOST_KEY)
    before = {phone: host.get_reseller(user) for phone, (user, _, _) in SENDERS.items()}
    raws = []
    for amount in AMOUNTS:
        for phone, (_, pin, number) in SENDERS.items():
            raw, resp = shared_stack.say(phone, f"FL {number} {amount} {pin}")
            assert resp.status_code == 200
            raws.append(raw)
    for raw in raws:  # Meta delivers each webhook again: no money may move twice
        assert shared_stack.post_cloud(raw).status_code == 200
    shared_stack.graph.wait_for(len(SENDERS) * len(AMOUNTS), timeout=60)

    for phone, (user, _, _) in SENDERS.items():
        replies = shared_stack.graph.sent_to(phone)
        placed = [
            Decimal(re.search(r"— ৳([\d,]+(?:\.\d\d)?)", t).group(1).replace(",", ""))
            for t in replies
            if "received" in t
        ]
        assert placed == [Decimal(a) for a in AMOUNTS], replies  # one reply each, in the order sent
        after = host.get_reseller(user)
        assert Decimal(before[phone].balance) - Decimal(after.balance) == sum(AMOUNTS)
        assert len(host.list_requests(actor=after.id, limit=50)) == len(AMOUNTS)

    ours = _workers_of(shared_stack.rt.conn, stack_settings.namespace)
    busy = [w.get_current_job_id() for w in ours]  # each runs a session (a long-lived RQ job) of the drain
    assert len(ours) == 2 and all(busy), busy
