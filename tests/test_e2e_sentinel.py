"""Redis Sentinel: a forced failover while chats flow loses no chat and moves no money twice.

Real parts: a master, a replica and three sentinels (tests/sentinel_cluster.py),
a `wa-addon worker` process with two RQ workers, the add-on served over HTTP,
the sandbox host and the fake Graph API.  The settings name only the sentinels.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
import requests
from conftest import (
    APP_SECRET,
    HOST_KEY,
    cloud_settings,
    settings_env,
)
from sentinel_cluster import SentinelCluster, retried

from wa_addon import doctor, redis_conn
from wa_addon.app import Addon, not_found
from wa_addon.host.http import HttpHost
from wa_addon.inbound import Intake
from wa_addon.messages import Inbound
from wa_addon.runtime import IN_LANE, Runtime
from wa_addon.sandbox import SandboxDB, create_sandbox_app, seed
from wa_addon.settings import Settings
from wa_addon.store import StoreUnavailable
from wa_addon.testing import cloud_payloads as cp
from wa_addon.testing.wsgi_server import serve_in_thread

# Seeded resellers (sandbox/seed.py) and their PINs; retail1 and dealer2 are answered in English.
SENDERS = [("8801822222222", "4321"), ("8801711111111", "1234"), ("8801933333333", "5678"), ("8801544444444", "2468")]
CHATS_EACH = 9  # every other one moves money
FAILOVER_AFTER = 8  # chats posted before SENTINEL FAILOVER
BENGALI_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")


@pytest.fixture
def cluster(tmp_path):
    with SentinelCluster(tmp_path / "redis") as running:
        yield running


@pytest.fixture
def host_db(tmp_path):
    db = SandboxDB(str(tmp_path / "host.sqlite3"), kdf_cost=4)
    seed(db)
    yield db
    db.close()


@pytest.fixture
def settings(cluster, host_db, graph, namespace):
    url, stop = serve_in_thread(create_sandbox_app(host_db, HOST_KEY))
    yield cloud_settings(
        redis_sentinels=cluster.sentinels,
        redis_sentinel_master=cluster.name,
        namespace=namespace,
        host_url=url,
        cloud_graph_url=graph.url,
    )
    stop()


def test_connect_follows_the_master_the_sentinels_name(cluster):
    settings = Settings(redis_sentinels=cluster.sentinels, redis_sentinel_master=cluster.name)
    conn = redis_conn.connect(settings, socket_timeout=5)
    conn.set("k", "before")
    assert conn.info("server")["tcp_port"] == cluster.master_port
    new = cluster.failover()
    assert new == cluster.replica_port
    assert retried(lambda: conn.set("k", "after")) and conn.info("server")["tcp_port"] == new
    assert conn.get("k") == b"after"


def test_doctor_reports_the_sentinels_and_the_current_master(cluster):
    settings = Settings(redis_sentinels=cluster.sentinels, redis_sentinel_master=cluster.name)
    check = doctor.check_redis(settings)
    assert check.ok and f"master mymaster at 127.0.0.1:{cluster.master_port}" in check.detail
    assert all(s in check.detail for s in cluster.sentinels)
    wrong = doctor.check_redis(settings.with_(redis_sentinel_master="nosuchmaster"))
    assert not wrong.ok and "no master from the sentinels: MasterNotFoundError" in wrong.detail


def test_with_sentinels_no_embedded_redis_is_started(cluster, tmp_path):
    from wa_addon.cli import ensure_redis

    env = {"WA_REDIS_SENTINELS": ",".join(cluster.sentinels), "WA_STATE_DIR": str(tmp_path / "state")}
    settings = ensure_redis(Settings.from_env(env))
    assert settings.redis_url == "" and settings.redis_sentinel_master == "mymaster"
    assert not (tmp_path / "state").exists()
    assert redis_conn.connect(settings).info("server")["tcp_port"] == cluster.master_port


def test_a_chat_is_taken_only_once_a_replica_has_it(cluster, namespace):
    # What a webhook answers 200 for must survive a failover: the push waits for the replica
    # (WAIT), and a replica that does not answer in time makes it 503 (the sender tries again).
    settings = Settings(redis_sentinels=cluster.sentinels, redis_sentinel_master=cluster.name, namespace=namespace)
    rt = Runtime(settings.with_(redis_wait_ms=300), HttpHost("http://127.0.0.1:9", HOST_KEY), transports={})
    chat = Inbound(transport="cloud", msg_id="wamid.R1", sender="8801822222222", text="BAL")
    assert rt.settings.replicas_to_wait == 1 and Intake(rt).submit([chat], []) == 1
    replica = cluster.procs[1].pid  # started second (tests/sentinel_cluster.py)
    os.kill(replica, signal.SIGSTOP)  # alive (the master still counts it) but acknowledging nothing
    try:
        second = Inbound(transport="cloud", msg_id="wamid.R2", sender="8801822222222", text="BAL")
        with pytest.raises(StoreUnavailable, match="0 of 1 replica"):
            Intake(rt).submit([second], [])
    finally:
        os.kill(replica, signal.SIGCONT)
    assert Intake(rt).submit([second], []) == 1  # the retry: queued once (the seen mark), now replicated
    assert rt.lanes[IN_LANE].depth() == 2
    unguarded = Runtime(settings.with_(redis_wait_replicas=0), rt.host, transports={})
    assert unguarded.settings.replicas_to_wait == 0


def test_beside_sentinels_the_url_gives_only_the_credentials():
    url = "redis://u:secret@10.0.0.9:6380/2"
    assert redis_conn._credentials(url) == {"username": "u", "password": "secret", "db": 2}
    assert redis_conn._credentials("") == {}


def test_chats_flowing_through_a_failover_are_all_answered_and_money_moves_once(
    cluster, settings, host_db, graph, tmp_path
):
    worker = _worker(settings, tmp_path / "worker.log")
    addon = Addon(settings, HttpHost(settings.host_url, HOST_KEY))
    base, stop_web = serve_in_thread(addon.mount(not_found))
    chats = _chats()
    try:
        poster = Poster(f"{base}{settings.prefix}/webhooks/cloud", chats)
        poster.start()
        assert poster.posted.wait_for(FAILOVER_AFTER, timeout=60)
        assert cluster.failover() == cluster.replica_port
        poster.join(120)
        assert poster.ok == len(chats), poster.errors
        try:
            graph.wait_for(lambda sent: _answered(sent, chats) == len(chats), timeout=60)
        except TimeoutError:
            pytest.fail(f"unanswered, of {len(chats)}: {_unanswered(graph.sent, chats)}; sent {graph.sent}")
    finally:
        stop_web()
        addon.runtime.close()
        worker.terminate()
        try:
            worker.wait(10)
        except subprocess.TimeoutExpired:  # as conftest's worker fixture: a warm stop may outlast the test
            worker.kill()
    money = [number for _, text in chats if (number := _fl_number(text))]
    moves = _money_moves(host_db)
    print(
        f"\nsentinel failover: {len(chats)} chats, {_answered(graph.sent, chats)} answered, "
        f"{_duplicates(graph.sent, chats)} duplicate replies, {poster.retries} webhook retries "
        f"({sorted(set(map(str, poster.errors)))}), {len(moves)} money moves for {len(money)} FL chats, "
        f"{sum(n - 1 for n in moves.values())} moved twice"
    )
    assert sorted(moves) == sorted("88" + number for number in money)  # the host keeps 8801...
    assert set(moves.values()) == {1}  # no money moved twice


class Poster(threading.Thread):
    """Posts each chat's webhook once and, like Meta, again while the answer is not 200."""

    def __init__(self, url: str, chats: list[tuple[str, str]]):
        super().__init__(daemon=True)
        self.url, self.chats = url, chats
        self.ok, self.retries, self.errors = 0, 0, []
        self.posted = _Counter()

    def run(self) -> None:
        for sender, text in self.chats:
            raw = cp.dumps(cp.messages_webhook(cp.text(sender, text)))  # one message id per chat
            if self._deliver(raw):
                self.ok += 1
            self.posted.add()
            time.sleep(0.15)  # ~5 s of chats: the failover falls in the middle

    def _deliver(self, raw: bytes, deadline: float = 60) -> bool:
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": cp.sign(APP_SECRET, raw)}
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                status = requests.post(self.url, data=raw, headers=headers, timeout=15).status_code
            except requests.RequestException as exc:
                status = type(exc).__name__
            if status == 200:
                return True
            self.retries += 1
            self.errors.append(status)
            time.sleep(0.2)
        return False


class _Counter:
    def __init__(self) -> None:
        self.n, self.cond = 0, threading.Condition()

    def add(self) -> None:
        with self.cond:
            self.n += 1
            self.cond.notify_all()

    def wait_for(self, n: int, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.n >= n, timeout)


def _chats() -> list[tuple[str, str]]:
    """(sender, text): each sender alternates flexiloads (a number of its own: no duplicate hold)
    and balance queries, at most ten replies each (Meta's pair rate paces more, see queue/rate.py)."""
    chats = []
    for i in range(CHATS_EACH):
        for n, (sender, pin) in enumerate(SENDERS):
            number = f"0171{n}{i:06d}"
            chats.append((sender, f"FL {number} 10 {pin}" if i % 2 == 0 else "BAL"))
    return chats


def _fl_number(text: str) -> str | None:
    return text.split()[1] if text.startswith("FL ") else None


def _replies(sent, chats: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Replies per (sender, FL number), and per (sender, "BAL") for the balance replies."""
    counts: dict[tuple[str, str], int] = {}
    for m in sent:
        body = m.text.translate(BENGALI_DIGITS)
        mine = [number for sender, text in chats if sender == m.to and (number := _fl_number(text))]
        key = (m.to, next((number for number in mine if number in body), "BAL"))
        counts[key] = counts.get(key, 0) + 1
    return counts


def _unanswered(sent, chats: list[tuple[str, str]]) -> list[tuple[str, str]]:
    counts = _replies(sent, chats)
    left = [(s, t) for s, t in chats if _fl_number(t) and not counts.get((s, _fl_number(t) or ""))]
    for sender, _ in SENDERS:
        bal = [(s, t) for s, t in chats if s == sender and t == "BAL"]
        left += bal[counts.get((sender, "BAL"), 0) :]
    return left


def _answered(sent, chats: list[tuple[str, str]]) -> int:
    counts = _replies(sent, chats)
    money = sum(1 for sender, text in chats if counts.get((sender, _fl_number(text) or "BAL")) and _fl_number(text))
    bal = sum(min(counts.get((s, "BAL"), 0), sum(1 for x, t in chats if x == s and t == "BAL")) for s, _ in SENDERS)
    return money + bal


def _duplicates(sent, chats: list[tuple[str, str]]) -> int:
    """Replies beyond one per chat."""
    return sum(len([m for m in sent if m.to == s]) for s, _ in SENDERS) - _answered(sent, chats)


def _money_moves(db: SandboxDB) -> dict[str, int]:
    with sqlite3.connect(db.path) as con:
        return dict(con.execute("SELECT number, COUNT(*) FROM requests GROUP BY number").fetchall())


def _worker(settings: Settings, log_path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "wa_addon.cli", "-v", "worker", "--processes", "2"],
            env=settings_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
